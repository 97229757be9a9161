//! The plugin side of a call: turns a component object into a [`ForeignObject`] whose `call`
//! unpacks the request, runs the method under [`guard`], and packs the reply. Runs in the
//! plugin's own copy of `nnunet-core`.

use super::ffi::{FAILED, ForeignObject, OK, RawStr, Reply, Request};
use super::guard;
use crate::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use tch::Tensor;

/// A plugin-side object the host can call: one `match` on the method name.
pub(crate) trait Served: Send + 'static {
    /// What it is, for error messages ("loss", "network factory").
    const WHAT: &'static str;
    /// Runs `method`. `this` is valid for the call; `&mut` access is allowed only in methods the
    /// host calls through `&mut self` (the host then has exclusive access).
    ///
    /// # Safety
    /// `this` points at a live `Self` made by [`export`].
    unsafe fn serve(this: *mut Self, method: &str, input: &Incoming, out: &Outgoing) -> Result<()>;
}

/// A call's arguments: its JSON and its tensors, borrowed from the host (never freed here).
pub(crate) struct Incoming<'a> {
    json: std::borrow::Cow<'a, str>,
    tensors: Vec<ManuallyDrop<Tensor>>,
}

impl Incoming<'_> {
    /// The JSON arguments as `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.json)
            .map_err(|e| Error::Invalid(format!("plugin boundary: malformed arguments: {e}")))
    }

    /// The `index`-th tensor argument.
    pub fn tensor(&self, index: usize) -> Result<&Tensor> {
        self.tensors.get(index).map(|t| &**t).ok_or_else(|| {
            Error::Invalid(format!("plugin boundary: missing tensor argument {index}"))
        })
    }
}

/// Where a method puts its results.
pub(crate) struct Outgoing<'a> {
    reply: &'a Reply,
}

impl Outgoing<'_> {
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let text = serde_json::to_string(value)
            .map_err(|e| Error::Invalid(format!("plugin boundary: cannot encode reply: {e}")))?;
        // SAFETY: the host's callback copies the string before returning.
        unsafe { (self.reply.json)(self.reply.ctx, RawStr::new(&text)) };
        Ok(())
    }

    /// Hands `tensor` to the host, which then owns its handle (no copy of the data).
    pub fn tensor(&self, tensor: Tensor) {
        let mut tensor = ManuallyDrop::new(tensor);
        // SAFETY: the handle's ownership moves to the host, which frees it once.
        unsafe { (self.reply.tensor)(self.reply.ctx, tensor.as_mut_ptr()) };
    }

    /// Hands a new object to the host, which then owns it.
    pub fn object(&self, object: ForeignObject) {
        // SAFETY: the object's ownership moves to the host.
        unsafe { (self.reply.object)(self.reply.ctx, object) };
    }
}

/// Boxes `value` behind the C ABI.
pub(crate) fn export<S: Served>(value: S) -> ForeignObject {
    ForeignObject {
        obj: Box::into_raw(Box::new(value)) as *mut c_void,
        call: call::<S>,
        drop: drop_object::<S>,
    }
}

unsafe extern "C" fn call<S: Served>(
    obj: *mut c_void,
    method: RawStr,
    request: &Request,
    reply: &Reply,
) -> u32 {
    // Nothing may unwind out of an `extern "C"` function: everything runs under catch_unwind.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host passes the method name and request for the duration of the call.
        let method = unsafe { method.to_str() };
        let input = unsafe { incoming(request) };
        let out = Outgoing { reply };
        let context = format!("{} {method}", S::WHAT);
        // SAFETY: `obj` is the pointer `export` made; the host keeps it alive.
        guard(&context, || unsafe {
            S::serve(obj as *mut S, &method, &input, &out)
        })
    }));
    match outcome {
        Ok(Ok(())) => OK,
        Ok(Err(error)) => {
            send_error(reply, &error);
            FAILED
        }
        Err(_) => FAILED,
    }
}

unsafe extern "C" fn drop_object<S: Served>(obj: *mut c_void) {
    // A panicking Drop is contained here; the object is then leaked, never unwound into the host.
    // SAFETY: `obj` came from `export` and the host drops it exactly once.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        drop(unsafe { Box::from_raw(obj as *mut S) })
    }));
}

/// # Safety
/// `request` and what it points at are valid for the call.
unsafe fn incoming(request: &Request) -> Incoming<'_> {
    let handles: &[*mut torch_sys::C_tensor] = if request.n_tensors == 0 {
        &[]
    } else {
        // SAFETY: the host passes `n_tensors` live handles.
        unsafe { std::slice::from_raw_parts(request.tensors, request.n_tensors) }
    };
    Incoming {
        // SAFETY: the caller's contract.
        json: unsafe { request.json.to_str() },
        // Borrowed handles: wrapped without a refcount, and never dropped here.
        tensors: handles
            .iter()
            .map(|&h| ManuallyDrop::new(unsafe { Tensor::from_ptr(h) }))
            .collect(),
    }
}

/// Sends `error` to the host as `{"panic", "context", "message"}`.
pub(crate) fn send_error(reply: &Reply, error: &Error) {
    let json = match error {
        Error::Panic { context, message } => {
            serde_json::json!({ "panic": true, "context": context, "message": message })
        }
        other => serde_json::json!({ "panic": false, "message": other.to_string() }),
    };
    let text = json.to_string();
    // SAFETY: the host's callback copies the string before returning.
    unsafe { (reply.error)(reply.ctx, RawStr::new(&text)) };
}

/// The error for a method this plugin does not know (a host newer than the plugin).
pub(crate) fn unknown_method(what: &str, method: &str) -> Error {
    Error::Invalid(format!(
        "this plugin's {what} has no method {method:?}: it was built for another nnunet-core; \
         rebuild it"
    ))
}
