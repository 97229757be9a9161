//! Converters and the phantom generator, end to end on files: each writes a dataset that reads
//! back as intended (and passes `verify`), and the CHASE_DB1 source zip converts to label maps
//! identical to the shipped ones.

use nnunet_datasets::convert::{
    self, Existing, LabelmeOptions, MasksOptions, Structure, TaskOptions,
};
use nnunet_datasets::phantom::{self, Dim, PhantomOptions};
use nnunet_datasets::{read_image, read_label, write_image, write_label};
use std::path::{Path, PathBuf};

mod common;
use common::assert_verifies;

fn shared_data() -> Option<PathBuf> {
    nnunet_core::test_data::shared_data(env!("CARGO_MANIFEST_DIR"), "")
}

fn write_json(path: &Path, value: serde_json::Value) {
    std::fs::write(path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn chasedb1_zip_converts_to_the_shipped_label_maps() {
    let Some(data) = shared_data() else { return };
    let shipped = data.join("Dataset101_CHASEDB1");
    let raw = tempfile::tempdir().unwrap();
    let options = MasksOptions {
        raw: raw.path().to_path_buf(),
        id: 101,
        name: "CHASEDB1".into(),
        images: vec!["{case}.jpg".into()],
        structures: vec![Structure {
            name: "vessel".into(),
            pattern: "{case}_1stHO.png".into(),
        }],
        channel_names: None,
        threshold: None,
        allow_missing: false,
        existing: Existing::Refuse,
    };
    let out =
        convert::convert_masks(&shipped.join("source/CHASEDB1_train20.zip"), &options).unwrap();
    assert_eq!(out, raw.path().join("Dataset101_CHASEDB1"));

    let ours = json(&out.join("dataset.json"));
    let theirs = json(&shipped.join("dataset.json"));
    for key in ["channel_names", "labels", "numTraining", "file_ending"] {
        assert_eq!(ours[key], theirs[key], "dataset.json {key}");
    }

    let mut cases = 0;
    let (mut pixels, mut differing, mut max_diff) = (0usize, 0usize, 0f32);
    for entry in std::fs::read_dir(shipped.join("labelsTr")).unwrap() {
        let name = entry.unwrap().file_name();
        let expected = read_label(&shipped.join("labelsTr").join(&name)).unwrap();
        let got = read_label(&out.join("labelsTr").join(&name)).unwrap();
        assert_eq!(got.shape, expected.shape, "{name:?}");
        assert_eq!(got.shape, [1, 960, 999]);
        let wrong = got
            .data
            .iter()
            .zip(&expected.data)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(wrong, 0, "{name:?}: {wrong} label pixels differ");
        cases += 1;

        // images: decoded by a different JPEG decoder than the shipped ones (Pillow/libjpeg)
        let stem = name.to_string_lossy().replace(".png", "_0000.png");
        let a = read_image(&[out.join("imagesTr").join(&stem)]).unwrap();
        let b = read_image(&[shipped.join("imagesTr").join(&stem)]).unwrap();
        assert_eq!((a.shape, a.channels.len()), (b.shape, 3));
        for (ca, cb) in a.channels.iter().zip(&b.channels) {
            for (x, y) in ca.iter().zip(cb) {
                pixels += 1;
                if x != y {
                    differing += 1;
                    max_diff = max_diff.max((x - y).abs());
                }
            }
        }
    }
    assert_eq!(cases, 20);
    eprintln!(
        "CHASEDB1 images: {differing} of {pixels} samples differ from Pillow's decoding \
         ({:.3}%), by at most {max_diff}",
        100.0 * differing as f64 / pixels as f64
    );
    assert!(
        max_diff <= 8.0,
        "JPEG decoders disagree by {max_diff} grey levels"
    );
    assert_verifies(&out);
}

/// An MSD-like header: qform with a 180° rotation about z, an offset, anisotropic spacing.
fn msd_header() -> nifti::NiftiHeader {
    let mut header = nifti::NiftiHeader {
        pixdim: [1.0, 0.6, 0.6, 3.6, 1.0, 0.0, 0.0, 0.0],
        qform_code: 1,
        sform_code: 0,
        quatern_b: 0.0,
        quatern_c: 0.0,
        quatern_d: 1.0,
        quatern_x: 40.0,
        quatern_y: -12.5,
        quatern_z: 7.0,
        xyzt_units: 10,
        ..Default::default()
    };
    header.set_description_str("msd-like test volume").unwrap();
    header
}

/// Writes a NIfTI volume given in Fortran order `(x, y, z[, t])`, like MSD files.
macro_rules! write_msd_nifti {
    ($path:expr, $dims:expr, $values:expr) => {{
        use ndarray::ShapeBuilder;
        let header = msd_header();
        let array = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&$dims).f(), $values).unwrap();
        nifti::writer::WriterOptions::new($path)
            .reference_header(&header)
            .write_nifti(&array)
            .unwrap();
    }};
}

