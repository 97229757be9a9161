//! Wrappers that run every method of a registered component under [`super::guard`], so a panic
//! inside the component (built-in or plugin) surfaces as an error.

use super::guard;
use crate::dataset::Case;
use crate::{Augmentation, Image, ImageIo, Sample};
use crate::{CaseId, Dataset, DatasetDescriptor, Fingerprint, LabelMap, Loss, Network};
use crate::{EpochControl, EpochReport, TrainerLoss};
use crate::{PlanOptions, Planner, Plans, Postprocessor, Result, Trainer, TrainingOptions};
use std::path::Path;
use tch::Tensor;

/// A component behind a panic guard; `label` names it in errors.
pub(crate) struct Guarded<T: ?Sized> {
    label: String,
    inner: Box<T>,
}

macro_rules! guarded_new {
    ($($alias:ident => $trait:ident),*) => {
        $(
            pub(crate) type $alias = Guarded<dyn $trait>;
            impl Guarded<dyn $trait> {
                pub(crate) fn new(label: &str, inner: Box<dyn $trait>) -> Self {
                    Guarded { label: label.to_string(), inner }
                }
            }
        )*
    };
}

guarded_new!(
    GuardedNetwork => Network,
    GuardedLoss => Loss,
    GuardedTrainer => Trainer,
    GuardedPlanner => Planner,
    GuardedPostprocessor => Postprocessor,
    GuardedDataset => Dataset,
    GuardedAugmentation => Augmentation,
    GuardedImageIo => ImageIo
);

impl Network for Guarded<dyn Network> {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Vec<Tensor>> {
        guard(&self.label, || self.inner.forward_t(x, train))
    }
    fn set_deep_supervision(&mut self, enabled: bool) -> Result<()> {
        let inner = &mut self.inner;
        guard(&self.label, || inner.set_deep_supervision(enabled))
    }
    fn head_parameter_prefixes(&self) -> Vec<String> {
        self.inner.head_parameter_prefixes()
    }
}

impl Loss for Guarded<dyn Loss> {
    fn compute(&self, logits: &Tensor, target: &Tensor) -> Result<Tensor> {
        guard(&self.label, || self.inner.compute(logits, target))
    }
}

impl Trainer for Guarded<dyn Trainer> {
    fn configure(&self, options: &mut TrainingOptions) -> Result<()> {
        guard(&self.label, || self.inner.configure(options))
    }
    fn learning_rate(&self, options: &TrainingOptions, epoch: usize) -> Result<f64> {
        guard(&self.label, || self.inner.learning_rate(options, epoch))
    }
    fn loss(&self) -> Result<Option<TrainerLoss>> {
        guard(&self.label, || self.inner.loss())
    }
    fn on_epoch_end(&self, report: &EpochReport) -> Result<EpochControl> {
        guard(&self.label, || self.inner.on_epoch_end(report))
    }
}

impl Planner for Guarded<dyn Planner> {
    fn plan(
        &self,
        fingerprint: &Fingerprint,
        dataset: &DatasetDescriptor,
        options: &PlanOptions,
    ) -> Result<Plans> {
        guard(&self.label, || {
            self.inner.plan(fingerprint, dataset, options)
        })
    }
}

impl Postprocessor for Guarded<dyn Postprocessor> {
    fn apply(&self, segmentation: &mut LabelMap, probabilities: Option<&Tensor>) -> Result<()> {
        guard(&self.label, || {
            self.inner.apply(segmentation, probabilities)
        })
    }
}

impl Dataset for Guarded<dyn Dataset> {
    fn descriptor(&self) -> &DatasetDescriptor {
        self.inner.descriptor()
    }
    fn cases(&self) -> &[CaseId] {
        self.inner.cases()
    }
    fn load(&self, case: &str) -> Result<Case> {
        guard(&self.label, || self.inner.load(case))
    }
}

impl Augmentation for Guarded<dyn Augmentation> {
    fn apply(&self, sample: &mut Sample, seed: u64) -> Result<()> {
        guard(&self.label, || self.inner.apply(sample, seed))
    }
}

impl ImageIo for Guarded<dyn ImageIo> {
    fn endings(&self) -> Vec<String> {
        self.inner.endings()
    }
    fn read(&self, path: &Path) -> Result<Image> {
        guard(&self.label, || self.inner.read(path))
    }
    fn encode_image(&self, image: &Image) -> Result<Vec<u8>> {
        guard(&self.label, || self.inner.encode_image(image))
    }
    fn encode_label(&self, label: &LabelMap) -> Result<Vec<u8>> {
        guard(&self.label, || self.inner.encode_label(label))
    }
}
