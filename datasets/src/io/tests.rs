//! Round trips and real-data reads for the IO module.

use super::*;
use nnunet_core::Geometry;
use std::path::PathBuf;

/// `../shared/data` next to the repository, or `None` after a counted skip (a failure under
/// NNUNET_REQUIRE_SHARED_DATA=1).
pub(crate) fn shared_data() -> Option<PathBuf> {
    nnunet_core::test_data::shared_data(env!("CARGO_MANIFEST_DIR"), "")
}

fn hippocampus() -> Option<PathBuf> {
    shared_data().map(|d| d.join("Dataset004_Hippocampus"))
}

#[test]
fn endings_and_jpeg_refused() {
    assert_eq!(file_ending(Path::new("a/b_0000.nii.gz")), Some(".nii.gz"));
    assert_eq!(file_ending(Path::new("a/b.NII")), Some(".nii"));
    assert_eq!(file_ending(Path::new("b.png")), Some(".png"));
    assert_eq!(file_ending(Path::new("b.tiff")), Some(".tiff"));
    assert_eq!(file_ending(Path::new("b.jpg")), None);
    let err = read_image(&[Path::new("x/photo.jpg")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("photo.jpg") && err.contains("lossy"), "{err}");
    let err = read_label(Path::new("x/seg.dcm")).unwrap_err().to_string();
    assert!(
        err.contains("seg.dcm") && err.contains("unsupported"),
        "{err}"
    );
    for (name, ending) in [
        ("a.nrrd", ".nrrd"),
        ("a.NHDR", ".nhdr"),
        ("a_0000.mha", ".mha"),
        ("a.mhd", ".mhd"),
        ("a.gipl.gz", ".gipl.gz"),
        ("a.gipl", ".gipl"),
    ] {
        assert_eq!(file_ending(Path::new(name)), Some(ending));
    }
    // every ending of the format table is a supported ending, and the other way round
    let table: Vec<&str> = FORMATS
        .iter()
        .flat_map(|f| f.endings.iter().copied())
        .collect();
    let mut sorted = table.clone();
    sorted.sort();
    let mut supported = SUPPORTED_ENDINGS.to_vec();
    supported.sort();
    assert_eq!(sorted, supported);
    assert!(is_companion("case.raw.gz", ".nhdr") && is_companion("case.json", ".tif"));
    assert!(!is_companion("case.raw.gz", ".nrrd") && !is_companion("notes.txt", ".mhd"));
}

#[test]
fn nifti_round_trip_is_exact_on_real_files() {
    let Some(dir) = hippocampus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // 001: float32 image; 003: float32 label map; plus a uint8 image and the other float32 label.
    for case in ["hippocampus_001", "hippocampus_003", "hippocampus_243"] {
        let image_path = dir.join(format!("imagesTr/{case}_0000.nii.gz"));
        let image_path = if image_path.exists() {
            image_path
        } else {
            dir.join(format!("imagesTs/{case}_0000.nii.gz"))
        };
        let label_path = dir.join(format!("labelsTr/{case}.nii.gz"));
        let image = read_image(&[&image_path]).unwrap();
        assert_eq!(image.geometry.spacing, [1.0, 1.0, 1.0]);
        // SimpleITK's view of origin (1, 1, 1) RAS with identity rotation: LPS flips x and y.
        assert_eq!(image.geometry.origin, [-1.0, -1.0, 1.0]);
        assert_eq!(
            image.geometry.direction,
            [-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0]
        );
        let out = tmp.path().join(format!("{case}_0000.nii.gz"));
        write_image(&out, &image).unwrap();
        let back = read_image(&[&out]).unwrap();
        assert_eq!(back.shape, image.shape);
        assert_eq!(back.geometry, image.geometry);
        assert_eq!(back.channels, image.channels, "{case}: voxels differ");
        let original_header = image.geometry.source_header.as_ref().unwrap();
        let written_header = back.geometry.source_header.as_ref().unwrap();
        // Everything but datatype (70..72), bitpix (72..74) and scl_slope/inter (112..120) equal.
        for (i, (a, b)) in original_header
            .iter()
            .zip(written_header.iter())
            .enumerate()
        {
            if !(70..74).contains(&i) && !(112..120).contains(&i) {
                assert_eq!(a, b, "{case}: header byte {i} differs");
            }
        }

        if label_path.exists() {
            let label = read_label(&label_path).unwrap();
            assert_eq!(label.shape, image.shape);
            assert_eq!(label.present_labels(), vec![0, 1, 2]);
            let out = tmp.path().join(format!("{case}.nii.gz"));
            write_label(&out, &label).unwrap();
            let back = read_label(&out).unwrap();
            assert_eq!(back.data, label.data);
            assert_eq!(back.geometry, label.geometry);
            assert_eq!(
                back.geometry.source_header.as_ref().unwrap()[..70],
                label.geometry.source_header.as_ref().unwrap()[..70]
            );
        }
    }
    // A float32 label map really is float32 on disk (datatype 16 at byte 70).
    let raw = read_label(&dir.join("labelsTr/hippocampus_003.nii.gz")).unwrap();
    let header = raw.geometry.source_header.unwrap();
    assert_eq!(i16::from_le_bytes([header[70], header[71]]), 16);
}

#[test]
fn nifti_from_geometry_keeps_an_oblique_geometry() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s) = (0.6f64, 0.8f64);
    let geometry = Geometry {
        spacing: [3.0, 0.5, 0.75],
        origin: [10.0, -20.5, 7.25],
        direction: [c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0],
        ..Default::default()
    };
    let image = Image {
        shape: [2, 3, 4],
        channels: vec![(0..24).map(|v| v as f32 * 0.5 - 3.0).collect()],
        geometry: geometry.clone(),
        is_2d: false,
    };
    let path = tmp.path().join("oblique.nii");
    write_image(&path, &image).unwrap();
    let back = read_image(&[&path]).unwrap();
    assert_eq!(back.shape, [2, 3, 4]);
    assert_eq!(back.channels, image.channels);
    assert_eq!(back.geometry.spacing, geometry.spacing);
    for (a, b) in back.geometry.direction.iter().zip(geometry.direction) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    for (a, b) in back.geometry.origin.iter().zip(geometry.origin) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    // A label map with values above 255 is written as int16.
    let label = LabelMap {
        shape: [2, 3, 4],
        data: (0..24).map(|v| v * 100 - 5).collect(),
        geometry,
        is_2d: false,
    };
    let path = tmp.path().join("big.nii.gz");
    write_label(&path, &label).unwrap();
    assert_eq!(read_label(&path).unwrap().data, label.data);
}

