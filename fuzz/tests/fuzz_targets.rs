//! The fuzz targets: one test per reader, each seeded from `../shared/data` and run for
//! `NNUNET_FUZZ_SECONDS` (default 20 s) or `NNUNET_FUZZ_CASES` mutated cases. Each prints one
//! line with its executions and crashes, and fails on any finding (see `nnunet_fuzz::runner`).
//!
//! Readers that take a path get the input written to a file in a temporary folder first.

use nnunet_core::{Plans, atomic};
use nnunet_datasets::io::read_nifti_header_geometry;
use nnunet_datasets::raw::{load_descriptor, training_cases};
use nnunet_datasets::{read_image, read_label};
use nnunet_fuzz::seeds::{read_all, shared_data};
use nnunet_fuzz::{Budget, Outcome, fuzz, nifti, png, tree};
use std::path::{Path, PathBuf};

#[global_allocator]
static ALLOC: nnunet_fuzz::BoundedAlloc = nnunet_fuzz::BoundedAlloc;

/// A temporary folder and the file in it each execution writes its input to.
struct Scratch {
    _dir: tempfile::TempDir,
    file: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let file = dir.path().join(name);
        Scratch { _dir: dir, file }
    }

    fn write(&self, input: &[u8]) -> &Path {
        std::fs::write(&self.file, input).expect("writing the fuzz input");
        &self.file
    }
}

/// An image read without error must be consistent: every channel holds `shape`'s voxel count.
fn check_image(image: &nnunet_core::Image) -> Result<(), String> {
    let count: usize = image.shape.iter().product();
    if image.shape.contains(&0) || image.channels.is_empty() {
        return Err(format!("accepted an empty image: shape {:?}", image.shape));
    }
    match image.channels.iter().find(|c| c.len() != count) {
        Some(c) => Err(format!(
            "a channel of {} values for shape {:?}",
            c.len(),
            image.shape
        )),
        None => Ok(()),
    }
}

/// A refusal must say which file it is about.
fn refused(error: impl std::fmt::Display, path: &Path) -> Result<Outcome, String> {
    let message = error.to_string();
    let name = path
        .file_name()
        .expect("scratch files have names")
        .to_string_lossy();
    if message.contains(&*name) {
        Ok(Outcome::Refused)
    } else {
        Err(format!("the error does not name the file: {message}"))
    }
}

/// Reads an image file as an image, as a label map, and (NIfTI) its header alone.
fn read_image_file(path: &Path, nifti: bool) -> Result<Outcome, String> {
    let outcome = match read_image(&[path]) {
        Ok(image) => {
            check_image(&image)?;
            Outcome::Accepted
        }
        Err(e) => refused(e, path)?,
    };
    if let Ok(label) = read_label(path)
        && label.data.len() != label.shape.iter().product::<usize>()
    {
        return Err(format!(
            "label of {} values for shape {:?}",
            label.data.len(),
            label.shape
        ));
    }
    if nifti {
        let _ = read_nifti_header_geometry(path);
    }
    Ok(outcome)
}

#[test]
fn fuzz_nifti_reader() {
    let data = shared_data().join("Dataset004_Hippocampus");
    let files = [
        "imagesTr/hippocampus_001_0000.nii.gz",
        "imagesTr/hippocampus_003_0000.nii.gz",
        "labelsTr/hippocampus_001.nii.gz",
        "labelsTr/hippocampus_003.nii.gz",
    ];
    let full: Vec<Vec<u8>> = files
        .iter()
        .map(|f| nifti::read_uncompressed(&data.join(f)).expect("seed NIfTI"))
        .collect();
    // Small copies (a few voxels) keep most executions fast; the real files stay as seeds.
    let mut seeds: Vec<Vec<u8>> = full
        .iter()
        .flat_map(|f| [nifti::shrink(f, [5, 4, 3]), nifti::shrink(f, [2, 3, 1])])
        .collect();
    seeds.extend(full);
    let scratch = Scratch::new("case_0000.nii.gz");
    let report = fuzz(
        "nifti",
        &seeds,
        &Budget::from_env(),
        nifti::mutate,
        |input| read_image_file(scratch.write(input), true),
    );
    report.assert_clean();
}

