//! Both halves of registration. The plugin's half (behind `export_plugin!`) runs the author's
//! `Plugin::build` into a registry of the plugin's own, then offers each constructor to the host
//! as a factory object. The host's half receives them and adds them to its registry, recorded
//! as coming from the plugin file.

use super::client::{Foreign, decode_error};
use super::ffi::{FAILED, ForeignObject, HostRegistrar, OK, RawStr, RegisterFn, Reply};
use super::guard;
use super::kinds;
use super::server::send_error;
use crate::{ComponentKind, Error, Plugin, Registry, Result};
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// Plugin side: what `export_plugin!`'s `register` does. Not for plugin authors.
#[doc(hidden)]
pub fn export(host: &HostRegistrar, reply: &Reply, name: &str, plugin: &dyn Plugin) -> u32 {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut local = Registry::empty();
        if let Err(error) = guard(&format!("plugin {name}"), || plugin.build(&mut local)) {
            send_error(reply, &error);
            return FAILED;
        }
        for (name, description, ctor) in local.constructors() {
            let (kind, factory) = kinds::export_factory(ctor);
            // SAFETY: the host's callback copies the strings and takes the factory.
            let status = unsafe {
                (host.add)(
                    host.ctx,
                    kind.code(),
                    RawStr::new(&name),
                    RawStr::new(&description),
                    factory,
                )
            };
            if status != OK {
                return FAILED;
            }
        }
        OK
    }));
    outcome.unwrap_or(FAILED)
}

/// The host's state during one plugin's `register`.
struct Importer<'a> {
    registry: &'a mut Registry,
    error: Option<Error>,
    error_json: Option<String>,
}

/// Host side: calls the plugin's `register` and adds what it offers to `registry`.
pub(crate) fn register(register: RegisterFn, path: &Path, registry: &mut Registry) -> Result<()> {
    let mut importer = Importer {
        registry,
        error: None,
        error_json: None,
    };
    let ctx = &mut importer as *mut Importer as *mut c_void;
    let host = HostRegistrar { ctx, add };
    let reply = Reply {
        ctx,
        json: ignore_json,
        tensor: drop_tensor,
        object: drop_object,
        error: on_error,
    };
    // SAFETY: `register` was checked to be the plugin's code, for this ABI.
    let status = unsafe { register(&host, &reply) };
    if let Some(error) = importer.error {
        return Err(error);
    }
    if status != OK {
        let cause = decode_error(importer.error_json.as_deref(), "register");
        return Err(match cause {
            panic @ Error::Panic { .. } => panic,
            other => Error::Plugin {
                path: path.to_path_buf(),
                message: other.to_string(),
            },
        });
    }
    Ok(())
}

fn importer<'a>(ctx: *mut c_void) -> &'a mut Importer<'a> {
    // SAFETY: `ctx` is the `Importer` of the `register` call in progress.
    unsafe { &mut *(ctx as *mut Importer) }
}

unsafe extern "C" fn add(
    ctx: *mut c_void,
    kind: u32,
    name: RawStr,
    description: RawStr,
    factory: ForeignObject,
) -> u32 {
    let importer = importer(ctx);
    // Own the factory first, so that it is dropped (in the plugin) on every path.
    let factory = Foreign::new(factory);
    // SAFETY: the plugin passes strings valid for this callback.
    let (name, description) = unsafe {
        (
            name.to_str().into_owned(),
            description.to_str().into_owned(),
        )
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        let kind = ComponentKind::from_code(kind).ok_or_else(|| {
            Error::Invalid(format!(
                "plugin component {name:?} has unknown kind code {kind}"
            ))
        })?;
        kinds::import(importer.registry, kind, &name, &description, factory)
    }));
    match result {
        Ok(Ok(())) => OK,
        Ok(Err(error)) => {
            importer.error = Some(error);
            FAILED
        }
        Err(_) => {
            importer.error = Some(Error::Invalid(format!("registering {name:?} panicked")));
            FAILED
        }
    }
}

unsafe extern "C" fn on_error(ctx: *mut c_void, json: RawStr) {
    // SAFETY: the plugin passes a string valid for this callback.
    importer(ctx).error_json = Some(unsafe { json.to_str() }.into_owned());
}

unsafe extern "C" fn ignore_json(_: *mut c_void, _: RawStr) {}

unsafe extern "C" fn drop_tensor(_: *mut c_void, tensor: *mut torch_sys::C_tensor) {
    // SAFETY: ownership of a live handle was handed over.
    drop(unsafe { tch::Tensor::from_ptr(tensor) });
}

unsafe extern "C" fn drop_object(_: *mut c_void, object: ForeignObject) {
    drop(Foreign::new(object));
}
