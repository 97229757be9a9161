//! Run-time plugins: a checked, stable C boundary between the host and plugin libraries.
//!
//! A plugin is a `cdylib` depending on `nnunet-core`, built anywhere — its own folder, lockfile,
//! target folder and profile. [`crate::export_plugin!`] exports a static [`PluginHeader`] named
//! `NNUNET_PLUGIN_HEADER` and a `register` entry point. The loader `dlopen`s the file, reads the
//! header's frozen prefix through a checked path ([`memory`]) and refuses another plugin ABI or
//! another libtorch; only then does it call `register`.
//!
//! No Rust type crosses the boundary: only the `#[repr(C)]` types of [`ffi`] — JSON text for
//! specs and options, libtorch handles for tensors, and one object type with a `call` entry
//! point per component. Plugin authors never see any of it: they implement the plain traits
//! and `Plugin::build`; on their side `export_plugin!` wraps each registered constructor into a
//! factory object (`server`, `kinds`), and on the host's side the registry receives objects that
//! implement the same plain traits by calling across (`client`, `kinds`). Built-in components
//! never cross: they keep their direct calls.
//!
//! Panics: a plugin has its own copy of std, and nothing may unwind through `extern "C"`. Every
//! call into a plugin — constructors, every method, `Drop` — runs under `catch_unwind` inside
//! the plugin and comes back as [`Error::Panic`]. Libraries are never closed: their code may be
//! referenced by any object they created.

mod client;
pub mod ffi;
mod fingerprint;
pub(crate) mod guarded;
mod header;
mod kinds;
mod loader;
mod memory;
mod registration;
mod server;

pub use fingerprint::{BuildFingerprint, FINGERPRINT};
pub use header::PluginHeader;
pub use header::{ABI_VERSION, FROZEN_PREFIX_SIZE, HEADER_SYMBOL, LIBTORCH_VERSION, MAGIC};
pub use loader::{LoadedPlugin, check_header_bytes, load_plugin};
#[doc(hidden)]
pub use registration::export;

use crate::{Error, Result};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`, turning a panic into [`Error::Panic`] naming `context`.
pub fn guard<T>(context: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "non-string panic payload".to_string()
            };
            Err(Error::Panic {
                context: context.to_string(),
                message,
            })
        }
    }
}

/// Exports a plugin from a `cdylib` crate: `nnunet_core::export_plugin!(MyPlugin);` where
/// `MyPlugin` is a value implementing [`crate::Plugin`].
#[macro_export]
macro_rules! export_plugin {
    ($plugin:expr) => {
        #[unsafe(no_mangle)]
        #[used]
        pub static NNUNET_PLUGIN_HEADER: $crate::plugin::PluginHeader =
            $crate::plugin::PluginHeader::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), {
                unsafe extern "C" fn register(
                    host: &$crate::plugin::ffi::HostRegistrar,
                    reply: &$crate::plugin::ffi::Reply,
                ) -> u32 {
                    $crate::plugin::export(host, reply, env!("CARGO_PKG_NAME"), &$plugin)
                }
                register
            });
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_turns_panics_into_errors() {
        let err = guard::<()>("unit", || panic!("boom {}", 42)).unwrap_err();
        assert_eq!(err.to_string(), "panic in unit: boom 42");
        assert_eq!(guard("unit", || Ok(7)).unwrap(), 7);
    }

    #[test]
    fn fingerprint_names_every_part() {
        for part in [
            "nnunet-core",
            "rustc",
            "target",
            "profile",
            "tch 0.24.0",
            "libtorch 2.11.0",
        ] {
            assert!(
                FINGERPRINT.contains(part),
                "{part} missing from {FINGERPRINT}"
            );
        }
    }
}
