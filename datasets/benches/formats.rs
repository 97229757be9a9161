//! Reading speed of each volume format against our NIfTI reader: the first `--cases N`
//! Hippocampus training images (default 60) are converted once into every format we write,
//! then each format's files are read `--repeats R` times (default 3, best run kept), one thread.
//! Reported per voxel, and relative to reading the original `.nii.gz`. Writes a table into
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
const FORMATS: [(&str, &str); 9] = [
    (".nii.gz", "NIfTI-1, gzip (the dataset's own files)"),
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

/// Best time to read every file of `files`, and their voxel count.
fn time_reads(files: &[PathBuf], repeats: usize) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut voxels = 0;
    for _ in 0..repeats {
        let start = Instant::now();
        voxels = files
            .iter()
            .map(|f| read_image(&[f]).expect("read").channels[0].len())
            .sum();
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, voxels)
}

fn main() {
    let cases = arg("--cases", 60);
    let repeats = arg("--repeats", 3).max(1);
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
    let mut rows = Vec::new();
    let mut baseline = None;
    for (ending, what) in FORMATS {
        let files: Vec<PathBuf> = if ending == ".nii.gz" {
            originals.clone()
        } else {
            let dir = tmp.path().join(ending.trim_start_matches('.'));
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
        };
        let (seconds, voxels) = time_reads(&files, repeats);
        let ns = seconds * 1e9 / voxels as f64;
        let base = *baseline.get_or_insert(ns);
        println!(
            "{ending:>8}: {ns:6.2} ns/voxel ({:.2}x NIfTI .nii.gz time)",
            ns / base
        );
        rows.push(format!(
            "| `{ending}` | {what} | {seconds:.3} | {ns:.2} | {:.2} |\n",
            ns / base
        ));
    }
    if write_docs {
        let cpus = std::thread::available_parallelism().map_or(0, |c| c.get());
        let table = format!(
            "## Reading volume formats (Dataset004_Hippocampus, {} training images)\n\n\
             `cargo bench -p nnunet-datasets --bench formats -- --write-docs` (best of {repeats}, \
             one thread, machine with {cpus} CPUs). The same float32 volumes written by our \
             writers in each format, read with `nnunet_datasets::io::read_image`; time relative \
             to our NIfTI reader on the original `.nii.gz` files.\n\n\
             | ending | stored as | seconds | ns / voxel | time vs `.nii.gz` |\n|---|---|---|---|---|\n{}",
            originals.len(),
            rows.concat()
        );
        let path = docs_file(env!("CARGO_MANIFEST_DIR"));
        write_section(&path, "datasets/formats", &table).expect("write docs/benchmarks.md");
        println!("table written to {}", path.display());
    }
}
