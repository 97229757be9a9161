//! SegResNet (Myronenko, 2018; MONAI's `SegResNet` without the VAE branch): a 3×3 stem to
//! `init_filters` channels, encoder levels of pre-activation residual blocks (GroupNorm with 8
//! groups → ReLU → conv, twice, plus the input) that double the channels with a strided conv,
//! and a decoder that halves them with a 1×1 conv and linear up-sampling, adds the encoder's
//! features and runs its own residual blocks; a GroupNorm → ReLU → 1×1 conv head.
//!
//! Options (MONAI's constructor arguments): `init_filters` (16), `blocks_down` ([1, 2, 2, 4]),
//! `blocks_up` ([1, 1, 1]). A patch side must be divisible by 2^(levels − 1), or the
//! up-sampled features would not meet the encoder's. No deep supervision: one output always.

use crate::layers::{Conv, ConvShape, monai_conv};
use crate::options::{Given, check_dims, check_divisible, plans_patch};
use nnunet_core::tch::{Tensor, nn};
use nnunet_core::{Network, NetworkSpec, Result};

pub const NAME: &str = "SegResNet";
const GROUPS: i64 = 8;

/// MONAI's GroupNorm (8 groups, eps 1e-5, affine).
struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
}

impl GroupNorm {
    fn new(path: &nn::Path, channels: i64) -> Result<GroupNorm> {
        Ok(GroupNorm {
            weight: path.f_var("weight", &[channels], nn::Init::Const(1.0))?,
            bias: path.f_var("bias", &[channels], nn::Init::Const(0.0))?,
        })
    }

    /// Norm then ReLU.
    fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        Ok(
            x.f_group_norm(GROUPS, Some(&self.weight), Some(&self.bias), 1e-5, false)?
                .f_relu()?,
        )
    }
}

/// MONAI's segresnet `ResBlock`.
struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv,
    norm2: GroupNorm,
    conv2: Conv,
}

impl ResBlock {
    fn new(path: &nn::Path, dims: usize, channels: i64) -> Result<ResBlock> {
        let conv =
            |name: &str| monai_conv(&(path / name), dims, channels, channels, ConvShape::same(3));
        Ok(ResBlock {
            norm1: GroupNorm::new(&(path / "norm1"), channels)?,
            conv1: conv("conv1")?,
            norm2: GroupNorm::new(&(path / "norm2"), channels)?,
            conv2: conv("conv2")?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&self.norm1.forward_relu(x)?)?;
        let h = self.conv2.forward(&self.norm2.forward_relu(&h)?)?;
        Ok(h + x)
    }
}

fn run(blocks: &[ResBlock], mut x: Tensor) -> Result<Tensor> {
    for block in blocks {
        x = block.forward(&x)?;
    }
    Ok(x)
}

pub struct SegResNet {
    dims: usize,
    conv_init: Conv,
    /// `down[i]`: the strided conv into level `i` (none at level 0), then its blocks.
    down: Vec<(Option<Conv>, Vec<ResBlock>)>,
    /// `up[i]`: the 1×1 conv before up-sampling, then the blocks after the skip.
    up: Vec<(Conv, Vec<ResBlock>)>,
    final_norm: GroupNorm,
    final_conv: Conv,
    head_name: String,
    divisor: i64,
}

impl SegResNet {
    pub fn new(path: &nn::Path, spec: &NetworkSpec) -> Result<SegResNet> {
        let dims = check_dims(NAME, spec)?;
        let given = Given::parse(
            NAME,
            &spec.options,
            &["init_filters", "blocks_down", "blocks_up"],
        )?;
        let filters = given.int("init_filters", 16)?;
        let blocks_down = given.ints("blocks_down", &[1, 2, 2, 4])?;
        let blocks_up = given.ints("blocks_up", &[1, 1, 1])?;
        if blocks_up.len() + 1 != blocks_down.len() {
            return Err(given.invalid(format!(
                "blocks_up needs one entry fewer than blocks_down, got {blocks_up:?} and {blocks_down:?}"
            )));
        }
        if filters % GROUPS != 0 {
            return Err(given.invalid(format!(
                "init_filters must be divisible by the {GROUPS} norm groups, got {filters}"
            )));
        }
        let divisor = 1 << blocks_up.len();
        plans_patch(NAME, spec, divisor)?;
        let conv_init = monai_conv(
            &(path / "convInit"),
            dims,
            spec.in_channels,
            filters,
            ConvShape::same(3),
        )?;
        let blocks = |p: &nn::Path, first: usize, n: i64, c: i64| -> Result<Vec<ResBlock>> {
            (0..n as usize)
                .map(|j| ResBlock::new(&(p / (first + j)), dims, c))
                .collect()
        };
        let mut down = Vec::new();
        for (i, &n) in blocks_down.iter().enumerate() {
            let p = path / "down_layers" / i;
            let c = filters << i;
            let stride = ConvShape {
                stride: 2,
                ..ConvShape::same(3)
            };
            let pre = match i {
                0 => None,
                _ => Some(monai_conv(&(&p / 0), dims, c / 2, c, stride)?),
            };
            down.push((pre, blocks(&p, 1, n, c)?));
        }
        let mut up = Vec::new();
        let n_up = blocks_up.len();
        for (i, &n) in blocks_up.iter().enumerate() {
            let c = filters << (n_up - i);
            let conv = monai_conv(
                &(path / "up_samples" / i / 0),
                dims,
                c,
                c / 2,
                ConvShape::same(1),
            )?;
            up.push((conv, blocks(&(path / "up_layers" / i), 0, n, c / 2)?));
        }
        let head = path / "conv_final";
        let final_conv = Conv::new(
            &(&head / 2 / "conv"),
            dims,
            filters,
            spec.num_outputs,
            ConvShape {
                bias: true,
                ..ConvShape::same(1)
            },
        )?;
        Ok(SegResNet {
            dims,
            conv_init,
            down,
            up,
            final_norm: GroupNorm::new(&(&head / 0), filters)?,
            final_conv,
            head_name: head.path("2"),
            divisor,
        })
    }

    /// Linear 2× up-sampling, `align_corners=False` (MONAI's non-trainable `UpSample`).
    fn upsample(&self, x: &Tensor) -> Result<Tensor> {
        let size: Vec<i64> = x.size()[2..].iter().map(|&s| 2 * s).collect();
        Ok(match self.dims {
            2 => x.f_upsample_bilinear2d(&size, false, 2.0, 2.0)?,
            _ => x.f_upsample_trilinear3d(&size, false, 2.0, 2.0, 2.0)?,
        })
    }
}

impl Network for SegResNet {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Result<Vec<Tensor>> {
        check_divisible(NAME, "the input", &x.size()[2..], self.divisor)?;
        let mut h = self.conv_init.forward(x)?;
        let mut skips = Vec::new();
        for (pre, blocks) in &self.down {
            if let Some(conv) = pre {
                h = conv.forward(&h)?;
            }
            h = run(blocks, h)?;
            skips.push(h.shallow_clone());
        }
        skips.pop();
        for (conv, blocks) in &self.up {
            let skip = skips.pop().expect("one skip per up level");
            h = run(blocks, self.upsample(&conv.forward(&h)?)? + skip)?;
        }
        let out = self
            .final_conv
            .forward(&self.final_norm.forward_relu(&h)?)?;
        Ok(vec![out])
    }

    /// MONAI's SegResNet has no deep supervision: one output either way.
    fn set_deep_supervision(&mut self, _enabled: bool) -> Result<()> {
        Ok(())
    }

    fn head_parameter_prefixes(&self) -> Vec<String> {
        vec![self.head_name.clone()]
    }
}
