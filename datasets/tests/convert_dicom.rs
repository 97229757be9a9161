//! `nnunet convert dicom` on series written here with dicom-rs: an oblique CT series in shuffled,
//! randomly named files with per-slice rescale, in three transfer syntaxes, and an axial 12-bit
//! MR series in a nested folder, convert to NIfTI with the right values and geometry (read back
//! with our NIfTI reader); mixed series, missing pixel data or position, differing orientation,
//! a missing or duplicated slice and truncated pixel data are refused naming the files.

use dicom_core::smallvec::SmallVec;
use dicom_core::value::{PixelFragmentSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use nnunet_datasets::convert::{DicomOptions, convert_dicom, read_dicom_series};
use nnunet_datasets::read_image;
use rand::{Rng, SeedableRng, seq::SliceRandom};
use std::path::{Path, PathBuf};

/// A volume to write as a series: slice k lies at `origin + k · gap · normal`.
#[derive(Clone)]
struct Volume {
    series_uid: String,
    series_number: i32,
    slices: usize,
    rows: usize,
    columns: usize,
    row: [f64; 3],
    column: [f64; 3],
    origin: [f64; 3],
    pixel_spacing: [f64; 2],
    gap: f64,
    bits_stored: u16,
    signed: bool,
    /// `(slope, intercept)` per slice; `None` leaves the rescale attributes out.
    rescale: Option<Vec<(f64, f64)>>,
}

impl Volume {
    fn normal(&self) -> [f64; 3] {
        let (a, b) = (self.row, self.column);
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    }

    fn position(&self, k: usize) -> [f64; 3] {
        let n = self.normal();
        [0, 1, 2].map(|i| self.origin[i] + k as f64 * self.gap * n[i])
    }

    /// The stored sample of voxel (k, y, x).
    fn stored(&self, k: usize, y: usize, x: usize) -> i32 {
        let v = ((k * 37 + y * 11 + x * 3) % 400) as i32;
        if self.signed { v * 7 - 1400 } else { v * 10 }
    }

    /// What the converter must produce for voxel (k, y, x).
    fn expected(&self, k: usize, y: usize, x: usize) -> f32 {
        let (slope, intercept) = self.rescale.as_ref().map_or((1.0, 0.0), |r| r[k]);
        (self.stored(k, y, x) as f64 * slope + intercept) as f32
    }

    fn expected_volume(&self) -> Vec<f32> {
        let mut out = Vec::new();
        for k in 0..self.slices {
            for y in 0..self.rows {
                for x in 0..self.columns {
                    out.push(self.expected(k, y, x));
                }
            }
        }
        out
    }

    /// Slice k as a DICOM object.
    fn slice(&self, k: usize) -> InMemDicomObject {
        let ds = |values: &[f64]| {
            PrimitiveValue::Strs(values.iter().map(|v| format!("{v:.6}")).collect())
        };
        let mut words = Vec::new();
        for y in 0..self.rows {
            for x in 0..self.columns {
                words.push(self.stored(k, y, x) as i16 as u16);
            }
        }
        let mut object = InMemDicomObject::from_element_iter([
            DataElement::new(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE),
            DataElement::new(
                tags::SOP_INSTANCE_UID,
                VR::UI,
                format!("{}.{}", self.series_uid, k + 1),
            ),
            DataElement::new(tags::MODALITY, VR::CS, "CT"),
            DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, self.series_uid.as_str()),
            DataElement::new(tags::SERIES_NUMBER, VR::IS, self.series_number.to_string()),
            DataElement::new(tags::SERIES_DESCRIPTION, VR::LO, "test series"),
            // InstanceNumber backwards: the order must come from the positions
            DataElement::new(tags::INSTANCE_NUMBER, VR::IS, (self.slices - k).to_string()),
            DataElement::new(tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&self.position(k))),
            DataElement::new(
                tags::IMAGE_ORIENTATION_PATIENT,
                VR::DS,
                ds(&[self.row, self.column].concat()),
            ),
            DataElement::new(tags::PIXEL_SPACING, VR::DS, ds(&self.pixel_spacing)),
            DataElement::new(tags::SLICE_THICKNESS, VR::DS, ds(&[self.gap])),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(self.rows as u16)),
            DataElement::new(
                tags::COLUMNS,
                VR::US,
                PrimitiveValue::from(self.columns as u16),
            ),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
            DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
            DataElement::new(
                tags::BITS_STORED,
                VR::US,
                PrimitiveValue::from(self.bits_stored),
            ),
            DataElement::new(
                tags::HIGH_BIT,
                VR::US,
                PrimitiveValue::from(self.bits_stored - 1),
            ),
            DataElement::new(
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(self.signed as u16),
            ),
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::U16(SmallVec::from_vec(words)),
            ),
        ]);
        if let Some(rescale) = &self.rescale {
            let (slope, intercept) = rescale[k];
            object.put(DataElement::new(tags::RESCALE_SLOPE, VR::DS, ds(&[slope])));
            object.put(DataElement::new(
                tags::RESCALE_INTERCEPT,
                VR::DS,
                ds(&[intercept]),
            ));
        }
        object
    }
}

