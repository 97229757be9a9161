//! End-to-end prediction: `nnunet predict` against `nnUNetv2_predict` with the *same weights*
//! on the same images, one after the other on the same machine: wall time, seconds per case,
//! peak memory of the process tree, and how far the two predictions agree.
//!
//! Our trained fold is exported to an nnU-Net v2 model folder by `nnunet export-nnunet` (our
//! checkpoints keep nnU-Net's state-dict names), so both tools run the identical network; the
//! agreement column is the foreground-mean Dice of our segmentations scored against nnU-Net's.
//! With `--interop phantom3d|phantom2d` both run an nnU-Net-trained model folder of
//! `../shared/interop` instead (ours reads its `.pth` directly; nnU-Net finds the custom trainer
//! through `nnUNet_extTrainer`), and the time to read each fold's `.pth` is measured too.
//!
//! ```text
//! cargo build --release -p nnunet-cli
//! cargo bench -p nnunet-inference --bench predict -- --results NNUNET_RESULTS \
//!     [--dataset Dataset004_Hippocampus] [--configuration 3d_fullres] [--fold 0] \
//!     [--input ../shared/data/Dataset004_Hippocampus/imagesTs] [--no-tta] \
//!     [--precisions fp32,bf16] [--nnunet-bin /work/peer/venv/bin] [--only-ours] [--write]
//! cargo bench -p nnunet-inference --bench predict -- --interop phantom3d [--write]
//! ```
//! `NNUNET_RESULTS` holds `DATASET/nnUNetTrainer__nnUNetPlans__CONFIG/fold_K` trained by us.
//! nnU-Net runs as its README says for CPU (`-device cpu -npp 1 -nps 1`); both use all cores
//! for the network. Ours runs once per `--precisions` entry (`nnunet predict --precision`;
//! default `fp32`, plus `bf16` on a CPU that computes bfloat16 natively, where `auto` picks
//! it); nnU-Net runs in float32 as it does on a CPU. `--write` replaces this benchmark's
//! section of docs/benchmarks.md.

use nnunet_bench_support::{Measurement, docs_file, measure, write_section};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Options {
    results: PathBuf,
    dataset: String,
    configuration: String,
    fold: String,
    input: PathBuf,
    tta: bool,
    precisions: Vec<String>,
    nnunet_bin: PathBuf,
    only_ours: bool,
    write: bool,
    scratch: PathBuf,
    /// An nnU-Net-trained model of ../shared/interop (manifest name).
    interop: Option<Interop>,
}

/// A model of ../shared/interop/manifest.json.
struct Interop {
    name: String,
    model: PathBuf,
    trainer: String,
    plans: String,
    checkpoint: String,
}

fn interop(repo: &Path, name: &str) -> Result<(Interop, serde_json::Value), String> {
    let root = repo.join("../shared/interop");
    let text = std::fs::read_to_string(root.join("manifest.json"))
        .map_err(|e| format!("{}: {e}", root.join("manifest.json").display()))?;
    let manifest: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let m = manifest["models"]
        .as_array()
        .and_then(|v| v.iter().find(|m| m["name"] == name))
        .ok_or(format!("no model {name:?} in the interop manifest"))?
        .clone();
    let field = |k: &str| m[k].as_str().unwrap_or_default().to_string();
    Ok((
        Interop {
            name: name.to_string(),
            model: root.join(field("model_folder")),
            trainer: field("trainer"),
            plans: field("plans"),
            checkpoint: field("checkpoint"),
        },
        m,
    ))
}

