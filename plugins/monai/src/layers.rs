//! The MONAI building blocks the three networks share: convolutions of either dimension (plain
//! or transposed, MONAI's `Convolution` with `conv_only`), linear layers, layer norms and the
//! MLP, and the dynamic-U-Net blocks UNETR and SwinUNETR decode with (`UnetResBlock`,
//! `UnetrUpBlock`, `UnetrPrUpBlock`, `UnetOutBlock`).
//!
//! Tensor names follow MONAI's modules (a `Convolution` keeps its weight under `conv.`), so
//! MONAI state dicts map one to one. Initialisation is PyTorch's default (uniform ±1/√fan_in);
//! MONAI's instance norms have no affine parameters and so no tensors.

use nnunet_core::Result;
use nnunet_core::tch::{Tensor, nn};

/// Uniform ±1/√`fan_in`, PyTorch's default for weights and biases.
pub fn default_init(fan_in: i64) -> nn::Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// How a [`Conv`] is shaped: cubic kernel, stride, bias, transposed.
#[derive(Clone, Copy)]
pub struct ConvShape {
    pub kernel: i64,
    pub stride: i64,
    pub bias: bool,
    pub transposed: bool,
}

impl ConvShape {
    /// `kernel`³ with stride 1, "same" padding, no bias (MONAI's `get_conv_layer` default).
    pub const fn same(kernel: i64) -> ConvShape {
        ConvShape {
            kernel,
            stride: 1,
            bias: false,
            transposed: false,
        }
    }

    /// A transposed convolution with kernel and stride `factor`, no bias (up-sampling).
    pub const fn up(factor: i64) -> ConvShape {
        ConvShape {
            kernel: factor,
            stride: factor,
            bias: false,
            transposed: true,
        }
    }
}

/// A convolution over `dims` spatial dimensions; its tensors live directly under its path.
pub struct Conv {
    weight: Tensor,
    bias: Option<Tensor>,
    dims: usize,
    shape: ConvShape,
}

impl Conv {
    pub fn new(
        path: &nn::Path,
        dims: usize,
        cin: i64,
        cout: i64,
        shape: ConvShape,
    ) -> Result<Conv> {
        let mut size = if shape.transposed {
            vec![cin, cout]
        } else {
            vec![cout, cin]
        };
        size.extend(std::iter::repeat_n(shape.kernel, dims));
        let init = default_init(size[1..].iter().product());
        let weight = path.f_var("weight", &size, init)?;
        let bias = match shape.bias {
            true => Some(path.f_var("bias", &[cout], init)?),
            false => None,
        };
        Ok(Conv {
            weight,
            bias,
            dims,
            shape,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let n = |v: i64| vec![v; self.dims];
        // MONAI's same padding for odd kernels; none for the strided (transposed) resamplers,
        // whose kernel equals their stride.
        let padding = if self.shape.kernel == self.shape.stride {
            0
        } else {
            (self.shape.kernel - 1) / 2
        };
        Ok(x.f_convolution(
            &self.weight,
            self.bias.as_ref(),
            n(self.shape.stride),
            n(padding),
            n(1),
            self.shape.transposed,
            n(0),
            1,
        )?)
    }
}

/// MONAI's `Convolution` module: the convolution under `<path>.conv`.
pub fn monai_conv(
    path: &nn::Path,
    dims: usize,
    cin: i64,
    cout: i64,
    shape: ConvShape,
) -> Result<Conv> {
    Conv::new(&(path / "conv"), dims, cin, cout, shape)
}

/// Instance norm without affine parameters (MONAI's `"instance"`), eps 1e-5.
pub fn instance_norm(x: &Tensor) -> Result<Tensor> {
    Ok(x.f_instance_norm::<Tensor>(None, None, None, None, true, 0.1, 1e-5, false)?)
}

/// `torch.nn.Linear`.
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn new(path: &nn::Path, cin: i64, cout: i64, bias: bool) -> Result<Linear> {
        let init = default_init(cin);
        Ok(Linear {
            weight: path.f_var("weight", &[cout, cin], init)?,
            bias: match bias {
                true => Some(path.f_var("bias", &[cout], init)?),
                false => None,
            },
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_linear(&self.weight, self.bias.as_ref())?)
    }
}

/// Queries, keys and values per head from a fused qkv projection `(b, n, 3·c)` — `(b, heads, n,
/// c / heads)` each — and the attention scale 1/√(c / heads): MONAI's layout in both its ViT
/// (`SABlock`) and Swin (`WindowAttention`) attention.
pub fn split_heads(qkv: &Tensor, heads: i64) -> Result<(Tensor, Tensor, Tensor, f64)> {
    let (b, n, c3) = qkv.size3()?;
    let c = c3 / 3;
    let qkv = qkv
        .f_reshape([b, n, 3, heads, c / heads])?
        .f_permute([2, 0, 3, 1, 4])?;
    let scale = ((c / heads) as f64).powf(-0.5);
    Ok((qkv.get(0), qkv.get(1), qkv.get(2), scale))
}

/// `torch.nn.LayerNorm` over the last axis, eps 1e-5.
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    channels: i64,
}

impl LayerNorm {
    pub fn new(path: &nn::Path, channels: i64) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: path.f_var("weight", &[channels], nn::Init::Const(1.0))?,
            bias: path.f_var("bias", &[channels], nn::Init::Const(0.0))?,
            channels,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_layer_norm(
            [self.channels],
            Some(&self.weight),
            Some(&self.bias),
            1e-5,
            false,
        )?)
    }
}