/// Writes `object` as a DICOM Part 10 file in transfer syntax `ts`.
fn write_dicom(path: &Path, object: InMemDicomObject, ts: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    object
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(ts))
        .unwrap()
        .write_to_file(path)
        .unwrap();
}

/// Writes every slice of `volume` under `dir` with random names (some without an extension),
/// cycling through the three uncompressed transfer syntaxes; returns the files by slice.
fn write_series(dir: &Path, volume: &Volume, seed: u64) -> Vec<PathBuf> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let syntaxes = [
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
        uids::IMPLICIT_VR_LITTLE_ENDIAN,
        "1.2.840.10008.1.2.2", // explicit VR big endian (retired)
    ];
    let mut order: Vec<usize> = (0..volume.slices).collect();
    order.shuffle(&mut rng);
    let mut files = vec![PathBuf::new(); volume.slices];
    for k in order {
        let ending = ["", ".dcm", ".IMA"][rng.gen_range(0..3)];
        let path = dir.join(format!("{:08x}{ending}", rng.r#gen::<u32>()));
        write_dicom(&path, volume.slice(k), syntaxes[k % 3]);
        files[k] = path;
    }
    files
}

/// A rotation (x 10°, y 20°, z 30°): its first two columns are the row and column cosines.
fn oblique_axes() -> ([f64; 3], [f64; 3]) {
    let (a, b, c) = (10f64.to_radians(), 20f64.to_radians(), 30f64.to_radians());
    let rx = [
        [1.0, 0.0, 0.0],
        [0.0, a.cos(), -a.sin()],
        [0.0, a.sin(), a.cos()],
    ];
    let ry = [
        [b.cos(), 0.0, b.sin()],
        [0.0, 1.0, 0.0],
        [-b.sin(), 0.0, b.cos()],
    ];
    let rz = [
        [c.cos(), -c.sin(), 0.0],
        [c.sin(), c.cos(), 0.0],
        [0.0, 0.0, 1.0],
    ];
    let mul = |p: [[f64; 3]; 3], q: [[f64; 3]; 3]| {
        let mut r = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                r[i][j] = (0..3).map(|k| p[i][k] * q[k][j]).sum();
            }
        }
        r
    };
    let r = mul(rz, mul(ry, rx));
    ([r[0][0], r[1][0], r[2][0]], [r[0][1], r[1][1], r[2][1]])
}

fn oblique_ct() -> Volume {
    let (row, column) = oblique_axes();
    Volume {
        series_uid: "1.2.826.0.1.3680043.2.1143.1".into(),
        series_number: 3,
        slices: 7,
        rows: 5,
        columns: 6,
        row,
        column,
        origin: [-101.25, 37.5, -612.75],
        pixel_spacing: [0.7, 0.85],
        gap: 2.5,
        bits_stored: 16,
        signed: true,
        // slice 4 rescaled differently: each slice's own rescale applies
        rescale: Some(
            (0..7)
                .map(|k| if k == 4 { (0.5, 12.0) } else { (2.5, -1024.0) })
                .collect(),
        ),
    }
}

