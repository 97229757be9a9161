//! The `.pth` file itself: the zip archive `torch.save` writes (`<name>/data.pkl`, one
//! `<name>/data/<key>` file per storage, `byteorder`, `version`), read and written.

use super::pickler::pickle;
use super::unpickle::unpickle;
use super::value::{Dtype, StorageRef, TensorRef, Value};
use nnunet_core::tch::{Device, Tensor};
use nnunet_core::{Error, Result, atomic};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Alignment of storages inside the archive, as torch writes (`.storage_alignment`).
const STORAGE_ALIGNMENT: u16 = 64;

/// An opened `.pth`: its unpickled root value; tensors are read on demand.
pub struct PthArchive {
    path: PathBuf,
    zip: zip::ZipArchive<std::io::BufReader<std::fs::File>>,
    /// The archive's folder name (`checkpoint_final`, `archive`, …).
    prefix: String,
    pub root: Value,
}

impl PthArchive {
    /// Opens `path` and unpickles its `data.pkl`.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| {
            Error::invalid_file(
                path,
                format!(
                    "not a torch.save zip archive ({e}); checkpoints of torch < 1.6 (legacy \
                     format) are not supported: re-save them with a newer torch"
                ),
            )
        })?;
        let Some(pkl) = zip
            .file_names()
            .filter(|n| n.ends_with("/data.pkl") || *n == "data.pkl")
            .min_by_key(|n| n.len())
            .map(str::to_string)
        else {
            return Err(Error::invalid_file(path, "no data.pkl in the archive"));
        };
        let prefix = pkl.strip_suffix("data.pkl").unwrap_or("").to_string();
        if let Ok(order) = read_entry(&mut zip, &format!("{prefix}byteorder"), path)
            && order.trim_ascii() != b"little"
        {
            return Err(Error::invalid_file(
                path,
                "a big-endian checkpoint (byteorder is not little) is not supported",
            ));
        }
        let data = read_entry(&mut zip, &pkl, path)?;
        let root = unpickle(&data).map_err(|e| Error::invalid_file(path, format!("{pkl}: {e}")))?;
        Ok(PthArchive {
            path: path.to_path_buf(),
            zip,
            prefix,
            root,
        })
    }

    /// The tensor `t` refers to, on the CPU, contiguous.
    pub fn tensor(&mut self, t: &TensorRef) -> Result<Tensor> {
        let name = format!("{}data/{}", self.prefix, t.storage.key);
        let bytes = read_entry(&mut self.zip, &name, &self.path)?;
        let bad = |msg: String| Error::invalid_file(&self.path, format!("{name}: {msg}"));
        let needed = t.storage.numel.checked_mul(t.storage.dtype.size());
        if needed.is_none_or(|n| bytes.len() < n) {
            return Err(bad(format!(
                "{} bytes for {} elements of {:?}",
                bytes.len(),
                t.storage.numel,
                t.storage.dtype
            )));
        }
        let reach = t
            .shape
            .iter()
            .zip(&t.stride)
            .try_fold(t.offset, |acc, (&n, &s)| {
                acc.checked_add(n.saturating_sub(1).checked_mul(s)?)
            });
        // The last element a non-empty view reaches must lie inside the storage.
        if !t.shape.contains(&0) && reach.is_none_or(|r| r >= t.storage.numel) {
            return Err(bad(format!(
                "view (offset {}, shape {:?}, stride {:?}) reaches past its {} elements",
                t.offset, t.shape, t.stride, t.storage.numel
            )));
        }
        let used = t.storage.numel * t.storage.dtype.size();
        let flat = Tensor::f_from_data_size(
            &bytes[..used],
            &[t.storage.numel as i64],
            t.storage.dtype.kind(),
        )
        .map_err(|e| bad(e.to_string()))?;
        let i64s = |v: &[usize]| v.iter().map(|&x| x as i64).collect::<Vec<_>>();
        flat.f_as_strided(i64s(&t.shape), i64s(&t.stride), Some(t.offset as i64))
            .and_then(|v| v.f_contiguous())
            .map_err(|e| bad(e.to_string()))
    }
}

fn read_entry(
    zip: &mut zip::ZipArchive<std::io::BufReader<std::fs::File>>,
    name: &str,
    path: &Path,
) -> Result<Vec<u8>> {
    let mut entry = zip
        .by_name(name)
        .map_err(|e| Error::invalid_file(path, format!("{name}: {e}")))?;
    let mut out = Vec::with_capacity(entry.size().min(1 << 30) as usize);
    entry
        .read_to_end(&mut out)
        .map_err(|e| Error::invalid_file(path, format!("{name}: {e}")))?;
    Ok(out)
}

/// A storage key and the tensor stored under it, for [`write`].
pub struct Storage {
    pub key: String,
    pub tensor: Tensor,
}

impl Storage {
    /// `tensor` (moved to the CPU, made contiguous) as storage `key`, and the reference to put
    /// in the pickle.
    pub fn new(key: impl Into<String>, tensor: &Tensor) -> Result<(Storage, TensorRef)> {
        let key = key.into();
        let tensor = tensor.to_device(Device::Cpu).contiguous();
        let dtype = Dtype::from_kind(tensor.kind()).ok_or_else(|| {
            Error::Invalid(format!(
                "tensor of kind {:?} cannot be saved",
                tensor.kind()
            ))
        })?;
        let shape: Vec<usize> = tensor.size().iter().map(|&s| s as usize).collect();
        let storage = StorageRef {
            dtype,
            key: key.clone(),
            numel: shape.iter().product(),
        };
        Ok((
            Storage { key, tensor },
            TensorRef::contiguous(storage, shape),
        ))
    }
}

/// Writes `root` and its `storages` as a `torch.save` archive at `path` (atomically); the
/// archive folder is named after the file (`checkpoint_final.pth` → `checkpoint_final/`), as
/// torch names it.
pub fn write(path: &Path, root: &Value, storages: &[Storage]) -> Result<()> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty() && s.is_ascii())
        .unwrap_or_else(|| "archive".into());
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    let fail = |e: &dyn std::fmt::Display| Error::invalid_file(path, format!("writing: {e}"));
    let entry = |zip: &mut zip::ZipWriter<_>, file: &str, bytes: &[u8], align: u16| {
        zip.start_file(format!("{name}/{file}"), stored.with_alignment(align))
            .map_err(|e| fail(&e))?;
        zip.write_all(bytes).map_err(|e| fail(&e))
    };
    entry(&mut zip, "data.pkl", &pickle(root), 1)?;
    entry(&mut zip, ".format_version", b"1", 1)?;
    entry(&mut zip, ".storage_alignment", b"64", 1)?;
    entry(&mut zip, "byteorder", b"little", 1)?;
    for s in storages {
        let numel = s.tensor.numel();
        let size = Dtype::from_kind(s.tensor.kind()).map_or(1, Dtype::size);
        let mut bytes = vec![0u8; numel * size];
        s.tensor
            .f_copy_data_u8(&mut bytes, numel)
            .map_err(|e| fail(&e))?;
        entry(
            &mut zip,
            &format!("data/{}", s.key),
            &bytes,
            STORAGE_ALIGNMENT,
        )?;
    }
    entry(&mut zip, "version", b"3\n", 1)?;
    let bytes = zip.finish().map_err(|e| fail(&e))?.into_inner();
    atomic::write_bytes(path, &bytes)
}
