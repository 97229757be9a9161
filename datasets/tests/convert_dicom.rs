//! `nnunet convert dicom` on series written here with dicom-rs: an oblique CT series in shuffled,
//! randomly named files with per-slice rescale, in three transfer syntaxes, and an axial 12-bit
//! MR series in a nested folder, convert to NIfTI with the right values and geometry (read back
//! with our NIfTI reader); mixed series, missing pixel data or position, differing orientation,
//! a missing or duplicated slice and truncated pixel data are refused naming the files.
//! Multi-frame and compressed series: `convert_dicom_frames.rs`.

#[path = "common/dicom_series.rs"]
mod dicom_series;

use dicom_core::smallvec::SmallVec;
use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_series::*;
use nnunet_datasets::convert::{DicomOptions, convert_dicom, read_dicom_series};
use nnunet_datasets::read_image;
use std::path::Path;

#[test]
fn oblique_shuffled_series_convert_with_geometry_and_values() {
    let root = tempfile::tempdir().unwrap();
    let input = root.path().join("dicom");
    let ct = oblique_ct();
    let ct_files = write_series(&input.join("patientA"), &ct, 1);
    // the file names must not already be in slice order, else the test proves nothing
    let mut by_name = ct_files.clone();
    by_name.sort();
    assert_ne!(by_name, ct_files);
    let mr = axial_mr();
    write_series(&input.join("patientB/study1/series7"), &mr, 2);
    std::fs::write(input.join("patientA/notes.txt"), b"not DICOM").unwrap();
    std::fs::write(input.join("patientB/DICOMDIR"), b"an index, skipped").unwrap();

    let output = root.path().join("Dataset120_X/imagesTs");
    let cases = convert_dicom(&input, &output, &DicomOptions::default()).unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c.case.as_str()).collect();
    assert_eq!(names, ["patientA", "patientB"]);
    assert_eq!(cases[0].slices, 7);
    assert_converted(&output.join("patientA_0000.nii.gz"), &ct);
    assert_converted(&output.join("patientB_0000.nii.gz"), &mr);
    // only the two cases, no staging folder left behind
    assert_eq!(std::fs::read_dir(&output).unwrap().count(), 2);

    // the same volume in memory, from one case folder
    let image = read_dicom_series(&input.join("patientA")).unwrap();
    assert_eq!(image.channels[0], ct.expected_volume());

    // existing outputs are refused, replaced with overwrite; --channel names the suffix
    let err = convert_dicom(&input, &output, &DicomOptions::default()).unwrap_err();
    assert!(err.to_string().contains("patientA_0000.nii.gz"), "{err}");
    let options = DicomOptions {
        channel: 1,
        ..Default::default()
    };
    // a folder holding DICOM files itself is one case, named after it
    convert_dicom(&input.join("patientA"), &output, &options).unwrap();
    assert_converted(&output.join("patientA_0001.nii.gz"), &ct);
}

#[test]
fn mixed_series_are_refused_naming_files_or_split() {
    let (root, case, first) = case_with(&axial_mr());
    let second = Volume {
        series_uid: "1.2.826.0.1.3680043.2.1143.9".into(),
        series_number: 8,
        ..oblique_ct()
    };
    let other = write_series(&case, &second, 9);
    let err = refused(&case, &DicomOptions::default());
    assert!(err.contains("holds 2 series"), "{err}");
    assert!(err.contains("--split-series"), "{err}");
    let mut names = first.clone();
    names.sort();
    assert!(err.contains(&file_name(&names[0])), "{err}");
    let mut names = other.clone();
    names.sort();
    assert!(err.contains(&file_name(&names[0])), "{err}");

    let output = root.path().join("out");
    let options = DicomOptions {
        split_series: true,
        ..Default::default()
    };
    let cases = convert_dicom(&root.path().join("in"), &output, &options).unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c.case.as_str()).collect();
    assert_eq!(names, ["case1_s1", "case1_s8"]);
    assert_converted(&output.join("case1_s1_0000.nii.gz"), &axial_mr());
    assert_converted(&output.join("case1_s8_0000.nii.gz"), &second);
}

#[test]
fn a_file_without_pixel_data_is_refused_or_skipped_as_its_own_series() {
    // in the series: refused, naming the file
    let (_root, case, files) = case_with(&axial_mr());
    let mut object = axial_mr().slice(2);
    object.remove_element(tags::PIXEL_DATA);
    write_dicom(&files[2], object, uids::EXPLICIT_VR_LITTLE_ENDIAN);
    let err = refused(&case, &DicomOptions::default());
    assert!(err.contains(&file_name(&files[2])), "{err}");
    assert!(err.contains("no pixel data"), "{err}");

    // a report in its own series: split_series skips it and keeps the case's name
    let (root, case, _) = case_with(&axial_mr());
    let report = InMemDicomObject::from_element_iter([
        DataElement::new(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.88.11"),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5"),
        DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3.4"),
        DataElement::new(tags::MODALITY, VR::CS, "SR"),
    ]);
    write_dicom(
        &case.join("report.dcm"),
        report,
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
    );
    let err = refused(&case, &DicomOptions::default());
    assert!(err.contains("report.dcm"), "{err}");
    let options = DicomOptions {
        split_series: true,
        ..Default::default()
    };
    let output = root.path().join("out");
    let cases = convert_dicom(&root.path().join("in"), &output, &options).unwrap();
    assert_eq!(cases.len(), 1);
    assert_converted(&output.join("case1_0000.nii.gz"), &axial_mr());
}

