//! Fingerprint speed: ours (`nnunet_datasets::fingerprint`) against nnU-Net v2's
//! `nnUNetv2_extract_fingerprint -d 4 -np 2 --clean`, on the Hippocampus training split (or its
//! first `--cases N` cases), in the same run, both with 2 workers. Writes a table into
//! `docs/benchmarks.md` (its `datasets/fingerprint` section) with `--write-docs`.
//!
//! ```text
//! cargo bench -p nnunet-datasets --bench fingerprint -- [--cases N] [--repeats R] [--write-docs]
//! ```
//!
//! nnU-Net is found at `/work/peer/venv/bin/nnUNetv2_extract_fingerprint` or `$NNUNET_V2_BIN`
//! (the folder holding it); when absent only our time is reported.

use nnunet_bench_support::{docs_file, write_section};
use nnunet_datasets::fingerprint::extract_fingerprint;
use nnunet_datasets::raw::RawDataset;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const WORKERS: usize = 2;

struct Options {
    cases: Option<usize>,
    repeats: usize,
    write_docs: bool,
}

fn options() -> Options {
    let mut options = Options {
        cases: None,
        repeats: 1,
        write_docs: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--cases" => {
                options.cases = args.get(i + 1).and_then(|v| v.parse().ok());
                i += 1;
            }
            "--repeats" => {
                options.repeats = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(1);
                i += 1;
            }
            "--write-docs" => options.write_docs = true,
            _ => {} // cargo bench passes --bench
        }
        i += 1;
    }
    options
}

/// A raw folder holding `Dataset004_Hippocampus` with the first `cases` training cases.
fn prepare_raw(source: &Path, raw: &Path, cases: Option<usize>) -> PathBuf {
    let dest = raw.join("Dataset004_Hippocampus");
    for folder in ["imagesTr", "labelsTr"] {
        std::fs::create_dir_all(dest.join(folder)).expect("create raw folders");
    }
    let mut ids: Vec<String> = std::fs::read_dir(source.join("labelsTr"))
        .expect("labelsTr")
        .map(|e| {
            e.expect("entry")
                .file_name()
                .to_string_lossy()
                .replace(".nii.gz", "")
        })
        .collect();
    ids.sort();
    if let Some(n) = cases {
        ids.truncate(n);
    }
    for id in &ids {
        for (from, to) in [
            (
                format!("imagesTr/{id}_0000.nii.gz"),
                format!("imagesTr/{id}_0000.nii.gz"),
            ),
            (
                format!("labelsTr/{id}.nii.gz"),
                format!("labelsTr/{id}.nii.gz"),
            ),
        ] {
            std::fs::copy(source.join(&from), dest.join(&to)).expect("copy case");
        }
    }
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(source.join("dataset.json")).expect("dataset.json"))
            .expect("dataset.json parses");
    json["numTraining"] = ids.len().into();
    std::fs::write(dest.join("dataset.json"), json.to_string()).expect("write dataset.json");
    dest
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let options = options();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let source = repo.join("../shared/data/Dataset004_Hippocampus");
    if !source.is_dir() {
        eprintln!("skipping: {} not found", source.display());
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let raw = tmp.path().join("raw");
    let dataset_dir = prepare_raw(&source, &raw, options.cases);
    let dataset = RawDataset::open(&dataset_dir).expect("open dataset");
    let n = nnunet_core::Dataset::cases(&dataset).len();

    let mut ours = Vec::new();
    for _ in 0..options.repeats {
        let start = Instant::now();
        extract_fingerprint(&dataset, Some(WORKERS), false).expect("fingerprint");
        ours.push(start.elapsed().as_secs_f64());
    }
    let ours = median(ours);
    println!("ours: {n} cases in {ours:.2} s ({WORKERS} threads)");

    let bin = std::env::var_os("NNUNET_V2_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/peer/venv/bin"))
        .join("nnUNetv2_extract_fingerprint");
    let theirs = if bin.is_file() {
        let mut times = Vec::new();
        for _ in 0..options.repeats {
            let start = Instant::now();
            let status = Command::new(&bin)
                .args([
                    "-d",
                    "4",
                    "-np",
                    &WORKERS.to_string(),
                    "--clean",
                    "--no_pbar",
                ])
                .env("nnUNet_raw", &raw)
                .env("nnUNet_preprocessed", tmp.path().join("preprocessed"))
                .env("nnUNet_results", tmp.path().join("results"))
                .status()
                .expect("run nnUNetv2_extract_fingerprint");
            assert!(status.success(), "nnUNetv2_extract_fingerprint failed");
            times.push(start.elapsed().as_secs_f64());
        }
        let t = median(times);
        println!(
            "nnU-Net v2: {n} cases in {t:.2} s (-np {WORKERS}); ratio {:.1}x",
            t / ours
        );
        Some(t)
    } else {
        println!("nnU-Net v2 not found at {}", bin.display());
        None
    };

    if options.write_docs {
        let cpus = std::thread::available_parallelism().map_or(0, |c| c.get());
        let mut table = format!(
            "## Fingerprint extraction (Dataset004_Hippocampus, {n} training cases)\n\n\
             `cargo bench -p nnunet-datasets --bench fingerprint -- --write-docs` \
             ({} run(s), median; {WORKERS} workers each; machine with {cpus} CPUs)\n\n\
             | implementation | seconds |\n|---|---|\n| nnunet-rs `nnunet fingerprint` | {ours:.2} |\n",
            options.repeats
        );
        if let Some(t) = theirs {
            table.push_str(&format!(
                "| nnU-Net v2 `nnUNetv2_extract_fingerprint -np 2` | {t:.2} |\n\n\
                 Speed-up: **{:.1}×**.\n",
                t / ours
            ));
        }
        let path = docs_file(env!("CARGO_MANIFEST_DIR"));
        write_section(&path, "datasets/fingerprint", &table).expect("write docs/benchmarks.md");
        println!("table written to {}", path.display());
    }
}
