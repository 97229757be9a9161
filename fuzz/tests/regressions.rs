//! The inputs the fuzz targets found, kept as fixed tests: each is refused with an error naming
//! the file instead of panicking, aborting or being half-accepted.

use nnunet_datasets::raw::load_descriptor;
use nnunet_datasets::{read_image, read_label};
use nnunet_fuzz::nifti;
use nnunet_fuzz::seeds::shared_data;
use std::path::Path;

fn refused_naming_file(result: Result<impl std::fmt::Debug, nnunet_core::Error>, path: &Path) {
    let message = result.expect_err("refused").to_string();
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(message.contains(&*name), "{message}");
}

/// `vox_offset` = +inf (or any offset past `usize`) made `offset + size` wrap and the slice panic.
#[test]
fn nifti_with_an_infinite_vox_offset_is_refused() {
    let seed = nifti::read_uncompressed(
        &shared_data().join("Dataset004_Hippocampus/labelsTr/hippocampus_001.nii.gz"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for offset in [f32::INFINITY, 3.4e38, 1.9e19] {
        let mut file = nifti::shrink(&seed, [2, 2, 2]);
        file[108..112].copy_from_slice(&offset.to_le_bytes());
        let path = dir.path().join("case_0000.nii");
        std::fs::write(&path, &file).unwrap();
        refused_naming_file(read_image(&[&path]), &path);
        refused_naming_file(read_label(&path), &path);
    }
}

/// A PNG header claiming 18000 × 18000 RGB16 pixels asked for 1.9 GB before reading any data.
/// That is under the voxel bound (`NNUNET_MAX_VOXELS`, which refuses 60000²), so the check that
/// a file cannot hold more than deflate's ratio allows is what refuses it.
#[test]
fn png_claiming_more_pixels_than_its_file_holds_is_refused() {
    let mut file = Vec::new();
    let mut encoder = png::Encoder::new(&mut file, 4, 4);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Sixteen);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&[7; 4 * 4 * 6])
        .unwrap();
    // IHDR body starts at 16: width, height (big-endian), then its CRC at 29.
    file[16..20].copy_from_slice(&18_000u32.to_be_bytes());
    file[20..24].copy_from_slice(&18_000u32.to_be_bytes());
    let crc = {
        let mut crc = flate2::Crc::new();
        crc.update(&file[12..29]);
        crc.sum()
    };
    file[29..33].copy_from_slice(&crc.to_be_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.png");
    std::fs::write(&path, &file).unwrap();
    refused_naming_file(read_image(&[&path]), &path);
    let message = read_label(&path).unwrap_err().to_string();
    assert!(message.contains("18000×18000"), "{message}");
}

/// A `channel_names` key that is no channel number was accepted and then silently dropped.
#[test]
fn dataset_json_with_a_non_numeric_channel_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dataset.json");
    for channels in [
        r#"{"0": "US", "": "x"}"#,
        r#"{"0": "T1", "2": "T2"}"#,
        r#"{"a": "CT"}"#,
    ] {
        let json = format!(
            r#"{{"channel_names": {channels}, "labels": {{"background": 0, "a": 1}},
                "numTraining": 1, "file_ending": ".png"}}"#
        );
        std::fs::write(&path, json).unwrap();
        let message = load_descriptor(&path).unwrap_err().to_string();
        assert!(message.contains("channel_names keys"), "{message}");
        assert!(message.contains("dataset.json"), "{message}");
    }
}
