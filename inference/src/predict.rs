//! `nnunet predict`: a folder of raw images → a folder of segmentations, as nnU-Net's
//! `nnUNetPredictor.predict_from_files`.
//!
//! Per case: read and preprocess like training (`nnunet_planning::preprocess`), predict logits
//! with every requested fold (sliding window, Gaussian weighting, mirroring), average the folds'
//! logits, export to the input's geometry ([`crate::export`]) and write in the input's format.
//! Reading + preprocessing, prediction, and export + writing run on three threads joined by
//! bounded queues, so the network does not wait for the disk.
//!
//! With [`FolderOptions::postprocessing`] each segmentation goes through a pipeline of
//! postprocessors (built-in or plugin) before it is written, each given the case's
//! probabilities in the output geometry.
//!
//! With [`FolderOptions::save_probabilities`] each case's probabilities are written beside its
//! segmentation ([`crate::probabilities`]). A cascade configuration (one with a
//! `previous_stage`) takes the previous stage's segmentation of each case from
//! [`FolderOptions::prev_stage`], preprocessed like a training label (crop, nearest-label
//! resampling) and appended to the image as one channel per foreground label
//! ([`append_previous_stage`]), as `predict_from_files(folder_with_segs_from_prev_stage=…)`.

use crate::case_selection::{self, Selection};
use crate::export::export_prediction;
use crate::fold_weights;
use crate::label_handling::{LabelHandling, foreground_labels};
use crate::predictor::SlidingWindow;
use crate::probabilities::{LabelGrid, write_probabilities};
use nnunet_core::tch::{Device, Kind, Tensor, nn::VarStore};
use nnunet_core::{
    DatasetDescriptor, Error, LabelMap, Network, NetworkSpec, Plans, Postprocessor, Precision,
    Registry, Result, atomic,
};
use nnunet_planning::preprocess::ConfigurationJob;
use nnunet_planning::preprocessed_format::CaseProperties;
use nnunet_trainers::augment::AugmentConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::sync_channel;

/// How many of a tile's network passes (mirroring) run as one batch, at most the plans'
/// training batch size (which the planner sized to fit the device with gradients). Measured on
/// Hippocampus in float32 on a CPU: 2 a batch takes 7–10 % less CPU time than one by one (at
/// batch 1 PyTorch runs the deep, small layers' convolutions with its im2col path, at 2 with
/// oneDNN), 4 or 8 gained nothing more and cost more memory; in bfloat16 it makes no
/// difference.
pub const PASSES_PER_BATCH: usize = 2;

/// What to predict with.
#[derive(Clone, Debug)]
pub struct PredictOptions {
    /// `nnUNet_results/DatasetXXX/<trainer>__<plans>__<configuration>`.
    pub model_dir: PathBuf,
    pub configuration: String,
    /// Fold labels (`0`…`4`, `all`).
    pub folds: Vec<String>,
    /// Checkpoint name: `checkpoint_final`, `checkpoint_best`, or a file name such as
    /// `checkpoint_best.pth` ([`crate::fold_weights::resolve`]).
    pub checkpoint: String,
    pub step_size: f64,
    pub mirroring: bool,
    pub device: Device,
    /// The networks' arithmetic ([`nnunet_core::PrecisionChoice::resolve`]).
    pub precision: Precision,
}

/// The patch axes nnU-Net mirrors at test time when the checkpoint does not say otherwise:
/// those its training mirrored (all, or the in-plane ones of an anisotropic 3D patch).
pub fn default_mirror_axes(patch: &[usize]) -> Result<Vec<usize>> {
    let augment = AugmentConfig::nnunet(patch)?;
    let offset = 3 - patch.len();
    Ok(augment.mirror_axes.iter().map(|a| a - offset).collect())
}

