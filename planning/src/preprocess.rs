//! Preprocessing every training case of a configuration, as nnU-Net v2's `DefaultPreprocessor`
//! does it: transpose → crop to non-zero (label −1 outside) → normalise → resample → sample
//! foreground locations → save (see [`crate::preprocessed_format`]).
//!
//! Cases run in parallel on a rayon pool of `num_workers` threads with a progress bar. A case
//! whose output is complete for the same plans digest is skipped, so an interrupted run resumes.

use indicatif::{ProgressBar, ProgressStyle};
use nnunet_core::{ConfigurationPlans, DatasetDescriptor, Error, Plans, Result};
use rayon::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use crate::crop::{box_shape, crop_to_nonzero};
use crate::foreground::{ClassSpec, classes_for, sample_locations};
use crate::normalization::Scheme;
use crate::preprocessed_format::{CaseProperties, FORMAT, finished_case, write_case};
use crate::resample::{Kind, Volume, resample};
use crate::spacing::compute_new_shape;

/// A preprocessed case in memory (before it is written).
pub struct CaseOutput {
    pub data: Vec<f32>,
    pub seg: Vec<i16>,
    pub properties: CaseProperties,
}

/// What preprocessing one configuration needs, resolved once.
pub struct ConfigurationJob {
    pub configuration_name: String,
    pub configuration: ConfigurationPlans,
    pub transpose_forward: [usize; 3],
    pub schemes: Vec<Scheme>,
    pub use_mask: Vec<bool>,
    pub intensity: Vec<Option<nnunet_core::fingerprint::IntensityStats>>,
    pub target_spacing: Vec<f64>,
    pub classes: Vec<ClassSpec>,
    /// Every value a label map may hold (sorted), from `dataset.json`.
    pub label_values: Vec<i16>,
    pub digest: String,
}

impl ConfigurationJob {
    /// Resolves `configuration_name` of `plans` for `dataset`.
    pub fn new(
        plans: &Plans,
        configuration_name: &str,
        dataset: &DatasetDescriptor,
    ) -> Result<Self> {
        let configuration = plans.configuration(configuration_name)?;
        let bad = |what: &str| {
            Error::Invalid(format!(
                "plans {}: configuration {configuration_name:?} lacks {what}",
                plans.plans_name
            ))
        };
        let schemes = configuration
            .normalization_schemes
            .as_ref()
            .ok_or_else(|| bad("normalization_schemes"))?
            .iter()
            .map(|s| Scheme::from_class_name(s))
            .collect::<Result<Vec<_>>>()?;
        let use_mask = configuration
            .use_mask_for_norm
            .clone()
            .ok_or_else(|| bad("use_mask_for_norm"))?;
        let target_spacing = configuration
            .spacing
            .clone()
            .ok_or_else(|| bad("spacing"))?;
        if configuration.data_identifier.is_none() {
            return Err(bad("data_identifier"));
        }
        if schemes.len() != dataset.num_channels() || use_mask.len() != schemes.len() {
            return Err(Error::Invalid(format!(
                "plans {}: {} normalisation schemes for {} channels in dataset.json",
                plans.plans_name,
                schemes.len(),
                dataset.num_channels()
            )));
        }
        let transpose_forward: [usize; 3] =
            plans.transpose_forward.clone().try_into().map_err(|_| {
                Error::Invalid(format!(
                    "plans {}: transpose_forward must have 3 entries",
                    plans.plans_name
                ))
            })?;
        let intensity = (0..schemes.len())
            .map(|c| {
                plans
                    .foreground_intensity_properties_per_channel
                    .get(&c.to_string())
                    .cloned()
            })
            .collect();
        let digest_input = json!({
            "format": FORMAT,
            "configuration": configuration,
            "transpose_forward": transpose_forward,
            "intensity": plans.foreground_intensity_properties_per_channel,
            "labels": dataset.labels,
        });
        let digest = format!("{:x}", Sha256::digest(digest_input.to_string().as_bytes()));
        Ok(ConfigurationJob {
            configuration_name: configuration_name.to_string(),
            target_spacing,
            schemes,
            use_mask,
            intensity,
            transpose_forward,
            classes: classes_for(dataset)?,
            label_values: nnunet_datasets::case_image::declared_label_values(dataset)?,
            digest,
            configuration,
        })
    }

