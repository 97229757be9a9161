//! NRRD, MetaImage, GIPL, 3D TIFF and NIfTI-2: fixtures written by SimpleITK (nnU-Net's tools for
//! NIfTI-2 and TIFF) are read with the geometry SimpleITK reports, every format round-trips real
//! Hippocampus volumes exactly, and bad files are refused with errors naming them.
//!
//! Fixtures: `fixtures/formats`, made by `fixtures/formats/make_fixtures.py` (see its docstring).

use nnunet_core::Geometry;
use nnunet_datasets::io::{read_image, read_label, write_image, write_label};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats")
}

/// The Hippocampus dataset; the test fails when it is missing.
fn hippocampus() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/Dataset004_Hippocampus");
    assert!(dir.is_dir(), "shared data missing: {}", dir.display());
    dir
}

#[derive(serde::Deserialize)]
struct Expected {
    fixtures: Vec<Fixture>,
}

#[derive(serde::Deserialize)]
struct Fixture {
    file: String,
    size: [usize; 3],
    /// Exact decimal strings (see `numbers`).
    spacing: [String; 3],
    origin: [String; 3],
    direction: [String; 9],
    values: Vec<f64>,
}

/// Parses exact decimal strings with Rust's correctly rounding parser (serde_json's default
/// float parser may be off by an ulp).
fn numbers(values: &[String]) -> Vec<f64> {
    values.iter().map(|v| v.parse().unwrap()).collect()
}

fn expected() -> Vec<Fixture> {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str::<Expected>(&text).unwrap().fixtures
}

/// Bit-identical, except for NIfTI-2 whose reference is nibabel's quaternion arithmetic
/// (a few ulps from `nifti_quatern_to_mat44`'s).
fn assert_geometry(file: &str, what: &str, ours: &[f64], theirs: &[f64]) {
    if file.ends_with(".nii") {
        for (a, b) in ours.iter().zip(theirs) {
            assert!(
                (a - b).abs() <= 1e-14,
                "{file} {what}: {ours:?} vs {theirs:?}"
            );
        }
    } else {
        assert_eq!(ours, theirs, "{file} {what}");
    }
}

fn copy_with_data_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

#[test]
fn simpleitk_fixtures_read_with_simpleitks_geometry() {
    let all = expected();
    assert_eq!(all.len(), 12);
    for f in &all {
        let path = fixtures().join(&f.file);
        let image = read_image(&[&path]).unwrap_or_else(|e| panic!("{}: {e}", f.file));
        let [x, y, z] = f.size;
        assert_eq!(image.shape, [z, y, x], "{}", f.file);
        assert!(!image.is_2d, "{}", f.file);
        let values: Vec<f64> = image.channels[0].iter().map(|&v| v as f64).collect();
        assert_eq!(values, f.values, "{}: voxels", f.file);
        let g = &image.geometry;
        let spacing = numbers(&f.spacing);
        let zyx = [spacing[2], spacing[1], spacing[0]];
        assert_geometry(&f.file, "spacing", &g.spacing, &zyx);
        assert_geometry(&f.file, "origin", &g.origin, &numbers(&f.origin));
        assert_geometry(&f.file, "direction", &g.direction, &numbers(&f.direction));
        if f.values.iter().all(|v| v.fract() == 0.0) {
            let label = read_label(&path).unwrap();
            assert_eq!(
                label.data.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                f.values
            );
        }
    }
}

#[test]
fn fixtures_round_trip_exactly_in_their_own_format() {
    let tmp = tempfile::tempdir().unwrap();
    for f in expected() {
        let path = fixtures().join(&f.file);
        let image = read_image(&[&path]).unwrap();
        let out = tmp.path().join(format!("again_{}", f.file));
        write_image(&out, &image).unwrap_or_else(|e| panic!("{}: {e}", f.file));
        let back = read_image(&[&out]).unwrap();
        assert_eq!(back.shape, image.shape, "{}", f.file);
        assert_eq!(back.channels, image.channels, "{}", f.file);
        assert_eq!(back.geometry, image.geometry, "{}", f.file);
        assert_eq!(back.geometry.spacing, image.geometry.spacing, "{}", f.file);
    }
    // NIfTI-2 is written back as NIfTI-2 (sizeof_hdr 540).
    let bytes = std::fs::read(tmp.path().join("again_oblique_nifti2.nii")).unwrap();
    assert_eq!(
        i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        540
    );
}