fn axial_mr() -> Volume {
    Volume {
        series_uid: "1.2.826.0.1.3680043.2.1143.2".into(),
        series_number: 1,
        slices: 4,
        rows: 3,
        columns: 4,
        row: [1.0, 0.0, 0.0],
        column: [0.0, 1.0, 0.0],
        origin: [10.0, -20.0, 30.0],
        pixel_spacing: [1.25, 1.5],
        gap: 3.0,
        bits_stored: 12,
        signed: false,
        rescale: None,
    }
}

/// The stored decimal strings, parsed back: what the converter sees.
fn parsed(values: [f64; 3]) -> [f64; 3] {
    values.map(|v| format!("{v:.6}").parse().unwrap())
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tolerance: f64) {
    assert!(
        got.iter()
            .zip(want)
            .all(|(a, b)| (a - b).abs() <= tolerance),
        "{what}: got {got:?}, want {want:?}"
    );
}

/// Reads back a written case and compares values and geometry with the volume.
fn assert_converted(file: &Path, volume: &Volume) {
    let image = read_image(&[file]).unwrap();
    assert_eq!(image.shape, [volume.slices, volume.rows, volume.columns]);
    assert_eq!(image.channels.len(), 1);
    assert_eq!(
        image.channels[0],
        volume.expected_volume(),
        "{}",
        file.display()
    );
    let g = &image.geometry;
    let [ps_rows, ps_columns] = volume.pixel_spacing;
    assert_close(
        "spacing",
        &g.spacing,
        &[volume.gap, ps_rows, ps_columns],
        1e-4,
    );
    assert_close("origin", &g.origin, &parsed(volume.origin), 1e-4);
    let (row, column, normal) = (volume.row, volume.column, volume.normal());
    let mut direction = [0.0; 9];
    for i in 0..3 {
        direction[i * 3] = row[i];
        direction[i * 3 + 1] = column[i];
        direction[i * 3 + 2] = normal[i];
    }
    assert_close("direction", &g.direction, &direction, 1e-5);
}

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

/// A case folder with `volume` written to it; returns the folder and the files by slice.
fn case_with(volume: &Volume) -> (tempfile::TempDir, PathBuf, Vec<PathBuf>) {
    let root = tempfile::tempdir().unwrap();
    let case = root.path().join("in/case1");
    let files = write_series(&case, volume, 7);
    (root, case, files)
}

/// Converts `case`'s parent and returns the error text, checking nothing was written.
fn refused(case: &Path, options: &DicomOptions) -> String {
    let output = case.parent().unwrap().parent().unwrap().join("out");
    let err = convert_dicom(case.parent().unwrap(), &output, options).unwrap_err();
    let left = std::fs::read_dir(&output).map_or(0, |d| d.count());
    assert_eq!(
        left,
        0,
        "a refused conversion left files in {}",
        output.display()
    );
    err.to_string()
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
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
fn compressed_pixel_data_is_refused_naming_the_file() {
    let volume = axial_mr();
    let (_root, case, files) = case_with(&volume);
    let mut object = volume.slice(1);
    let fragments = PixelFragmentSequence::new_fragments(vec![vec![0xFFu8, 0xD8, 0xFF, 0xD9]]);
    object.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        Value::PixelSequence(fragments),
    ));
    write_dicom(&files[1], object, uids::JPEG_BASELINE8_BIT);
    let err = refused(&case, &DicomOptions::default());
    assert!(err.contains(&file_name(&files[1])), "{err}");
    assert!(
        err.contains("compressed") && err.contains("1.2.840.10008.1.2.4.50"),
        "{err}"
    );
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