    /// The output folder name (`nnUNetPlans_3d_fullres`).
    pub fn data_identifier(&self) -> &str {
        self.configuration
            .data_identifier
            .as_deref()
            .unwrap_or_default()
    }

    /// Preprocesses one case given its image and optional label map.
    pub fn run_case(
        &self,
        image: nnunet_core::Image,
        label: Option<nnunet_core::LabelMap>,
    ) -> Result<CaseOutput> {
        if let Some(label) = &label
            && label.shape != image.shape
        {
            return Err(Error::Invalid(format!(
                "image shape {:?} and label shape {:?} differ",
                image.shape, label.shape
            )));
        }
        let t = self.transpose_forward;
        let shape_in = image.shape;
        let shape = [shape_in[t[0]], shape_in[t[1]], shape_in[t[2]]];
        let mut channels: Vec<Vec<f32>> = image
            .channels
            .iter()
            .map(|c| transpose(c, shape_in, t))
            .collect();
        let seg = label.map(|l| transpose(&l.data, shape_in, t));
        let original_spacing = [
            image.geometry.spacing[t[0]],
            image.geometry.spacing[t[1]],
            image.geometry.spacing[t[2]],
        ];

        let (mut seg, bbox) = crop_to_nonzero(&mut channels, seg, shape);
        let cropped_shape = box_shape(&bbox);

        let target: [f64; 3] = match self.target_spacing.len() {
            2 => [
                original_spacing[0],
                self.target_spacing[0],
                self.target_spacing[1],
            ],
            3 => [
                self.target_spacing[0],
                self.target_spacing[1],
                self.target_spacing[2],
            ],
            n => return Err(Error::Invalid(format!("plans spacing has {n} entries"))),
        };
        let new_shape_f =
            compute_new_shape(&cropped_shape.map(|v| v as f64), &original_spacing, &target);
        let new_shape = [
            new_shape_f[0] as usize,
            new_shape_f[1] as usize,
            new_shape_f[2] as usize,
        ];

        let mask: Vec<bool> = seg.iter().map(|&s| s >= 0).collect();
        for (c, channel) in channels.iter_mut().enumerate() {
            self.schemes[c]
                .apply(
                    channel,
                    Some(&mask),
                    self.use_mask[c],
                    self.intensity[c].as_ref(),
                )
                .map_err(|e| Error::Invalid(format!("channel {c}: {e}")))?;
        }

        let mut data = Vec::with_capacity(channels.len() * new_shape.iter().product::<usize>());
        for channel in &channels {
            let volume = Volume::new(cropped_shape, channel.iter().map(|&v| v as f64).collect());
            let out = resample(&volume, new_shape, &original_spacing, &target, Kind::Data);
            data.extend(out.data.iter().map(|&v| v as f32));
        }
        let seg_volume = Volume::new(cropped_shape, seg.iter().map(|&v| v as f64).collect());
        seg = resample(
            &seg_volume,
            new_shape,
            &original_spacing,
            &target,
            Kind::Segmentation,
        )
        .data
        .iter()
        .map(|&v| v as i16)
        .collect();

        let class_locations = sample_locations(&seg, new_shape, &self.classes);
        let properties = CaseProperties {
            format: FORMAT.to_string(),
            data_shape: [channels.len(), new_shape[0], new_shape[1], new_shape[2]],
            data_dtype: "float32-le".into(),
            seg_dtype: "int16-le".into(),
            spacing: image.geometry.spacing,
            spacing_after_resampling: target,
            geometry: image.geometry.clone(),
            is_2d: image.is_2d,
            shape_before_cropping: shape,
            bbox_used_for_cropping: bbox,
            shape_after_cropping_and_before_resampling: cropped_shape,
            class_locations,
            plans_digest: self.digest.clone(),
        };
        Ok(CaseOutput {
            data,
            seg,
            properties,
        })
    }
}

