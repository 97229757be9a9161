//! `nnunet compare compare.toml`: trains and cross-validates the networks a comparison lists
//! (`nnunet_compare`), then prints where the table, per-case values, statistics and chart are.

use anyhow::{Context, Result};
use clap::Args;
use nnunet_compare::Comparison;
use nnunet_core::paths::NnunetPaths;
use std::path::PathBuf;

#[derive(Args)]
pub struct CompareArgs {
    /// The comparison TOML file (see docs/compare.md).
    pub comparison: PathBuf,
    /// Output folder (default: the TOML's `output`, else
    /// $nnUNet_results/<Dataset>/comparisons/<TOML name>).
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

pub fn run(args: CompareArgs) -> Result<()> {
    let comparison = Comparison::from_toml_file(&args.comparison)?;
    let registry = super::registry_with(&comparison.plugins)?;
    let paths = NnunetPaths::from_env();
    let report = nnunet_compare::run_comparison(
        &registry,
        &paths,
        &comparison,
        args.output.as_deref(),
        true,
        |run| {
            let what = match (run.trained_now, run.validated_now) {
                (true, _) => "trained and validated",
                (false, true) => "validated (training reused)",
                (false, false) => "reused",
            };
            println!(
                "{} fold {}: {what}; foreground Dice {}",
                run.label,
                run.fold,
                run.foreground_dice
                    .map_or("-".to_string(), |d| format!("{d:.4}"))
            );
        },
    )
    .with_context(|| format!("comparison {}", args.comparison.display()))?;
    print!(
        "\n{}",
        std::fs::read_to_string(&report.markdown)
            .with_context(|| format!("reading {}", report.markdown.display()))?
    );
    println!(
        "\nwritten: {}\n         {}\n         {}\n         {}\n         {}",
        report.markdown.display(),
        report.csv.display(),
        report.cases_csv.display(),
        report.stats_file.display(),
        report.chart.display()
    );
    Ok(())
}
