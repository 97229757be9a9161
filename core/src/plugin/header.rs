//! The static header every plugin exports as `NNUNET_PLUGIN_HEADER`. Its frozen prefix (magic,
//! ABI version, header size, libtorch version) never changes, so any host can read any plugin's
//! prefix — through [`super::memory`], never by dereferencing what the file claims — and refuse
//! a mismatch before running the plugin's code.

use super::ffi::{RawStr, RegisterFn};

/// Bumped whenever anything that crosses the boundary changes: the types in [`super::ffi`], a
/// method name or its JSON arguments, or a component kind's code.
pub const ABI_VERSION: u32 = 3;

/// The first eight bytes of every header.
pub const MAGIC: [u8; 8] = *b"nnunetrs";

/// The exported symbol's name.
pub const HEADER_SYMBOL: &[u8] = b"NNUNET_PLUGIN_HEADER";

/// The libtorch this `nnunet-core` was built against, with its flavour (`2.11.0+cu130`,
/// `2.11.0+cpu`): host and plugin share one libtorch in one process, so this must match.
pub const LIBTORCH_VERSION: &str = env!("NNUNET_LIBTORCH_VERSION");

/// What `export_plugin!` exports.
#[repr(C)]
pub struct PluginHeader {
    // --- frozen prefix ---
    pub magic: [u8; 8],
    pub abi_version: u32,
    /// `size_of::<PluginHeader>()` in the plugin.
    pub header_size: u32,
    pub libtorch: RawStr,
    // --- valid only when the prefix matches the host ---
    pub name: RawStr,
    pub version: RawStr,
    pub register: RegisterFn,
}

/// Bytes of the frozen prefix.
pub const FROZEN_PREFIX_SIZE: usize = 8 + 4 + 4 + std::mem::size_of::<RawStr>();

// SAFETY: the header is immutable static data pointing at static data.
unsafe impl Sync for PluginHeader {}

impl PluginHeader {
    /// A header carrying this build's ABI and libtorch versions.
    pub const fn new(name: &'static str, version: &'static str, register: RegisterFn) -> Self {
        PluginHeader {
            magic: MAGIC,
            abi_version: ABI_VERSION,
            header_size: std::mem::size_of::<PluginHeader>() as u32,
            libtorch: RawStr::new(LIBTORCH_VERSION),
            name: RawStr::new(name),
            version: RawStr::new(version),
            register,
        }
    }
}
