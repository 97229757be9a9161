//! Benchmark: `nnunet plan-and-preprocess` against `nnUNetv2_plan_and_preprocess` on the shared
//! datasets, same machine, same worker count, one after the other: wall time and peak memory.
//!
//! Peak memory is the largest *sum* of resident memory over the whole process tree (sampled
//! from /proc every 20 ms), so nnU-Net's worker processes count together, as they occupy the
//! machine together. Each tool gets fresh `nnUNet_preprocessed` folders under
//! `/tmp/nnunet_planning_bench`, so both extract the fingerprint, plan and preprocess all
//! configurations (2d, 3d_fullres, 3d_lowres where planned).
//!
//! ```text
//! cargo build --release -p nnunet-cli
//! cargo bench -p nnunet-planning --bench plan_and_preprocess -- [--workers 2] \
//!     [--datasets 4,101,102] [--nnunet-bin /work/peer/venv/bin] [--only-ours] [--write]
//! ```
//! `--write` replaces this benchmark's section of docs/benchmarks.md. `--only-ours` skips
//! nnU-Net (a quick check that the benchmark runs).

use nnunet_bench_support::{Measurement, measure, write_section};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Options {
    workers: usize,
    datasets: Vec<String>,
    nnunet_bin: PathBuf,
    only_ours: bool,
    write: bool,
}

fn parse_args() -> Options {
    let mut o = Options {
        workers: 2,
        datasets: vec!["4".into(), "101".into(), "102".into()],
        nnunet_bin: PathBuf::from("/work/peer/venv/bin"),
        only_ours: false,
        write: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--workers" => o.workers = args.next().and_then(|v| v.parse().ok()).unwrap_or(2),
            "--datasets" => {
                o.datasets = args
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::to_string)
                    .collect()
            }
            "--nnunet-bin" => o.nnunet_bin = args.next().map(PathBuf::from).unwrap_or(o.nnunet_bin),
            "--only-ours" => o.only_ours = true,
            "--write" => o.write = true,
            _ => {} // cargo bench passes --bench
        }
    }
    o
}

fn env_for(command: &mut Command, raw: &Path, pre: &Path, scratch: &Path) {
    command
        .env("nnUNet_raw", raw)
        .env("nnUNet_preprocessed", pre)
        .env("nnUNet_results", scratch.join("results"));
}

fn main() {
    let o = parse_args();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let raw = repo.join("../shared/data");
    let ours_bin = repo.join("target/release/nnunet");
    assert!(
        ours_bin.is_file(),
        "build it first: cargo build --release -p nnunet-cli"
    );
    let scratch = PathBuf::from("/tmp/nnunet_planning_bench");
    let mut rows = Vec::new();
    for dataset in &o.datasets {
        let run_dir = |tool: &str| {
            let d = scratch.join(format!("{tool}_{dataset}"));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).expect("scratch folder");
            d
        };
        let ours_pre = run_dir("ours");
        let mut ours = Command::new(&ours_bin);
        ours.args([
            "plan-and-preprocess",
            "-d",
            dataset,
            "-n",
            &o.workers.to_string(),
        ]);
        env_for(&mut ours, &raw, &ours_pre, &scratch);
        let Measurement {
            seconds: ours_s,
            peak_mib: ours_mib,
        } = measure(ours).unwrap_or_else(|e| panic!("{e}"));
        let theirs = if o.only_ours {
            None
        } else {
            let pre = run_dir("nnunet");
            let mut c = Command::new(o.nnunet_bin.join("nnUNetv2_plan_and_preprocess"));
            let w = o.workers.to_string();
            c.args(["-d", dataset, "-np", &w, "-npfp", &w]);
            env_for(&mut c, &raw, &pre, &scratch);
            Some(
                measure(c)
                    .map(|m| (m.seconds, m.peak_mib))
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        };
        println!("dataset {dataset}: ours {ours_s:.1} s {ours_mib:.0} MiB; nnU-Net {theirs:?}");
        rows.push((dataset.clone(), ours_s, ours_mib, theirs));
    }
    let mut table = format!(
        "## Plan and preprocess (planning/benches/plan_and_preprocess.rs)\n\n\
         `nnunet plan-and-preprocess -d ID -n {w}` vs `nnUNetv2_plan_and_preprocess -d ID -np {w} -npfp {w}` \
         (fingerprint + plan + all configurations), {w} workers, fresh output folders; peak memory = \
         largest summed RSS of the process tree.\n\n\
         | dataset | nnunet-rs wall | nnunet-rs peak | nnU-Net wall | nnU-Net peak | speed-up | memory ratio |\n\
         |---|---|---|---|---|---|---|\n",
        w = o.workers
    );
    for (d, s, m, theirs) in &rows {
        let (ts, tm, speed, mem) = match theirs {
            Some((ts, tm)) => (
                format!("{ts:.1} s"),
                format!("{tm:.0} MiB"),
                format!("{:.1}×", ts / s),
                format!("{:.2}", m / tm),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        table.push_str(&format!(
            "| {d} | {s:.1} s | {m:.0} MiB | {ts} | {tm} | {speed} | {mem} |\n"
        ));
    }
    println!("{table}");
    if o.write {
        let path = repo.join("docs/benchmarks.md");
        write_section(&path, "planning/plan_and_preprocess", &table)
            .expect("write docs/benchmarks.md");
        println!("written to {}", path.display());
    }
}
