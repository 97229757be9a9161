//! `nnunet convert dicom` on multi-frame and compressed series:
//!
//! * an oblique CT volume with per-slice rescale written here (dicom-rs) as one Enhanced CT
//!   multi-frame file, frames shuffled, in three transfer syntaxes, converts to exactly what
//!   the same volume as single-frame files converts to; a plain multi-frame file is stacked by
//!   SpacingBetweenSlices, and refused without it;
//! * fixtures written by dcmtk (`fixtures/dicom_compressed/make_fixtures.py`): JPEG lossless,
//!   RLE, an Enhanced CT RLE file and JPEG 2000 (pydicom with OpenJPEG) read exactly as the
//!   uncompressed originals; a truncated JPEG stream, corrupt JPEG and JPEG 2000 streams,
//!   JPEG-LS and JPEG XL are refused naming the file and the transfer syntax.

#[path = "common/dicom_series.rs"]
mod dicom_series;

use dicom_core::smallvec::SmallVec;
use dicom_core::value::{PixelFragmentSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_series::*;
use nnunet_datasets::convert::{DicomOptions, convert_dicom, read_dicom_series};
use nnunet_datasets::read_image;
use std::path::{Path, PathBuf};

const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

#[test]
fn an_enhanced_multi_frame_file_converts_as_its_single_frame_files() {
    let root = tempfile::tempdir().unwrap();
    let input = root.path().join("in");
    let ct = oblique_ct();
    write_series(&input.join("single"), &ct, 3);
    // frames out of order: the order must come from the per-frame positions
    let order = [3, 0, 6, 1, 5, 2, 4];
    let syntaxes = [
        ("multi_explicit", uids::EXPLICIT_VR_LITTLE_ENDIAN),
        ("multi_implicit", uids::IMPLICIT_VR_LITTLE_ENDIAN),
        ("multi_big_endian", EXPLICIT_VR_BIG_ENDIAN),
    ];
    for (case, ts) in syntaxes {
        write_dicom(
            &input.join(case).join("enhanced.dcm"),
            ct.enhanced(&order),
            ts,
        );
    }
    let output = root.path().join("out");
    let cases = convert_dicom(&input, &output, &DicomOptions::default()).unwrap();
    assert_eq!(cases.len(), 4);
    let single = read_image(&[output.join("single_0000.nii.gz")]).unwrap();
    for (case, _) in syntaxes {
        let converted = cases.iter().find(|c| c.case == case).unwrap();
        assert_eq!(converted.slices, 7, "{case}");
        let file = output.join(format!("{case}_0000.nii.gz"));
        assert_converted(&file, &ct);
        let multi = read_image(&[file]).unwrap();
        assert_eq!(multi.channels, single.channels, "{case}");
        assert_eq!(multi.geometry, single.geometry, "{case}");
    }

    // one frame moved onto another's position: refused naming the file and the frame
    let mut object = ct.enhanced(&order);
    let mut frames = object
        .take_element(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .unwrap();
    let items = frames.items_mut().unwrap();
    let duplicate = items[1].clone();
    items[2] = duplicate;
    object.put(frames);
    let (_root, case, files) = case_with(&axial_mr());
    for file in &files {
        std::fs::remove_file(file).unwrap();
    }
    write_dicom(
        &case.join("dup.dcm"),
        object,
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
    );
    let err = refused(&case, &DicomOptions::default());
    assert!(err.contains("dup.dcm") && err.contains("frame "), "{err}");
    assert!(err.contains("two slices at one position"), "{err}");
}

#[test]
fn a_plain_multi_frame_file_is_stacked_by_its_slice_spacing() {
    let mr = axial_mr();
    let mut object = mr.slice(0);
    object.put(DataElement::new(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        mr.slices.to_string(),
    ));
    let mut words = Vec::new();
    for k in 0..mr.slices {
        for y in 0..mr.rows {
            for x in 0..mr.columns {
                words.push(mr.stored(k, y, x) as u16);
            }
        }
    }
    object.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(SmallVec::from_vec(words)),
    ));
    let root = tempfile::tempdir().unwrap();
    let case = root.path().join("in/plain");
    // without a spacing the frames cannot be placed
    write_dicom(
        &case.join("frames.dcm"),
        object.clone(),
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
    );
    let err = refused(&case, &DicomOptions::default());
    assert!(
        err.contains("frames.dcm") && err.contains("cannot be placed"),
        "{err}"
    );
    object.put(DataElement::new(
        tags::SPACING_BETWEEN_SLICES,
        VR::DS,
        format!("{:.6}", mr.gap),
    ));
    write_dicom(
        &case.join("frames.dcm"),
        object,
        uids::IMPLICIT_VR_LITTLE_ENDIAN,
    );
    let output = root.path().join("out");
    convert_dicom(&root.path().join("in"), &output, &DicomOptions::default()).unwrap();
    assert_converted(&output.join("plain_0000.nii.gz"), &mr);
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dicom_compressed")
        .join(name)
}