fn parse_args(repo: &Path) -> Result<Options, String> {
    let mut o = Options {
        results: PathBuf::new(),
        dataset: "Dataset004_Hippocampus".into(),
        configuration: "3d_fullres".into(),
        fold: "0".into(),
        input: PathBuf::new(),
        tta: true,
        precisions: if nnunet_core::precision::cpu_has_native_bf16() {
            vec!["fp32".into(), "bf16".into()]
        } else {
            vec!["fp32".into()]
        },
        nnunet_bin: PathBuf::from("/work/peer/venv/bin"),
        only_ours: false,
        write: false,
        scratch: std::env::temp_dir().join("nnunet_predict_bench"),
        interop: None,
    };
    let mut args = std::env::args().skip(1);
    let mut input = None;
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--results" => o.results = PathBuf::from(value("--results")?),
            "--dataset" => o.dataset = value("--dataset")?,
            "--configuration" => o.configuration = value("--configuration")?,
            "--fold" => o.fold = value("--fold")?,
            "--input" => input = Some(PathBuf::from(value("--input")?)),
            "--nnunet-bin" => o.nnunet_bin = PathBuf::from(value("--nnunet-bin")?),
            "--scratch" => o.scratch = PathBuf::from(value("--scratch")?),
            "--no-tta" => o.tta = false,
            "--precisions" => {
                o.precisions = value("--precisions")?
                    .split(',')
                    .map(str::to_string)
                    .collect()
            }
            "--only-ours" => o.only_ours = true,
            "--write" => o.write = true,
            "--interop" => {
                let (model, m) = interop(repo, &value("--interop")?)?;
                let field = |k: &str| m[k].as_str().unwrap_or_default().to_string();
                o.configuration = field("configuration");
                o.fold = m["fold"].as_u64().unwrap_or(0).to_string();
                o.dataset = model
                    .model
                    .parent()
                    .and_then(Path::file_name)
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                input = Some(repo.join("../shared/interop").join(field("inputs")));
                o.results = model.model.join("../..");
                o.interop = Some(model);
            }
            _ => {} // cargo bench passes --bench
        }
    }
    if o.results.as_os_str().is_empty() {
        return Err("--results NNUNET_RESULTS is required (a folder with our trained fold)".into());
    }
    o.input = input.unwrap_or_else(|| {
        repo.join("../shared/data")
            .join(&o.dataset)
            .join("imagesTs")
    });
    Ok(o)
}

fn trainer_dir(results: &Path, o: &Options) -> PathBuf {
    let (trainer, plans) = match &o.interop {
        Some(i) => (i.trainer.as_str(), i.plans.as_str()),
        None => ("nnUNetTrainer", "nnUNetPlans"),
    };
    results
        .join(&o.dataset)
        .join(format!("{trainer}__{plans}__{}", o.configuration))
}

/// Seconds to read each fold's `.pth` (the interop model's fold).
fn pth_read_seconds(o: &Options) -> Option<f64> {
    let i = o.interop.as_ref()?;
    let file = i.model.join(format!("fold_{}", o.fold)).join(&i.checkpoint);
    let started = std::time::Instant::now();
    let read = nnunet_trainers::pth::nnunet::read(&file).expect("read the .pth");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "read {} ({} tensors) in {seconds:.3} s",
        file.display(),
        read.network.len()
    );
    Some(seconds)
}

