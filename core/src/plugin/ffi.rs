//! The C ABI of the plugin boundary: the only types that cross `dlopen`.
//!
//! Everything here is `#[repr(C)]` and made of integers, raw pointers and `extern "C"` function
//! pointers, so its layout depends on neither side's compiler, profile or dependency versions.
//! Structured values (specs, options, plans, training options) cross as JSON text; tensors cross
//! as libtorch handles (`*mut C_tensor`, the `torch::Tensor*` that tch's `Tensor` wraps), never
//! copied. Every component object is one [`ForeignObject`]: an opaque pointer, one `call` entry
//! point that dispatches on a method name, and `drop`. Adding a trait method therefore changes no
//! type here: it is a new method name served on the plugin side and called on the host side
//! (see `kinds/`).
//!
//! Ownership: memory is freed by the side that allocated it. Strings and request tensors are
//! borrowed for the duration of one call. A tensor handed to [`Reply::tensor`] becomes the
//! receiver's (it frees it with `at_free`, as `Tensor::drop` does); a [`ForeignObject`] handed
//! to [`Reply::object`] becomes the host's, which calls its `drop` exactly once.

use std::ffi::c_void;
use torch_sys::C_tensor;

/// A borrowed UTF-8 string: pointer and length, valid for one call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RawStr {
    pub ptr: *const u8,
    pub len: usize,
}

impl RawStr {
    /// A view of `s`; `s` must outlive every use of the view.
    pub const fn new(s: &str) -> Self {
        RawStr {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// The string, with invalid UTF-8 replaced.
    ///
    /// # Safety
    /// `ptr` must point at `len` readable bytes that outlive `'a`.
    pub unsafe fn to_str<'a>(self) -> std::borrow::Cow<'a, str> {
        if self.ptr.is_null() || self.len == 0 {
            return std::borrow::Cow::Borrowed("");
        }
        // SAFETY: the caller's contract.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        String::from_utf8_lossy(bytes)
    }
}

// SAFETY: a RawStr in a static header points at static, immutable data.
unsafe impl Sync for RawStr {}

/// What a call returns: this status, and what it passed to its [`Reply`].
pub const OK: u32 = 0;
/// The call failed; it passed the error to [`Reply::error`].
pub const FAILED: u32 = 1;

/// The arguments of one call: JSON text and borrowed tensor handles.
#[repr(C)]
pub struct Request {
    pub json: RawStr,
    pub tensors: *const *mut C_tensor,
    pub n_tensors: usize,
}

/// Where a call puts its results; implemented by the caller.
#[repr(C)]
pub struct Reply {
    pub ctx: *mut c_void,
    /// The call's JSON result (at most once).
    pub json: unsafe extern "C" fn(ctx: *mut c_void, json: RawStr),
    /// A result tensor; the handle becomes the caller's.
    pub tensor: unsafe extern "C" fn(ctx: *mut c_void, tensor: *mut C_tensor),
    /// A result object; it becomes the caller's.
    pub object: unsafe extern "C" fn(ctx: *mut c_void, object: ForeignObject),
    /// The error, as JSON `{"panic": bool, "context": str, "message": str}`.
    pub error: unsafe extern "C" fn(ctx: *mut c_void, json: RawStr),
}

/// Calls a method of an object: `call(obj, method, request, reply)` returns [`OK`] or [`FAILED`].
pub type CallFn =
    unsafe extern "C" fn(obj: *mut c_void, method: RawStr, request: &Request, reply: &Reply) -> u32;

/// A component (or a component's constructor) living in a plugin.
#[repr(C)]
pub struct ForeignObject {
    pub obj: *mut c_void,
    pub call: CallFn,
    pub drop: unsafe extern "C" fn(obj: *mut c_void),
}

/// What the host hands a plugin's `register`: a sink for the plugin's components.
#[repr(C)]
pub struct HostRegistrar {
    pub ctx: *mut c_void,
    /// Adds one component: `kind` is a [`crate::ComponentKind`] code, `factory` an object whose
    /// method `build` constructs it. Returns [`FAILED`] when the host refuses it (the host keeps
    /// its own error); the plugin then stops registering.
    pub add: unsafe extern "C" fn(
        ctx: *mut c_void,
        kind: u32,
        name: RawStr,
        description: RawStr,
        factory: ForeignObject,
    ) -> u32,
}

/// A plugin's `register` entry point.
pub type RegisterFn = unsafe extern "C" fn(host: &HostRegistrar, reply: &Reply) -> u32;