/// A trained model: plans, dataset and one network per fold.
pub struct Model {
    pub plans: Plans,
    pub dataset: DatasetDescriptor,
    /// Softmax + argmax, or sigmoid + region painting.
    pub labels: LabelHandling,
    /// For a cascade configuration: the foreground labels of the previous stage, one extra
    /// input channel each.
    pub cascade_labels: Option<Vec<i16>>,
    /// The configuration predicted.
    pub configuration: String,
    pub(crate) job: ConfigurationJob,
    networks: Vec<(String, VarStore, Box<dyn Network>)>,
    window: SlidingWindow,
}

impl Model {
    /// Loads the folds' checkpoints from `options.model_dir`.
    pub fn load(registry: &Registry, options: &PredictOptions) -> Result<Self> {
        crate::sliding_window::check_step_size(options.step_size)?;
        let dir = &options.model_dir;
        let plans: Plans = atomic::read_json(&dir.join("plans.json"))?;
        let dataset: DatasetDescriptor = atomic::read_json(&dir.join("dataset.json"))?;
        let config = plans.configuration(&options.configuration)?;
        let patch = config.patch_size.clone().ok_or_else(|| {
            Error::invalid_file(dir.join("plans.json"), "configuration has no patch_size")
        })?;
        let architecture = config.architecture.clone().ok_or_else(|| {
            Error::invalid_file(dir.join("plans.json"), "configuration has no architecture")
        })?;
        let num_outputs = dataset.num_segmentation_heads()? as i64;
        let labels = LabelHandling::from_dataset(&dataset)?;
        let cascade_labels = if config.previous_stage.is_some() {
            Some(foreground_labels(&dataset)?)
        } else {
            None
        };
        let in_channels =
            (dataset.num_channels() + cascade_labels.as_ref().map_or(0, Vec::len)) as i64;
        if options.device.is_cuda() {
            // As nnU-Net's predictor: every tile has the patch size, so cuDNN's autotuning pays.
            nnunet_core::tch::Cuda::cudnn_set_benchmark(true);
        }
        let spec = NetworkSpec {
            spatial_dims: patch.len(),
            in_channels,
            num_outputs,
            architecture,
            deep_supervision: false,
            options: serde_json::Value::Object(Default::default()),
            patch_size: patch.iter().map(|&s| s as i64).collect(),
        };
        let mut networks = Vec::new();
        // nnU-Net takes the mirroring axes of the first fold's checkpoint.
        let mut allowed_axes = None;
        for fold in &options.folds {
            let fold_dir = dir.join(format!("fold_{fold}"));
            let file = fold_weights::resolve(&fold_dir, &options.checkpoint)?;
            let mut loaded = fold_weights::load(registry, &file, &fold_dir, &spec, options.device)?;
            if options.precision == Precision::BFloat16 {
                loaded.vs.bfloat16();
            }
            if networks.is_empty() {
                allowed_axes = loaded.mirroring_axes;
            }
            networks.push((fold.clone(), loaded.vs, loaded.network));
        }
        if networks.is_empty() {
            return Err(Error::Invalid("no folds to predict with".into()));
        }
        let mirror_axes = match (options.mirroring, allowed_axes) {
            (false, _) => Vec::new(),
            (true, Some(axes)) => axes,
            (true, None) => default_mirror_axes(&patch)?,
        };
        if let Some(&axis) = mirror_axes.iter().find(|&&a| a >= patch.len()) {
            return Err(Error::invalid_file(
                dir,
                format!("mirroring axis {axis} does not exist for patch {patch:?}"),
            ));
        }
        let job = ConfigurationJob::new(&plans, &options.configuration, &dataset)?;
        Ok(Model {
            window: SlidingWindow {
                patch_size: patch,
                step_size: options.step_size,
                mirror_axes,
                num_outputs,
                device: options.device,
                precision: options.precision,
                passes_per_batch: PASSES_PER_BATCH.min(config.batch_size.unwrap_or(1)),
                accumulate: Kind::Float,
            },
            plans,
            dataset,
            labels,
            cascade_labels,
            configuration: options.configuration.clone(),
            job,
            networks,
        })
    }

