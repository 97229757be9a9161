//! The host side of a call: owns a plugin's [`ForeignObject`], calls its methods, and collects
//! the reply (JSON, tensors that become the host's, new objects, or the plugin's error).

use super::ffi::{ForeignObject, OK, RawStr, Reply, Request};
use crate::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::ffi::c_void;
use tch::Tensor;

/// A plugin object the host owns; dropping it calls the plugin's `drop` (guarded there).
pub(crate) struct Foreign {
    object: ForeignObject,
}

// SAFETY: a plugin-side object is exported only from components whose traits are `Send`; the
// host wrappers that are `Sync` wrap components whose traits are `Send + Sync`, and the others
// are reachable only through `Box<dyn Trait>` without `Sync`, so they are never shared.
unsafe impl Send for Foreign {}
unsafe impl Sync for Foreign {}

impl Drop for Foreign {
    fn drop(&mut self) {
        // SAFETY: the object is live and dropped exactly once, here.
        unsafe { (self.object.drop)(self.object.obj) }
    }
}

/// What a call returned.
#[derive(Default)]
pub(crate) struct Collected {
    json: Option<String>,
    tensors: Vec<Tensor>,
    objects: Vec<Foreign>,
    error: Option<String>,
}

impl Collected {
    /// The JSON result as `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        let text = self.json.as_deref().unwrap_or("null");
        serde_json::from_str(text)
            .map_err(|e| Error::Invalid(format!("plugin boundary: malformed reply: {e}")))
    }

    /// The result tensors, in the order the plugin sent them.
    pub fn into_tensors(self) -> Vec<Tensor> {
        self.tensors
    }

    /// Splits off the tensors, keeping the rest.
    pub fn take_tensors(&mut self) -> Vec<Tensor> {
        std::mem::take(&mut self.tensors)
    }

    /// The one result tensor.
    pub fn into_tensor(mut self) -> Result<Tensor> {
        match self.tensors.len() {
            1 => Ok(self.tensors.remove(0)),
            n => Err(Error::Invalid(format!(
                "plugin boundary: expected one tensor in the reply, got {n}"
            ))),
        }
    }

    /// The one result object.
    pub fn take_object(&mut self) -> Result<Foreign> {
        self.objects
            .pop()
            .ok_or_else(|| Error::Invalid("plugin boundary: the reply holds no object".into()))
    }
}

impl Foreign {
    /// Takes ownership of `object`.
    pub fn new(object: ForeignObject) -> Self {
        Foreign { object }
    }

    /// Calls `method` with `args` (as JSON) and borrowed `tensors`.
    pub fn call<A: Serialize + ?Sized>(
        &self,
        method: &str,
        args: &A,
        tensors: &[&Tensor],
    ) -> Result<Collected> {
        let json = serde_json::to_string(args)
            .map_err(|e| Error::Invalid(format!("plugin boundary: cannot encode {method}: {e}")))?;
        let handles: Vec<*mut torch_sys::C_tensor> =
            tensors.iter().map(|t| t.as_ptr() as *mut _).collect();
        let request = Request {
            json: RawStr::new(&json),
            tensors: handles.as_ptr(),
            n_tensors: handles.len(),
        };
        let mut collected = Collected::default();
        let reply = Reply {
            ctx: &mut collected as *mut Collected as *mut c_void,
            json: on_json,
            tensor: on_tensor,
            object: on_object,
            error: on_error,
        };
        // SAFETY: the object is live; request and reply outlive the call.
        let status =
            unsafe { (self.object.call)(self.object.obj, RawStr::new(method), &request, &reply) };
        if status == OK {
            return Ok(collected);
        }
        Err(decode_error(collected.error.as_deref(), method))
    }
}

/// Turns the plugin's error JSON back into an [`Error`].
pub(crate) fn decode_error(json: Option<&str>, method: &str) -> Error {
    #[derive(serde::Deserialize)]
    struct Wire {
        panic: bool,
        #[serde(default)]
        context: String,
        message: String,
    }
    match json.map(serde_json::from_str::<Wire>) {
        Some(Ok(w)) if w.panic => Error::Panic {
            context: w.context,
            message: w.message,
        },
        Some(Ok(w)) => Error::Invalid(w.message),
        Some(Err(_)) => Error::Invalid(json.unwrap_or_default().to_string()),
        None => Error::Invalid(format!(
            "plugin call {method} failed without an error message"
        )),
    }
}

fn collected<'a>(ctx: *mut c_void) -> &'a mut Collected {
    // SAFETY: `ctx` is the `Collected` of the call in progress (see `Foreign::call`).
    unsafe { &mut *(ctx as *mut Collected) }
}

unsafe extern "C" fn on_json(ctx: *mut c_void, json: RawStr) {
    // SAFETY: the plugin passes a string valid for this callback.
    collected(ctx).json = Some(unsafe { json.to_str() }.into_owned());
}

unsafe extern "C" fn on_tensor(ctx: *mut c_void, tensor: *mut torch_sys::C_tensor) {
    // SAFETY: the plugin hands over ownership of a live handle.
    collected(ctx)
        .tensors
        .push(unsafe { Tensor::from_ptr(tensor) });
}

unsafe extern "C" fn on_object(ctx: *mut c_void, object: ForeignObject) {
    collected(ctx).objects.push(Foreign::new(object));
}

unsafe extern "C" fn on_error(ctx: *mut c_void, json: RawStr) {
    // SAFETY: the plugin passes a string valid for this callback.
    collected(ctx).error = Some(unsafe { json.to_str() }.into_owned());
}
