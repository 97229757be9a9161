//! Slice localisation (`nnunet_datasets::localise`; docs/localisation.md): `nnunet convert mip`,
//! `nnunet demo-data --landmark`, `nnunet localise` and `nnunet predict --localisation`.

use super::demo_data::raw_folder;
use anyhow::{Context, Result};
use clap::Args;
use nnunet_datasets::convert::Existing;
use nnunet_datasets::localise::ct_phantom::{CtPhantomOptions, generate_ct};
use nnunet_datasets::localise::dataset::{MipDatasetOptions, convert_mip};
use nnunet_datasets::localise::metric::{localise_folder, localise_folds};
use nnunet_datasets::localise::mip::{MipOptions, Plane};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct MipArgs {
    /// The 3D raw dataset folder (DatasetNNN_Name).
    source: PathBuf,
    #[arg(long)]
    id: u32,
    #[arg(long)]
    name: String,
    /// frontal (projects front to back: rows z, columns x) or sagittal (rows z, columns y).
    #[arg(long, default_value = "frontal")]
    plane: String,
    /// MIP pixel size in mm.
    #[arg(long, default_value_t = 1.0)]
    pixel_mm: f64,
    /// Intensity window LOW,HIGH (CT HU), or "none".
    #[arg(long, default_value = "100,1500")]
    window: String,
    /// The landmark's label value in the source labels (default: all foreground).
    #[arg(long)]
    label: Option<i16>,
    /// Label the landmark's row ± this many rows.
    #[arg(long, default_value_t = 3)]
    half_width: usize,
    /// The nnUNet_raw folder to write into (default: $nnUNet_raw).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Replace an existing dataset of the same name.
    #[arg(long)]
    force: bool,
}

fn existing(force: bool) -> Existing {
    if force {
        Existing::Replace
    } else {
        Existing::Refuse
    }
}

fn parse_window(text: &str) -> Result<Option<(f32, f32)>> {
    if text == "none" {
        return Ok(None);
    }
    let parsed = text
        .split_once(',')
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    match parsed {
        Some((low, high)) if low < high => Ok(Some((low, high))),
        _ => anyhow::bail!("--window {text:?}: expected LOW,HIGH with LOW < HIGH, or none"),
    }
}

pub fn run_convert(args: MipArgs) -> Result<()> {
    let options = MipDatasetOptions {
        source: args.source,
        raw: raw_folder(args.output)?,
        id: args.id,
        name: args.name,
        mip: MipOptions {
            plane: args.plane.parse::<Plane>()?,
            pixel_mm: args.pixel_mm,
            window: parse_window(&args.window)?,
        },
        label_value: args.label,
        half_width: args.half_width,
        existing: existing(args.force),
    };
    let folder = convert_mip(&options)?;
    println!("wrote {}", folder.display());
    Ok(())
}

/// `nnunet demo-data --landmark`: the CT phantom with its L3 landmark.
pub fn run_demo_data(
    raw: PathBuf,
    cases: usize,
    test_cases: usize,
    id: Option<u32>,
    seed: u64,
    force: bool,
) -> Result<()> {
    if cases == 0 {
        anyhow::bail!("--cases must be at least 1");
    }
    let options = CtPhantomOptions {
        raw,
        training_cases: cases,
        test_cases,
        id: id.unwrap_or(902),
        seed,
        existing: existing(force),
    };
    let folder = generate_ct(&options)?;
    println!(
        "wrote {} ({cases} training, {test_cases} test cases)",
        folder.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct LocaliseArgs {
    /// Folder of predicted 2D label maps (from a MIP model).
    #[arg(
        short = 'p',
        long,
        required_unless_present = "folds",
        conflicts_with = "folds"
    )]
    prediction: Option<PathBuf>,
    /// A model folder: score every fold_K/validation against -g (mean ± sd over folds).
    #[arg(long, value_name = "MODEL")]
    folds: Option<PathBuf>,
    /// Folder of ground-truth label maps (the MIP dataset's labelsTr or labelsTs).
    #[arg(short = 'g', long)]
    truth: Option<PathBuf>,
    /// Output file (default: localisation.json in the prediction or model folder).
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// File ending of the label maps.
    #[arg(long, default_value = ".nii.gz")]
    ending: String,
}

pub fn run(args: LocaliseArgs) -> Result<()> {
    if let Some(model) = &args.folds {
        let truth = args.truth.as_deref().context("--folds needs -g TRUTH")?;
        let summary = localise_folds(model, truth, &args.ending)?;
        let output = args
            .output
            .unwrap_or_else(|| model.join("localisation.json"));
        nnunet_core::atomic::write_json(&output, &summary)?;
        for (fold, s) in &summary.folds {
            println!(
                "{fold}: {:.2} ± {:.2} mm over {} case(s), {} missing",
                s.mean_error_mm, s.sd_error_mm, s.cases, s.missing
            );
        }
        println!(
            "error over {} fold(s): {:.2} ± {:.2} mm (pooled cases {:.2} ± {:.2} mm); written to {}",
            summary.folds.len(),
            summary.mean_error_mm,
            summary.sd_error_mm,
            summary.pooled_mean_error_mm,
            summary.pooled_sd_error_mm,
            output.display()
        );
        return Ok(());
    }
    let prediction = args
        .prediction
        .context("give -p PREDICTION or --folds MODEL")?;
    let output = args
        .output
        .unwrap_or_else(|| prediction.join("localisation.json"));
    write_localisation(&prediction, args.truth.as_deref(), &args.ending, &output)
}

/// Locates every prediction of a folder, writes `output` and prints the summary.
fn write_localisation(
    prediction: &Path,
    truth: Option<&Path>,
    ending: &str,
    output: &Path,
) -> Result<()> {
    let result = localise_folder(prediction, truth, ending)?;
    nnunet_core::atomic::write_json(output, &result)?;
    match result.summary {
        Some(s) => println!(
            "localisation error {:.2} ± {:.2} mm over {} case(s), {} missing; written to {}",
            s.mean_error_mm,
            s.sd_error_mm,
            s.cases,
            s.missing,
            output.display()
        ),
        None => println!(
            "{} case(s) located; written to {}",
            result.cases.len(),
            output.display()
        ),
    }
    Ok(())
}

/// `nnunet predict --localisation`: `OUTPUT/localisation.json` with each case's landmark row
/// and world position.
pub fn after_predict(output: &Path, model_dir: &Path) -> Result<()> {
    let descriptor = nnunet_datasets::raw::load_descriptor(&model_dir.join("dataset.json"))?;
    write_localisation(
        output,
        None,
        &descriptor.file_ending,
        &output.join("localisation.json"),
    )
}
