//! A batch as plain arrays, and its conversion to tch tensors for the trainer.

use nnunet_core::Result;
use nnunet_core::tch::{Device, Tensor};

/// One segmentation target of a batch: `(B, 1, *spatial)` labels.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetBatch {
    pub data: Vec<i16>,
    pub shape: Vec<usize>,
}

/// A batch: network input `(B, C, *spatial)` and one target per deep-supervision output
/// (full resolution first).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Position of the batch in the run's sequence (its seed).
    pub index: u64,
    pub data: Vec<f32>,
    pub data_shape: Vec<usize>,
    pub targets: Vec<TargetBatch>,
    /// Case identifier of each sample.
    pub keys: Vec<String>,
}

fn dims(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&s| s as i64).collect()
}

/// A host array as a tensor on `device`. On CUDA the array is first copied into page-locked
/// (pinned) host memory and the upload is asynchronous, as nnU-Net's data loader with
/// `pin_memory=True` and `.to(device, non_blocking=True)`: the copy overlaps the GPU's work on
/// the previous batch instead of stalling the training loop. libtorch's caching host allocator
/// keeps the pinned block alive until the copy has finished.
fn upload<T: nnunet_core::tch::kind::Element>(
    values: &[T],
    shape: &[usize],
    device: Device,
) -> Result<Tensor> {
    let host = Tensor::f_from_slice(values)?.f_reshape(dims(shape))?;
    if !device.is_cuda() {
        return Ok(host.f_to_device(device)?);
    }
    let pinned = host.f_pin_memory(device)?;
    Ok(pinned.f_to_device_(device, pinned.kind(), true, false)?)
}

impl Batch {
    /// The input as a float tensor and the targets as int16 tensors on `device`.
    pub fn to_tensors(&self, device: Device) -> Result<(Tensor, Vec<Tensor>)> {
        let data = upload(&self.data, &self.data_shape, device)?;
        let targets = self
            .targets
            .iter()
            .map(|t| upload(&t.data, &t.shape, device))
            .collect::<Result<Vec<_>>>()?;
        Ok((data, targets))
    }
}