#[test]
fn fuzz_png_reader() {
    let data = shared_data();
    let mut seeds = read_all(
        &data,
        &[
            "Dataset102_HC18subset/labelsTr/hc18_007_HC.png",
            "Dataset102_HC18subset/labelsTr/hc18_009_HC.png",
            "Dataset101_CHASEDB1/labelsTr/Image_09R.png",
        ],
    );
    seeds.extend(png::synthetic_seeds());
    let scratch = Scratch::new("case_0000.png");
    let report = fuzz("png", &seeds, &Budget::from_env(), png::mutate, |input| {
        read_image_file(scratch.write(input), false)
    });
    report.assert_clean();
}

const DATASET_JSONS: [&str; 3] = [
    "Dataset004_Hippocampus/dataset.json",
    "Dataset101_CHASEDB1/dataset.json",
    "Dataset102_HC18subset/dataset.json",
];

#[test]
fn fuzz_dataset_json() {
    let seeds = read_all(&shared_data(), &DATASET_JSONS);
    let scratch = Scratch::new("dataset.json");
    let report = fuzz(
        "dataset.json",
        &seeds,
        &Budget::from_env(),
        tree::mutate_json,
        |input| {
            let path = scratch.write(input);
            let descriptor = match load_descriptor(path) {
                Ok(descriptor) => descriptor,
                Err(e) => return refused(e, path),
            };
            let names = descriptor.channel_names_ordered();
            if names.len() != descriptor.num_channels() {
                return Err(format!(
                    "{} channel names for {} channels",
                    names.len(),
                    descriptor.num_channels()
                ));
            }
            let _ = descriptor.label_values();
            let _ = descriptor.ignore_label();
            let _ = descriptor.num_segmentation_heads();
            let _ = descriptor.has_regions();
            let root = path.parent().expect("the scratch file has a folder");
            let _ = training_cases(root, &descriptor);
            Ok(Outcome::Accepted)
        },
    );
    report.assert_clean();
}

#[test]
fn fuzz_plans() {
    let data = shared_data();
    let reference = data.join("nnunetv2_reference");
    let seeds = read_all(
        &reference,
        &[
            "Dataset004_Hippocampus/nnUNetPlans.json",
            "Dataset004_Hippocampus/nnUNetResEncUNetMPlans.json",
            "Dataset004_Hippocampus/nnUNetResEncUNetLPlans.json",
            "Dataset101_CHASEDB1/nnUNetPlans.json",
            "Dataset102_HC18subset/nnUNetPlans.json",
        ],
    );
    let descriptor = load_descriptor(&data.join(DATASET_JSONS[0])).expect("seed dataset.json");
    let scratch = Scratch::new("nnUNetPlans.json");
    let report = fuzz(
        "plans",
        &seeds,
        &Budget::from_env(),
        tree::mutate_json,
        |input| {
            let path = scratch.write(input);
            let plans = match atomic::read_json::<Plans>(path) {
                Ok(plans) => plans,
                Err(e) => return refused(e, path),
            };
            let mut names: Vec<String> = plans.configurations.keys().cloned().collect();
            names.push("no_such_configuration".into());
            let mut resolved = 0;
            for name in &names {
                if let Ok(config) = plans.configuration(name) {
                    resolved += 1;
                    let _ = nnunet_networks::network_spec_from_plans(
                        &config,
                        Some(&descriptor),
                        None,
                        true,
                    );
                    let _ = nnunet_networks::network_spec_from_plans(&config, None, None, false);
                }
            }
            Ok(if resolved > 0 {
                Outcome::Accepted
            } else {
                Outcome::Refused
            })
        },
    );
    report.assert_clean();
}