    /// Logits averaged over the folds for a preprocessed image `(C, z, y, x)`.
    pub fn logits(&self, data: &[f32], properties: &CaseProperties) -> Result<Tensor> {
        let shape: Vec<i64> = properties.data_shape.iter().map(|&s| s as i64).collect();
        // (C, z, y, x); a 2D model's window predicts it slice by slice.
        let image = Tensor::from_slice(data).view(shape.as_slice());
        let mut sum: Option<Tensor> = None;
        for (_, _, network) in &self.networks {
            let logits = self.window.predict(network.as_ref(), &image)?;
            sum = Some(match sum {
                None => logits,
                Some(s) => s + logits,
            });
        }
        let sum = sum.ok_or_else(|| Error::Invalid("no folds".into()))?;
        Ok(sum / self.networks.len() as f64)
    }

    /// Sums the sliding window's weighted logits in `kind`: `Kind::Half` as nnU-Net does
    /// (reproduces its outputs), `Kind::Float` (the default) a little more precisely.
    pub fn set_accumulation(&mut self, kind: Kind) {
        self.window.accumulate = kind;
    }

    /// The axes (of the patch) test-time mirroring flips: the checkpoints' own
    /// (`inference_allowed_mirroring_axes`), none with mirroring off.
    pub fn mirror_axes(&self) -> &[usize] {
        &self.window.mirror_axes
    }

    /// The plans' `transpose_forward` and `transpose_backward`.
    pub fn transposes(&self) -> Result<([usize; 3], [usize; 3])> {
        let arr = |v: &[usize], what: &str| -> Result<[usize; 3]> {
            v.try_into()
                .map_err(|_| Error::Invalid(format!("plans {what} must have 3 entries")))
        };
        Ok((
            arr(&self.plans.transpose_forward, "transpose_forward")?,
            arr(&self.plans.transpose_backward, "transpose_backward")?,
        ))
    }
}

/// One input case: its id and channel files.
#[derive(Clone, Debug)]
pub struct InputCase {
    pub id: String,
    pub images: Vec<PathBuf>,
}

/// The cases of an input folder (`CASE_XXXX<ending>` files).
pub fn input_cases(folder: &Path, file_ending: &str) -> Result<Vec<InputCase>> {
    if !folder.is_dir() {
        return Err(Error::invalid_file(
            folder,
            "the input folder does not exist (or is not a folder)",
        ));
    }
    let cases = nnunet_datasets::raw::cases_in_folder(folder, file_ending)?;
    if cases.is_empty() {
        return Err(Error::invalid_file(
            folder,
            format!("no images named CASE_XXXX{file_ending}"),
        ));
    }
    Ok(cases
        .into_iter()
        .map(|(id, images)| InputCase { id, images })
        .collect())
}

/// How to predict a folder.
#[derive(Clone, Debug, Default)]
pub struct FolderOptions {
    /// Also write `<case>.npz` + `<case>.npz.json` ([`crate::probabilities`]).
    pub save_probabilities: bool,
    /// Folder with the previous stage's segmentations (`<case><file_ending>`); required for a
    /// cascade configuration, refused otherwise.
    pub prev_stage: Option<PathBuf>,
    /// Show a progress bar.
    pub progress: bool,
    /// This run's share of the cases, and whether finished cases are skipped.
    pub selection: Selection,
    /// How many preprocessed cases may wait for the network (`-npp`); 0: 2.
    pub read_ahead: usize,
    /// How many predicted cases may wait for export and writing (`-nps`); 0: 2.
    pub write_behind: usize,
    /// Postprocessors applied to each segmentation before it is written (`--postprocess`);
    /// each receives the case's probabilities.
    pub postprocessing: Postprocessing,
}