/// `out[i'] = in[i]` with the axes permuted by `order` (numpy `transpose(order)`).
pub fn transpose<T: Copy>(data: &[T], shape: [usize; 3], order: [usize; 3]) -> Vec<T> {
    if order == [0, 1, 2] {
        return data.to_vec();
    }
    let new_shape = [shape[order[0]], shape[order[1]], shape[order[2]]];
    let strides = [shape[1] * shape[2], shape[2], 1];
    let s = [strides[order[0]], strides[order[1]], strides[order[2]]];
    let mut out = Vec::with_capacity(data.len());
    for a in 0..new_shape[0] {
        for b in 0..new_shape[1] {
            for c in 0..new_shape[2] {
                out.push(data[a * s[0] + b * s[1] + c * s[2]]);
            }
        }
    }
    out
}

/// One raw case to preprocess.
#[derive(Clone, Debug)]
pub struct CaseFiles {
    pub id: String,
    pub images: Vec<PathBuf>,
    pub label: Option<PathBuf>,
}

/// Outcome of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub processed: usize,
    pub skipped: usize,
}

/// Preprocesses `cases` into `output` with `num_workers` threads, skipping finished cases.
pub fn preprocess_cases(
    job: &ConfigurationJob,
    cases: &[CaseFiles],
    output: &Path,
    num_workers: usize,
    progress: bool,
) -> Result<RunSummary> {
    std::fs::create_dir_all(output).map_err(|e| Error::io(output, e))?;
    // A run killed mid-write left temporary files: remove them before starting again.
    nnunet_core::atomic::clean_stale_temps(output)?;
    let todo: Vec<&CaseFiles> = cases
        .iter()
        .filter(|c| finished_case(output, &c.id, &job.digest).is_none())
        .collect();
    let skipped = cases.len() - todo.len();
    let bar = if progress {
        let bar = ProgressBar::new(todo.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!("preprocessing {}", job.configuration_name));
        bar
    } else {
        ProgressBar::hidden()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(num_workers.max(1))
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start {num_workers} workers: {e}")))?;
    pool.install(|| {
        todo.par_iter().try_for_each(|case| {
            let image =
                nnunet_datasets::read_case_image(&case.id, &case.images, job.schemes.len())?;
            let label = match case.label.as_deref() {
                Some(path) => {
                    let label = nnunet_datasets::read_label(path)?;
                    nnunet_datasets::case_image::check_label_values(
                        &case.id,
                        path,
                        &label.data,
                        &job.label_values,
                    )?;
                    Some(label)
                }
                None => None,
            };
            let out = job
                .run_case(image, label)
                .map_err(|e| Error::Invalid(format!("case {}: {e}", case.id)))?;
            write_case(output, &case.id, &out.properties, &out.data, &out.seg)?;
            bar.inc(1);
            Ok::<(), Error>(())
        })
    })?;
    bar.finish_and_clear();
    Ok(RunSummary {
        processed: todo.len(),
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_moves_axes_like_numpy() {
        // shape (2, 3, 4), transpose (2, 0, 1) → shape (4, 2, 3); out[c, a, b] = in[a, b, c]
        let data: Vec<usize> = (0..24).collect();
        let out = transpose(&data, [2, 3, 4], [2, 0, 1]);
        assert_eq!(out[0], 0);
        assert_eq!(out[1], 4); // (c=0, a=0, b=1)
        assert_eq!(out[6], 1); // (c=1, a=0, b=0)
    }
}