#[test]
fn fuzz_toml_experiments() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let seeds = read_all(
        &repo.join("docs/examples"),
        &["experiment_tversky_plugin.toml", "compare_hippocampus.toml"],
    );
    let scratch = Scratch::new("experiment.toml");
    let report = fuzz(
        "toml",
        &seeds,
        &Budget::from_env(),
        tree::mutate_toml,
        |input| {
            let path = scratch.write(input);
            let experiment = nnunet_trainers::experiment::Experiment::from_toml_file(path);
            let comparison = nnunet_compare::Comparison::from_toml_file(path);
            match (experiment, comparison) {
                (Ok(_), _) | (_, Ok(_)) => Ok(Outcome::Accepted),
                (Err(e), Err(_)) => refused(e, path),
            }
        },
    );
    report.assert_clean();
}

/// A plugin header as the loader reads it (`PluginHeader`, 72 bytes), then the strings it
/// points at. Pointer fields hold offsets into these bytes; before each check, offsets that fall
/// inside the buffer are turned into addresses (genuine pointers), anything else stays a wild
/// pointer that must be refused without being followed.
fn encode_header(abi: u32, libtorch: &str, name: &str, version: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&nnunet_core::plugin::MAGIC);
    out.extend_from_slice(&abi.to_ne_bytes());
    out.extend_from_slice(&(HEADER_LEN as u32).to_ne_bytes());
    let mut at = HEADER_LEN;
    for text in [libtorch, name, version] {
        out.extend_from_slice(&(at as u64).to_ne_bytes());
        out.extend_from_slice(&(text.len() as u64).to_ne_bytes());
        at += text.len();
    }
    out.extend_from_slice(&1u64.to_ne_bytes()); // register: inside the buffer (never called)
    for text in [libtorch, name, version] {
        out.extend_from_slice(text.as_bytes());
    }
    out
}

/// `size_of::<PluginHeader>()` on 64-bit targets, and the offsets of its pointer fields.
const HEADER_LEN: usize = 72;
const POINTER_FIELDS: [usize; 4] = [16, 32, 48, 64];

#[test]
fn fuzz_plugin_header() {
    use nnunet_core::plugin::{ABI_VERSION, LIBTORCH_VERSION, check_header_bytes};
    assert_eq!(std::mem::size_of::<nnunet_core::PluginHeader>(), HEADER_LEN);
    let seeds = vec![
        encode_header(ABI_VERSION, LIBTORCH_VERSION, "fuzz", "0.1.0"),
        encode_header(ABI_VERSION, LIBTORCH_VERSION, "a-longer-plugin-name", ""),
    ];
    let path = Path::new("/plugins/libforged.so");
    let report = fuzz(
        "plugin-header",
        &seeds,
        &Budget::from_env(),
        |u, seeds| {
            let mut bytes = u.choose(seeds)?.clone();
            nnunet_fuzz::bytes::mutate(u, &mut bytes, seeds, 4)?;
            Ok(bytes)
        },
        |input| {
            // The check reads a plugin's data as 'static slices; here that data lives until
            // the check has returned (its result holds no borrow of it), then it is freed.
            let raw: *mut [u8] = Box::into_raw(input.to_vec().into_boxed_slice());
            // SAFETY: `raw` is a fresh allocation, freed only after its last use below.
            let buffer: &'static mut [u8] = unsafe { &mut *raw };
            let base = buffer.as_ptr() as u64;
            for field in POINTER_FIELDS {
                if let Some(word) = buffer.get_mut(field..field + 8) {
                    let offset = u64::from_ne_bytes(word.try_into().expect("8 bytes"));
                    if offset > 0 && (offset as usize) < input.len() {
                        word.copy_from_slice(&(base + offset).to_ne_bytes());
                    }
                }
            }
            let genuine = input.get(..8) == Some(&nnunet_core::plugin::MAGIC[..])
                && input.get(8..12) == Some(&ABI_VERSION.to_ne_bytes()[..]);
            let result = check_header_bytes(path, buffer);
            // SAFETY: made by Box::into_raw above; nothing borrows it any more.
            drop(unsafe { Box::from_raw(raw) });
            match result {
                Ok(()) if genuine => Ok(Outcome::Accepted),
                Ok(()) => Err("accepted a header with another magic or ABI version".into()),
                Err(e) if e.to_string().contains("libforged.so") => Ok(Outcome::Refused),
                Err(e) => Err(format!("refusal does not name the file: {e}")),
            }
        },
    );
    report.assert_clean();
}
