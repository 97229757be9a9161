//! Reading speed of each volume format against our NIfTI reader: the first `--cases N`
//! Hippocampus training images (default 100) are converted once into every format we write,
//! then every format's files are read in `--repeats R` interleaved rounds (default 5, best kept),
//! one thread.
//! Reported per voxel, and relative to our NIfTI reader on `.nii.gz` files written the same way
//! (the dataset's original files are timed too). Writes a table into
//! `docs/benchmarks.md` (its `datasets/formats` section) with `--write-docs`.
//!
//! ```text
//! cargo bench -p nnunet-datasets --bench formats -- [--cases N] [--repeats R] [--write-docs]
//! ```

use nnunet_bench_support::{docs_file, write_section};
use nnunet_core::Geometry;
use nnunet_datasets::io::{read_image, write_image};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Endings compared, with what they store.
const FORMATS: [(&str, &str); 10] = [
    (".nii.gz", "NIfTI-1, gzip (the baseline)"),
    (
        "original",
        "NIfTI-1, gzip: the dataset's own `.nii.gz` files (not float32 throughout)",
    ),
    (".nii", "NIfTI-1, uncompressed"),
    (".nrrd", "NRRD, gzip"),
    (".nhdr", "NRRD detached, gzip"),
    (".mha", "MetaImage, zlib"),
    (".mhd", "MetaImage detached, zlib"),
    (".gipl", "GIPL, uncompressed"),
    (".gipl.gz", "GIPL, gzip"),
    (".tif", "3D TIFF, deflate + .json sidecar"),
];

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Time to read every file of `files`, and their voxel count.
fn time_reads(files: &[PathBuf]) -> (f64, usize) {
    let start = Instant::now();
    let voxels = files
        .iter()
        .map(|f| read_image(&[f]).expect("read").channels[0].len())
        .sum();
    (start.elapsed().as_secs_f64(), voxels)
}

/// `originals` written as `ending` into `dir` (the originals themselves for `original`).
fn convert(originals: &[PathBuf], ending: &str, dir: &Path) -> Vec<PathBuf> {
    if ending == "original" {
        return originals.to_vec();
    }
    originals
        .iter()
        .enumerate()
        .map(|(i, original)| {
            let mut image = read_image(&[original]).expect("read original");
            if ending.contains("gipl") || ending == ".tif" {
                // formats without direction (TIFF: nor origin) get the default geometry
                image.geometry = Geometry {
                    spacing: image.geometry.spacing,
                    ..Geometry::default()
                };
            }
            let path = dir.join(format!("case{i:03}_0000{ending}"));
            write_image(&path, &image).expect("write");
            path
        })
        .collect()
}

fn main() {
    let cases = arg("--cases", 100);
    let repeats = arg("--repeats", 5).max(1);
    let write_docs = std::env::args().any(|a| a == "--write-docs");
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/Dataset004_Hippocampus/imagesTr");
    assert!(source.is_dir(), "shared data missing: {}", source.display());
    let mut originals: Vec<PathBuf> = std::fs::read_dir(&source)
        .expect("imagesTr")
        .map(|e| e.expect("entry").path())
        .collect();
    originals.sort();
    originals.truncate(cases);
    let tmp = tempfile::tempdir().expect("tempdir");
    let sets: Vec<Vec<PathBuf>> = FORMATS
        .iter()
        .map(|(ending, _)| {
            convert(
                &originals,
                ending,
                &tmp.path().join(ending.trim_start_matches('.')),
            )
        })
        .collect();
    // formats interleaved in every round, so that a busy machine slows them alike
    let mut best = vec![f64::INFINITY; FORMATS.len()];
    let mut voxels = vec![0; FORMATS.len()];
    for _ in 0..repeats {
        for (i, files) in sets.iter().enumerate() {
            let (seconds, count) = time_reads(files);
            best[i] = best[i].min(seconds);
            voxels[i] = count;
        }
    }
    let ns: Vec<f64> = best
        .iter()
        .zip(&voxels)
        .map(|(s, &v)| s * 1e9 / v as f64)
        .collect();
    let base = ns[0];
    let mut rows = Vec::new();
    for (i, (ending, what)) in FORMATS.iter().enumerate() {
        let ratio = ns[i] / base;
        println!(
            "{ending:>8}: {:6.2} ns/voxel ({ratio:.2}x our .nii.gz time)",
            ns[i]
        );
        rows.push(format!(
            "| `{ending}` | {what} | {:.3} | {:.2} | {ratio:.2} |\n",
            best[i], ns[i]
        ));
    }
    if write_docs {
        let cpus = std::thread::available_parallelism().map_or(0, |c| c.get());
        let table = format!(
            "## Reading volume formats (Dataset004_Hippocampus, {} training images)\n\n\
             `cargo bench -p nnunet-datasets --bench formats -- --write-docs` (best of {repeats} interleaved rounds, \
             one thread, machine with {cpus} CPUs shared with other jobs). The same volumes \
             written as float32 by our writers in each format (default compression level), read \
             with `nnunet_datasets::io::read_image`; time relative to our NIfTI reader on the \
             `.nii.gz` files written the same way.\n\n\
             | ending | stored as | seconds | ns / voxel | time vs `.nii.gz` |\n|---|---|---|---|---|\n{}",
            originals.len(),
            rows.concat()
        );
        let path = docs_file(env!("CARGO_MANIFEST_DIR"));
        write_section(&path, "datasets/formats", &table).expect("write docs/benchmarks.md");
        println!("table written to {}", path.display());
    }
}
