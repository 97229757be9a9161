//! `nnunet`: the command-line front end. Parsing and wiring only; the work is in the library crates.

mod allocator;
mod commands;

use clap::{Parser, Subcommand};

// `inventory` only collects from linked crates: name every built-in crate here.
use nnunet_datasets as _;
use nnunet_inference as _;
use nnunet_losses as _;
use nnunet_networks as _;
use nnunet_planning as _;
use nnunet_trainers as _;

#[derive(Parser)]
#[command(
    name = "nnunet",
    version,
    about = "nnU-Net v2, in Rust, extensible with plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report versions, libtorch, CUDA/cuDNN, CPU threads and the nnU-Net folders.
    Doctor,
    /// Inspect built-in components and plugins; `plugin new` scaffolds a plugin crate.
    #[command(alias = "plugin")]
    Plugins {
        #[command(subcommand)]
        command: commands::plugins::PluginsCommand,
    },
    /// Run the end-to-end demo on a generated dataset.
    Demo(commands::demo::DemoArgs),
    /// Write a small synthetic dataset (organ + lesion phantoms) in nnU-Net's raw layout.
    DemoData(commands::demo_data::DemoDataArgs),
    /// Convert a dataset from a common layout (MSD, nnU-Net v1, masks, LabelMe, JPEG) to nnU-Net's.
    Convert {
        #[command(subcommand)]
        command: commands::convert::ConvertCommand,
    },
    /// Check a raw dataset: every nnU-Net check plus NaN/Inf, empty labels, corrupt files.
    Verify(commands::verify::VerifyArgs),
    /// Extract the dataset fingerprint (nnUNetv2_extract_fingerprint).
    Fingerprint(commands::fingerprint::FingerprintArgs),
    /// Describe the network a plans configuration builds: stages, parameters, output shapes.
    Summary(commands::summary::SummaryArgs),
    /// Plan a dataset from its fingerprint (nnUNetv2_plan_experiment).
    Plan(commands::plan::PlanArgs),
    /// Preprocess a planned dataset's configurations (nnUNetv2_preprocess).
    Preprocess(commands::plan::PreprocessArgs),
    /// Plan, then preprocess (nnUNetv2_plan_and_preprocess).
    PlanAndPreprocess(commands::plan::PlanAndPreprocessArgs),
    /// Train a configuration's folds (nnUNetv2_train).
    Train(commands::train::TrainArgs),
    /// Train as an experiment TOML describes (dataset, folds, network, loss, options, plugins).
    Run(commands::train::RunArgs),
    /// Segment a folder of images with trained folds (nnUNetv2_predict).
    Predict(commands::predict::PredictArgs),
    /// Score predictions against references and write summary.json (nnUNetv2_evaluate_folder).
    Evaluate(commands::predict::EvaluateArgs),
    /// Average the saved probabilities of several prediction folders (nnUNetv2_ensemble).
    Ensemble(commands::ensemble::EnsembleArgs),
    /// Choose (on cross-validation) or apply postprocessing (keep the largest component, ...).
    Postprocess {
        #[command(subcommand)]
        command: commands::postprocess::PostprocessCommand,
    },
    /// Rank trained configurations by cross-validation Dice; write the inference instructions
    /// (nnUNetv2_find_best_configuration).
    FindBest(commands::find_best::FindBestArgs),
    /// PNG overlays: image + label contours, ground truth and prediction side by side.
    Overlay(commands::overlay::OverlayArgs),
    /// Train and cross-validate several networks on one budget; write a table and a chart.
    Compare(commands::compare::CompareArgs),
    /// Run an experiment on a SLURM cluster: trainings, find-best, split prediction.
    Slurm {
        #[command(subcommand)]
        command: commands::slurm::SlurmCommand,
    },
    /// Reuse one dataset's plans for another, for transfer learning
    /// (nnUNetv2_move_plans_between_datasets -s SOURCE -t TARGET -sp PLANS -tp NEW_PLANS).
    MovePlans(commands::move_plans::MovePlansArgs),
    /// Convert an nnU-Net v2 model folder (.pth checkpoints) into ours.
    ImportNnunet(commands::nnunet_models::ImportArgs),
    /// Write our model folder as an nnU-Net v2 model folder that nnUNetv2_predict loads.
    ExportNnunet(commands::nnunet_models::ExportArgs),
    /// Write model folders as an nnU-Net model zip (nnUNetv2_export_model_to_zip).
    ExportModelZip(commands::nnunet_models::ExportZipArgs),
    /// Install an nnU-Net model zip into nnUNet_results (nnUNetv2_install_pretrained_model_from_zip).
    InstallModelZip(commands::nnunet_models::InstallZipArgs),
    /// One static HTML page: sortable per-case metrics (HD95, NSD too), box plots, overlays,
    /// training curves.
    Report(commands::report::ReportArgs),
    /// Slice localisation: each predicted MIP label map's landmark row, world position and
    /// error in mm (mean ± sd over cases, or over folds with --folds); writes localisation.json.
    Localise(commands::localise::LocaliseArgs),
    /// Two-stage ROI prediction: a coarse model finds the objects, a fine model segments an
    /// enlarged crop around each (docs/roi.md).
    PredictRoi(commands::predict_roi::PredictRoiArgs),
}

