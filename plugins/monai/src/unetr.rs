//! UNETR (Hatamizadeh et al., WACV 2022; MONAI's `UNETR`): a ViT encoder on 16-voxel patches
//! (12 pre-norm transformer blocks with learned position embeddings) whose tokens after blocks
//! 3, 6 and 9 and after the final norm are reshaped to feature maps, up-sampled by transposed
//! convolutions, and decoded with residual conv blocks and skips as in a U-Net; a 3×3 residual
//! block on the input gives the full-resolution skip.
//!
//! Options (MONAI's constructor arguments and defaults): `feature_size` (16), `hidden_size`
//! (768), `mlp_dim` (3072), `num_heads` (12). MONAI's `img_size` is the plans' patch, which must
//! be divisible by 16 on every axis (the position embeddings have one entry per 16-voxel patch,
//! so the patch is required). No deep supervision: one output always.

use crate::layers::{
    Conv, ConvShape, LayerNorm, Linear, Mlp, PrUpBlock, ResBlock, UpBlock, basic_block, out_block,
    split_heads,
};
use crate::options::{Given, check_dims, plans_patch};
use nnunet_core::tch::{Kind, Tensor, nn};
use nnunet_core::{Error, Network, NetworkSpec, Result};

pub const NAME: &str = "UNETR";
/// Side of the ViT's patches.
const PATCH: i64 = 16;
const LAYERS: usize = 12;

/// MONAI's `SABlock` (no qkv bias, as UNETR's default).
struct Attention {
    qkv: Linear,
    out_proj: Linear,
    heads: i64,
}

impl Attention {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, c) = x.size3()?;
        // 'b h (qkv l d) -> qkv b l h d'
        let (q, k, v, scale) = split_heads(&self.qkv.forward(x)?, self.heads)?;
        let attn = (q.f_matmul(&k.f_transpose(-2, -1)?)? * scale).f_softmax(-1, Kind::Float)?;
        let out = attn
            .f_matmul(&v)?
            .f_permute([0, 2, 1, 3])?
            .f_reshape([b, n, c])?;
        self.out_proj.forward(&out)
    }
}

/// MONAI's `TransformerBlock` (its unused `norm_cross_attn` kept for the state dict).
struct Block {
    norm1: LayerNorm,
    attn: Attention,
    norm2: LayerNorm,
    mlp: Mlp,
}

