//! The [`ImageIo`] trait: a reader/writer for a file format, nnU-Net's
//! `overwrite_image_reader_writer` as a component.
//!
//! Registered under a name (the name `dataset.json`'s `overwrite_image_reader_writer` gives)
//! with the file endings it handles; `nnunet-datasets` then reads and writes every file with
//! those endings through it, in every stage (verify, fingerprint, preprocess, predict,
//! evaluate, overlay, postprocess). Writing returns the file's bytes: the host writes them
//! atomically, so a plugin never leaves a half-written output.

use crate::{Image, LabelMap, Result};
use std::path::Path;

/// Reads and encodes one file format.
pub trait ImageIo: Send + Sync {
    /// The endings handled, with the dot (`".vox"`), matched case-insensitively.
    fn endings(&self) -> Vec<String>;
    /// Reads one file: one or more channels, with geometry. A label map is read the same way
    /// (one channel of whole numbers).
    fn read(&self, path: &Path) -> Result<Image>;
    /// The bytes of `image` in this format.
    fn encode_image(&self, image: &Image) -> Result<Vec<u8>>;
    /// The bytes of `label` in this format.
    fn encode_label(&self, label: &LabelMap) -> Result<Vec<u8>>;
}
