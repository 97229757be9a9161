//! The Primus network (Wald et al., 2025; nnU-Net 2.8's `Primus`): an 8³ patch embedding to
//! tokens, the EVA encoder, and the patch decoder back to full-resolution logits.
//!
//! One output, always: the reference has no deep supervision (its trainers'
//! `set_deep_supervision_enabled` does nothing), so `set_deep_supervision` is accepted and
//! changes nothing. The absolute position embedding has one row per token of the plans' patch,
//! so `forward_t` accepts exactly that patch size (nnU-Net's sliding window only ever feeds it);
//! anything else is an error naming both sizes. The reference's `mask_token` buffer (used only
//! for masked pre-training) is kept as a non-trainable tensor so state-dict names match.

use crate::eva::{Eva, EvaShape};
use crate::patch::{self, Decode};
use crate::rope;
use crate::variant::{LAYER_SCALE, PATCH_EMBED, PrimusOptions, Variant, check};
use nnunet_core::tch::Tensor;
use nnunet_core::tch::nn::{self, Module};
use nnunet_core::{Error, Network, NetworkSpec, Result};

pub struct Primus {
    name: String,
    down_projection: nn::Conv3D,
    eva: Eva,
    up_projection: Decode,
    /// `(tokens, 2·head_dim)` rotary table, float32 on the CPU.
    rope_table: Tensor,
    patch_size: Vec<i64>,
    embed_dim: i64,
}

impl Primus {
    pub fn new(
        name: &str,
        path: &nn::Path,
        spec: &NetworkSpec,
        variant: &Variant,
        options: &PrimusOptions,
    ) -> Result<Primus> {
        let patch_size = options.patch_size.clone();
        check(name, variant, spec.spatial_dims, &patch_size)?;
        let grid: Vec<i64> = patch_size.iter().map(|s| s / PATCH_EMBED).collect();
        let dim = variant.embed_dim;
        let _mask_token = path.f_zeros_no_train("mask_token", &[1, 1, dim])?;
        let down_projection = patch::embed(
            &(path / "down_projection" / "proj"),
            spec.in_channels,
            dim,
            PATCH_EMBED,
        );
        let up_projection = Decode::new(
            &(path / "up_projection"),
            dim,
            spec.num_outputs,
            PATCH_EMBED,
        )?;
        let shape = EvaShape {
            dim,
            depth: variant.depth,
            heads: variant.heads,
            tokens: grid.iter().product(),
            layer_scale: LAYER_SCALE,
            drop_path_rate: options.drop_path_rate,
        };
        let eva = Eva::new(&(path / "eva"), &shape)?;
        Ok(Primus {
            name: name.to_string(),
            down_projection,
            eva,
            up_projection,
            rope_table: rope::embedding(&grid, dim / variant.heads)?,
            patch_size,
            embed_dim: dim,
        })
    }
}

impl Network for Primus {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Vec<Tensor>> {
        let size = x.size();
        if size.len() != 5 || size[2..] != self.patch_size[..] {
            return Err(Error::Invalid(format!(
                "{}: input {size:?} must be (batch, channels, {}) — the patch size the position \
                 embedding was built for",
                self.name,
                self.patch_size
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let tokens = self.down_projection.forward(x);
        let grid = tokens.size();
        let sequence = tokens.f_flatten(2, -1)?.f_transpose(1, 2)?;
        let table = self
            .rope_table
            .f_to_device(x.device())?
            .f_to_kind(x.kind())?;
        let encoded = self.eva.forward(&sequence, &table, train)?;
        let volume = encoded.f_transpose(1, 2)?.f_reshape([
            grid[0],
            self.embed_dim,
            grid[2],
            grid[3],
            grid[4],
        ])?;
        Ok(vec![self.up_projection.forward(&volume)?])
    }

    fn set_deep_supervision(&mut self, _enabled: bool) -> Result<()> {
        Ok(())
    }

    fn head_parameter_prefixes(&self) -> Vec<String> {
        vec![self.up_projection.head().to_string()]
    }
}
