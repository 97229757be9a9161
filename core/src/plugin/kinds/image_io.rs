//! Image readers/writers across the boundary. Paths and images cross as JSON; encoded files
//! come back as a `uint8` tensor, which the host writes through its atomic writer.

use crate::image_io::ImageIo;
use crate::plugin::client::Foreign;
use crate::plugin::server::{Incoming, Outgoing, Served, export, unknown_method};
use crate::registry::ImageIoCtor;
use crate::{Image, LabelMap, Registry, Result};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The plugin-side factory: image readers/writers take no options.
pub(crate) struct Factory(pub ImageIoCtor);

impl Served for Factory {
    const WHAT: &'static str = "image reader/writer constructor";
    unsafe fn serve(
        this: *mut Self,
        method: &str,
        _input: &Incoming,
        out: &Outgoing,
    ) -> Result<()> {
        // SAFETY: constructors are called through `&self` only.
        let this = unsafe { &*this };
        match method {
            "build" => {
                out.object(export(Exported((this.0)()?)));
                Ok(())
            }
            other => Err(unknown_method(Self::WHAT, other)),
        }
    }
}

struct Exported(Box<dyn ImageIo>);

impl Served for Exported {
    const WHAT: &'static str = "image reader/writer";
    unsafe fn serve(this: *mut Self, method: &str, input: &Incoming, out: &Outgoing) -> Result<()> {
        // SAFETY: every method takes `&self`.
        let this = unsafe { &*this };
        match method {
            "endings" => out.json(&this.0.endings()),
            "read" => {
                let path: PathBuf = input.parse()?;
                out.json(&this.0.read(&path)?)
            }
            "encode_image" => {
                let image: Image = input.parse()?;
                out.tensor(Tensor::from_slice(&this.0.encode_image(&image)?));
                Ok(())
            }
            "encode_label" => {
                let label: LabelMap = input.parse()?;
                out.tensor(Tensor::from_slice(&this.0.encode_label(&label)?));
                Ok(())
            }
            other => Err(unknown_method(Self::WHAT, other)),
        }
    }
}

/// The host side; the endings are asked once, when it is built (the trait gives no way to
/// report an error from `endings`).
struct ForeignImageIo {
    object: Foreign,
    endings: Vec<String>,
}

impl ImageIo for ForeignImageIo {
    fn endings(&self) -> Vec<String> {
        self.endings.clone()
    }
    fn read(&self, path: &Path) -> Result<Image> {
        self.object.call("read", path, &[])?.parse()
    }
    fn encode_image(&self, image: &Image) -> Result<Vec<u8>> {
        let bytes = self
            .object
            .call("encode_image", image, &[])?
            .into_tensor()?;
        Ok(Vec::<u8>::try_from(&bytes)?)
    }
    fn encode_label(&self, label: &LabelMap) -> Result<Vec<u8>> {
        let bytes = self
            .object
            .call("encode_label", label, &[])?
            .into_tensor()?;
        Ok(Vec::<u8>::try_from(&bytes)?)
    }
}

pub(crate) fn import(
    registry: &mut Registry,
    name: &str,
    desc: &str,
    factory: Foreign,
) -> Result<()> {
    registry.add_image_io(name, desc, move || {
        let object = factory.call("build", &(), &[])?.take_object()?;
        let endings = object.call("endings", &(), &[])?.parse()?;
        Ok(Box::new(ForeignImageIo { object, endings }))
    })
}