/// Every new volume ending, with the geometry it can hold.
const ENDINGS: [&str; 9] = [
    ".nrrd", ".nhdr", ".mha", ".mhd", ".gipl", ".gipl.gz", ".tif", ".tiff", ".nii",
];

fn holds_direction(ending: &str) -> bool {
    !matches!(ending, ".gipl" | ".gipl.gz" | ".tif" | ".tiff")
}

#[test]
fn hippocampus_volumes_round_trip_exactly_in_every_format() {
    let dir = hippocampus();
    let tmp = tempfile::tempdir().unwrap();
    for case in ["hippocampus_001", "hippocampus_003"] {
        let image = read_image(&[dir.join(format!("imagesTr/{case}_0000.nii.gz"))]).unwrap();
        let label = read_label(&dir.join(format!("labelsTr/{case}.nii.gz"))).unwrap();
        assert_eq!(label.present_labels(), vec![0, 1, 2]);
        for ending in ENDINGS {
            let (mut image, mut label) = (image.clone(), label.clone());
            if !holds_direction(ending) {
                // GIPL and TIFF cannot hold Hippocampus' flipped axes: writing them is refused
                let path = tmp.path().join(format!("refused_{case}{ending}"));
                let err = write_image(&path, &image).unwrap_err().to_string();
                assert!(err.contains(&format!("refused_{case}{ending}")), "{err}");
                assert!(err.contains("direction"), "{err}");
                assert!(!path.exists());
                let geometry = Geometry {
                    spacing: image.geometry.spacing,
                    origin: if ending.contains("gipl") {
                        image.geometry.origin
                    } else {
                        [0.0; 3]
                    },
                    ..Geometry::default()
                };
                image.geometry = geometry.clone();
                label.geometry = geometry;
            }
            let image_path = tmp.path().join(format!("{case}_0000{ending}"));
            write_image(&image_path, &image).unwrap();
            let back = read_image(&[&image_path]).unwrap();
            assert_eq!(back.shape, image.shape, "{case}{ending}");
            assert_eq!(back.channels, image.channels, "{case}{ending}: voxels");
            assert_eq!(back.geometry, image.geometry, "{case}{ending}: geometry");
            let label_path = tmp.path().join(format!("{case}{ending}"));
            write_label(&label_path, &label).unwrap();
            let back = read_label(&label_path).unwrap();
            assert_eq!(back.data, label.data, "{case}{ending}: labels");
            assert_eq!(
                back.geometry, label.geometry,
                "{case}{ending}: label geometry"
            );
        }
    }
    // The TIFF sidecar holds the spacing (z, y, x), as nnU-Net's Tiff3DIO writes it.
    let sidecar: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("hippocampus_001.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sidecar, serde_json::json!({"spacing": [1.0, 1.0, 1.0]}));
}

/// Writes `bytes` as `name` and returns the error of reading it as an image.
fn read_error(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    match read_image(&[&path]) {
        Ok(_) => panic!("{name}: read without error"),
        Err(e) => e.to_string(),
    }
}

fn assert_refused(err: &str, name: &str, words: &[&str]) {
    assert!(err.contains(name), "error does not name {name}: {err}");
    let lower = err.to_lowercase();
    assert!(
        words.iter().any(|w| lower.contains(w)),
        "{name}: expected one of {words:?} in: {err}"
    );
}

/// A text header with `field` replaced by `value` (the data after it kept).
fn edited(name: &str, field: &str, value: &str) -> Vec<u8> {
    let bytes = std::fs::read(fixtures().join(name)).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let start = text
        .find(field)
        .unwrap_or_else(|| panic!("{name} has no {field}"));
    let end = start + text[start..].find('\n').unwrap();
    let mut out = bytes[..start].to_vec();
    out.extend(format!("{field}{value}").as_bytes());
    out.extend(&bytes[end..]);
    out
}

#[test]
fn bad_files_are_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_with_data_files(&fixtures(), dir);
    let truncated = |name: &str| {
        let bytes = std::fs::read(fixtures().join(name)).unwrap();
        bytes[..bytes.len() - 7].to_vec()
    };
    // truncated data
    for name in [
        "oblique_raw.nrrd",
        "oblique_gzip.nrrd",
        "oblique_raw.mha",
        "oblique_zlib.mha",
        "axis.gipl",
        "axis_float.gipl.gz",
        "oblique_nifti2.nii",
        "volume_0000.tif",
    ] {
        let cut = format!("cut_{name}");
        let err = read_error(dir, &cut, &truncated(name));
        assert_refused(&err, &cut, &["truncated", "corrupt", "shorter"]);
    }
    // headers promising more voxels than the data holds
    let err = read_error(
        dir,
        "big.nrrd",
        &edited("oblique_raw.nrrd", "sizes: ", "4 3 20"),
    );
    assert_refused(&err, "big.nrrd", &["truncated"]);
    let err = read_error(
        dir,
        "big.mha",
        &edited("oblique_zlib.mha", "DimSize = ", "4 3 20"),
    );
    assert_refused(&err, "big.mha", &["truncated"]);
    let mut gipl = std::fs::read(fixtures().join("axis.gipl")).unwrap();
    gipl[4..6].copy_from_slice(&20u16.to_be_bytes());
    assert_refused(
        &read_error(dir, "big.gipl", &gipl),
        "big.gipl",
        &["truncated"],
    );
    // absurd headers: refused before allocating
    let err = read_error(
        dir,
        "huge.nrrd",
        &edited("oblique_raw.nrrd", "sizes: ", "100000 100000 100000"),
    );
    assert_refused(&err, "huge.nrrd", &["limit"]);
    let err = read_error(
        dir,
        "huge.mha",
        &edited(
            "oblique_zlib.mha",
            "DimSize = ",
            "4000000000 4000000000 4000000000",
        ),
    );
    assert_refused(&err, "huge.mha", &["limit"]);
    let err = read_error(
        dir,
        "zero.nrrd",
        &edited("oblique_raw.nrrd", "sizes: ", "4 0 2"),
    );
    assert_refused(&err, "zero.nrrd", &["is 0"]);
    let err = read_error(
        dir,
        "neg.mha",
        &edited("oblique_raw.mha", "DimSize = ", "4 -3 2"),
    );
    assert_refused(&err, "neg.mha", &["dimsize"]);
    let err = read_error(
        dir,
        "dims.nrrd",
        &edited("oblique_raw.nrrd", "dimension: ", "9"),
    );
    assert_refused(&err, "dims.nrrd", &["dimension 9"]);
    let mut nifti2 = std::fs::read(fixtures().join("oblique_nifti2.nii")).unwrap();
    nifti2[16..24].copy_from_slice(&9i64.to_le_bytes());
    assert_refused(
        &read_error(dir, "dim9.nii", &nifti2),
        "dim9.nii",
        &["dim[0] = 9"],
    );
    let mut nifti2 = std::fs::read(fixtures().join("oblique_nifti2.nii")).unwrap();
    nifti2[24..32].copy_from_slice(&(-4i64).to_le_bytes());
    assert_refused(
        &read_error(dir, "negdim.nii", &nifti2),
        "negdim.nii",
        &["negative"],
    );
    // unsupported encodings and types
    let err = read_error(
        dir,
        "bz.nrrd",
        &edited("oblique_raw.nrrd", "encoding: ", "bzip2"),
    );
    assert_refused(&err, "bz.nrrd", &["unsupported nrrd encoding"]);
    let err = read_error(
        dir,
        "block.nrrd",
        &edited("oblique_raw.nrrd", "type: ", "block"),
    );
    assert_refused(&err, "block.nrrd", &["unsupported nrrd type"]);
    let err = read_error(
        dir,
        "string.mha",
        &edited("oblique_raw.mha", "ElementType = ", "MET_STRING"),
    );
    assert_refused(&err, "string.mha", &["unsupported metaimage elementtype"]);
    let err = read_error(
        dir,
        "list.mha",
        &edited("oblique_raw.mha", "ElementDataFile = ", "LIST"),
    );
    assert_refused(&err, "list.mha", &["multi-file"]);
    let mut gipl = std::fs::read(fixtures().join("axis.gipl")).unwrap();
    gipl[8..10].copy_from_slice(&144u16.to_be_bytes());
    assert_refused(
        &read_error(dir, "complex.gipl", &gipl),
        "complex.gipl",
        &["unsupported gipl"],
    );
    // missing detached data files name the header
    for (header, data) in [
        ("nrrd_detached.nhdr", "nrrd_detached.raw"),
        ("meta_detached.mhd", "meta_detached.raw"),
    ] {
        std::fs::remove_file(dir.join(data)).unwrap();
        let err = read_image(&[dir.join(header)]).unwrap_err().to_string();
        assert_refused(&err, header, &["data file"]);
    }
    // not the format at all
    for name in [
        "junk.nrrd",
        "junk.mha",
        "junk.gipl",
        "junk.nhdr",
        "junk.tiff",
    ] {
        let err = read_error(dir, name, b"hello, this is not an image\n");
        assert_refused(&err, name, &["not a", "truncated", "corrupt"]);
    }
    // a 3D TIFF sidecar with a bad spacing names the sidecar
    std::fs::write(dir.join("volume.json"), r#"{"spacing": [1, 0, 1]}"#).unwrap();
    let err = read_image(&[dir.join("volume_0000.tif")])
        .unwrap_err()
        .to_string();
    assert_refused(&err, "volume.json", &["spacing"]);
}

#[test]
fn a_3d_tiff_without_sidecar_reads_with_unit_spacing() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("volume_0000.tif"),
        tmp.path().join("v_0000.tif"),
    )
    .unwrap();
    let image = read_image(&[tmp.path().join("v_0000.tif")]).unwrap();
    assert_eq!(image.shape, [2, 3, 4]);
    assert_eq!(image.geometry, Geometry::default());
}

