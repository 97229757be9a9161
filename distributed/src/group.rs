//! The process group: PyTorch's c10d `TCPStore` rendezvous and `ProcessGroupGloo` (CPU) or
//! `ProcessGroupNCCL` (CUDA, with the `nccl` feature), reached through `cpp/shim.cpp`. Owns the
//! FFI and turns every C++ failure into an error that names this rank.

use crate::rendezvous::Rendezvous;
use nnunet_core::tch::{Device, Tensor};
use nnunet_core::{Error, Result};
use std::ffi::{CStr, CString, c_char};
use std::time::Duration;

#[repr(C)]
struct NnDdp {
    _private: [u8; 0],
}

type Tensor_ = torch_sys::C_tensor;

unsafe extern "C" {
    fn nnddp_free_error(error: *mut c_char);
    fn nnddp_has_nccl() -> i32;
    fn nnddp_new(
        host: *const c_char,
        port: u16,
        rank: i32,
        size: i32,
        timeout_ms: i64,
        backend: *const c_char,
        out: *mut *mut NnDdp,
    ) -> *mut c_char;
    fn nnddp_free(ddp: *mut NnDdp);
    fn nnddp_allreduce_mean(ddp: *mut NnDdp, tensors: *mut *mut Tensor_, n: usize) -> *mut c_char;
    fn nnddp_allreduce_sum(ddp: *mut NnDdp, tensors: *mut *mut Tensor_, n: usize) -> *mut c_char;
    fn nnddp_allreduce_sum_f64(
        ddp: *mut NnDdp,
        values: *mut f64,
        n: usize,
        device: *mut Tensor_,
    ) -> *mut c_char;
    fn nnddp_broadcast(
        ddp: *mut NnDdp,
        tensors: *mut *mut Tensor_,
        n: usize,
        root: i32,
    ) -> *mut c_char;
    fn nnddp_barrier(ddp: *mut NnDdp) -> *mut c_char;
}

/// Which c10d backend carries the collectives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// ProcessGroupGloo: CPU tensors.
    Gloo,
    /// ProcessGroupNCCL: CUDA tensors (builds with the `nccl` feature).
    Nccl,
}

impl Backend {
    /// NCCL for CUDA devices, Gloo otherwise (as torchrun users pick).
    pub fn for_device(device: Device) -> Backend {
        if device.is_cuda() {
            Backend::Nccl
        } else {
            Backend::Gloo
        }
    }

    fn name(self) -> &'static str {
        match self {
            Backend::Gloo => "gloo",
            Backend::Nccl => "nccl",
        }
    }
}

/// Whether this build has the NCCL process group.
pub fn has_nccl() -> bool {
    // SAFETY: a constant query.
    unsafe { nnddp_has_nccl() != 0 }
}

/// One rank's membership of the group. Every collective must be called by every rank in the
/// same order (c10d's rule); a rank that died makes the others' next collective fail within the
/// timeout instead of hanging.
pub struct ProcessGroup {
    raw: *mut NnDdp,
    rank: usize,
    world_size: usize,
    device: Device,
}

// SAFETY: the c10d process group is used from one thread at a time (`&mut self` or by the
// training thread only); moving the handle between threads is what c10d allows.
unsafe impl Send for ProcessGroup {}

