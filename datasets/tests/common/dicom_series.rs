//! A DICOM series writer shared by the `convert dicom` tests: a [`Volume`] written slice by
//! slice (or as one multi-frame file) with dicom-rs, and the checks of what the converter made
//! of it.
#![allow(dead_code)] // each test file uses its own part

use dicom_core::smallvec::SmallVec;
use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use nnunet_datasets::convert::{DicomOptions, convert_dicom};
use nnunet_datasets::read_image;
use rand::{Rng, SeedableRng, seq::SliceRandom};
use std::path::{Path, PathBuf};

/// A volume to write as a series: slice k lies at `origin + k · gap · normal`.
#[derive(Clone)]
pub struct Volume {
    pub series_uid: String,
    pub series_number: i32,
    pub slices: usize,
    pub rows: usize,
    pub columns: usize,
    pub row: [f64; 3],
    pub column: [f64; 3],
    pub origin: [f64; 3],
    pub pixel_spacing: [f64; 2],
    pub gap: f64,
    pub bits_stored: u16,
    pub signed: bool,
    /// `(slope, intercept)` per slice; `None` leaves the rescale attributes out.
    pub rescale: Option<Vec<(f64, f64)>>,
}

impl Volume {
    pub fn normal(&self) -> [f64; 3] {
        let (a, b) = (self.row, self.column);
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    }

    pub fn position(&self, k: usize) -> [f64; 3] {
        let n = self.normal();
        [0, 1, 2].map(|i| self.origin[i] + k as f64 * self.gap * n[i])
    }

    /// The stored sample of voxel (k, y, x).
    pub fn stored(&self, k: usize, y: usize, x: usize) -> i32 {
        let v = ((k * 37 + y * 11 + x * 3) % 400) as i32;
        if self.signed { v * 7 - 1400 } else { v * 10 }
    }

    /// What the converter must produce for voxel (k, y, x).
    pub fn expected(&self, k: usize, y: usize, x: usize) -> f32 {
        let (slope, intercept) = self.rescale.as_ref().map_or((1.0, 0.0), |r| r[k]);
        (self.stored(k, y, x) as f64 * slope + intercept) as f32
    }

    pub fn expected_volume(&self) -> Vec<f32> {
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
    pub fn slice(&self, k: usize) -> InMemDicomObject {
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

    /// The whole volume as one Enhanced CT multi-frame object, its frames in `order` (slice
    /// numbers): pixel spacing, orientation and slice thickness in
    /// SharedFunctionalGroupsSequence, each frame's position and rescale in its
    /// PerFrameFunctionalGroupsSequence item, nothing of them at the top level.
    pub fn enhanced(&self, order: &[usize]) -> InMemDicomObject {
        let ds = |values: &[f64]| {
            PrimitiveValue::Strs(values.iter().map(|v| format!("{v:.6}")).collect())
        };
        let one = |elements: Vec<DataElement<InMemDicomObject>>| {
            DataSetSequence::from(vec![InMemDicomObject::from_element_iter(elements)])
        };
        let macro_item = |tag: Tag, elements| DataElement::new(tag, VR::SQ, one(elements));
        let mut object = self.slice(0);
        for tag in [
            tags::IMAGE_POSITION_PATIENT,
            tags::IMAGE_ORIENTATION_PATIENT,
            tags::PIXEL_SPACING,
            tags::SLICE_THICKNESS,
            tags::RESCALE_SLOPE,
            tags::RESCALE_INTERCEPT,
        ] {
            object.remove_element(tag);
        }
        object.put(DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            uids::ENHANCED_CT_IMAGE_STORAGE,
        ));
        object.put(DataElement::new(
            tags::NUMBER_OF_FRAMES,
            VR::IS,
            order.len().to_string(),
        ));
        let shared = InMemDicomObject::from_element_iter([
            macro_item(
                tags::PIXEL_MEASURES_SEQUENCE,
                vec![
                    DataElement::new(tags::PIXEL_SPACING, VR::DS, ds(&self.pixel_spacing)),
                    DataElement::new(tags::SLICE_THICKNESS, VR::DS, ds(&[self.gap])),
                ],
            ),
            macro_item(
                tags::PLANE_ORIENTATION_SEQUENCE,
                vec![DataElement::new(
                    tags::IMAGE_ORIENTATION_PATIENT,
                    VR::DS,
                    ds(&[self.row, self.column].concat()),
                )],
            ),
        ]);
        let per_frame: Vec<InMemDicomObject> = order
            .iter()
            .map(|&k| {
                let mut group = vec![macro_item(
                    tags::PLANE_POSITION_SEQUENCE,
                    vec![DataElement::new(
                        tags::IMAGE_POSITION_PATIENT,
                        VR::DS,
                        ds(&self.position(k)),
                    )],
                )];
                if let Some(rescale) = &self.rescale {
                    let (slope, intercept) = rescale[k];
                    group.push(macro_item(
                        tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                        vec![
                            DataElement::new(tags::RESCALE_SLOPE, VR::DS, ds(&[slope])),
                            DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, ds(&[intercept])),
                        ],
                    ));
                }
                InMemDicomObject::from_element_iter(group)
            })
            .collect();
        object.put(DataElement::new(
            tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![shared]),
        ));
        object.put(DataElement::new(
            tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(per_frame),
        ));
        let mut words = Vec::new();
        for &k in order {
            for y in 0..self.rows {
                for x in 0..self.columns {
                    words.push(self.stored(k, y, x) as i16 as u16);
                }
            }
        }
        object.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(SmallVec::from_vec(words)),
        ));
        object
    }
}

/// Writes `object` as a DICOM Part 10 file in transfer syntax `ts`.
pub fn write_dicom(path: &Path, object: InMemDicomObject, ts: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    object
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(ts))
        .unwrap()
        .write_to_file(path)
        .unwrap();
}

/// Writes every slice of `volume` under `dir` with random names (some without an extension),
/// cycling through the three uncompressed transfer syntaxes; returns the files by slice.
pub fn write_series(dir: &Path, volume: &Volume, seed: u64) -> Vec<PathBuf> {
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
pub fn oblique_axes() -> ([f64; 3], [f64; 3]) {
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

pub fn oblique_ct() -> Volume {
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

pub fn axial_mr() -> Volume {
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
pub fn parsed(values: [f64; 3]) -> [f64; 3] {
    values.map(|v| format!("{v:.6}").parse().unwrap())
}

pub fn assert_close(what: &str, got: &[f64], want: &[f64], tolerance: f64) {
    assert!(
        got.iter()
            .zip(want)
            .all(|(a, b)| (a - b).abs() <= tolerance),
        "{what}: got {got:?}, want {want:?}"
    );
}

/// Reads back a written case and compares values and geometry with the volume.
pub fn assert_converted(file: &Path, volume: &Volume) {
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

/// A case folder with `volume` written to it; returns the folder and the files by slice.
pub fn case_with(volume: &Volume) -> (tempfile::TempDir, PathBuf, Vec<PathBuf>) {
    let root = tempfile::tempdir().unwrap();
    let case = root.path().join("in/case1");
    let files = write_series(&case, volume, 7);
    (root, case, files)
}

/// Converts `case`'s parent and returns the error text, checking nothing was written.
pub fn refused(case: &Path, options: &DicomOptions) -> String {
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

pub fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}
