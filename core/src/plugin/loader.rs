//! Opens a plugin file and checks its header against this build before running any of its code
//! beyond the dynamic loader's own initialisers.

use super::{ABI_VERSION, FINGERPRINT, HEADER_SYMBOL, PluginHeader};
use crate::{Error, Registry, Result};
use std::path::{Path, PathBuf};

/// A plugin whose header matched; its library stays loaded for the life of the process.
pub struct LoadedPlugin {
    /// Canonical path of the plugin file.
    pub path: PathBuf,
    pub name: &'static str,
    pub version: &'static str,
    header: &'static PluginHeader,
}

impl LoadedPlugin {
    /// Calls the plugin's `register` (which guards itself against panics).
    pub fn register(&self, registry: &mut Registry) -> Result<()> {
        (self.header.register)(registry)
    }
}

fn refuse(path: &Path, message: impl Into<String>) -> Error {
    Error::Plugin {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Longest fingerprint a header may claim; a longer one is a forged or corrupt header, refused
/// before its bytes are read.
pub const MAX_FINGERPRINT_LEN: usize = 4096;

/// Checks a header's frozen prefix against this build: the ABI version and the fingerprint
/// (read only when its length is plausible), refusing with both sides printed.
///
/// # Safety
/// `header.fingerprint_ptr` must be null or point at `header.fingerprint_len` readable bytes
/// whenever that length is at most [`MAX_FINGERPRINT_LEN`].
pub unsafe fn check_header(path: &Path, header: &PluginHeader) -> Result<()> {
    let fingerprint = if header.fingerprint_ptr.is_null() {
        String::from("<none>")
    } else if header.fingerprint_len > MAX_FINGERPRINT_LEN {
        return Err(refuse(
            path,
            format!(
                "forged or corrupt NNUNET_PLUGIN_HEADER: it claims a {}-byte build fingerprint \
                 (at most {MAX_FINGERPRINT_LEN}); rebuild the plugin with `export_plugin!`",
                header.fingerprint_len
            ),
        ));
    } else {
        // SAFETY: the caller guarantees the bytes are readable at this length.
        let bytes =
            unsafe { std::slice::from_raw_parts(header.fingerprint_ptr, header.fingerprint_len) };
        String::from_utf8_lossy(bytes).into_owned()
    };
    if header.abi_version != ABI_VERSION || fingerprint != FINGERPRINT {
        return Err(refuse(
            path,
            format!(
                "refused: the plugin was built against a different nnunet-core, Rust toolchain, \
                 build profile or libtorch than this nnunet, so its types cannot be trusted.\n  \
                 plugin: ABI {} | {fingerprint}\n  host:   ABI {ABI_VERSION} | {FINGERPRINT}\n\
                 Fix: rebuild the plugin in the same workspace, with the same toolchain and \
                 profile as the host (e.g. `cargo build --release -p <plugin crate>` beside \
                 `nnunet`), then load the new .so.",
                header.abi_version
            ),
        ));
    }
    Ok(())
}

/// Loads the plugin at `path` and checks its ABI version and build fingerprint.
///
/// Refuses, with a message saying why and how to fix it: a missing file, a file that is not a
/// shared library, a shared library that is not an nnunet-rs plugin, and a plugin built against
/// another `nnunet-core`, toolchain, profile or libtorch (both fingerprints are printed).
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
                 `cargo build --release -p <plugin crate>` writes to target/release/"
            ),
        )
    })?;
    // SAFETY: a data symbol; `Symbol<*const T>` yields its address.
    let header = unsafe { library.get::<*const PluginHeader>(HEADER_SYMBOL) }
        .map(|symbol| *symbol)
        .map_err(|_| {
            refuse(
                &path,
                "a shared library, but not an nnunet-rs plugin: it exports no \
                 NNUNET_PLUGIN_HEADER symbol (a plugin crate ends with \
                 `nnunet_core::export_plugin!(...)`)",
            )
        })?;
    if header.is_null() {
        return Err(refuse(&path, "NNUNET_PLUGIN_HEADER is a null symbol"));
    }
    // SAFETY: the symbol is the plugin's static header; its frozen prefix is readable for any
    // version of the header, and the library is never unloaded (forgotten below).
    let header: &'static PluginHeader = unsafe { &*header };
    // SAFETY: as above; the fingerprint it points at is static data of the plugin.
    unsafe { check_header(&path, header) }?;
    // Never dlclose: objects the plugin created may still point into its code.
    std::mem::forget(library);
    Ok(LoadedPlugin {
        path,
        name: header.name,
        version: header.version,
        header,
    })
}