/// A pipeline of postprocessors, shared by the writer thread.
#[derive(Clone, Default)]
pub struct Postprocessing(pub Arc<Vec<Box<dyn Postprocessor>>>);

impl std::fmt::Debug for Postprocessing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Postprocessing({} step(s))", self.0.len())
    }
}

impl Postprocessing {
    pub fn new(steps: Vec<Box<dyn Postprocessor>>) -> Self {
        Postprocessing(Arc::new(steps))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies every step in order to `segmentation`, with the probabilities `(C, z, y, x)`
    /// in the same geometry.
    pub fn apply(&self, segmentation: &mut LabelMap, probabilities: Option<&Tensor>) -> Result<()> {
        self.0
            .iter()
            .try_for_each(|p| p.apply(segmentation, probabilities))
    }
}

/// Appends the previous stage's preprocessed segmentation `seg` (same voxels as one channel of
/// `data`) as one-hot channels, one per label of `labels` in that order, and updates
/// `properties.data_shape`; as nnU-Net's `convert_labelmap_to_one_hot` + `np.vstack`. Voxels
/// outside the crop mask (`-1`) are 0 in every channel.
pub fn append_previous_stage(
    data: &mut Vec<f32>,
    properties: &mut CaseProperties,
    seg: &[i16],
    labels: &[i16],
) -> Result<()> {
    let voxels: usize = properties.data_shape[1..].iter().product();
    if seg.len() != voxels || data.len() != voxels * properties.data_shape[0] {
        return Err(Error::Invalid(format!(
            "previous stage: {} segmentation voxels and {} image values for data shape {:?}",
            seg.len(),
            data.len(),
            properties.data_shape
        )));
    }
    data.reserve(voxels * labels.len());
    for &label in labels {
        data.extend(seg.iter().map(|&v| if v == label { 1.0f32 } else { 0.0 }));
    }
    properties.data_shape[0] += labels.len();
    Ok(())
}

/// The previous stage's segmentation file of each case, checked up front: every case must have
/// one when `configuration` is a cascade stage; none may be given otherwise.
pub fn previous_stage_files(
    is_cascade: bool,
    configuration: &str,
    file_ending: &str,
    cases: &[InputCase],
    prev_stage: Option<&Path>,
) -> Result<Option<Vec<PathBuf>>> {
    match (is_cascade, prev_stage) {
        (false, None) => Ok(None),
        (false, Some(dir)) => Err(Error::invalid_file(
            dir,
            format!(
                "previous-stage segmentations given, but configuration {configuration:?} is not \
                 a cascade stage"
            ),
        )),
        (true, None) => Err(Error::Invalid(format!(
            "configuration {configuration:?} is a cascade stage: give the previous stage's \
             segmentations (nnunet predict --prev-stage DIR)"
        ))),
        (true, Some(dir)) => cases
            .iter()
            .map(|case| {
                let file = dir.join(format!("{}{file_ending}", case.id));
                if file.is_file() {
                    Ok(file)
                } else {
                    Err(Error::invalid_file(
                        &file,
                        format!(
                            "case {}: the previous stage's segmentation is missing",
                            case.id
                        ),
                    ))
                }
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
    }
}

/// Reads and preprocesses one case (which must hold `channels` image channels), with its
/// previous-stage segmentation for a cascade.
fn read_case(
    job: &ConfigurationJob,
    channels: usize,
    cascade_labels: &[i16],
    case: &InputCase,
    previous: Option<&Path>,
) -> Result<(Vec<f32>, CaseProperties)> {
    let image = nnunet_datasets::read_case_image(&case.id, &case.images, channels)?;
    let Some(previous) = previous else {
        let out = job.run_case(image, None)?;
        return Ok((out.data, out.properties));
    };
    let seg = nnunet_datasets::io::read_label(previous)?;
    if seg.shape != image.shape {
        return Err(Error::invalid_file(
            previous,
            format!(
                "case {}: previous-stage segmentation of shape {:?}, the image has {:?}",
                case.id, seg.shape, image.shape
            ),
        ));
    }
    let mut out = job.run_case(image, Some(seg))?;
    append_previous_stage(&mut out.data, &mut out.properties, &out.seg, cascade_labels)?;
    Ok((out.data, out.properties))
}

/// Predicts every case of `input` into `output`; returns the written segmentations. Also
/// writes `dataset.json` and `plans.json` into `output`, as nnU-Net does (so that
/// `nnunet ensemble` finds them).
pub fn predict_folder(
    model: &Model,
    input: &Path,
    output: &Path,
    options: &FolderOptions,
) -> Result<Vec<PathBuf>> {
    let ending = model.dataset.file_ending.clone();
    let cases = case_selection::select(
        input_cases(input, &ending)?,
        &options.selection,
        output,
        &ending,
        options.save_probabilities,
    )?;
    let queue = |n: usize| if n == 0 { 2 } else { n };
    // One file per channel, or fewer files holding several channels (an RGB PNG is 3): more
    // files than channels is wrong before anything is read; the count read is checked per case.
    let expected = model.dataset.num_channels();
    if let Some(case) = cases.iter().find(|c| c.images.len() > expected) {
        return Err(Error::invalid_file(
            &case.images[expected],
            format!(
                "case {} has {} channel file(s), the model expects {expected} channel(s)",
                case.id,
                case.images.len()
            ),
        ));
    }
    let previous = previous_stage_files(
        model.cascade_labels.is_some(),
        &model.configuration,
        &ending,
        &cases,
        options.prev_stage.as_deref(),
    )?;
    // On failure, what this run added to `output` is removed again.
    let guard = atomic::OutputGuard::create(output)?;
    atomic::write_json(&output.join("dataset.json"), &model.dataset)?;
    atomic::write_json(&output.join("plans.json"), &model.plans)?;
    let (forward, backward) = model.transposes()?;
    let bar = options
        .progress
        .then(|| indicatif::ProgressBar::new(cases.len() as u64));
    let save_probabilities = options.save_probabilities;
    let postprocessing = &options.postprocessing;

    let written = std::thread::scope(|scope| -> Result<Vec<PathBuf>> {
        // Reader: read + preprocess ahead of the network.
        let (to_net, from_reader) =
            sync_channel::<Result<(String, Vec<f32>, CaseProperties)>>(queue(options.read_ahead));
        let job = &model.job;
        let cascade_labels = model.cascade_labels.as_deref().unwrap_or_default();
        let reader = scope.spawn(move || {
            for (i, case) in cases.iter().enumerate() {
                let prev = previous.as_ref().map(|files| files[i].as_path());
                let result = read_case(job, expected, cascade_labels, case, prev)
                    .map(|(data, props)| (case.id.clone(), data, props));
                if to_net.send(result).is_err() {
                    break;
                }
            }
        });
        // Writer: export + write behind the network.
        let (to_writer, from_net) =
            sync_channel::<(String, Tensor, CaseProperties)>(queue(options.write_behind));
        let out_dir = output.to_path_buf();
        let ending_w = ending.clone();
        let labels = &model.labels;
        let writer = scope.spawn(move || -> Result<Vec<PathBuf>> {
            let mut written = Vec::new();
            for (id, logits, properties) in from_net {
                let mut exported = export_prediction(
                    &logits,
                    &properties,
                    forward,
                    backward,
                    labels,
                    save_probabilities || !postprocessing.is_empty(),
                )?;
                drop(logits);
                postprocessing
                    .apply(&mut exported.segmentation, exported.probabilities.as_ref())
                    .map_err(|e| Error::Invalid(format!("case {id}: postprocessing: {e}")))?;
                let path = out_dir.join(format!("{id}{ending_w}"));
                nnunet_datasets::io::write_label(&path, &exported.segmentation)?;
                if let Some(probabilities) = exported
                    .probabilities
                    .as_ref()
                    .filter(|_| save_probabilities)
                {
                    let grid = LabelGrid::of(&exported.segmentation);
                    write_probabilities(&out_dir, &id, probabilities, &grid)?;
                }
                written.push(path);
            }
            Ok(written)
        });
        let mut failure = None;
        for item in from_reader {
            match item.and_then(|(id, data, props)| {
                let logits = model.logits(&data, &props)?.f_to_kind(Kind::Float)?;
                Ok((id, logits, props))
            }) {
                Ok(done) => {
                    if to_writer.send(done).is_err() {
                        break;
                    }
                    if let Some(bar) = &bar {
                        bar.inc(1);
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        drop(to_writer);
        let _ = reader.join();
        let written = writer
            .join()
            .map_err(|_| Error::Invalid("writer thread panicked".into()))??;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(written),
        }
    })?;
    guard.commit();
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_stage_becomes_one_hot_channels_after_the_image() {
        let mut properties: CaseProperties = serde_json::from_value(serde_json::json!({
            "format": "", "data_shape": [1, 1, 2, 3], "data_dtype": "", "seg_dtype": "",
            "spacing": [1.0, 1.0, 1.0], "spacing_after_resampling": [1.0, 1.0, 1.0],
            "geometry": {"spacing": [1.0, 1.0, 1.0], "origin": [0.0, 0.0, 0.0],
                         "direction": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]},
            "is_2d": false, "shape_before_cropping": [1, 2, 3],
            "bbox_used_for_cropping": [[0, 1], [0, 2], [0, 3]],
            "shape_after_cropping_and_before_resampling": [1, 2, 3],
            "class_locations": {}, "plans_digest": ""
        }))
        .unwrap();
        let mut data = vec![0.5f32; 6];
        // -1 (outside the crop mask) and 0 are zero in every channel.
        let seg = [-1i16, 0, 1, 2, 3, 1];
        append_previous_stage(&mut data, &mut properties, &seg, &[1, 2, 3]).unwrap();
        assert_eq!(properties.data_shape, [4, 1, 2, 3]);
        assert_eq!(
            data,
            vec![
                0.5, 0.5, 0.5, 0.5, 0.5, 0.5, // image
                0.0, 0.0, 1.0, 0.0, 0.0, 1.0, // label 1
                0.0, 0.0, 0.0, 1.0, 0.0, 0.0, // label 2
                0.0, 0.0, 0.0, 0.0, 1.0, 0.0, // label 3
            ]
        );
        assert!(append_previous_stage(&mut data, &mut properties, &seg[..5], &[1]).is_err());
    }

    #[test]
    fn cascade_inputs_are_checked_up_front_naming_the_case() {
        let dir = tempfile::tempdir().unwrap();
        let cases = vec![
            InputCase {
                id: "la_003".into(),
                images: vec![],
            },
            InputCase {
                id: "la_004".into(),
                images: vec![],
            },
        ];
        std::fs::write(dir.path().join("la_003.nii.gz"), b"").unwrap();
        let c = "3d_cascade_fullres";
        let err = previous_stage_files(true, c, ".nii.gz", &cases, Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("la_004") && err.contains("previous stage"),
            "{err}"
        );
        let err = previous_stage_files(true, c, ".nii.gz", &cases, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--prev-stage") && err.contains(c), "{err}");
        let err = previous_stage_files(false, "3d_fullres", ".nii.gz", &cases, Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a cascade"), "{err}");
        assert!(
            previous_stage_files(false, "3d_fullres", ".nii.gz", &cases, None)
                .unwrap()
                .is_none()
        );
        std::fs::write(dir.path().join("la_004.nii.gz"), b"").unwrap();
        let files = previous_stage_files(true, c, ".nii.gz", &cases, Some(dir.path()))
            .unwrap()
            .unwrap();
        assert_eq!(files[1], dir.path().join("la_004.nii.gz"));
    }
}
