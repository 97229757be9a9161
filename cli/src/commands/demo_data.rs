//! `nnunet demo-data`: writes the synthetic phantom dataset (`nnunet_datasets::phantom`).

use anyhow::{Context, Result, bail};
use clap::Args;
use nnunet_datasets::convert::Existing;
use nnunet_datasets::phantom::{self, Dim, PhantomOptions};
use std::path::PathBuf;

#[derive(Args)]
pub struct DemoDataArgs {
    /// 2 (PNG, 96 x 128) or 3 (NIfTI, 32 x 56 x 64 voxels of 2 x 1 x 1 mm).
    #[arg(long, default_value_t = 3)]
    dim: u8,
    /// The nnUNet_raw folder to write into (default: $nnUNet_raw).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Training cases.
    #[arg(long, default_value_t = 24)]
    cases: usize,
    /// Test cases (imagesTs, with labels in labelsTs).
    #[arg(long, default_value_t = 4)]
    test_cases: usize,
    /// Dataset id (default: 900 for 3D, 901 for 2D).
    #[arg(long)]
    id: Option<u32>,
    /// Random seed; the same seed writes the same files.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// Replace the dataset if it exists.
    #[arg(long)]
    force: bool,
    /// Write the CT-like phantom with an L3 landmark instead (3D, id 902; docs/localisation.md).
    #[arg(long)]
    landmark: bool,
    /// Place each phantom in air K times as large along every axis (in-plane in 2D): small
    /// objects in a large field of view (dataset Phantom2DWide / Phantom3DWide).
    #[arg(long, default_value_t = 1, value_name = "K")]
    field_of_view: usize,
}

/// The output folder, or `$nnUNet_raw`.
pub fn raw_folder(output: Option<PathBuf>) -> Result<PathBuf> {
    output
        .or_else(|| nnunet_core::paths::NnunetPaths::from_env().raw)
        .context("no output folder: pass -o/--output or set nnUNet_raw")
}

pub fn run(args: DemoDataArgs) -> Result<()> {
    if args.landmark {
        let raw = raw_folder(args.output)?;
        return super::localise::run_demo_data(
            raw,
            args.cases,
            args.test_cases,
            args.id,
            args.seed,
            args.force,
        );
    }
    let dim = match args.dim {
        2 => Dim::Two,
        3 => Dim::Three,
        other => bail!("--dim must be 2 or 3, not {other}"),
    };
    let options = PhantomOptions {
        training_cases: args.cases,
        test_cases: args.test_cases,
        id: args.id,
        seed: args.seed,
        existing: if args.force {
            Existing::Replace
        } else {
            Existing::Refuse
        },
        field_of_view: args.field_of_view.max(1),
        ..PhantomOptions::new(dim, raw_folder(args.output)?)
    };
    if options.training_cases == 0 {
        bail!("--cases must be at least 1");
    }
    let folder = phantom::generate(&options)?;
    println!(
        "wrote {} ({} training, {} test cases)",
        folder.display(),
        options.training_cases,
        options.test_cases
    );
    Ok(())
}
