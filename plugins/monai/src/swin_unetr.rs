//! SwinUNETR (Hatamizadeh et al., 2022; MONAI's `SwinUNETR`, v1): the Swin encoder
//! ([`crate::swin`]) gives features at ½ … 1/32 resolution; residual conv blocks on the input and
//! on the first four feature maps give the skips, and five up blocks (2× transposed conv, concat,
//! residual block) decode to full resolution; a 1×1 conv head.
//!
//! Options (MONAI's constructor arguments): `feature_size` (48, the paper's and nnU-Net
//! Revisited's; MONAI's default is 24; divisible by 12), `depths` ([2, 2, 2, 2]), `num_heads`
//! ([3, 6, 12, 24]), `window_size` (7). The patch must be divisible by 32 (2^5: the embedding
//! and four merges halve it five times); the plans' patch is checked at construction, each input
//! at forward. No deep supervision: one output always.

use crate::layers::{Conv, ResBlock, UpBlock, basic_block, out_block};
use crate::options::{Given, check_dims, check_divisible, plans_patch};
use crate::swin::{SwinConfig, SwinTransformer};
use nnunet_core::tch::{Tensor, nn};
use nnunet_core::{Network, NetworkSpec, Result};

pub const NAME: &str = "SwinUNETR";
const DIVISOR: i64 = 32;

pub struct SwinUnetr {
    swin: SwinTransformer,
    /// encoder1 (on the input), 2, 3, 4 (on x0, x1, x2) and 10 (on x4).
    encoders: Vec<ResBlock>,
    /// decoder5 … decoder1.
    decoders: Vec<UpBlock>,
    out: Conv,
    head_name: String,
}

impl SwinUnetr {
    pub fn new(path: &nn::Path, spec: &NetworkSpec) -> Result<SwinUnetr> {
        let dims = check_dims(NAME, spec)?;
        let known = ["feature_size", "depths", "num_heads", "window_size"];
        let given = Given::parse(NAME, &spec.options, &known)?;
        let f = given.int("feature_size", 48)?;
        let depths = given.ints("depths", &[2, 2, 2, 2])?;
        let heads = given.ints("num_heads", &[3, 6, 12, 24])?;
        let window = given.int("window_size", 7)?;
        if f % 12 != 0 {
            return Err(given.invalid(format!("feature_size must be divisible by 12, got {f}")));
        }
        if depths.len() != 4 || heads.len() != 4 {
            return Err(given.invalid(format!(
                "depths and num_heads need one entry per stage (4), got {depths:?} and {heads:?}"
            )));
        }
        if let Some((i, h)) = heads.iter().enumerate().find(|(i, h)| (f << i) % **h != 0) {
            return Err(given.invalid(format!(
                "stage {i} has {} channels, not divisible by its {h} heads",
                f << i
            )));
        }
        plans_patch(NAME, spec, DIVISOR)?;
        let config = SwinConfig {
            in_channels: spec.in_channels,
            feature_size: f,
            depths,
            heads,
            window: vec![window; dims],
        };
        let swin = SwinTransformer::new(&(path / "swinViT"), &config)?;
        let encoders = [
            ("encoder1", spec.in_channels, f),
            ("encoder2", f, f),
            ("encoder3", 2 * f, 2 * f),
            ("encoder4", 4 * f, 4 * f),
            ("encoder10", 16 * f, 16 * f),
        ]
        .into_iter()
        .map(|(name, cin, cout)| basic_block(&(path / name), dims, cin, cout))
        .collect::<Result<_>>()?;
        let decoders = [
            ("decoder5", 16 * f, 8 * f),
            ("decoder4", 8 * f, 4 * f),
            ("decoder3", 4 * f, 2 * f),
            ("decoder2", 2 * f, f),
            ("decoder1", f, f),
        ]
        .into_iter()
        .map(|(name, cin, cout)| UpBlock::new(&(path / name), dims, cin, cout))
        .collect::<Result<_>>()?;
        Ok(SwinUnetr {
            swin,
            encoders,
            decoders,
            out: out_block(&(path / "out"), dims, f, spec.num_outputs)?,
            head_name: path.path("out"),
        })
    }
}

impl Network for SwinUnetr {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Result<Vec<Tensor>> {
        check_divisible(NAME, "the input", &x.size()[2..], DIVISOR)?;
        let hidden = self.swin.forward(x)?;
        let e = &self.encoders;
        // Skips, deepest first: x3 itself, then encoder4(x2), encoder3(x1), encoder2(x0),
        // encoder1(input).
        let skips = [
            hidden[3].shallow_clone(),
            e[3].forward(&hidden[2])?,
            e[2].forward(&hidden[1])?,
            e[1].forward(&hidden[0])?,
            e[0].forward(x)?,
        ];
        let mut d = e[4].forward(&hidden[4])?;
        for (decoder, skip) in self.decoders.iter().zip(&skips) {
            d = decoder.forward(&d, skip)?;
        }
        Ok(vec![self.out.forward(&d)?])
    }

    /// MONAI's SwinUNETR has no deep supervision: one output either way.
    fn set_deep_supervision(&mut self, _enabled: bool) -> Result<()> {
        Ok(())
    }

    fn head_parameter_prefixes(&self) -> Vec<String> {
        vec![self.head_name.clone()]
    }
}