#[test]
fn truncated_nifti_is_reported() {
    let Some(dir) = hippocampus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(dir.join("labelsTr/hippocampus_001.nii.gz")).unwrap();
    let path = tmp.path().join("cut.nii.gz");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_label(&path).unwrap_err().to_string();
    assert!(
        err.contains("cut.nii.gz") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn png_rgb_grey_and_labels() {
    let Some(data) = shared_data() else { return };
    let rgb = read_image(&[data.join("Dataset101_CHASEDB1/imagesTr/Image_01L_0000.png")]).unwrap();
    assert_eq!(rgb.channels.len(), 3);
    assert_eq!(rgb.shape, [1, 960, 999]);
    assert!(rgb.is_2d);
    assert_eq!(rgb.geometry.spacing, [999.0, 1.0, 1.0]);
    let label = read_label(&data.join("Dataset101_CHASEDB1/labelsTr/Image_01L.png")).unwrap();
    assert_eq!(label.shape, rgb.shape);
    assert_eq!(label.present_labels(), vec![0, 1]);
    let grey =
        read_image(&[data.join("Dataset102_HC18subset/imagesTr/hc18_000_HC_0000.png")]).unwrap();
    assert_eq!(grey.channels.len(), 1);
    assert_eq!(grey.shape, [1, 540, 800]);

    let tmp = tempfile::tempdir().unwrap();
    for ending in ["png", "bmp", "tif"] {
        let path = tmp.path().join(format!("rgb.{ending}"));
        write_image(&path, &rgb).unwrap();
        assert_eq!(
            read_image(&[&path]).unwrap().channels,
            rgb.channels,
            "{ending}"
        );
        let path = tmp.path().join(format!("label.{ending}"));
        write_label(&path, &label).unwrap();
        assert_eq!(read_label(&path).unwrap().data, label.data, "{ending}");
    }
    // 16-bit grey PNG and a 16-bit label map.
    let mut wide = grey.clone();
    wide.channels[0].iter_mut().for_each(|v| *v *= 200.0);
    let path = tmp.path().join("wide.png");
    write_image(&path, &wide).unwrap();
    assert_eq!(read_image(&[&path]).unwrap().channels, wide.channels);
    let mut big = label.clone();
    big.data.iter_mut().for_each(|v| *v *= 1000);
    let path = tmp.path().join("big.png");
    write_label(&path, &big).unwrap();
    assert_eq!(read_label(&path).unwrap().data, big.data);
    // An RGB file is not a label map.
    let err = read_label(&tmp.path().join("rgb.png"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rgb.png") && err.contains("one channel"),
        "{err}"
    );
}

#[test]
fn palette_png_reads_indices_and_one_bit_reads_zero_one() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("palette.png");
    let file = std::fs::File::create(&path).unwrap();
    let mut encoder = png::Encoder::new(file, 4, 2);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(vec![0, 0, 0, 255, 0, 0, 0, 255, 0]);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&[0, 1, 2, 1, 2, 2, 0, 0]).unwrap();
    writer.finish().unwrap();
    assert_eq!(
        read_label(&path).unwrap().data,
        vec![0, 1, 2, 1, 2, 2, 0, 0]
    );

    let path = tmp.path().join("mask.png");
    let file = std::fs::File::create(&path).unwrap();
    let mut encoder = png::Encoder::new(file, 10, 1);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    let mut writer = encoder.write_header().unwrap();
    writer
        .write_image_data(&[0b1010_0000, 0b0100_0000])
        .unwrap();
    writer.finish().unwrap();
    assert_eq!(
        read_label(&path).unwrap().data,
        vec![1, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    );
}

#[test]
fn channels_of_different_shape_are_refused() {
    let Some(data) = shared_data() else { return };
    let a = data.join("Dataset102_HC18subset/imagesTr/hc18_000_HC_0000.png");
    let b = data.join("Dataset101_CHASEDB1/imagesTr/Image_01L_0000.png");
    let err = read_image(&[&a, &b]).unwrap_err().to_string();
    assert!(
        err.contains("Image_01L_0000.png") && err.contains("shape"),
        "{err}"
    );
}
