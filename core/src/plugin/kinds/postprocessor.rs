//! Postprocessors across the boundary. The label map's voxels cross as an `int16` tensor (its
//! shape, 2D flag and geometry as JSON) and come back as one; the probabilities, when given,
//! cross as the host's tensor handle.

use crate::plugin::client::Foreign;
use crate::plugin::server::{Incoming, Outgoing, Served, export, unknown_method};
use crate::registry::{Options, PostprocessorCtor};
use crate::{Error, Geometry, LabelMap, Postprocessor, Registry, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

factory!(PostprocessorCtor, Options, "postprocessor constructor", add_postprocessor => ForeignPostprocessor);

/// A label map without its voxels.
#[derive(Serialize, Deserialize)]
struct LabelMapMeta {
    shape: [usize; 3],
    geometry: Geometry,
    is_2d: bool,
    has_probabilities: bool,
}

struct Exported(Box<dyn Postprocessor>);

impl Served for Exported {
    const WHAT: &'static str = "postprocessor";
    unsafe fn serve(this: *mut Self, method: &str, input: &Incoming, out: &Outgoing) -> Result<()> {
        // SAFETY: `apply` takes `&self`.
        let this = unsafe { &*this };
        match method {
            "apply" => {
                let meta: LabelMapMeta = input.parse()?;
                let mut segmentation = LabelMap {
                    shape: meta.shape,
                    data: Vec::<i16>::try_from(input.tensor(0)?)?,
                    geometry: meta.geometry,
                    is_2d: meta.is_2d,
                };
                let probabilities = match meta.has_probabilities {
                    true => Some(input.tensor(1)?),
                    false => None,
                };
                this.0.apply(&mut segmentation, probabilities)?;
                out.tensor(Tensor::from_slice(&segmentation.data));
                Ok(())
            }
            other => Err(unknown_method(Self::WHAT, other)),
        }
    }
}

struct ForeignPostprocessor(Foreign);

impl Postprocessor for ForeignPostprocessor {
    fn apply(&self, segmentation: &mut LabelMap, probabilities: Option<&Tensor>) -> Result<()> {
        let meta = LabelMapMeta {
            shape: segmentation.shape,
            geometry: segmentation.geometry.clone(),
            is_2d: segmentation.is_2d,
            has_probabilities: probabilities.is_some(),
        };
        let voxels = Tensor::from_slice(&segmentation.data);
        let mut tensors = vec![&voxels];
        tensors.extend(probabilities);
        let data = self.0.call("apply", &meta, &tensors)?.into_tensor()?;
        let data = Vec::<i16>::try_from(&data)?;
        if data.len() != segmentation.data.len() {
            return Err(Error::Invalid(format!(
                "plugin postprocessor returned {} voxels for a label map of {}",
                data.len(),
                segmentation.data.len()
            )));
        }
        segmentation.data = data;
        Ok(())
    }
}