#[test]
fn msd_task_splits_4d_images_per_channel() {
    let task_root = tempfile::tempdir().unwrap();
    let task = task_root.path().join("Task05_Prostate");
    for sub in ["imagesTr", "labelsTr", "imagesTs"] {
        std::fs::create_dir_all(task.join(sub)).unwrap();
    }
    let (nx, ny, nz) = (9, 7, 5);
    let n = nx * ny * nz;
    let cases = ["prostate_00", "prostate_04"];
    for (k, case) in cases.iter().enumerate() {
        let values: Vec<i16> = (0..2 * n)
            .map(|i| (i as i16) * 3 - 100 + k as i16)
            .collect();
        write_msd_nifti!(
            &task.join(format!("imagesTr/{case}.nii.gz")),
            [nx, ny, nz, 2],
            values
        );
        let label: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
        write_msd_nifti!(
            &task.join(format!("labelsTr/{case}.nii.gz")),
            [nx, ny, nz],
            label
        );
    }
    write_msd_nifti!(
        &task.join("imagesTs/prostate_08.nii.gz"),
        [nx, ny, nz, 2],
        vec![5i16; 2 * n]
    );
    // macOS resource fork, as shipped in the MSD tarballs
    std::fs::write(task.join("imagesTr/._prostate_00.nii.gz"), b"junk").unwrap();
    write_json(
        &task.join("dataset.json"),
        serde_json::json!({
            "name": "PROSTATE",
            "tensorImageSize": "4D",
            "modality": {"0": "T2", "1": "ADC"},
            "labels": {"0": "background", "1": "PZ", "2": "TZ"},
            "numTraining": 2, "numTest": 1,
            "training": [
                {"image": "./imagesTr/prostate_00.nii.gz", "label": "./labelsTr/prostate_00.nii.gz"},
                {"image": "./imagesTr/prostate_04.nii.gz", "label": "./labelsTr/prostate_04.nii.gz"}
            ],
            "test": ["./imagesTs/prostate_08.nii.gz"]
        }),
    );

    let raw = tempfile::tempdir().unwrap();
    let options = TaskOptions {
        raw: raw.path().to_path_buf(),
        id: None,
        name: None,
        existing: Existing::Refuse,
    };
    let out = convert::convert_msd(&task, &options).unwrap();
    assert_eq!(out, raw.path().join("Dataset005_Prostate"));
    let descriptor = json(&out.join("dataset.json"));
    assert_eq!(
        descriptor["channel_names"],
        serde_json::json!({"0": "T2", "1": "ADC"})
    );
    assert_eq!(
        descriptor["labels"],
        serde_json::json!({"background": 0, "PZ": 1, "TZ": 2})
    );
    assert_eq!(descriptor["numTraining"], 2);
    assert_eq!(descriptor["file_ending"], ".nii.gz");
    assert!(descriptor.get("modality").is_none() && descriptor.get("training").is_none());

    for (k, case) in cases.iter().enumerate() {
        let files: Vec<PathBuf> = (0..2)
            .map(|c| out.join(format!("imagesTr/{case}_{c:04}.nii.gz")))
            .collect();
        let image = read_image(&files).unwrap();
        assert_eq!(image.shape, [nz, ny, nx]);
        let label = read_label(&out.join(format!("labelsTr/{case}.nii.gz"))).unwrap();
        assert_eq!(
            image.geometry, label.geometry,
            "{case}: image and label geometry"
        );
        assert_eq!(
            image.geometry.spacing,
            [3.6f32 as f64, 0.6f32 as f64, 0.6f32 as f64]
        );
        // C-order (z, y, x) index of Fortran position i = x + nx*(y + ny*z) is the same i
        for c in 0..2 {
            for i in [0, 1, nx, nx * ny, n - 1] {
                let expected = ((c * n + i) as i16) * 3 - 100 + k as i16;
                assert_eq!(
                    image.channels[c][i], expected as f32,
                    "{case} channel {c} voxel {i}"
                );
            }
        }
        // the stored datatype is kept (int16, not float32)
        let header = nifti::NiftiHeader::from_file(&files[1]).unwrap();
        assert_eq!(header.datatype, nifti::NiftiType::Int16 as i16);
        assert_eq!(header.dim[0], 3);
        assert_eq!(header.descrip[..20], b"msd-like test volume"[..]);
    }
    assert!(out.join("imagesTs/prostate_08_0001.nii.gz").is_file());
    assert!(!out.join("imagesTr/._prostate_00_0000.nii.gz").exists());
    assert_verifies(&out);

    // converting again refuses the taken id
    let err = convert::convert_msd(&task, &options).unwrap_err();
    assert!(err.to_string().contains("Dataset005_Prostate"), "{err}");
}