#[test]
fn two_d_images_stay_two_d_in_every_volume_format() {
    let tmp = tempfile::tempdir().unwrap();
    let image = nnunet_core::Image {
        shape: [1, 3, 4],
        channels: vec![(0..12).map(|v| v as f32 * 1.5 - 4.0).collect()],
        // nnU-Net's 2D spacing: z = 999 × max(in-plane)
        geometry: Geometry {
            spacing: [999.0 * 0.5, 0.5, 0.25],
            origin: [3.0, -2.5, 0.0],
            ..Geometry::default()
        },
        is_2d: true,
    };
    for ending in [".nrrd", ".nhdr", ".mha", ".mhd", ".gipl", ".gipl.gz"] {
        let path = tmp.path().join(format!("flat{ending}"));
        write_image(&path, &image).unwrap();
        let back = read_image(&[&path]).unwrap();
        assert!(back.is_2d, "{ending}");
        assert_eq!(back.shape, image.shape, "{ending}");
        assert_eq!(back.channels, image.channels, "{ending}");
        assert_eq!(back.geometry, image.geometry, "{ending}");
    }
}

#[test]
fn copied_label_maps_take_their_data_files_and_sidecars_along() {
    let tmp = tempfile::tempdir().unwrap();
    let label = nnunet_core::LabelMap {
        shape: [2, 3, 4],
        data: (0..24).map(|v| (v % 3) as i16).collect(),
        geometry: Geometry {
            spacing: [2.0, 0.5, 0.25],
            ..Geometry::default()
        },
        is_2d: false,
    };
    for ending in [".nhdr", ".mhd", ".tif", ".nrrd", ".nii.gz"] {
        let from = tmp.path().join(format!("a/case{ending}"));
        write_label(&from, &label).unwrap();
        let to = tmp.path().join(format!("b/case{ending}"));
        nnunet_datasets::io::copy_label(&from, &to).unwrap();
        std::fs::remove_dir_all(tmp.path().join("a")).unwrap();
        let back = read_label(&to).unwrap();
        assert_eq!(back.data, label.data, "{ending}");
        assert_eq!(back.geometry, label.geometry, "{ending}");
        std::fs::remove_dir_all(tmp.path().join("b")).unwrap();
    }
}