fn count_cases(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().filter(|e| e.path().is_file()).count())
        .unwrap_or(0)
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = match parse_args(&repo) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let raw = repo.join("../shared/data");
    let theirs_out = o.scratch.join("nnunet");
    let theirs_results = o.scratch.join("nnunet_results");
    let _ = std::fs::remove_dir_all(&o.scratch);
    std::fs::create_dir_all(&o.scratch).expect("scratch folder");
    let cases = count_cases(&o.input);
    let env = |c: &mut Command, results: &Path| {
        c.env("nnUNet_raw", &raw)
            .env("nnUNet_preprocessed", o.scratch.join("preprocessed"))
            .env("nnUNet_results", results);
    };

    // Ours, once per precision.
    let mut ours: Vec<(String, PathBuf, Measurement)> = Vec::new();
    for precision in &o.precisions {
        let out = o.scratch.join(format!("ours_{precision}"));
        let mut cmd = Command::new(repo.join("target/release/nnunet"));
        cmd.args(["predict", "-i"])
            .arg(&o.input)
            .arg("-o")
            .arg(&out)
            .args(["-c", &o.configuration, "-f", &o.fold])
            .args(["--device", "cpu", "--precision", precision]);
        match &o.interop {
            Some(i) => cmd.arg("-m").arg(&i.model).args(["-chk", &i.checkpoint]),
            None => cmd.args(["-d", &o.dataset]),
        };
        if !o.tta {
            cmd.arg("--no-tta");
        }
        env(&mut cmd, &o.results);
        let m = measure(cmd).unwrap_or_else(|e| panic!("{e}"));
        println!(
            "ours ({precision}): {:.1} s, peak {:.0} MiB",
            m.seconds, m.peak_mib
        );
        ours.push((precision.clone(), out, m));
    }

    let mut theirs_m: Option<Measurement> = None;
    if !o.only_ours {
        match &o.interop {
            // nnU-Net reads the interop model where it is.
            Some(_) => std::fs::create_dir_all(theirs_results.join(&o.dataset))
                .and_then(|()| {
                    std::os::unix::fs::symlink(
                        trainer_dir(&o.results, &o),
                        trainer_dir(&theirs_results, &o),
                    )
                })
                .expect("link the interop model"),
            None => {
                let status = Command::new(repo.join("target/release/nnunet"))
                    .arg("export-nnunet")
                    .arg("-i")
                    .arg(trainer_dir(&o.results, &o))
                    .arg("-o")
                    .arg(trainer_dir(&theirs_results, &o))
                    .status()
                    .expect("run nnunet export-nnunet");
                assert!(status.success(), "nnunet export-nnunet failed");
            }
        }
        let mut theirs = Command::new(o.nnunet_bin.join("nnUNetv2_predict"));
        theirs
            .arg("-i")
            .arg(&o.input)
            .arg("-o")
            .arg(&theirs_out)
            .args(["-d", &o.dataset, "-c", &o.configuration, "-f", &o.fold])
            .args(["-device", "cpu", "-npp", "1", "-nps", "1"]);
        if !o.tta {
            theirs.arg("--disable_tta");
        }
        if let Some(i) = &o.interop {
            theirs
                .args(["-tr", &i.trainer, "-p", &i.plans, "-chk", &i.checkpoint])
                .env("nnUNet_extTrainer", repo.join("../shared/interop"));
        }
        env(&mut theirs, &theirs_results);
        let m = measure(theirs).unwrap_or_else(|e| panic!("{e}"));
        println!("nnU-Net: {:.1} s, peak {:.0} MiB", m.seconds, m.peak_mib);
        theirs_m = Some(m);
    }
    // Agreement: our segmentations scored against nnU-Net's.
    let agreement = |ours_out: &Path, name: &str| -> Option<f64> {
        theirs_m.as_ref()?;
        let summary = o.scratch.join(format!("agreement_{name}.json"));
        let mut eval = Command::new(repo.join("target/release/nnunet"));
        eval.arg("evaluate").arg(&theirs_out).arg(ours_out);
        match &o.interop {
            Some(i) => eval.arg("--djfile").arg(i.model.join("dataset.json")),
            None => eval.args(["-d", &o.dataset]),
        };
        eval.arg("-o").arg(&summary);
        env(&mut eval, &o.results);
        measure(eval).ok()?;
        serde_json_value(&std::fs::read_to_string(&summary).ok()?, "foreground_mean")
    };

    let per = |m: &Measurement| m.seconds / cases.max(1) as f64;
    let mut table = format!(
        "{} {}, fold {}, {} images, mirroring {}, CPU (`nnunet predict --device cpu \
         --precision P` vs `nnUNetv2_predict -device cpu -npp 1 -nps 1`, which runs float32), \
         same weights. Agreement: our segmentations scored against nnU-Net's \
         (foreground-mean Dice).\n\n\
         | tool | precision | wall | per case | peak memory | speed-up | agreement |\n\
         |---|---|---|---|---|---|---|\n",
        o.dataset,
        o.configuration,
        o.fold,
        cases,
        if o.tta { "on" } else { "off" }
    );
    for (precision, out, m) in &ours {
        let speedup = theirs_m.as_ref().map_or("–".to_string(), |t| {
            format!("**{:.2}×**", t.seconds / m.seconds)
        });
        let agree = agreement(out, precision).map_or("–".to_string(), |a| format!("{a:.4}"));
        table.push_str(&format!(
            "| nnunet-rs | {precision} | {:.1} s | {:.2} s | {:.0} MiB | {speedup} | {agree} |\n",
            m.seconds,
            per(m),
            m.peak_mib
        ));
    }
    if let Some(t) = &theirs_m {
        table.push_str(&format!(
            "| nnU-Net v2 2.8.1 | fp32 | {:.1} s | {:.2} s | {:.0} MiB | 1× | – |\n",
            t.seconds,
            per(t),
            t.peak_mib
        ));
    }
    if let Some(seconds) = pth_read_seconds(&o) {
        table.push_str(&format!(
            "\nReading the fold's `{}` (pure Rust, `nnunet_trainers::pth`): {seconds:.3} s.\n",
            o.interop.as_ref().map_or("", |i| i.checkpoint.as_str())
        ));
    }
    println!("{table}");
    if o.write {
        let path = docs_file(env!("CARGO_MANIFEST_DIR"));
        let key = match &o.interop {
            Some(i) => format!("inference/predict interop {}", i.name),
            None => format!("inference/predict {} {}", o.dataset, o.configuration),
        };
        write_section(&path, &key, &table).expect("write docs/benchmarks.md");
        println!("written to {}", path.display());
    }
}

/// `foreground_mean.Dice` of a summary.json.
fn serde_json_value(text: &str, key: &str) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    v.get(key)?.get("Dice")?.as_f64()
}
