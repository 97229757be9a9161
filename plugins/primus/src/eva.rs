//! Primus' encoder: dynamic_network_architectures' `Eva` with timm's `EvaBlock` as nnU-Net
//! 2.8's Primus trainers configure it — absolute position embedding plus RoPE, separate q/k/v
//! projections (no k bias), a LayerNorm on the attention output before its projection
//! (`scale_attn_inner`), a SwiGLU MLP of width `⌊dim · 8/3⌋` with a LayerNorm inside
//! (`scale_mlp`), LayerScale (`gamma_1`, `gamma_2`) and stochastic depth rising linearly to the
//! drop-path rate, applied only while training.
//!
//! Tensor names are timm's (`blocks.0.attn.q_proj.weight`, `blocks.0.mlp.fc1_g.bias`, …);
//! initialisation is the reference's (normal σ 0.02 for linear weights, the attention and MLP
//! output projections divided by √(2·layer), zero biases, LayerScale 0.1).

use crate::rope;
use nnunet_core::Result;
use nnunet_core::tch::Tensor;
use nnunet_core::tch::nn::{self, Init, Module};

/// torch.nn.LayerNorm's default.
const LAYER_NORM_EPS: f64 = 1e-5;
/// Standard deviation of the reference's `trunc_normal_(std=0.02)` (truncation at ±2 never bites).
const INIT_STD: f64 = 0.02;

fn linear(path: &nn::Path, cin: i64, cout: i64, bias: bool, std: f64) -> nn::Linear {
    let config = nn::LinearConfig {
        ws_init: Init::Randn {
            mean: 0.0,
            stdev: std,
        },
        bs_init: Some(Init::Const(0.0)),
        bias,
    };
    nn::linear(path, cin, cout, config)
}

fn layer_norm(path: &nn::Path, dim: i64) -> nn::LayerNorm {
    let config = nn::LayerNormConfig {
        eps: LAYER_NORM_EPS,
        ..Default::default()
    };
    nn::layer_norm(path, vec![dim], config)
}

/// timm's DropPath: zeroes whole samples with probability `rate`, scales the rest by
/// `1 / (1 − rate)`.
fn drop_path(x: Tensor, rate: f64, train: bool) -> Result<Tensor> {
    if !train || rate == 0.0 {
        return Ok(x);
    }
    let keep = 1.0 - rate;
    let mask = Tensor::f_empty([x.size()[0], 1, 1], (x.kind(), x.device()))?
        .f_bernoulli_float_(keep)?
        .f_div_scalar(keep)?;
    Ok(x.f_mul(&mask)?)
}

struct Attention {
    q_proj: nn::Linear,
    k_proj: nn::Linear,
    v_proj: nn::Linear,
    norm: nn::LayerNorm,
    proj: nn::Linear,
    heads: i64,
}

impl Attention {
    fn new(path: &nn::Path, dim: i64, heads: i64, layer: usize) -> Attention {
        let proj_std = INIT_STD / (2.0 * layer as f64).sqrt();
        Attention {
            q_proj: linear(&(path / "q_proj"), dim, dim, true, INIT_STD),
            k_proj: linear(&(path / "k_proj"), dim, dim, false, INIT_STD),
            v_proj: linear(&(path / "v_proj"), dim, dim, true, INIT_STD),
            norm: layer_norm(&(path / "norm"), dim),
            proj: linear(&(path / "proj"), dim, dim, true, proj_std),
            heads,
        }
    }

    fn forward(&self, x: &Tensor, rope_table: &Tensor) -> Result<Tensor> {
        let size = x.size();
        let (b, n, c) = (size[0], size[1], size[2]);
        let split = |t: Tensor| -> Result<Tensor> {
            Ok(t.f_reshape([b, n, self.heads, -1])?.f_transpose(1, 2)?)
        };
        let q = rope::apply(&split(self.q_proj.forward(x))?, rope_table)?;
        let k = rope::apply(&split(self.k_proj.forward(x))?, rope_table)?;
        let v = split(self.v_proj.forward(x))?;
        let attended = Tensor::f_scaled_dot_product_attention::<Tensor>(
            &q, &k, &v, None, 0.0, false, None, false,
        )?;
        let merged = attended.f_transpose(1, 2)?.f_reshape([b, n, c])?;
        Ok(self.proj.forward(&self.norm.forward(&merged)))
    }
}

