//! Run-time plugins: the frozen header a plugin exports, the build fingerprint both sides must
//! share, the loader, and the panic guards.
//!
//! A plugin is a `cdylib` depending on `nnunet-core`. [`crate::export_plugin!`] emits a static
//! [`PluginHeader`] named `NNUNET_PLUGIN_HEADER`. The loader `dlopen`s the file, checks the
//! header's ABI version and build fingerprint against the host's, and only then calls the plugin's
//! `register`. Rust trait objects cross the boundary, which is sound only because the fingerprint
//! forces the same compiler, the same `nnunet-core` source and the same libtorch on both sides.
//!
//! A plugin has its own copy of std: a panic unwinding out of it into the host cannot be caught
//! there ("cannot catch foreign exceptions") and aborts. Every entry point is therefore wrapped in
//! [`guard`] *inside* the plugin — the registry's `add_*` methods do it at registration time.
//! Libraries are never closed: their code may be referenced by any object they created.

mod fingerprint;
pub(crate) mod guarded;
mod header;
mod loader;

pub use fingerprint::{BuildFingerprint, FINGERPRINT};
pub use header::{ABI_VERSION, HEADER_SYMBOL, PluginHeader};
pub use loader::{LoadedPlugin, MAX_FINGERPRINT_LEN, check_header, load_plugin};

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
                fn register(registry: &mut $crate::Registry) -> $crate::Result<()> {
                    $crate::plugin::guard(concat!("plugin ", env!("CARGO_PKG_NAME")), || {
                        $crate::Plugin::build(&$plugin, registry)
                    })
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
