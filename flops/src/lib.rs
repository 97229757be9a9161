//! FLOPs of whatever libtorch runs inside a closure: [`count`] installs a thread-local observer
//! on libtorch's dispatcher (a `RecordFunction` callback, `cpp/counter.cpp`), runs the closure,
//! and sums the floating-point operations of the operators it saw with the formulas of
//! `torch.utils.flop_counter.FlopCounterMode`:
//!
//! - convolutions (transposed included): 2 × batch × output positions (input positions when
//!   transposed) × kernel size × input channels per group × output channels;
//! - matrix products (`mm`, `addmm`, `bmm`, `baddbmm`, `_scaled_mm`; `matmul`, `linear` and
//!   `einsum` reach one of these): 2 × m × k × n per batch element;
//! - fused attention (`scaled_dot_product_attention`'s kernels): the two products it fuses,
//!   2 × s_q × s_k × (d_q + d_v) per batch and head.
//!
//! As FlopCounterMode, an operator inside a counted operator is not counted again, and
//! normalisation, activations, pooling, interpolation and element-wise arithmetic count
//! nothing. One deliberate difference: the CPU's fused attention kernel
//! (`_scaled_dot_product_flash_attention_for_cpu`) is counted like the CUDA ones;
//! FlopCounterMode's table lacks it and counts attention on the CPU as zero.
//!
//! Because the observer sits in libtorch, not in a module tree, it counts any network —
//! built in or loaded from a plugin cdylib — without the network's cooperation.

use std::ffi::{CStr, c_char};

unsafe extern "C" {
    fn nnflops_start() -> *mut c_char;
    fn nnflops_stop(totals: *mut u64) -> *mut c_char;
    fn nnflops_free_error(error: *mut c_char);
}

/// Why a count failed.
#[derive(Debug, thiserror::Error)]
#[error("FLOP count: {0}")]
pub struct Error(String);

/// FLOPs counted during one [`count`], by kind of operator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flops {
    pub convolution: u64,
    pub matmul: u64,
    pub attention: u64,
}

impl Flops {
    pub fn total(&self) -> u64 {
        self.convolution + self.matmul + self.attention
    }
}

fn check(error: *mut c_char) -> Result<(), Error> {
    if error.is_null() {
        return Ok(());
    }
    // SAFETY: the shim returns NULL or a NUL-terminated string from malloc, freed here once.
    let text = unsafe { CStr::from_ptr(error) }
        .to_string_lossy()
        .into_owned();
    unsafe { nnflops_free_error(error) };
    Err(Error(text))
}

/// Removes the observer when dropped, so a panicking closure does not leave it installed.
struct Running {
    stopped: bool,
}

impl Running {
    fn stop(mut self) -> Result<Flops, Error> {
        self.stopped = true;
        let mut totals = [0u64; 3];
        // SAFETY: `totals` holds the three values the shim writes.
        check(unsafe { nnflops_stop(totals.as_mut_ptr()) })?;
        Ok(Flops {
            convolution: totals[0],
            matmul: totals[1],
            attention: totals[2],
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.stopped {
            let mut totals = [0u64; 3];
            // SAFETY: as in `stop`; the result of an abandoned count is discarded.
            let _ = check(unsafe { nnflops_stop(totals.as_mut_ptr()) });
        }
    }
}

/// Runs `f` and counts the FLOPs of the libtorch operators it runs on this thread.
///
/// Fails if a count already runs on this thread, or if an operator's shapes could not be read
/// (naming the operator); `f`'s value is returned with the count.
pub fn count<T>(f: impl FnOnce() -> T) -> Result<(T, Flops), Error> {
    // SAFETY: plain call into the shim; it refuses a second count on the thread.
    check(unsafe { nnflops_start() })?;
    let running = Running { stopped: false };
    let value = f();
    Ok((value, running.stop()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    fn zeros(shape: &[i64]) -> Tensor {
        Tensor::zeros(shape, (Kind::Float, Device::Cpu))
    }

    #[test]
    fn a_convolution_counts_twice_its_multiply_accumulates() {
        let x = zeros(&[2, 3, 8, 10, 6]);
        let w = zeros(&[5, 3, 3, 3, 3]);
        let (y, flops) = count(|| x.conv3d::<Tensor>(&w, None, [1], [1], [1], 1)).unwrap();
        assert_eq!(y.size(), [2, 5, 8, 10, 6]);
        assert_eq!(flops.convolution, 2 * 2 * (8 * 10 * 6) * 27 * 3 * 5);
        assert_eq!(flops.total(), flops.convolution);
    }

    #[test]
    fn a_transposed_convolution_counts_over_its_input_positions() {
        let x = zeros(&[1, 4, 3, 5]);
        let w = zeros(&[4, 6, 2, 2]);
        let (y, flops) =
            count(|| x.conv_transpose2d::<Tensor>(&w, None, [2], [0], [0], 1, [1])).unwrap();
        assert_eq!(y.size(), [1, 6, 6, 10]);
        assert_eq!(flops.convolution, 2 * (3 * 5) * 4 * 4 * 6);
    }

    #[test]
    fn grouped_convolution_counts_channels_per_group() {
        let x = zeros(&[1, 8, 7, 7]);
        let w = zeros(&[8, 1, 3, 3]);
        let (_, flops) = count(|| x.conv2d::<Tensor>(&w, None, [1], [1], [1], 8)).unwrap();
        assert_eq!(flops.convolution, 2 * 49 * 9 * 8);
    }

    #[test]
    fn matrix_products_and_attention() {
        let (a, b) = (zeros(&[4, 6, 5]), zeros(&[5, 7]));
        // matmul of a batched matrix by a matrix folds into one mm of (24 × 5) by (5 × 7).
        let (_, flops) = count(|| a.matmul(&b)).unwrap();
        assert_eq!(flops.matmul, 2 * 24 * 5 * 7);
        let w = zeros(&[3, 5]);
        let bias = zeros(&[3]);
        let (_, flops) = count(|| a.linear(&w, Some(&bias))).unwrap();
        assert_eq!(flops.matmul, 2 * 24 * 5 * 3);
        let (q, k, v) = (
            zeros(&[2, 3, 10, 4]),
            zeros(&[2, 3, 12, 4]),
            zeros(&[2, 3, 12, 6]),
        );
        let (_, flops) = count(|| {
            Tensor::scaled_dot_product_attention::<Tensor>(
                &q, &k, &v, None, 0.0, false, None, false,
            )
        })
        .unwrap();
        assert_eq!(flops.attention + flops.matmul, 2 * 6 * 10 * 12 * (4 + 6));
    }

    #[test]
    fn counts_do_not_nest_and_end_with_their_closure() {
        let x = zeros(&[1, 1, 4, 4]);
        let w = zeros(&[1, 1, 1, 1]);
        let (inner, _) = count(|| count(|| ())).unwrap();
        assert!(inner.is_err());
        let (_, flops) = count(|| ()).unwrap();
        assert_eq!(flops, Flops::default());
        let outside = x.conv2d::<Tensor>(&w, None, [1], [0], [1], 1);
        assert_eq!(outside.size(), [1, 1, 4, 4]);
        let result = std::panic::catch_unwind(|| count(|| panic!("inside")));
        assert!(result.is_err());
        // The panicking count removed its observer: a new one starts.
        assert!(count(|| ()).is_ok());
    }
}
