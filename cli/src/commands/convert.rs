//! `nnunet convert`: converters from common layouts to nnU-Net's raw layout
//! (`nnunet_datasets::convert`).

use super::demo_data::raw_folder;
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use nnunet_datasets::convert::{self, Existing, Structure};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ConvertCommand {
    /// A Medical Segmentation Decathlon task folder (TaskNN_Name): 4D images split per channel.
    Msd(TaskArgs),
    /// An nnU-Net v1 task folder (TaskNNN_Name).
    V1(TaskArgs),
    /// Images plus one binary mask per structure (0/1, 0/255, 1-bit), from a folder or a zip.
    /// Volumes (NIfTI, NRRD, MetaImage, GIPL) keep their format; pictures become PNG.
    ///
    /// Example (CHASE_DB1): nnunet convert masks CHASEDB1.zip --id 101 --name CHASEDB1
    /// --images '{case}.jpg' --structure 'vessel={case}_1stHO.png'
    ///
    /// Example (NRRD folders): nnunet convert masks SRC --id 500 --name Liver
    /// --images 'image/{case}.nrrd' --structure 'organ=organ/{case}.nrrd'
    /// --structure 'tumor=tumor/{case}.nrrd'
    Masks(MasksArgs),
    /// LabelMe JSON files (polygons, rectangles, circles) and their pictures.
    Labelme(LabelmeArgs),
    /// JPEG (or BMP, TIF, PNG) pictures to lossless PNG, keeping relative names.
    Png {
        /// A picture or a folder of pictures.
        input: PathBuf,
        /// Output folder.
        output: PathBuf,
    },
    /// DICOM CT/MR series (one per case folder) to NIfTI images CASE_0000.nii.gz.
    ///
    /// Example: nnunet convert dicom scans/ $nnUNet_raw/Dataset120_Liver/imagesTs
    Dicom(DicomArgs),
    /// 3D scans → 2D maximum-intensity projections at 1 mm with an intensity window; the
    /// landmark (label centroid) becomes a band of rows (docs/localisation.md).
    ///
    /// Example: nnunet convert mip $nnUNet_raw/Dataset902_CTLandmark --id 903 --name CTLandmarkMIP
    Mip(super::localise::MipArgs),
    /// The crop dataset of a two-stage ROI pipeline's fine model: one case per connected
    /// component of each training label, cropped to its box enlarged about its centre
    /// (docs/roi.md).
    ///
    /// Example: nnunet convert roi -i $nnUNet_raw/Dataset901_Phantom2D
    /// -o $nnUNet_raw/Dataset902_Phantom2DRoi --enlarge 2
    Roi(RoiArgs),
}

#[derive(Args)]
pub struct RoiArgs {
    /// The labelled dataset (a DatasetNNN_Name folder, or its id or name under nnUNet_raw).
    #[arg(short = 'i', long)]
    input: String,
    /// The new dataset's folder, named DatasetNNN_Name.
    #[arg(short = 'o', long)]
    output: PathBuf,
    /// Each box side is multiplied by this about the box centre, then clipped to the image.
    #[arg(long, default_value_t = 2.0)]
    enlarge: f64,
    /// One crop per component of each label (default: components of all foreground together).
    #[arg(long)]
    per_label: bool,
    /// Components with fewer voxels are left out.
    #[arg(long, default_value_t = 1)]
    min_size: usize,
    /// Replace an existing dataset of the same name.
    #[arg(long)]
    force: bool,
}