/// timm's SwiGLU with a LayerNorm before the output projection.
struct SwiGlu {
    fc1_g: nn::Linear,
    fc1_x: nn::Linear,
    norm: nn::LayerNorm,
    fc2: nn::Linear,
}

impl SwiGlu {
    fn new(path: &nn::Path, dim: i64, hidden: i64, layer: usize) -> SwiGlu {
        let fc2_std = INIT_STD / (2.0 * layer as f64).sqrt();
        SwiGlu {
            fc1_g: linear(&(path / "fc1_g"), dim, hidden, true, INIT_STD),
            fc1_x: linear(&(path / "fc1_x"), dim, hidden, true, INIT_STD),
            norm: layer_norm(&(path / "norm"), hidden),
            fc2: linear(&(path / "fc2"), hidden, dim, true, fc2_std),
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gated = self
            .fc1_g
            .forward(x)
            .f_silu()?
            .f_mul(&self.fc1_x.forward(x))?;
        Ok(self.fc2.forward(&self.norm.forward(&gated)))
    }
}

struct Block {
    norm1: nn::LayerNorm,
    attn: Attention,
    gamma_1: Tensor,
    norm2: nn::LayerNorm,
    mlp: SwiGlu,
    gamma_2: Tensor,
    drop_path: f64,
}

/// The encoder's shape.
pub struct EvaShape {
    pub dim: i64,
    pub depth: usize,
    pub heads: i64,
    pub tokens: i64,
    pub layer_scale: f64,
    pub drop_path_rate: f64,
}

/// The EVA encoder: `x + pos_embed`, the blocks, a final LayerNorm.
pub struct Eva {
    pos_embed: Tensor,
    blocks: Vec<Block>,
    norm: nn::LayerNorm,
}

impl Eva {
    pub fn new(path: &nn::Path, shape: &EvaShape) -> Result<Eva> {
        let dim = shape.dim;
        // mlp_ratio = 4 · 2 / 3, truncated as the reference's int(dim * mlp_ratio).
        let hidden = (dim as f64 * (4.0 * 2.0 / 3.0)) as i64;
        let pos_embed = path.f_var(
            "pos_embed",
            &[1, shape.tokens, dim],
            Init::Randn {
                mean: 0.0,
                stdev: INIT_STD,
            },
        )?;
        let blocks = (0..shape.depth)
            .map(|i| -> Result<Block> {
                let p = path / "blocks" / i;
                let layer = i + 1;
                let rate = if shape.depth > 1 {
                    shape.drop_path_rate * i as f64 / (shape.depth - 1) as f64
                } else {
                    0.0
                };
                Ok(Block {
                    gamma_1: p.f_var("gamma_1", &[dim], Init::Const(shape.layer_scale))?,
                    gamma_2: p.f_var("gamma_2", &[dim], Init::Const(shape.layer_scale))?,
                    norm1: layer_norm(&(&p / "norm1"), dim),
                    attn: Attention::new(&(&p / "attn"), dim, shape.heads, layer),
                    norm2: layer_norm(&(&p / "norm2"), dim),
                    mlp: SwiGlu::new(&(&p / "mlp"), dim, hidden, layer),
                    drop_path: rate,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Eva {
            pos_embed,
            blocks,
            norm: layer_norm(&(path / "norm"), dim),
        })
    }

    /// `(B, tokens, dim)` to `(B, tokens, dim)`; `rope_table` from [`rope::embedding`].
    pub fn forward(&self, x: &Tensor, rope_table: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = x.f_add(&self.pos_embed)?;
        for block in &self.blocks {
            let attended = block
                .attn
                .forward(&block.norm1.forward(&x), rope_table)?
                .f_mul(&block.gamma_1)?;
            x = x.f_add(&drop_path(attended, block.drop_path, train)?)?;
            let mixed = block
                .mlp
                .forward(&block.norm2.forward(&x))?
                .f_mul(&block.gamma_2)?;
            x = x.f_add(&drop_path(mixed, block.drop_path, train)?)?;
        }
        Ok(self.norm.forward(&x))
    }
}
