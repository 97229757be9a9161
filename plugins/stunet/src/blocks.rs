//! STU-Net's building blocks: `BasicResBlock` (3³ conv → InstanceNorm → LeakyReLU → 3³ conv →
//! InstanceNorm, plus the input — through a strided 1×1 conv where the width or resolution
//! changes — then LeakyReLU) and `Upsample_Layer_nearest` (nearest-neighbour upsampling by the
//! stride, then a 1×1 conv).
//!
//! Tensor names are the reference's (`conv1`, `norm1`, `conv2`, `norm2`, `conv3`, `conv`);
//! initialisation is PyTorch's default, as the reference leaves it (uniform ±1/√fan-in for conv
//! weights and biases, InstanceNorm weight 1 and bias 0).

use nnunet_core::Result;
use nnunet_core::tch::Tensor;
use nnunet_core::tch::nn::{self, Init, Module};

/// InstanceNorm3d's default epsilon.
const NORM_EPS: f64 = 1e-5;

/// A 3D convolution with bias: cubic `kernel`, padding `kernel / 2`, per-axis `stride`.
pub fn conv(path: &nn::Path, cin: i64, cout: i64, kernel: i64, stride: [i64; 3]) -> nn::Conv3D {
    let bound = 1.0 / ((cin * kernel * kernel * kernel) as f64).sqrt();
    let init = Init::Uniform {
        lo: -bound,
        up: bound,
    };
    let config = nn::ConvConfigND::<[i64; 3]> {
        stride,
        padding: [kernel / 2; 3],
        dilation: [1; 3],
        groups: 1,
        bias: true,
        ws_init: init,
        bs_init: init,
        padding_mode: nn::PaddingMode::Zeros,
    };
    nn::conv(path, cin, cout, [kernel; 3], config)
}

/// InstanceNorm3d with affine parameters and no running statistics.
struct InstanceNorm {
    weight: Tensor,
    bias: Tensor,
}

impl InstanceNorm {
    fn new(path: &nn::Path, channels: i64) -> Result<InstanceNorm> {
        Ok(InstanceNorm {
            weight: path.f_var("weight", &[channels], Init::Const(1.0))?,
            bias: path.f_var("bias", &[channels], Init::Const(0.0))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_instance_norm(
            Some(&self.weight),
            Some(&self.bias),
            None::<&Tensor>,
            None::<&Tensor>,
            true,
            0.1,
            NORM_EPS,
            true, // PyTorch passes torch.backends.cudnn.enabled
        )?)
    }
}

/// `BasicResBlock`.
pub struct ResBlock {
    conv1: nn::Conv3D,
    norm1: InstanceNorm,
    conv2: nn::Conv3D,
    norm2: InstanceNorm,
    /// The 1×1 projection of the input (`use_1x1conv`): first block of every stage.
    conv3: Option<nn::Conv3D>,
}

impl ResBlock {
    pub fn new(
        path: &nn::Path,
        cin: i64,
        cout: i64,
        stride: [i64; 3],
        project: bool,
    ) -> Result<Self> {
        Ok(ResBlock {
            conv1: conv(&(path / "conv1"), cin, cout, 3, stride),
            norm1: InstanceNorm::new(&(path / "norm1"), cout)?,
            conv2: conv(&(path / "conv2"), cout, cout, 3, [1; 3]),
            norm2: InstanceNorm::new(&(path / "norm2"), cout)?,
            conv3: project.then(|| conv(&(path / "conv3"), cin, cout, 1, stride)),
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.norm1.forward(&self.conv1.forward(x))?.f_leaky_relu()?;
        let y = self.norm2.forward(&self.conv2.forward(&y))?;
        let residual = match &self.conv3 {
            Some(conv3) => conv3.forward(x),
            None => x.shallow_clone(),
        };
        Ok(y.f_add(&residual)?.f_leaky_relu()?)
    }
}

/// A stage: blocks run in order.
pub fn run_stage(blocks: &[ResBlock], x: &Tensor) -> Result<Tensor> {
    blocks
        .iter()
        .try_fold(x.shallow_clone(), |h, block| block.forward(&h))
}

/// `Upsample_Layer_nearest`: nearest-neighbour upsampling by `scale`, then a 1×1 conv.
pub struct Upsample {
    conv: nn::Conv3D,
    scale: [i64; 3],
}

impl Upsample {
    pub fn new(path: &nn::Path, cin: i64, cout: i64, scale: [i64; 3]) -> Upsample {
        Upsample {
            conv: conv(&(path / "conv"), cin, cout, 1, [1; 3]),
            scale,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let size = x.size();
        let out: Vec<i64> = (0..3).map(|a| size[a + 2] * self.scale[a]).collect();
        let [d, h, w] = self.scale.map(|s| s as f64);
        let up = x.f_upsample_nearest3d(&out, d, h, w)?;
        Ok(self.conv.forward(&up))
    }
}