impl Block {
    fn new(path: &nn::Path, hidden: i64, mlp: i64, heads: i64) -> Result<Block> {
        let attn = path / "attn";
        let _ = LayerNorm::new(&(path / "norm_cross_attn"), hidden)?;
        Ok(Block {
            norm1: LayerNorm::new(&(path / "norm1"), hidden)?,
            attn: Attention {
                qkv: Linear::new(&(&attn / "qkv"), hidden, 3 * hidden, false)?,
                out_proj: Linear::new(&(&attn / "out_proj"), hidden, hidden, true)?,
                heads,
            },
            norm2: LayerNorm::new(&(path / "norm2"), hidden)?,
            mlp: Mlp::new(&(path / "mlp"), hidden, mlp)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = x + self.attn.forward(&self.norm1.forward(x)?)?;
        Ok(&x + self.mlp.forward(&self.norm2.forward(&x)?)?)
    }
}

pub struct Unetr {
    embed: Conv,
    position: Tensor,
    blocks: Vec<Block>,
    norm: LayerNorm,
    encoder1: ResBlock,
    /// encoder2–4: from the tokens after blocks 3, 6, 9 (0-based, MONAI's `hidden_states_out[3]` …).
    encoders: Vec<PrUpBlock>,
    /// decoder5, 4, 3, 2.
    decoders: Vec<UpBlock>,
    out: Conv,
    head_name: String,
    /// The token grid: the patch / 16.
    grid: Vec<i64>,
    patch: Vec<i64>,
}

impl Unetr {
    pub fn new(path: &nn::Path, spec: &NetworkSpec) -> Result<Unetr> {
        let dims = check_dims(NAME, spec)?;
        let known = ["feature_size", "hidden_size", "mlp_dim", "num_heads"];
        let given = Given::parse(NAME, &spec.options, &known)?;
        let feature = given.int("feature_size", 16)?;
        let hidden = given.int("hidden_size", 768)?;
        let mlp = given.int("mlp_dim", 3072)?;
        let heads = given.int("num_heads", 12)?;
        if hidden % heads != 0 {
            return Err(given.invalid(format!(
                "hidden_size {hidden} must be divisible by num_heads {heads}"
            )));
        }
        let patch = plans_patch(NAME, spec, PATCH)?.ok_or_else(|| {
            Error::Invalid(format!(
                "{NAME}: its position embeddings need the plans' patch size, which the host did not give"
            ))
        })?;
        let grid: Vec<i64> = patch.iter().map(|&s| s / PATCH).collect();
        let vit = path / "vit";
        let pe = &vit / "patch_embedding";
        let embed_shape = ConvShape {
            kernel: PATCH,
            stride: PATCH,
            bias: true,
            transposed: false,
        };
        let embed = Conv::new(
            &(&pe / "patch_embeddings"),
            dims,
            spec.in_channels,
            hidden,
            embed_shape,
        )?;
        let tokens: i64 = grid.iter().product();
        let init = nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let position = pe.f_var("position_embeddings", &[1, tokens, hidden], init)?;
        let blocks = (0..LAYERS)
            .map(|i| Block::new(&(&vit / "blocks" / i), hidden, mlp, heads))
            .collect::<Result<_>>()?;
        let f = feature;
        let encoders = [(2, 2 * f, 2), (3, 4 * f, 1), (4, 8 * f, 0)]
            .into_iter()
            .map(|(i, c, layers)| {
                PrUpBlock::new(&(path / format!("encoder{i}")), dims, hidden, c, layers)
            })
            .collect::<Result<_>>()?;
        let decoders = [
            (5, hidden, 8 * f),
            (4, 8 * f, 4 * f),
            (3, 4 * f, 2 * f),
            (2, 2 * f, f),
        ]
        .into_iter()
        .map(|(i, cin, cout)| UpBlock::new(&(path / format!("decoder{i}")), dims, cin, cout))
        .collect::<Result<_>>()?;
        Ok(Unetr {
            embed,
            position,
            blocks,
            norm: LayerNorm::new(&(&vit / "norm"), hidden)?,
            encoder1: basic_block(&(path / "encoder1"), dims, spec.in_channels, f)?,
            encoders,
            decoders,
            out: out_block(&(path / "out"), dims, f, spec.num_outputs)?,
            head_name: path.path("out"),
            grid,
            patch,
        })
    }

    /// Tokens `(b, n, hidden)` back to a feature map `(b, hidden, *grid)`.
    fn to_map(&self, tokens: &Tensor) -> Result<Tensor> {
        let (b, _, c) = tokens.size3()?;
        let mut shape = vec![b];
        shape.extend(&self.grid);
        shape.push(c);
        let last = self.grid.len() as i64 + 1;
        let mut order = vec![0, last];
        order.extend(1..last);
        Ok(tokens
            .f_view(&shape[..])?
            .f_permute(&order[..])?
            .f_contiguous()?)
    }
}

impl Network for Unetr {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Result<Vec<Tensor>> {
        if x.size()[2..] != self.patch[..] {
            return Err(Error::Invalid(format!(
                "{NAME} was built for the patch {:?} (its position embeddings), got an input of {:?}",
                self.patch,
                &x.size()[2..]
            )));
        }
        let mut h = self
            .embed
            .forward(x)?
            .f_flatten(2, -1)?
            .f_transpose(-1, -2)?
            + &self.position;
        let mut hidden = Vec::new();
        for block in &self.blocks {
            h = block.forward(&h)?;
            hidden.push(h.shallow_clone());
        }
        let h = self.norm.forward(&h)?;
        let enc1 = self.encoder1.forward(x)?;
        let skips = [3, 6, 9]
            .iter()
            .zip(&self.encoders)
            .map(|(&i, enc)| enc.forward(&self.to_map(&hidden[i])?))
            .collect::<Result<Vec<_>>>()?;
        let mut d = self.to_map(&h)?;
        for (decoder, skip) in self.decoders.iter().zip(skips.iter().rev().chain([&enc1])) {
            d = decoder.forward(&d, skip)?;
        }
        Ok(vec![self.out.forward(&d)?])
    }

    /// MONAI's UNETR has no deep supervision: one output either way.
    fn set_deep_supervision(&mut self, _enabled: bool) -> Result<()> {
        Ok(())
    }

    fn head_parameter_prefixes(&self) -> Vec<String> {
        vec![self.head_name.clone()]
    }
}