impl ProcessGroup {
    /// Rendezvous with the other ranks at `MASTER_ADDR:MASTER_PORT` and builds the group for
    /// `device`'s backend.
    pub fn join(rdv: &Rendezvous, device: Device, timeout: Duration) -> Result<ProcessGroup> {
        let backend = Backend::for_device(device);
        if backend == Backend::Nccl && !has_nccl() {
            return Err(Error::Invalid(format!(
                "rank {}: {device:?} needs the NCCL process group, and this binary was built \
                 without it (cargo build --features nnunet-distributed/nccl)",
                rdv.rank
            )));
        }
        let host = CString::new(rdv.master_addr.clone())
            .map_err(|_| Error::Invalid("MASTER_ADDR contains a NUL byte".into()))?;
        let name = CString::new(backend.name()).expect("no NUL");
        let mut raw = std::ptr::null_mut();
        // SAFETY: valid C strings, an out pointer; the shim catches every C++ exception.
        let err = unsafe {
            nnddp_new(
                host.as_ptr(),
                rdv.master_port,
                rdv.rank as i32,
                rdv.world_size as i32,
                timeout.as_millis() as i64,
                name.as_ptr(),
                &mut raw,
            )
        };
        check(err, rdv.rank, "rendezvous")?;
        Ok(ProcessGroup {
            raw,
            rank: rdv.rank,
            world_size: rdv.world_size,
            device,
        })
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// Averages the tensors across ranks in place (one flattened all-reduce).
    pub fn all_reduce_mean(&mut self, tensors: &mut [Tensor]) -> Result<()> {
        let mut handles: Vec<*mut Tensor_> = tensors.iter_mut().map(|t| t.as_mut_ptr()).collect();
        // SAFETY: live tensor handles for the duration of the call.
        let err = unsafe { nnddp_allreduce_mean(self.raw, handles.as_mut_ptr(), handles.len()) };
        check(err, self.rank, "all-reduce of the gradients")
    }

    /// Sums the tensors (of one dtype, on the group's device) across ranks in place, in one
    /// flattened all-reduce (no autograd: the tensors are overwritten).
    pub fn all_reduce_sum_tensors(&mut self, tensors: &mut [Tensor]) -> Result<()> {
        let mut handles: Vec<*mut Tensor_> = tensors.iter_mut().map(|t| t.as_mut_ptr()).collect();
        // SAFETY: live tensor handles for the duration of the call.
        let err = unsafe { nnddp_allreduce_sum(self.raw, handles.as_mut_ptr(), handles.len()) };
        check(err, self.rank, "all-reduce of the batch Dice counts")
    }

    /// Sums the values across ranks in place.
    pub fn all_reduce_sum(&mut self, values: &mut [f64]) -> Result<()> {
        let mut probe = Tensor::zeros([1], (nnunet_core::tch::Kind::Float, self.device));
        // SAFETY: `values` and `probe` live for the call; the shim copies in and out.
        let err = unsafe {
            nnddp_allreduce_sum_f64(
                self.raw,
                values.as_mut_ptr(),
                values.len(),
                probe.as_mut_ptr(),
            )
        };
        check(err, self.rank, "all-reduce of the metrics")
    }

    /// Copies rank `root`'s tensors into every rank's (no autograd).
    pub fn broadcast(&mut self, tensors: &mut [Tensor], root: usize) -> Result<()> {
        let mut handles: Vec<*mut Tensor_> = tensors.iter_mut().map(|t| t.as_mut_ptr()).collect();
        // SAFETY: live tensor handles for the duration of the call.
        let err =
            unsafe { nnddp_broadcast(self.raw, handles.as_mut_ptr(), handles.len(), root as i32) };
        check(err, self.rank, "broadcast of the weights")
    }

    /// Waits until every rank got here.
    pub fn barrier(&mut self) -> Result<()> {
        // SAFETY: a live group.
        let err = unsafe { nnddp_barrier(self.raw) };
        check(err, self.rank, "barrier")
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: created by nnddp_new, freed once.
        unsafe { nnddp_free(self.raw) }
    }
}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProcessGroup(rank {}/{})", self.rank, self.world_size)
    }
}

fn check(err: *mut c_char, rank: usize, what: &str) -> Result<()> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: a NUL-terminated message the shim allocated; freed here once.
    let text = unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .into_owned();
    unsafe { nnddp_free_error(err) };
    Err(Error::Invalid(format!(
        "rank {rank}: {what} failed (another rank died or timed out?): {}",
        text.trim()
    )))
}
