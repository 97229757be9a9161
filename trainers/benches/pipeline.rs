//! Throughput of the training data pipeline (loading + augmentation + deep-supervision
//! targets, no network) on synthetic cases shaped like Hippocampus and CHASEDB1, beside
//! nnU-Net v2's own figures measured with one process (`nnUNet_n_proc_DA=0`).
//!
//! ```text
//! cargo bench -p nnunet-trainers --bench pipeline -- [--workers 1,2] [--batches N]
//!     [--scenario hippocampus-3d|hippocampus-2d|chasedb1-2d] [--write] [--smoke]
//!     [--preprocessed nnUNet_preprocessed/DatasetXXX CONFIGURATION] [--nnunet BATCHES_PER_S]
//!     [--serial]
//! ```
//! `--nnunet B` takes nnU-Net's batches/s measured in the same session (at the same batch
//! size) instead of issue #6's figures; comparisons are per sample.
//! `--write` replaces this benchmark's section of `docs/benchmarks.md` (or of `--docs PATH`);
//! `--smoke` runs a few batches of small cases to check that everything works (its numbers
//! mean nothing, and it writes only to an explicit `--docs`). `--serial` builds batches
//! `0..N` on the calling thread instead of worker threads: the same work on every run, for
//! profilers (`perf record`, `valgrind --tool=callgrind`); with `--batches 0` only the
//! cases are loaded.
//! nnU-Net's side: `trainers/benches/nnunet_peer_throughput.sh`.

use nnunet_bench_support::{docs_file, write_section};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use nnunet_trainers::augment::deep_supervision::deep_supervision_scales;
use nnunet_trainers::preprocessed::{DEFAULT_CACHE_BYTES, PreprocessedCases};
use nnunet_trainers::synthetic::ellipsoid_cases;
use nnunet_trainers::{
    AugmentConfig, CaseSource, DataLoader, InMemoryCases, LoaderConfig, Prefetcher,
};

/// nnU-Net v2 2.8.1's loader, one process (`nnUNet_n_proc_DA=0`), 2-core machine, as issue #6
/// quotes it: (batches/s, batch size). `--nnunet B` replaces it with a figure measured in
/// the same session (`nnunet_peer_throughput.sh`), taken at the run's own batch size.
const HIPPOCAMPUS_3D: (f64, usize) = (5.66, 9);
const HIPPOCAMPUS_2D: (f64, usize) = (0.78, 366);
const CHASEDB1_2D: (f64, usize) = (2.49, 2);

struct Scenario {
    key: &'static str,
    name: &'static str,
    batch: usize,
    patch: Vec<usize>,
    strides: Vec<Vec<usize>>,
    channels: usize,
    min: [usize; 3],
    max: [usize; 3],
    cases: usize,
    batches: usize,
    /// nnU-Net v2 2.8.1, one process: batches/s and batch size.
    nnunet: (f64, usize),
}

fn scenarios(smoke: bool) -> Vec<Scenario> {
    let s2 = |n: usize| -> Vec<Vec<usize>> {
        std::iter::once(vec![1, 1])
            .chain(std::iter::repeat_n(vec![2, 2], n))
            .collect()
    };
    let hippo_min = [30, 40, 28];
    let hippo_max = [42, 58, 42];
    let mut v = vec![
        Scenario {
            key: "hippocampus-3d",
            name: "Hippocampus 3d_fullres",
            batch: 9,
            patch: vec![40, 56, 40],
            strides: vec![vec![1, 1, 1], vec![2, 2, 2], vec![2, 2, 2], vec![2, 2, 2]],
            channels: 1,
            min: hippo_min,
            max: hippo_max,
            cases: 40,
            batches: 200,
            nnunet: HIPPOCAMPUS_3D,
        },
        Scenario {
            key: "hippocampus-2d",
            name: "Hippocampus 2d",
            batch: 366,
            patch: vec![56, 40],
            strides: s2(3),
            channels: 1,
            min: hippo_min,
            max: hippo_max,
            cases: 40,
            batches: 20,
            nnunet: HIPPOCAMPUS_2D,
        },
        Scenario {
            key: "chasedb1-2d",
            name: "CHASEDB1 2d",
            batch: 2,
            patch: vec![1024, 1024],
            strides: s2(8),
            channels: 3,
            min: [1, 900, 900],
            max: [1, 960, 960],
            cases: 8,
            batches: 40,
            nnunet: CHASEDB1_2D,
        },
    ];
    if smoke {
        for s in &mut v {
            s.batches = 2;
            s.cases = 2;
            if s.key == "chasedb1-2d" {
                s.min = [1, 200, 200];
                s.max = [1, 220, 220];
                s.patch = vec![256, 256];
                s.strides = s2(6);
            }
            if s.key == "hippocampus-2d" {
                s.batch = 32;
            }
        }
    }
    v
}

