//! Dataset formats across the boundary. `descriptor` and `cases` are asked once when the
//! dataset is opened (the trait returns references); `load` returns the case's geometry as JSON
//! and its channels and label map as tensors.

use crate::plugin::client::Foreign;
use crate::plugin::server::{Incoming, Outgoing, Served, export, unknown_method};
use crate::registry::DatasetFormatCtor;
use crate::{Case, CaseId, Dataset, DatasetDescriptor, Geometry, Image, LabelMap};
use crate::{Error, Registry, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::Tensor;

factory!(DatasetFormatCtor, PathBuf, "dataset format");

/// A case without its voxels: one tensor per channel follows, then the label map if any.
#[derive(Serialize, Deserialize)]
struct CaseMeta {
    id: CaseId,
    shape: [usize; 3],
    geometry: Geometry,
    is_2d: bool,
    channels: usize,
    has_label: bool,
}

struct Exported(Box<dyn Dataset>);

impl Served for Exported {
    const WHAT: &'static str = "dataset";
    unsafe fn serve(this: *mut Self, method: &str, input: &Incoming, out: &Outgoing) -> Result<()> {
        // SAFETY: every dataset method takes `&self`.
        let this = unsafe { &*this };
        match method {
            "descriptor" => out.json(this.0.descriptor()),
            "cases" => out.json(this.0.cases()),
            "load" => {
                let case = this.0.load(&input.parse::<String>()?)?;
                out.json(&CaseMeta {
                    id: case.id,
                    shape: case.image.shape,
                    geometry: case.image.geometry,
                    is_2d: case.image.is_2d,
                    channels: case.image.channels.len(),
                    has_label: case.label.is_some(),
                })?;
                for channel in &case.image.channels {
                    out.tensor(Tensor::from_slice(channel));
                }
                if let Some(label) = case.label {
                    out.tensor(Tensor::from_slice(&label.data));
                }
                Ok(())
            }
            other => Err(unknown_method(Self::WHAT, other)),
        }
    }
}

struct ForeignDataset {
    object: Foreign,
    descriptor: DatasetDescriptor,
    cases: Vec<CaseId>,
}

impl Dataset for ForeignDataset {
    fn descriptor(&self) -> &DatasetDescriptor {
        &self.descriptor
    }
    fn cases(&self) -> &[CaseId] {
        &self.cases
    }
    fn load(&self, case: &str) -> Result<Case> {
        let mut reply = self.object.call("load", case, &[])?;
        let meta: CaseMeta = reply.parse()?;
        let tensors = reply.take_tensors();
        if tensors.len() != meta.channels + usize::from(meta.has_label) {
            return Err(Error::Invalid(format!(
                "plugin dataset: case {case} came with {} tensors for {} channels{}",
                tensors.len(),
                meta.channels,
                if meta.has_label {
                    " and a label map"
                } else {
                    ""
                }
            )));
        }
        let (channels, label) = tensors.split_at(meta.channels);
        let channels = channels
            .iter()
            .map(Vec::<f32>::try_from)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let label = match label.first() {
            Some(t) => Some(LabelMap {
                shape: meta.shape,
                data: Vec::<i16>::try_from(t)?,
                geometry: meta.geometry.clone(),
                is_2d: meta.is_2d,
            }),
            None => None,
        };
        Ok(Case {
            id: meta.id,
            image: Image {
                shape: meta.shape,
                channels,
                geometry: meta.geometry,
                is_2d: meta.is_2d,
            },
            label,
        })
    }
}

pub(crate) fn import(
    registry: &mut Registry,
    name: &str,
    desc: &str,
    factory: Foreign,
) -> Result<()> {
    registry.add_dataset_format(name, desc, move |path| {
        let object = factory.call("build", path, &[])?.take_object()?;
        let descriptor = object.call("descriptor", &(), &[])?.parse()?;
        let cases = object.call("cases", &(), &[])?.parse()?;
        Ok(Box::new(ForeignDataset {
            object,
            descriptor,
            cases,
        }))
    })
}