fn run_roi(args: RoiArgs) -> Result<()> {
    let source = if std::path::Path::new(&args.input).is_dir() {
        PathBuf::from(&args.input)
    } else {
        let paths = nnunet_core::paths::NnunetPaths::from_env();
        nnunet_datasets::raw::find_dataset(&paths, &args.input)?
    };
    let options = nnunet_inference::roi::RoiOptions {
        enlarge: args.enlarge,
        per_label: args.per_label,
        min_size: args.min_size,
    };
    let existing = if args.force {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    let summary = nnunet_inference::roi::convert_roi(&source, &args.output, &options, existing)?;
    println!(
        "wrote {} crop(s) of {} case(s) to {}",
        summary.crops,
        summary.source_cases,
        summary.folder.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct Target {
    /// The nnUNet_raw folder to write into (default: $nnUNet_raw).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Replace an existing dataset of the same name.
    #[arg(long)]
    force: bool,
}

impl Target {
    fn existing(&self) -> Existing {
        if self.force {
            Existing::Replace
        } else {
            Existing::Refuse
        }
    }
}

#[derive(Args)]
pub struct TaskArgs {
    /// The task folder (TaskNN_Name).
    task: PathBuf,
    /// Dataset id (default: the task's number).
    #[arg(long)]
    id: Option<u32>,
    /// Dataset name (default: the task's name).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    target: Target,
}

impl TaskArgs {
    fn options(&self) -> Result<convert::TaskOptions> {
        Ok(convert::TaskOptions {
            raw: raw_folder(self.target.output.clone())?,
            id: self.id,
            name: self.name.clone(),
            existing: self.target.existing(),
        })
    }
}

#[derive(Args)]
pub struct MasksArgs {
    /// A folder or a .zip file.
    source: PathBuf,
    #[arg(long)]
    id: u32,
    #[arg(long)]
    name: String,
    /// Image file pattern with {case}, relative to the source; repeat for more channels.
    #[arg(long = "images", required = true)]
    images: Vec<String>,
    /// NAME=PATTERN for each structure, in label order (value 1, 2, …; later overwrite earlier).
    #[arg(long = "structure", required = true)]
    structures: Vec<String>,
    /// Channel names, comma-separated (default: R,G,B or grey for pictures, image0… for volumes).
    #[arg(long, value_delimiter = ',')]
    channel_names: Option<Vec<String>>,
    /// Foreground where a mask value >= this (for masks that are not exactly two-valued).
    #[arg(long)]
    threshold: Option<f32>,
    /// Count a missing mask as empty instead of failing.
    #[arg(long)]
    allow_missing: bool,
    #[command(flatten)]
    target: Target,
}

#[derive(Args)]
pub struct LabelmeArgs {
    /// A folder or a .zip file with LabelMe .json files and their pictures.
    source: PathBuf,
    #[arg(long)]
    id: u32,
    #[arg(long)]
    name: String,
    /// Label names in value order, comma-separated (default: all found, sorted).
    #[arg(long, value_delimiter = ',')]
    labels: Option<Vec<String>>,
    #[command(flatten)]
    target: Target,
}

#[derive(Args)]
pub struct DicomArgs {
    /// A folder of case folders (each holding one series, at any depth), or one case folder
    /// holding DICOM files itself.
    input: PathBuf,
    /// The folder to write CASE_0000.nii.gz into (imagesTr or imagesTs of a raw dataset).
    output: PathBuf,
    /// Channel index of the written files (CASE_0001.nii.gz for --channel 1).
    #[arg(long, default_value_t = 0)]
    channel: u32,
    /// A folder with several series: skip series without pixel data and write each image
    /// series as its own case CASE_sN (N = SeriesNumber) instead of refusing.
    #[arg(long)]
    split_series: bool,
    /// Replace existing output files.
    #[arg(long)]
    force: bool,
}

fn run_dicom(args: DicomArgs) -> Result<()> {
    let options = convert::DicomOptions {
        channel: args.channel,
        split_series: args.split_series,
        overwrite: args.force,
    };
    let cases = convert::convert_dicom(&args.input, &args.output, &options)?;
    for case in &cases {
        let [z, y, x] = case.shape;
        let [sz, sy, sx] = case.spacing;
        println!(
            "{}: {} slices, {z} × {y} × {x} voxels of {sz:.4} × {sy:.4} × {sx:.4} mm {:?}",
            case.file.display(),
            case.slices,
            case.series_description
        );
    }
    println!("wrote {} cases to {}", cases.len(), args.output.display());
    Ok(())
}

pub fn run(command: ConvertCommand) -> Result<()> {
    let folder = match command {
        ConvertCommand::Msd(args) => convert::convert_msd(&args.task, &args.options()?)?,
        ConvertCommand::V1(args) => convert::convert_v1(&args.task, &args.options()?)?,
        ConvertCommand::Masks(args) => {
            let structures = args
                .structures
                .iter()
                .map(|s| match s.split_once('=') {
                    Some((name, pattern)) => Ok(Structure {
                        name: name.to_string(),
                        pattern: pattern.to_string(),
                    }),
                    None => bail!(
                        "--structure {s:?}: expected NAME=PATTERN, e.g. tumor=tumor/{{case}}.png"
                    ),
                })
                .collect::<Result<Vec<_>>>()?;
            convert::convert_masks(
                &args.source,
                &convert::MasksOptions {
                    existing: args.target.existing(),
                    raw: raw_folder(args.target.output)?,
                    id: args.id,
                    name: args.name,
                    images: args.images,
                    structures,
                    channel_names: args.channel_names,
                    threshold: args.threshold,
                    allow_missing: args.allow_missing,
                },
            )?
        }
        ConvertCommand::Labelme(args) => convert::convert_labelme(
            &args.source,
            &convert::LabelmeOptions {
                existing: args.target.existing(),
                raw: raw_folder(args.target.output)?,
                id: args.id,
                name: args.name,
                labels: args.labels,
            },
        )?,
        ConvertCommand::Png { input, output } => {
            let written = convert::convert_folder_to_png(&input, &output)?;
            println!(
                "wrote {} PNG files under {}",
                written.len(),
                output.display()
            );
            return Ok(());
        }
        ConvertCommand::Dicom(args) => return run_dicom(args),
        ConvertCommand::Mip(args) => return super::localise::run_convert(args),
        ConvertCommand::Roi(args) => return run_roi(args),
    };
    println!("wrote {}", folder.display());
    Ok(())
}
