//! `nnunet plan`, `nnunet preprocess` and `nnunet plan-and-preprocess`: thin wrappers around
//! `nnunet_planning::{plan_dataset, preprocess_dataset}`.

use anyhow::{Context, Result};
use clap::Args;
use nnunet_core::paths::NnunetPaths;
use nnunet_planning::{PlanRequest, PreprocessRequest};
use std::path::PathBuf;

#[derive(Args)]
pub struct PlanArgs {
    /// Dataset id (4) or name (Dataset004_Hippocampus).
    #[arg(short = 'd', long = "dataset")]
    pub dataset: String,
    /// Planner: default, resenc-m, resenc-l, resenc-xl, or one from a plugin.
    #[arg(long, default_value = "default")]
    pub planner: String,
    /// GPU memory target in GB (default: the planner's own, 8 / 8 / 24 / 40).
    #[arg(long = "gpu-memory-gb", allow_negative_numbers = true)]
    pub gpu_memory_gb: Option<f64>,
    /// Name of the plans file to write (default: the planner's, e.g. nnUNetPlans).
    #[arg(long = "plans-name")]
    pub plans_name: Option<String>,
    /// Plugin files to load (for plugin planners).
    #[arg(long = "plugin")]
    pub plugins: Vec<PathBuf>,
}

#[derive(Args)]
pub struct PreprocessArgs {
    /// Dataset id (4) or name (Dataset004_Hippocampus).
    #[arg(short = 'd', long = "dataset")]
    pub dataset: String,
    /// Configurations to preprocess.
    #[arg(short = 'c', long = "configurations", num_args = 1.., default_values = ["2d", "3d_fullres", "3d_lowres"])]
    pub configurations: Vec<String>,
    /// Plans name.
    #[arg(short = 'p', long = "plans", default_value = "nnUNetPlans")]
    pub plans: String,
    /// Worker threads (default: all CPUs).
    #[arg(short = 'n', long = "num-workers")]
    pub num_workers: Option<usize>,
}

#[derive(Args)]
pub struct PlanAndPreprocessArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Configurations to preprocess.
    #[arg(short = 'c', long = "configurations", num_args = 1.., default_values = ["2d", "3d_fullres", "3d_lowres"])]
    pub configurations: Vec<String>,
    /// Worker threads (default: all CPUs).
    #[arg(short = 'n', long = "num-workers")]
    pub num_workers: Option<usize>,
    /// Check the raw dataset first (geometry, labels, channels).
    #[arg(long)]
    pub verify: bool,
    /// Only plan, do not preprocess.
    #[arg(long = "no-preprocess")]
    pub no_preprocess: bool,
}

fn workers(n: Option<usize>) -> usize {
    n.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

pub fn run_plan(args: &PlanArgs) -> Result<String> {
    let registry = super::registry_with(&args.plugins)?;
    let request = PlanRequest {
        dataset: args.dataset.clone(),
        planner: args.planner.clone(),
        gpu_memory_gb: args.gpu_memory_gb,
        plans_name: args.plans_name.clone(),
    };
    let (file, plans) =
        nnunet_planning::plan_dataset(&registry, &NnunetPaths::from_env(), &request)
            .with_context(|| format!("planning dataset {}", args.dataset))?;
    println!("plans written to {}", file.display());
    for (name, c) in &plans.configurations {
        if let (Some(patch), Some(batch)) = (&c.patch_size, c.batch_size) {
            println!(
                "  {name}: patch {patch:?}, batch {batch}, spacing {:?}",
                c.spacing.as_deref().unwrap_or_default()
            );
        } else if let Some(parent) = &c.inherits_from {
            println!("  {name}: inherits from {parent}");
        }
    }
    Ok(plans.plans_name)
}

pub fn run_preprocess(args: &PreprocessArgs) -> Result<()> {
    preprocess(
        &args.dataset,
        &args.plans,
        &args.configurations,
        workers(args.num_workers),
    )
}

fn preprocess(
    dataset: &str,
    plans: &str,
    configurations: &[String],
    num_workers: usize,
) -> Result<()> {
    let request = PreprocessRequest {
        dataset: dataset.to_string(),
        plans_name: plans.to_string(),
        configurations: configurations.to_vec(),
        num_workers,
        progress: true,
    };
    let summaries = nnunet_planning::preprocess_dataset(&NnunetPaths::from_env(), &request)
        .with_context(|| format!("preprocessing dataset {dataset}"))?;
    for (name, s) in summaries {
        println!(
            "{name}: {} cases preprocessed, {} already done",
            s.processed, s.skipped
        );
    }
    Ok(())
}

pub fn run_plan_and_preprocess(args: &PlanAndPreprocessArgs) -> Result<()> {
    let paths = NnunetPaths::from_env();
    let num_workers = workers(args.num_workers);
    if args.verify {
        let root = nnunet_datasets::find_dataset(&paths, &args.plan.dataset)?;
        let report = nnunet_datasets::verify::verify_dataset(&root)?;
        if !report.passed() {
            anyhow::bail!("{} failed verification:\n{report}", root.display());
        }
        println!(
            "{}: verified ({} training cases)",
            root.display(),
            report.training_cases
        );
    }
    let run = nnunet_datasets::fingerprint::run_fingerprint(
        &paths,
        &args.plan.dataset,
        Some(num_workers),
        false,
        true,
    )
    .with_context(|| format!("fingerprinting dataset {}", args.plan.dataset))?;
    let verb = if run.computed { "written to" } else { "kept:" };
    println!("fingerprint {verb} {}", run.path.display());
    let plans_name = run_plan(&args.plan)?;
    if args.no_preprocess {
        return Ok(());
    }
    preprocess(
        &args.plan.dataset,
        &plans_name,
        &args.configurations,
        num_workers,
    )
}
