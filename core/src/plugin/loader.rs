//! Opens a plugin file and checks its header against this build before running any of its code
//! beyond the dynamic loader's own initialisers. Only what must match is checked: the plugin ABI
//! version and the libtorch version and flavour. Every read of the header goes through
//! [`FileMappings`], so a forged header is refused, never dereferenced.

use super::PluginHeader;
use super::ffi::{RawStr, RegisterFn};
use super::header::{ABI_VERSION, FROZEN_PREFIX_SIZE, HEADER_SYMBOL, LIBTORCH_VERSION, MAGIC};
use super::memory::FileMappings;
use crate::{Error, Registry, Result};
use std::mem::offset_of;
use std::path::{Path, PathBuf};

/// A plugin whose header matched; its library stays loaded for the life of the process.
pub struct LoadedPlugin {
    /// Canonical path of the plugin file.
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    register: RegisterFn,
}

impl LoadedPlugin {
    /// Calls the plugin's `register`, adding its components to `registry`.
    pub fn register(&self, registry: &mut Registry) -> Result<()> {
        super::registration::register(self.register, &self.path, registry)
    }
}

fn refuse(path: &Path, message: impl Into<String>) -> Error {
    Error::Plugin {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Loads the plugin at `path` and checks its header.
///
/// Refuses, with a message naming the file and saying why: a missing file, a file that is not a
/// shared library, a shared library that is not an nnunet-rs plugin, a header that is forged or
/// truncated, and a plugin built for another plugin ABI or another libtorch (both sides named).
pub fn load_plugin(path: &Path) -> Result<LoadedPlugin> {
    // dlopen does not search the current directory for bare names: always pass a full path.
    let path = path
        .canonicalize()
        .map_err(|e| refuse(path, format!("cannot open plugin file: {e}")))?;
    // SAFETY: loading a library runs its initialisers; that is the contract of a plugin file.
    let library = unsafe { libloading::Library::new(&path) }.map_err(|e| {
        refuse(
            &path,
            format!(
                "not a loadable shared library ({e}). A plugin is the .so file that \
                 `cargo build` writes for a crate ending with `nnunet_core::export_plugin!(...)`"
            ),
        )
    })?;
    // SAFETY: a data symbol; `Symbol<*const T>` yields its address, which is not dereferenced.
    let address = unsafe { library.get::<*const u8>(HEADER_SYMBOL) }
        .map(|symbol| *symbol as usize)
        .map_err(|_| {
            refuse(
                &path,
                "a shared library, but not an nnunet-rs plugin: it exports no \
                 NNUNET_PLUGIN_HEADER symbol (a plugin crate ends with \
                 `nnunet_core::export_plugin!(...)`)",
            )
        })?;
    let maps = FileMappings::of(&path).map_err(|e| {
        refuse(
            &path,
            format!("cannot read /proc/self/maps to check it: {e}"),
        )
    })?;
    let header = check_header(&path, &maps, address)?;
    // Never dlclose: objects the plugin created may still point into its code.
    std::mem::forget(library);
    Ok(header)
}

/// The header check on a header at the start of `bytes`, with `bytes` as the plugin's only
/// mapping: pointers inside it may be followed, any other is refused. For the fuzz target;
/// the register address it accepts is never called.
#[doc(hidden)]
pub fn check_header_bytes(path: &Path, bytes: &'static [u8]) -> Result<()> {
    let maps = FileMappings::over(bytes);
    check_header(path, &maps, bytes.as_ptr() as usize).map(drop)
}

/// Reads and checks the header at `address`, through `maps` only.
fn check_header(path: &Path, maps: &FileMappings, address: usize) -> Result<LoadedPlugin> {
    let forged = |what: &str| {
        refuse(
            path,
            format!("refused: NNUNET_PLUGIN_HEADER is forged or truncated ({what})"),
        )
    };
    let prefix = maps
        .read(address, FROZEN_PREFIX_SIZE)
        .ok_or_else(|| forged("its first bytes are not readable data of the file"))?;
    if prefix[..8] != MAGIC {
        return Err(forged("wrong magic bytes"));
    }
    let u32_at = |at: usize| {
        u32::from_ne_bytes([prefix[at], prefix[at + 1], prefix[at + 2], prefix[at + 3]])
    };
    let (abi, size) = (u32_at(8), u32_at(12));
    // SAFETY: the prefix was checked readable; read_unaligned copies two machine words.
    let libtorch_raw: RawStr = unsafe { std::ptr::read_unaligned(prefix[16..].as_ptr().cast()) };
    let libtorch = read_str(maps, libtorch_raw, 256).ok_or_else(|| forged("libtorch version"))?;
    if abi != ABI_VERSION || libtorch != LIBTORCH_VERSION {
        return Err(refuse(
            path,
            format!(
                "refused: built for another plugin ABI or libtorch.\n  \
                 plugin: ABI {abi}, libtorch {libtorch}\n  \
                 host:   ABI {ABI_VERSION}, libtorch {LIBTORCH_VERSION}\n\
                 Fix: rebuild the plugin against the nnunet-core of this nnunet (same \
                 checkout or git revision) and the same libtorch (LIBTORCH pointing at the \
                 torch that `nnunet doctor` reports)."
            ),
        ));
    }
    if size as usize != std::mem::size_of::<PluginHeader>() {
        return Err(forged("its size does not match its ABI version"));
    }
    let bytes = maps
        .read(address, std::mem::size_of::<PluginHeader>())
        .ok_or_else(|| forged("the header runs past the file's data"))?;
    // Plain data only: a function pointer is built after its address is checked.
    let field = |offset: usize| bytes[offset..].as_ptr();
    // SAFETY: in bounds of the checked bytes; RawStr and usize accept any bit pattern.
    let (name, version, register) = unsafe {
        (
            std::ptr::read_unaligned(field(offset_of!(PluginHeader, name)).cast::<RawStr>()),
            std::ptr::read_unaligned(field(offset_of!(PluginHeader, version)).cast::<RawStr>()),
            std::ptr::read_unaligned(field(offset_of!(PluginHeader, register)).cast::<usize>()),
        )
    };
    let name = read_str(maps, name, 4096).ok_or_else(|| forged("name"))?;
    let version = read_str(maps, version, 4096).ok_or_else(|| forged("version"))?;
    if !maps.executable(register) {
        return Err(forged("its register function is not code of the file"));
    }
    // SAFETY: a non-null address in the plugin's code, declared by a header of this ABI.
    let register: RegisterFn = unsafe { std::mem::transmute::<usize, RegisterFn>(register) };
    Ok(LoadedPlugin {
        path: path.to_path_buf(),
        name,
        version,
        register,
    })
}

/// The string `raw` points at, if it is short enough and readable data of the plugin file.
fn read_str(maps: &FileMappings, raw: RawStr, max_len: usize) -> Option<String> {
    if raw.len > max_len {
        return None;
    }
    if raw.len == 0 {
        return Some(String::new());
    }
    let bytes = maps.read(raw.ptr as usize, raw.len)?;
    Some(String::from_utf8_lossy(bytes).into_owned())
}