#[test]
fn msd_single_channel_task_copies_3d_images() {
    let root = tempfile::tempdir().unwrap();
    let task = root.path().join("Task03_Liver");
    for sub in ["imagesTr", "labelsTr", "imagesTs"] {
        std::fs::create_dir_all(task.join(sub)).unwrap();
    }
    let (nx, ny, nz) = (6, 5, 4);
    let n = nx * ny * nz;
    write_msd_nifti!(
        &task.join("imagesTr/liver_0.nii.gz"),
        [nx, ny, nz],
        (0..n).map(|i| i as i16 - 1000).collect::<Vec<_>>()
    );
    write_msd_nifti!(
        &task.join("labelsTr/liver_0.nii.gz"),
        [nx, ny, nz],
        (0..n).map(|i| (i % 2) as u8).collect::<Vec<_>>()
    );
    // a 4D image in a one-channel task: refused, naming the file
    write_msd_nifti!(
        &task.join("imagesTs/liver_9.nii.gz"),
        [nx, ny, nz, 2],
        vec![0i16; 2 * n]
    );
    write_json(
        &task.join("dataset.json"),
        serde_json::json!({
            "name": "Liver", "modality": {"0": "CT"},
            "labels": {"0": "background", "1": "liver"},
            "training": [{"image": "./imagesTr/liver_0.nii.gz", "label": "./labelsTr/liver_0.nii.gz"}],
            "test": []
        }),
    );
    let raw = tempfile::tempdir().unwrap();
    let options = TaskOptions {
        raw: raw.path().to_path_buf(),
        id: None,
        name: None,
        existing: Existing::Refuse,
    };
    let out = convert::convert_msd(&task, &options).unwrap();
    assert_eq!(
        std::fs::read(task.join("imagesTr/liver_0.nii.gz")).unwrap(),
        std::fs::read(out.join("imagesTr/liver_0_0000.nii.gz")).unwrap()
    );
    assert!(!out.join("imagesTs").exists(), "the test list is empty");
    assert_verifies(&out);

    write_json(
        &task.join("dataset.json"),
        serde_json::json!({
            "modality": {"0": "CT"}, "labels": {"0": "background", "1": "liver"},
            "training": [{"image": "./imagesTr/liver_0.nii.gz", "label": "./labelsTr/liver_0.nii.gz"}]
        }),
    );
    let err = convert::convert_msd(
        &task,
        &TaskOptions {
            id: Some(4),
            ..options
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("liver_9.nii.gz") && err.to_string().contains("2 channels"),
        "{err}"
    );
    assert!(!raw.path().join("Dataset004_Liver").exists());
}

#[test]
fn v1_task_is_copied_and_its_json_translated() {
    let root = tempfile::tempdir().unwrap();
    let task = root.path().join("Task101_Phantom");
    let (image, label) = phantom::phantom_case(Dim::Three, 5, 0);
    for case in ["c1", "c2"] {
        write_image(&task.join(format!("imagesTr/{case}_0000.nii.gz")), &image).unwrap();
        write_label(&task.join(format!("labelsTr/{case}.nii.gz")), &label).unwrap();
    }
    write_image(&task.join("imagesTs/c3_0000.nii.gz"), &image).unwrap();
    write_json(
        &task.join("dataset.json"),
        serde_json::json!({
            "name": "Phantom", "tensorImageSize": "3D",
            "modality": {"0": "MRI"},
            "labels": {"0": "background", "1": "organ", "2": "lesion"},
            "numTraining": 2, "numTest": 1,
            "training": [
                {"image": "./imagesTr/c1.nii.gz", "label": "./labelsTr/c1.nii.gz"},
                {"image": "./imagesTr/c2.nii.gz", "label": "./labelsTr/c2.nii.gz"}
            ],
            "test": ["./imagesTs/c3.nii.gz"]
        }),
    );
    let raw = tempfile::tempdir().unwrap();
    let out = convert::convert_v1(
        &task,
        &TaskOptions {
            raw: raw.path().to_path_buf(),
            id: Some(201),
            name: None,
            existing: Existing::Refuse,
        },
    )
    .unwrap();
    assert_eq!(out, raw.path().join("Dataset201_Phantom"));
    for f in [
        "imagesTr/c1_0000.nii.gz",
        "labelsTr/c2.nii.gz",
        "imagesTs/c3_0000.nii.gz",
    ] {
        assert_eq!(
            std::fs::read(task.join(f)).unwrap(),
            std::fs::read(out.join(f)).unwrap(),
            "{f} not copied byte for byte"
        );
    }
    let d = json(&out.join("dataset.json"));
    assert_eq!(d["channel_names"], serde_json::json!({"0": "MRI"}));
    assert_eq!(
        d["labels"],
        serde_json::json!({"background": 0, "organ": 1, "lesion": 2})
    );
    assert_eq!(d["numTraining"], 2);
    assert_verifies(&out);
}

#[test]
fn structure_masks_merge_in_order() {
    let src = tempfile::tempdir().unwrap();
    let (w, h) = (12usize, 8usize);
    let grey = |v: u8| image::GrayImage::from_pixel(w as u32, h as u32, image::Luma([v]));
    for case in ["a", "b", "c"] {
        std::fs::create_dir_all(src.path().join("images")).unwrap();
        let mut picture = grey(40);
        picture.put_pixel(0, 0, image::Luma([200]));
        // JPEG input: converted to PNG by the converter
        picture
            .save(src.path().join(format!("images/{case}.jpg")))
            .unwrap();
    }
    std::fs::create_dir_all(src.path().join("organ")).unwrap();
    std::fs::create_dir_all(src.path().join("tumor")).unwrap();
    for case in ["a", "b"] {
        // organ: left half, 0/255; tumor: columns 4..8, 0/1 (it overlaps the organ)
        let mut organ = grey(0);
        let mut tumor = grey(0);
        for y in 0..h as u32 {
            for x in 0..w as u32 {
                if x < 6 {
                    organ.put_pixel(x, y, image::Luma([255]));
                }
                if (4..8).contains(&x) && case == "a" {
                    tumor.put_pixel(x, y, image::Luma([1]));
                }
            }
        }
        organ
            .save(src.path().join(format!("organ/{case}.png")))
            .unwrap();
        tumor
            .save(src.path().join(format!("tumor/{case}.png")))
            .unwrap();
    }
    let raw = tempfile::tempdir().unwrap();
    let options = MasksOptions {
        raw: raw.path().to_path_buf(),
        id: 150,
        name: "Structures".into(),
        images: vec!["images/{case}.jpg".into()],
        structures: vec![
            Structure {
                name: "organ".into(),
                pattern: "organ/{case}.png".into(),
            },
            Structure {
                name: "tumor".into(),
                pattern: "tumor/{case}.png".into(),
            },
        ],
        channel_names: Some(vec!["photo".into()]),
        threshold: None,
        allow_missing: false,
        existing: Existing::Refuse,
    };
    let out = convert::convert_masks(src.path(), &options).unwrap();
    let a = read_label(&out.join("labelsTr/a.png")).unwrap();
    let row: Vec<i16> = a.data[..w].to_vec();
    assert_eq!(row, vec![1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0]);
    let b = read_label(&out.join("labelsTr/b.png")).unwrap();
    assert_eq!(b.data[..w], [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    // case c has no mask: a test image
    assert!(out.join("imagesTs/c_0000.png").is_file());
    assert!(!out.join("labelsTr/c.png").exists());
    let d = json(&out.join("dataset.json"));
    assert_eq!(
        d["labels"],
        serde_json::json!({"background": 0, "organ": 1, "tumor": 2})
    );
    assert_eq!(d["channel_names"], serde_json::json!({"0": "photo"}));
    assert_eq!(d["numTraining"], 2);
    assert_verifies(&out);

    // a mask with values beyond {0, m} is refused, naming the file
    let mut bad = grey(0);
    bad.put_pixel(1, 1, image::Luma([3]));
    bad.put_pixel(2, 1, image::Luma([255]));
    bad.save(src.path().join("tumor/b.png")).unwrap();
    let options = MasksOptions { id: 151, ..options };
    let err = convert::convert_masks(src.path(), &options).unwrap_err();
    assert!(
        err.to_string().contains("tumor/b.png") && err.to_string().contains("3, 255"),
        "{err}"
    );
}

#[test]
fn nifti_structure_masks_rebuild_the_label_map() {
    let src = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    for index in 0..2u64 {
        let (image, label) = phantom::phantom_case(Dim::Three, 99, index);
        let case = format!("case{index}");
        write_image(&src.path().join(format!("ct/{case}.nii.gz")), &image).unwrap();
        for (structure, keep) in [("organ", 1i16), ("lesion", 2)] {
            let mut mask = label.clone();
            for v in &mut mask.data {
                *v = if *v >= keep { 255 } else { 0 };
            }
            write_label(
                &src.path().join(format!("{structure}/{case}.nii.gz")),
                &mask,
            )
            .unwrap();
        }
        expected.push((case, label));
    }
    let raw = tempfile::tempdir().unwrap();
    let out = convert::convert_masks(
        src.path(),
        &MasksOptions {
            raw: raw.path().to_path_buf(),
            id: 152,
            name: "FromMasks".into(),
            images: vec!["ct/{case}.nii.gz".into()],
            structures: ["organ", "lesion"]
                .map(|s| Structure {
                    name: s.into(),
                    pattern: format!("{s}/{{case}}.nii.gz"),
                })
                .to_vec(),
            channel_names: Some(vec!["CT".into()]),
            threshold: None,
            allow_missing: false,
            existing: Existing::Refuse,
        },
    )
    .unwrap();
    for (case, label) in expected {
        let got = read_label(&out.join(format!("labelsTr/{case}.nii.gz"))).unwrap();
        assert_eq!(got.data, label.data, "{case}");
        assert_eq!(got.geometry, label.geometry);
    }
    assert_eq!(json(&out.join("dataset.json"))["file_ending"], ".nii.gz");
    assert_verifies(&out);
}

#[test]
fn nrrd_structure_folders_become_one_label_map() {
    // image/, organ/ and tumor/ folders of NRRD files, 0/1 masks, an oblique geometry
    let src = tempfile::tempdir().unwrap();
    let (c, s) = (0.6, 0.8);
    let geometry = nnunet_core::Geometry {
        spacing: [2.5, 0.75, 0.5],
        origin: [-12.5, 40.0, 3.25],
        direction: [c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0],
        ..Default::default()
    };
    let mut expected = Vec::new();
    for index in 0..3u64 {
        let (mut image, mut label) = phantom::phantom_case(Dim::Three, 7, index);
        image.geometry = geometry.clone();
        label.geometry = geometry.clone();
        let case = format!("patient{index}");
        write_image(&src.path().join(format!("image/{case}.nrrd")), &image).unwrap();
        for (structure, keep) in [("organ", 1i16), ("tumor", 2)] {
            let mut mask = label.clone();
            for v in &mut mask.data {
                *v = (*v >= keep) as i16;
            }
            write_label(&src.path().join(format!("{structure}/{case}.nrrd")), &mask).unwrap();
        }
        expected.push((case, image, label));
    }
    let raw = tempfile::tempdir().unwrap();
    let out = convert::convert_masks(
        src.path(),
        &MasksOptions {
            raw: raw.path().to_path_buf(),
            id: 153,
            name: "NrrdMasks".into(),
            images: vec!["image/{case}.nrrd".into()],
            structures: ["organ", "tumor"]
                .map(|s| Structure {
                    name: s.into(),
                    pattern: format!("{s}/{{case}}.nrrd"),
                })
                .to_vec(),
            channel_names: Some(vec!["CT".into()]),
            threshold: None,
            allow_missing: false,
            existing: Existing::Refuse,
        },
    )
    .unwrap();
    for (case, image, label) in expected {
        assert!(
            label.present_labels().contains(&2),
            "{case}: phantom has no tumour"
        );
        let got = read_label(&out.join(format!("labelsTr/{case}.nrrd"))).unwrap();
        assert_eq!(got.data, label.data, "{case}: organ = 1, tumour = 2");
        // the label map keeps the masks' geometry exactly (their NRRD space lines); NRRD stores
        // direction × spacing, so an oblique in-memory geometry reads back to within an ulp
        let mask = read_label(&src.path().join(format!("organ/{case}.nrrd"))).unwrap();
        assert_eq!(got.geometry, mask.geometry);
        for (a, b) in got.geometry.direction.iter().zip(geometry.direction) {
            assert!((a - b).abs() < 1e-15, "{case}: direction {a} vs {b}");
        }
        let copied = read_image(&[out.join(format!("imagesTr/{case}_0000.nrrd"))]).unwrap();
        assert_eq!(copied.channels, image.channels);
        assert_eq!(copied.geometry, got.geometry);
    }
    let descriptor = json(&out.join("dataset.json"));
    assert_eq!(descriptor["file_ending"], ".nrrd");
    assert_eq!(
        descriptor["labels"],
        serde_json::json!({"background": 0, "organ": 1, "tumor": 2})
    );
    assert_verifies(&out);
    // the fingerprint reads the NRRD dataset like any other
    let dataset = nnunet_datasets::raw::RawDataset::open(&out).unwrap();
    let fingerprint =
        nnunet_datasets::fingerprint::extract_fingerprint(&dataset, Some(1), false).unwrap();
    assert_eq!(fingerprint.spacings, vec![vec![2.5, 0.75, 0.5]; 3]);
}

#[test]
fn labelme_polygons_become_label_pngs() {
    use base64::Engine;
    let src = tempfile::tempdir().unwrap();
    let mut rgb = image::RgbImage::from_pixel(16, 12, image::Rgb([10, 20, 30]));
    rgb.put_pixel(3, 3, image::Rgb([200, 100, 50]));
    rgb.save(src.path().join("one.png")).unwrap();
    let mut png = Vec::new();
    rgb.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    rgb.save(src.path().join("unlabelled.png")).unwrap();
    let shapes = serde_json::json!([
        {"label": "leaf", "points": [[1.7, 1.2], [14.6, 2.9], [8.4, 5.5], [13.9, 10.8], [0.4, 9.6]],
         "group_id": null, "shape_type": "polygon", "flags": {}},
        {"label": "spot", "points": [[2, 2], [4, 4]], "group_id": null,
         "shape_type": "rectangle", "flags": {}},
        {"label": "__ignore__", "points": [[15, 0], [15, 1], [14, 1]], "group_id": null,
         "shape_type": "polygon", "flags": {}}
    ]);
    write_json(
        &src.path().join("one.json"),
        serde_json::json!({
            "version": "5.4.1", "flags": {}, "shapes": shapes,
            "imagePath": "one.png", "imageData": null, "imageHeight": 12, "imageWidth": 16
        }),
    );
    // picture only embedded as base64
    write_json(
        &src.path().join("two.json"),
        serde_json::json!({
            "version": "5.4.1", "flags": {}, "shapes": shapes,
            "imagePath": "elsewhere/two.jpg",
            "imageData": base64::engine::general_purpose::STANDARD.encode(&png),
            "imageHeight": 12, "imageWidth": 16
        }),
    );
    let raw = tempfile::tempdir().unwrap();
    let out = convert::convert_labelme(
        src.path(),
        &LabelmeOptions {
            raw: raw.path().to_path_buf(),
            id: 160,
            name: "Leaves".into(),
            labels: None,
            existing: Existing::Refuse,
        },
    )
    .unwrap();
    let d = json(&out.join("dataset.json"));
    assert_eq!(
        d["labels"],
        serde_json::json!({"background": 0, "leaf": 1, "spot": 2, "ignore": 3})
    );
    assert_eq!(
        d["channel_names"],
        serde_json::json!({"0": "R", "1": "G", "2": "B"})
    );
    for case in ["one", "two"] {
        let label = read_label(&out.join(format!("labelsTr/{case}.png"))).unwrap();
        // the polygon as Pillow draws it, then the rectangle (2..=4) on top, then ignore
        let row = |y: usize| label.data[y * 16..(y + 1) * 16].to_vec();
        assert_eq!(row(2), vec![0, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
        assert_eq!(row(9), vec![1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
        assert_eq!(label.data[15], 3);
        let image = read_image(&[out.join(format!("imagesTr/{case}_0000.png"))]).unwrap();
        assert_eq!(image.channels[0][3 * 16 + 3], 200.0);
    }
    assert!(out.join("imagesTs/unlabelled_0000.png").is_file());
    assert_verifies(&out);
}

#[test]
fn phantom_datasets_are_written_and_read_back() {
    let raw = tempfile::tempdir().unwrap();
    for dim in [Dim::Two, Dim::Three] {
        let options = PhantomOptions {
            training_cases: 3,
            test_cases: 1,
            ..PhantomOptions::new(dim, raw.path().to_path_buf())
        };
        let out = phantom::generate(&options).unwrap();
        let (ending, name) = match dim {
            Dim::Two => (".png", "Dataset901_Phantom2D"),
            Dim::Three => (".nii.gz", "Dataset900_Phantom3D"),
        };
        assert_eq!(out, raw.path().join(name));
        let d = json(&out.join("dataset.json"));
        assert_eq!(d["numTraining"], 3);
        assert_eq!(d["file_ending"], ending);
        for index in 0..4u64 {
            let (image, label) = phantom::phantom_case(dim, options.seed, index);
            let (images, labels) = if index < 3 {
                ("imagesTr", "labelsTr")
            } else {
                ("imagesTs", "labelsTs")
            };
            let back = read_image(&[out.join(format!("{images}/phantom_{index:03}_0000{ending}"))])
                .unwrap();
            let back_label =
                read_label(&out.join(format!("{labels}/phantom_{index:03}{ending}"))).unwrap();
            assert_eq!(back.channels, image.channels);
            assert_eq!(back_label.data, label.data);
            if dim == Dim::Three {
                assert_eq!(back.geometry.spacing, [2.0, 1.0, 1.0]);
            }
        }
        assert_verifies(&out);
        // a second run refuses, --force replaces
        assert!(phantom::generate(&options).is_err());
        phantom::generate(&PhantomOptions {
            existing: Existing::Replace,
            ..options
        })
        .unwrap();
    }
}