fn main() {
    allocator::tune();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NNUNET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse_from(commands::nnunet_style_args(std::env::args_os()));
    if let Err(error) = commands::load_env_plugins() {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
    let result = match cli.command {
        Command::Doctor => commands::doctor::run(),
        Command::Plugins { command } => commands::plugins::run(command),
        Command::Demo(args) => commands::demo::run(args),
        Command::DemoData(args) => commands::demo_data::run(args),
        Command::Convert { command } => commands::convert::run(command),
        Command::Verify(args) => commands::verify::run(args),
        Command::Fingerprint(args) => commands::fingerprint::run(args),
        Command::Summary(args) => commands::summary::run(args),
        Command::Plan(args) => commands::plan::run_plan(&args).map(|_| ()),
        Command::Preprocess(args) => commands::plan::run_preprocess(&args),
        Command::PlanAndPreprocess(args) => commands::plan::run_plan_and_preprocess(&args),
        Command::Train(args) => commands::train::run_train(args),
        Command::Run(args) => commands::train::run_toml(args),
        Command::Predict(args) => commands::predict::run_predict(args),
        Command::Evaluate(args) => commands::predict::run_evaluate(args),
        Command::Ensemble(args) => commands::ensemble::run(args),
        Command::Postprocess { command } => commands::postprocess::run(command),
        Command::FindBest(args) => commands::find_best::run(args),
        Command::Overlay(args) => commands::overlay::run(args),
        Command::Compare(args) => commands::compare::run(args),
        Command::Slurm { command } => commands::slurm::run(command),
        Command::MovePlans(args) => commands::move_plans::run(args),
        Command::ImportNnunet(args) => commands::nnunet_models::run_import(args),
        Command::ExportNnunet(args) => commands::nnunet_models::run_export(args),
        Command::ExportModelZip(args) => commands::nnunet_models::run_export_zip(args),
        Command::InstallModelZip(args) => commands::nnunet_models::run_install_zip(args),
        Command::Report(args) => commands::report::run(args),
        Command::Localise(args) => commands::localise::run(args),
        Command::PredictRoi(args) => commands::predict_roi::run(args),
    };
    if let Err(error) = result {
        // Each cause once: an error that prints its source (an io error with its path) would
        // otherwise repeat it.
        let mut message = String::new();
        for cause in error.chain().map(|c| c.to_string()) {
            if !message.ends_with(&cause) {
                if !message.is_empty() {
                    message.push_str(": ");
                }
                message.push_str(&cause);
            }
        }
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}