#[test]
fn compressed_series_read_exactly_as_the_uncompressed_original() {
    let native = read_dicom_series(&fixture("native")).unwrap();
    assert_eq!(native.shape, [4, 8, 8]);
    // the script's stored value k·1000 + y·97 − x·131 + (x·y) mod 7 − 1500, × 0.5 − 1024
    let stored = |k: i32, y: i32, x: i32| k * 1000 + y * 97 - x * 131 + (x * y) % 7 - 1500;
    let at = |k: usize, y: usize, x: usize| native.channels[0][(k * 8 + y) * 8 + x];
    assert_eq!(at(0, 0, 0), stored(0, 0, 0) as f32 * 0.5 - 1024.0);
    assert_eq!(at(3, 5, 7), stored(3, 5, 7) as f32 * 0.5 - 1024.0);
    assert_eq!(at(2, 7, 1), stored(2, 7, 1) as f32 * 0.5 - 1024.0);
    for name in ["jpeg_lossless", "rle", "enhanced_rle"] {
        let image = read_dicom_series(&fixture(name)).unwrap();
        assert_eq!(image.shape, native.shape, "{name}");
        assert_eq!(image.channels, native.channels, "{name}");
        assert_eq!(image.geometry, native.geometry, "{name}");
    }
    // JPEG 2000 (pure-Rust openjp2): a 32 × 32 series, as OpenJPEG's encoder needs
    let native_32 = read_dicom_series(&fixture("native_32")).unwrap();
    assert_eq!(native_32.shape, [2, 32, 32]);
    let jpeg2000 = read_dicom_series(&fixture("jpeg2000")).unwrap();
    assert_eq!(jpeg2000.channels, native_32.channels);
    assert_eq!(jpeg2000.geometry, native_32.geometry);
    // and through the converter
    let root = tempfile::tempdir().unwrap();
    let cases = convert_dicom(&fixture("rle"), root.path(), &DicomOptions::default()).unwrap();
    let nifti = read_image(&[&cases[0].file]).unwrap();
    assert_eq!(nifti.channels, native.channels);
}

#[test]
fn corrupt_and_unsupported_compressed_data_are_refused_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    let options = DicomOptions::default();
    let out = root.path().join("out");

    let err = convert_dicom(&fixture("truncated"), &out, &options)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("s2.dcm") && err.contains("1.2.840.10008.1.2.4.70"),
        "{err}"
    );
    assert!(err.contains("cannot decode"), "{err}");

    let err = read_dicom_series(&fixture("jpeg_ls"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1.2.840.10008.1.2.4.80") && err.contains("not supported"),
        "{err}"
    );
    assert!(
        ["s1.dcm", "s2.dcm", "s3.dcm", "s4.dcm"]
            .iter()
            .any(|f| err.contains(f)),
        "{err}"
    );

    // written here: a JPEG 2000 and a JPEG baseline file whose stream is only a JPEG start
    // and end marker (corrupt), and a JPEG XL file (not supported)
    for (ts, expected) in [
        (uids::JPEG2000, "cannot decode"),
        (uids::JPEG_BASELINE8_BIT, "cannot decode"),
        (uids::JPEGXL_LOSSLESS, "not supported"),
    ] {
        let volume = axial_mr();
        let (_root, case, files) = case_with(&volume);
        let mut object = volume.slice(1);
        let fragments = PixelFragmentSequence::new_fragments(vec![vec![0xFFu8, 0xD8, 0xFF, 0xD9]]);
        object.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            Value::PixelSequence(fragments),
        ));
        write_dicom(&files[1], object, ts);
        let err = refused(&case, &options);
        assert!(err.contains(&file_name(&files[1])), "{err}");
        assert!(err.contains(ts) && err.contains(expected), "{err}");
    }
}
