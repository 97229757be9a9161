//! Augmentation transforms across the boundary. A sample's intensities cross as a `float32`
//! tensor and its labels as an `int16` tensor (its layout as JSON), and come back the same way.

use crate::augmentation::{Augmentation, Sample};
use crate::plugin::client::Foreign;
use crate::plugin::server::{Incoming, Outgoing, Served, export, unknown_method};
use crate::registry::{AugmentationCtor, Options};
use crate::{Error, Registry, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

factory!(AugmentationCtor, Options, "augmentation constructor", add_augmentation => ForeignAugmentation);

/// A sample without its voxels.
#[derive(Serialize, Deserialize)]
struct Layout {
    channels: usize,
    seg_channels: usize,
    shape: [usize; 3],
    ndim: usize,
    seed: u64,
}

impl Layout {
    fn of(sample: &Sample, seed: u64) -> Self {
        Layout {
            channels: sample.channels,
            seg_channels: sample.seg_channels,
            shape: sample.shape,
            ndim: sample.ndim,
            seed,
        }
    }

    fn sample(&self, image: &Tensor, seg: &Tensor) -> Result<Sample> {
        let sample = Sample {
            image: Vec::<f32>::try_from(image)?,
            channels: self.channels,
            seg: Vec::<i16>::try_from(seg)?,
            seg_channels: self.seg_channels,
            shape: self.shape,
            ndim: self.ndim,
        };
        let voxels = sample.voxels();
        if sample.image.len() != voxels * sample.channels
            || sample.seg.len() != voxels * sample.seg_channels
        {
            return Err(Error::Invalid(format!(
                "augmentation sample: {} intensities and {} labels for {} and {} channel(s) of \
                 shape {:?}",
                sample.image.len(),
                sample.seg.len(),
                sample.channels,
                sample.seg_channels,
                sample.shape
            )));
        }
        Ok(sample)
    }
}

struct Exported(Box<dyn Augmentation>);

impl Served for Exported {
    const WHAT: &'static str = "augmentation";
    unsafe fn serve(this: *mut Self, method: &str, input: &Incoming, out: &Outgoing) -> Result<()> {
        // SAFETY: `apply` takes `&self`.
        let this = unsafe { &*this };
        match method {
            "apply" => {
                let layout: Layout = input.parse()?;
                let mut sample = layout.sample(input.tensor(0)?, input.tensor(1)?)?;
                this.0.apply(&mut sample, layout.seed)?;
                out.json(&Layout::of(&sample, layout.seed))?;
                out.tensor(Tensor::from_slice(&sample.image));
                out.tensor(Tensor::from_slice(&sample.seg));
                Ok(())
            }
            other => Err(unknown_method(Self::WHAT, other)),
        }
    }
}

struct ForeignAugmentation(Foreign);

impl Augmentation for ForeignAugmentation {
    fn apply(&self, sample: &mut Sample, seed: u64) -> Result<()> {
        let image = Tensor::from_slice(&sample.image);
        let seg = Tensor::from_slice(&sample.seg);
        let mut reply = self
            .0
            .call("apply", &Layout::of(sample, seed), &[&image, &seg])?;
        let layout: Layout = reply.parse()?;
        let tensors = reply.take_tensors();
        let [image, seg] = tensors.as_slice() else {
            return Err(Error::Invalid(format!(
                "plugin augmentation returned {} tensors, not 2",
                tensors.len()
            )));
        };
        *sample = layout.sample(image, seg)?;
        Ok(())
    }
}