/// MONAI's `MLPBlock`: `linear1` → GELU → `linear2`.
pub struct Mlp {
    linear1: Linear,
    linear2: Linear,
}

impl Mlp {
    pub fn new(path: &nn::Path, channels: i64, hidden: i64) -> Result<Mlp> {
        Ok(Mlp {
            linear1: Linear::new(&(path / "linear1"), channels, hidden, true)?,
            linear2: Linear::new(&(path / "linear2"), hidden, channels, true)?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.linear2
            .forward(&self.linear1.forward(x)?.f_gelu("none")?)
    }
}

/// MONAI's `UnetResBlock` with instance norm: conv → norm → leaky ReLU → conv → norm, plus the
/// input (through a 1×1 conv and norm when the channels change), then leaky ReLU.
pub struct ResBlock {
    conv1: Conv,
    conv2: Conv,
    conv3: Option<Conv>,
}

impl ResBlock {
    pub fn new(path: &nn::Path, dims: usize, cin: i64, cout: i64) -> Result<ResBlock> {
        Ok(ResBlock {
            conv1: monai_conv(&(path / "conv1"), dims, cin, cout, ConvShape::same(3))?,
            conv2: monai_conv(&(path / "conv2"), dims, cout, cout, ConvShape::same(3))?,
            conv3: match cin != cout {
                true => Some(monai_conv(
                    &(path / "conv3"),
                    dims,
                    cin,
                    cout,
                    ConvShape::same(1),
                )?),
                false => None,
            },
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = instance_norm(&self.conv1.forward(x)?)?.f_leaky_relu()?;
        let h = instance_norm(&self.conv2.forward(&h)?)?;
        let residual = match &self.conv3 {
            Some(conv) => instance_norm(&conv.forward(x)?)?,
            None => x.shallow_clone(),
        };
        Ok((h + residual).f_leaky_relu()?)
    }
}

/// MONAI's `UnetrBasicBlock` with `res_block=True`: a [`ResBlock`] under `layer`.
pub fn basic_block(path: &nn::Path, dims: usize, cin: i64, cout: i64) -> Result<ResBlock> {
    ResBlock::new(&(path / "layer"), dims, cin, cout)
}

/// MONAI's `UnetrUpBlock` with `res_block=True`: a 2× transposed conv, concatenation with the
/// skip, a [`ResBlock`] from twice the channels.
pub struct UpBlock {
    transp_conv: Conv,
    conv_block: ResBlock,
}

impl UpBlock {
    pub fn new(path: &nn::Path, dims: usize, cin: i64, cout: i64) -> Result<UpBlock> {
        Ok(UpBlock {
            transp_conv: monai_conv(&(path / "transp_conv"), dims, cin, cout, ConvShape::up(2))?,
            conv_block: ResBlock::new(&(path / "conv_block"), dims, 2 * cout, cout)?,
        })
    }

    pub fn forward(&self, x: &Tensor, skip: &Tensor) -> Result<Tensor> {
        let up = self.transp_conv.forward(x)?;
        self.conv_block.forward(&Tensor::f_cat(&[&up, skip], 1)?)
    }
}

/// MONAI's `UnetrPrUpBlock` with `conv_block=True, res_block=True`: a 2× transposed conv, then
/// `layers` pairs of (2× transposed conv, [`ResBlock`]).
pub struct PrUpBlock {
    init: Conv,
    blocks: Vec<(Conv, ResBlock)>,
}

impl PrUpBlock {
    pub fn new(path: &nn::Path, dims: usize, cin: i64, cout: i64, layers: usize) -> Result<Self> {
        let init = monai_conv(
            &(path / "transp_conv_init"),
            dims,
            cin,
            cout,
            ConvShape::up(2),
        )?;
        let blocks = (0..layers)
            .map(|i| {
                let p = path / "blocks" / i;
                Ok((
                    monai_conv(&(&p / 0), dims, cout, cout, ConvShape::up(2))?,
                    ResBlock::new(&(&p / 1), dims, cout, cout)?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(PrUpBlock { init, blocks })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = self.init.forward(x)?;
        for (up, block) in &self.blocks {
            h = block.forward(&up.forward(&h)?)?;
        }
        Ok(h)
    }
}

/// MONAI's `UnetOutBlock`: a 1×1 conv with bias under `conv.conv`.
pub fn out_block(path: &nn::Path, dims: usize, cin: i64, classes: i64) -> Result<Conv> {
    let shape = ConvShape {
        bias: true,
        ..ConvShape::same(1)
    };
    monai_conv(&(path / "conv"), dims, cin, classes, shape)
}
