//! The STU-Net network (Huang et al., 2023; uni-medical/STU-Net, nnU-Net 2.2 variant): six
//! encoder stages of residual blocks (the first block of stage `d > 0` strides by the plans'
//! stride), five decoder stages each after a nearest-neighbour upsampling with a 1×1 conv and
//! a concatenation with the encoder's features, and a 1×1 head after every decoder stage.
//!
//! With deep supervision on, `forward_t` returns the five heads' outputs, full resolution first,
//! as the reference does; off, only the full-resolution one. The heads always exist (as in the
//! reference). Inputs whose sides are not multiples of the product of the strides along that
//! axis are refused with the multiple (the reference fails on the concatenation).

use crate::blocks::{ResBlock, Upsample, conv, run_stage};
use crate::plan::{self, STAGES, Variant};
use nnunet_core::tch::Tensor;
use nnunet_core::tch::nn::{self, Module};
use nnunet_core::{Error, Network, NetworkSpec, Result};

pub struct StuNet {
    name: String,
    /// `conv_blocks_context`: stage 0 (full resolution) … stage 5.
    encoder: Vec<Vec<ResBlock>>,
    /// `upsample_layers[u]` takes stage `5 − u` up to stage `4 − u`.
    upsample: Vec<Upsample>,
    /// `conv_blocks_localization[u]`: decoder stage at resolution `4 − u`.
    decoder: Vec<Vec<ResBlock>>,
    /// `seg_outputs[u]`: head after decoder stage `u`.
    heads: Vec<nn::Conv3D>,
    head_names: Vec<String>,
    /// Product of the strides per axis: every input side must be a multiple of it.
    divisor: [i64; 3],
    deep_supervision: bool,
}

/// `depth` residual blocks under `path`, the first projecting `cin` to `cout` with `stride`.
fn stage(
    path: &nn::Path,
    cin: i64,
    cout: i64,
    stride: [i64; 3],
    depth: usize,
) -> Result<Vec<ResBlock>> {
    (0..depth)
        .map(|j| match j {
            0 => ResBlock::new(&(path / 0), cin, cout, stride, true),
            _ => ResBlock::new(&(path / j), cout, cout, [1; 3], false),
        })
        .collect()
}

impl StuNet {
    pub fn new(name: &str, path: &nn::Path, spec: &NetworkSpec, variant: &Variant) -> Result<Self> {
        let strides = plan::strides(name, spec)?;
        let dims = plan::widths(variant);
        let depth = variant.depth;
        let context = path / "conv_blocks_context";
        let mut encoder = vec![stage(
            &(&context / 0),
            spec.in_channels,
            dims[0],
            [1; 3],
            depth,
        )?];
        for d in 1..STAGES {
            encoder.push(stage(
                &(&context / d),
                dims[d - 1],
                dims[d],
                strides[d - 1],
                depth,
            )?);
        }
        let (localization, outputs) = (path / "conv_blocks_localization", path / "seg_outputs");
        let (mut upsample, mut decoder, mut heads, mut head_names) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for u in 0..STAGES - 1 {
            let (high, low) = (dims[STAGES - 1 - u], dims[STAGES - 2 - u]);
            upsample.push(Upsample::new(
                &(path / "upsample_layers" / u),
                high,
                low,
                strides[STAGES - 2 - u],
            ));
            decoder.push(stage(&(&localization / u), 2 * low, low, [1; 3], depth)?);
            heads.push(conv(&(&outputs / u), low, spec.num_outputs, 1, [1; 3]));
            head_names.push(outputs.path(&u.to_string()));
        }
        let divisor = strides.iter().fold([1; 3], |acc, s| {
            [acc[0] * s[0], acc[1] * s[1], acc[2] * s[2]]
        });
        Ok(StuNet {
            name: name.to_string(),
            encoder,
            upsample,
            decoder,
            heads,
            head_names,
            divisor,
            deep_supervision: spec.deep_supervision,
        })
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let size = x.size();
        let fits = size.len() == 5 && (0..3).all(|a| size[a + 2] % self.divisor[a] == 0);
        if fits {
            return Ok(());
        }
        Err(Error::Invalid(format!(
            "{}: input {size:?} must be (batch, channels, z, y, x) with sides multiples of \
             {:?}, the product of the plans' strides per axis",
            self.name, self.divisor
        )))
    }
}

impl Network for StuNet {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Result<Vec<Tensor>> {
        self.check_input(x)?;
        let mut skips = Vec::new();
        let mut h = x.shallow_clone();
        for blocks in &self.encoder[..STAGES - 1] {
            h = run_stage(blocks, &h)?;
            skips.push(h.shallow_clone());
        }
        h = run_stage(&self.encoder[STAGES - 1], &h)?;
        let mut outputs = Vec::new();
        for u in 0..STAGES - 1 {
            let skip = skips
                .pop()
                .expect("one skip per encoder stage but the last");
            let up = self.upsample[u].forward(&h)?;
            h = run_stage(&self.decoder[u], &Tensor::f_cat(&[up, skip], 1)?)?;
            if self.deep_supervision || u == STAGES - 2 {
                outputs.push(self.heads[u].forward(&h));
            }
        }
        outputs.reverse();
        Ok(outputs)
    }

    fn set_deep_supervision(&mut self, enabled: bool) -> Result<()> {
        self.deep_supervision = enabled;
        Ok(())
    }

    fn head_parameter_prefixes(&self) -> Vec<String> {
        self.head_names.clone()
    }
}