struct Args {
    workers: Vec<usize>,
    batches: Option<usize>,
    scenario: Option<String>,
    write: bool,
    smoke: bool,
    /// Build batches on the calling thread (deterministic work, for profilers).
    serial: bool,
    /// nnU-Net's batches/s measured in the same session, at the run's batch size.
    nnunet: Option<f64>,
    /// `nnUNet_preprocessed/DatasetXXX` and configuration: real preprocessed cases.
    preprocessed: Option<(std::path::PathBuf, String)>,
    /// Where `--write` writes (default `docs/benchmarks.md`).
    docs: Option<std::path::PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        workers: vec![1, 2],
        batches: None,
        scenario: None,
        write: false,
        smoke: false,
        serial: false,
        nnunet: None,
        preprocessed: None,
        docs: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--workers" => {
                a.workers = value("--workers")?
                    .split(',')
                    .map(|w| {
                        w.parse()
                            .map_err(|_| format!("--workers: bad number {w:?}"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--batches" => {
                a.batches = Some(
                    value("--batches")?
                        .parse()
                        .map_err(|_| "--batches: not a number")?,
                )
            }
            "--scenario" => a.scenario = Some(value("--scenario")?),
            "--write" => a.write = true,
            "--smoke" => a.smoke = true,
            "--serial" => a.serial = true,
            "--nnunet" => {
                a.nnunet = Some(
                    value("--nnunet")?
                        .parse()
                        .map_err(|_| "--nnunet: batches/s, a number")?,
                )
            }
            "--docs" => a.docs = Some(value("--docs")?.into()),
            "--preprocessed" => {
                let dir = value("--preprocessed")?;
                let config = value("--preprocessed (configuration)")?;
                a.preprocessed = Some((dir.into(), config));
            }
            "--bench" => {} // passed by `cargo bench`
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.workers.contains(&0) {
        return Err("--workers: at least 1".into());
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pipeline bench: {e}");
            std::process::exit(2);
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut runs: Vec<Run> = Vec::new();
    if let Some((dir, config)) = &args.preprocessed {
        match real_run(dir, config) {
            Ok(r) => runs.push(r),
            Err(e) => {
                eprintln!("pipeline bench: {e}");
                std::process::exit(1);
            }
        }
    } else {
        for sc in scenarios(args.smoke) {
            if args.scenario.as_deref().is_some_and(|k| k != sc.key) {
                continue;
            }
            let cases = ellipsoid_cases(sc.cases, sc.channels, sc.min, sc.max, 1);
            runs.push(Run {
                name: format!("{} (synthetic)", sc.name),
                source: Arc::new(InMemoryCases::new(cases)),
                patch: sc.patch,
                strides: sc.strides,
                batch: sc.batch,
                batches: sc.batches,
                nnunet: Some(sc.nnunet),
            });
        }
    }
    if let Some(r) = args.nnunet {
        for run in &mut runs {
            run.nnunet = Some((r, run.batch));
        }
    }
    let reference_note = if args.nnunet.is_some() {
        "in the same session, same plans"
    } else {
        "issue #6's figures"
    };
    let mut rows = Vec::new();
    for run in runs {
        let mut aug = AugmentConfig::nnunet(&run.patch).expect("valid patch");
        aug.deep_supervision_scales = Some(deep_supervision_scales(&run.strides));
        let loader = Arc::new(
            DataLoader::new(
                run.source.clone(),
                LoaderConfig::training(aug, run.batch),
                12345,
            )
            .expect("loader"),
        );
        let n = args.batches.unwrap_or(run.batches);
        // read every case once (preprocessed cases stay cached in memory): reading files is
        // not what is measured or profiled
        for i in 0..run.source.len() {
            if let Err(e) = run.source.load(i) {
                eprintln!("pipeline bench: {e}");
                std::process::exit(1);
            }
        }
        if args.serial {
            let t = Instant::now();
            for i in 0..n {
                loader.batch(i as u64).expect("batch");
            }
            let s = t.elapsed().as_secs_f64();
            println!(
                "{:<36} serial: {n} batches in {s:.2} s ({:.2} batches/s, one thread)",
                run.name,
                n as f64 / s
            );
            continue;
        }
        for &w in &args.workers {
            let mut p = Prefetcher::new(loader.clone(), w, 2, 0).expect("prefetcher");
            let first = p.next_batch().expect("batch"); // warm-up: threads start
            let t = Instant::now();
            for _ in 0..n {
                p.next_batch().expect("batch");
            }
            let bps = n as f64 / t.elapsed().as_secs_f64();
            let per_core = bps / w.min(cores) as f64;
            // compared per sample: nnU-Net's figure may come with another batch size
            let samples_per_core = per_core * run.batch as f64;
            let (reference, ratio) = match run.nnunet {
                Some((r, rb)) => (
                    format!("{r:.2} × {rb} = {:.1}", r * rb as f64),
                    format!("×{:.1}", samples_per_core / (r * rb as f64)),
                ),
                None => ("—".to_string(), "—".to_string()),
            };
            println!(
                "{:<36} batch {:?}  workers {w}: {bps:8.2} batches/s ({samples_per_core:.1} samples/s per core; nnU-Net {reference} samples/s → {ratio} per core)",
                run.name, first.data_shape
            );
            rows.push(format!(
                "| {} | {} | {} | {w} | {bps:.2} | {samples_per_core:.1} | {reference} | {ratio} |",
                run.name,
                run.batch,
                run.patch
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("×"),
            ));
        }
    }
    if args.write && (!args.smoke || args.docs.is_some()) {
        let (key, title, what) = match &args.preprocessed {
            Some((dir, config)) => {
                let name = dir
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().to_string());
                (
                    format!("trainers/pipeline {name} {config}"),
                    format!("Training data pipeline: {name} {config}, preprocessed cases"),
                    "the preprocessed cases (read once, then cached in memory)".to_string(),
                )
            }
            None => (
                "trainers/pipeline synthetic".to_string(),
                "Training data pipeline (nnunet-trainers), synthetic cases".to_string(),
                "synthetic in-memory cases of the datasets' sizes".to_string(),
            ),
        };
        let command = std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect::<Vec<_>>()
            .join(" ");
        let section = format!(
            "## {title}\n\n\
             `cargo bench -p nnunet-trainers --bench pipeline -- {command}`: batches per second of \
             loading + augmentation + deep-supervision targets, no network, on {what}; \
             {cores} CPU cores visible. \"Per core\" divides by the worker threads used; \
             the comparison is per sample (nnU-Net's batch size may differ). \
             nnU-Net v2 2.8.1: one process (`nnUNet_n_proc_DA=0`), measured with \
             `trainers/benches/nnunet_peer_throughput.sh` ({reference_note}). \
             Goal: ≥ 3× per core.\n\n\
             | dataset / configuration | batch | patch | workers | batches/s | samples/s per core | nnU-Net batches/s × batch = samples/s (1 process) | per core vs nnU-Net |\n\
             |---|---|---|---|---|---|---|---|\n{}\n",
            rows.join("\n")
        );
        if let Err(e) = write_section(
            &args
                .docs
                .clone()
                .unwrap_or_else(|| docs_file(env!("CARGO_MANIFEST_DIR"))),
            &key,
            &section,
        ) {
            eprintln!("pipeline bench: {e}");
            std::process::exit(1);
        }
    }
}

/// One measured configuration.
struct Run {
    name: String,
    source: Arc<dyn CaseSource>,
    patch: Vec<usize>,
    strides: Vec<Vec<usize>>,
    batch: usize,
    batches: usize,
    /// nnU-Net's batches per second (one process) and the batch size they were measured with.
    nnunet: Option<(f64, usize)>,
}

/// A run over real preprocessed cases: `dir` is `nnUNet_preprocessed/DatasetXXX` (with
/// `nnUNetPlans.json`), `config` a configuration of it; all its cases are used.
fn real_run(dir: &Path, config: &str) -> nnunet_core::Result<Run> {
    let plans: nnunet_core::Plans = nnunet_core::atomic::read_json(&dir.join("nnUNetPlans.json"))?;
    let cp = plans.configuration(config)?;
    let bad = |what: &str| {
        nnunet_core::Error::invalid_file(
            dir.join("nnUNetPlans.json"),
            format!("{config}: no {what}"),
        )
    };
    let patch = cp.patch_size.clone().ok_or_else(|| bad("patch_size"))?;
    let batch = cp.batch_size.ok_or_else(|| bad("batch_size"))?;
    let strides = cp
        .architecture
        .as_ref()
        .ok_or_else(|| bad("architecture"))?
        .arch_kwargs
        .strides
        .iter()
        .map(|s| s.iter().map(|&v| v as usize).collect())
        .collect();
    let folder = dir.join(
        cp.data_identifier
            .clone()
            .unwrap_or_else(|| format!("nnUNetPlans_{config}")),
    );
    let mut ids: Vec<String> = std::fs::read_dir(&folder)
        .map_err(|e| nnunet_core::Error::io(&folder, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(str::to_string)
        })
        .collect();
    ids.sort();
    let source = PreprocessedCases::open(&folder, ids, DEFAULT_CACHE_BYTES)?;
    let name = dir
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().to_string());
    let nnunet = match (
        name.contains("Hippocampus"),
        name.contains("CHASEDB1"),
        config,
    ) {
        (true, _, "3d_fullres") => Some(HIPPOCAMPUS_3D),
        (true, _, "2d") => Some(HIPPOCAMPUS_2D),
        (_, true, "2d") => Some(CHASEDB1_2D),
        _ => None,
    };
    Ok(Run {
        name: format!("{name} {config} (preprocessed)"),
        source: Arc::new(source),
        patch,
        strides,
        batch,
        batches: if batch > 100 { 20 } else { 100 },
        nnunet,
    })
}