/// Rewrites slice `k` of a fresh axial series through `edit`; returns the refusal and the file.
fn refusal_after(k: usize, edit: impl FnOnce(&mut InMemDicomObject)) -> (String, String) {
    let volume = axial_mr();
    let (_root, case, files) = case_with(&volume);
    let mut object = volume.slice(k);
    edit(&mut object);
    write_dicom(&files[k], object, uids::EXPLICIT_VR_LITTLE_ENDIAN);
    (
        refused(&case, &DicomOptions::default()),
        file_name(&files[k]),
    )
}

fn put_ds(object: &mut InMemDicomObject, tag: Tag, values: &[&str]) {
    let value = PrimitiveValue::Strs(values.iter().map(|v| v.to_string()).collect());
    object.put(DataElement::new(tag, VR::DS, value));
}

#[test]
fn bad_geometry_and_pixels_are_refused_naming_the_file() {
    let (err, file) = refusal_after(1, |o| {
        o.remove_element(tags::IMAGE_POSITION_PATIENT);
    });
    assert!(
        err.contains(&file) && err.contains("ImagePositionPatient"),
        "{err}"
    );

    let (err, file) = refusal_after(2, |o| {
        put_ds(
            o,
            tags::IMAGE_ORIENTATION_PATIENT,
            &["1", "0", "0", "0", "0", "1"],
        );
    });
    assert!(
        err.contains(&file) && err.contains("ImageOrientationPatient"),
        "{err}"
    );
    assert!(err.contains("differs"), "{err}");

    let (err, file) = refusal_after(3, |o| {
        put_ds(o, tags::PIXEL_SPACING, &["1.25", "1.6"]);
    });
    assert!(err.contains(&file) && err.contains("PixelSpacing"), "{err}");

    let (err, file) = refusal_after(0, |o| {
        put_ds(o, tags::PIXEL_SPACING, &["0", "1.5"]);
    });
    assert!(err.contains(&file) && err.contains("PixelSpacing"), "{err}");

    // slice 3 moved onto slice 2: a duplicated position
    let (err, _) = refusal_after(3, |o| {
        put_ds(o, tags::IMAGE_POSITION_PATIENT, &["10", "-20", "36"]);
    });
    assert!(err.contains("two slices at one position"), "{err}");

    // slice 3 moved one gap further: a missing slice
    let (err, file) = refusal_after(3, |o| {
        put_ds(o, tags::IMAGE_POSITION_PATIENT, &["10", "-20", "42"]);
    });
    assert!(err.contains(&file) && err.contains("not uniform"), "{err}");

    // slice 3 shifted sideways: not stacked along the normal
    let (err, file) = refusal_after(3, |o| {
        put_ds(o, tags::IMAGE_POSITION_PATIENT, &["14", "-20", "39"]);
    });
    assert!(err.contains(&file) && err.contains("gantry tilt"), "{err}");

    let (err, file) = refusal_after(0, |o| {
        let words = PrimitiveValue::U16(SmallVec::from_vec(vec![1u16; 5]));
        o.put(DataElement::new(tags::PIXEL_DATA, VR::OW, words));
    });
    assert!(
        err.contains(&file) && err.contains("truncated pixel data"),
        "{err}"
    );

    let (err, file) = refusal_after(0, |o| {
        o.put(DataElement::new(
            tags::SAMPLES_PER_PIXEL,
            VR::US,
            PrimitiveValue::from(3u16),
        ));
    });
    assert!(err.contains(&file) && err.contains("colour"), "{err}");
}

#[test]
fn folders_without_dicom_are_refused() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("in/case1")).unwrap();
    std::fs::write(root.path().join("in/case1/a.txt"), b"text").unwrap();
    let err = convert_dicom(
        &root.path().join("in"),
        &root.path().join("out"),
        &DicomOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no DICOM files"), "{err}");
    let err = read_dicom_series(&root.path().join("missing")).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn a_series_simpleitk_wrote_reads_as_simpleitk_reads_it() {
    // written and read by SimpleITK 2.5 (GDCM): fixtures/make_dicom_fixture.py
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dicom_simpleitk");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.join("reference.json")).unwrap()).unwrap();
    let numbers = |key: &str| -> Vec<f64> {
        reference[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let size = numbers("size");
    let spacing = numbers("spacing");
    let values: Vec<f32> = numbers("values_zyx").iter().map(|&v| v as f32).collect();

    let image = read_dicom_series(&fixture.join("case1")).unwrap();
    assert_eq!(
        image.shape.map(|n| n as f64),
        [size[2], size[1], size[0]],
        "shape (z, y, x) vs SimpleITK's size (x, y, z)"
    );
    assert_eq!(image.channels[0], values);
    let g = &image.geometry;
    assert_close(
        "spacing",
        &g.spacing,
        &[spacing[2], spacing[1], spacing[0]],
        1e-7,
    );
    assert_close("origin", &g.origin, &numbers("origin"), 1e-9);
    assert_close("direction", &g.direction, &numbers("direction"), 1e-7);

    // and through the converter and our NIfTI reader, within float32 header precision
    let root = tempfile::tempdir().unwrap();
    convert_dicom(&fixture, root.path(), &DicomOptions::default()).unwrap();
    let nifti = read_image(&[root.path().join("case1_0000.nii.gz")]).unwrap();
    assert_eq!(nifti.channels[0], values);
    assert_close("spacing", &nifti.geometry.spacing, &g.spacing, 1e-5);
    assert_close("origin", &nifti.geometry.origin, &g.origin, 1e-4);
    assert_close("direction", &nifti.geometry.direction, &g.direction, 1e-5);
}
