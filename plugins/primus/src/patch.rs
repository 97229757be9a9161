//! Primus' way into and out of tokens: dynamic_network_architectures' `PatchEmbed` (one 8³
//! convolution with stride 8) and `PatchDecode` (transposed 2³ convolutions, each but the last
//! followed by a channel-wise `LayerNormNd` and GELU, down to the classes).
//!
//! The decoder's widths follow the reference's formula: with `n = log2(8) = 3` stages and
//! `r = (dim / (2·classes))^(1/n)`, stage `i` has `round8(dim / r^(i+1))` channels (at least 8,
//! rounded half to even as numpy does) and the last has `classes`. Both are initialised as the
//! reference's `InitWeights_He(1e-2)` does (Kaiming normal, zero bias).

use nnunet_core::Result;
use nnunet_core::tch::nn::{self, Init, Module};
use nnunet_core::tch::{Kind, Tensor};

/// `LayerNormNd`'s epsilon.
const CHANNEL_NORM_EPS: f64 = 1e-6;
/// `InitWeights_He(neg_slope=1e-2)`.
const HE_SLOPE: f64 = 1e-2;

/// Kaiming normal (fan-in, leaky ReLU gain) for a weight whose fan-in is `fan_in`.
fn he(fan_in: i64) -> Init {
    let gain = (2.0 / (1.0 + HE_SLOPE * HE_SLOPE)).sqrt();
    Init::Randn {
        mean: 0.0,
        stdev: gain / (fan_in as f64).sqrt(),
    }
}

/// The patch embedding: `(B, C, z, y, x)` to `(B, dim, z/8, y/8, x/8)`.
pub fn embed(path: &nn::Path, cin: i64, dim: i64, patch: i64) -> nn::Conv3D {
    let config = nn::ConvConfig {
        stride: patch,
        ws_init: he(cin * patch * patch * patch),
        bs_init: Init::Const(0.0),
        ..Default::default()
    };
    nn::conv3d(path, cin, dim, patch, config)
}

/// The decoder's channel widths from `dim` down to `classes`, one step per halving of `patch`.
pub fn decoder_channels(dim: i64, classes: i64, patch: i64) -> Vec<i64> {
    let stages = (patch as f64).ln() / 2f64.ln();
    let stages = stages as usize;
    let reduction = (dim as f64 / (2.0 * classes as f64)).powf(1.0 / stages as f64);
    let round8 = |x: f64| (((x + 1e-6) / 8.0).round_ties_even() * 8.0).max(8.0) as i64;
    let mut channels = vec![dim];
    channels.extend((0..stages).map(|i| round8(dim as f64 / reduction.powf(i as f64 + 1.0))));
    channels[stages] = classes;
    channels
}

/// `LayerNormNd`: LayerNorm over the channel axis of `(B, C, *spatial)`.
struct ChannelNorm {
    weight: Tensor,
    bias: Tensor,
}

impl ChannelNorm {
    fn new(path: &nn::Path, channels: i64) -> Result<ChannelNorm> {
        Ok(ChannelNorm {
            weight: path.f_var("weight", &[channels], Init::Const(1.0))?,
            bias: path.f_var("bias", &[channels], Init::Const(0.0))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.f_mean_dim(1, true, None::<Kind>)?;
        let centred = x.f_sub(&mean)?;
        let variance = centred.f_square()?.f_mean_dim(1, true, None::<Kind>)?;
        let normed = centred.f_div(&variance.f_add_scalar(CHANNEL_NORM_EPS)?.f_sqrt()?)?;
        let view = |t: &Tensor| t.f_view([1, -1, 1, 1, 1]);
        Ok(normed
            .f_mul(&view(&self.weight)?)?
            .f_add(&view(&self.bias)?)?)
    }
}

/// `PatchDecode`: tokens `(B, dim, z/8, y/8, x/8)` back to logits `(B, classes, z, y, x)`.
pub struct Decode {
    upsample: Vec<nn::ConvTranspose3D>,
    norms: Vec<ChannelNorm>,
    head: String,
}

impl Decode {
    pub fn new(path: &nn::Path, dim: i64, classes: i64, patch: i64) -> Result<Decode> {
        let channels = decoder_channels(dim, classes, patch);
        let stages = channels.len() - 1;
        let decode = path / "decode";
        let (mut upsample, mut norms) = (Vec::new(), Vec::new());
        for s in 0..stages {
            let last = s + 1 == stages;
            let conv_path = if last { &decode / s } else { &decode / s / 0 };
            let config = nn::ConvTransposeConfig {
                stride: 2,
                // PyTorch's fan-in of a transposed weight (in, out, k³) is out · k³.
                ws_init: he(channels[s + 1] * 8),
                bs_init: Init::Const(0.0),
                ..Default::default()
            };
            upsample.push(nn::conv_transpose3d(
                &conv_path,
                channels[s],
                channels[s + 1],
                2,
                config,
            ));
            if !last {
                norms.push(ChannelNorm::new(&(&decode / s / 1), channels[s + 1])?);
            }
        }
        Ok(Decode {
            upsample,
            norms,
            head: decode.path(&(stages - 1).to_string()),
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.shallow_clone();
        for (i, up) in self.upsample.iter().enumerate() {
            x = up.forward(&x);
            if let Some(norm) = self.norms.get(i) {
                x = norm.forward(&x)?.f_gelu("none")?;
            }
        }
        Ok(x)
    }

    /// The full name of the last transposed convolution (the segmentation head).
    pub fn head(&self) -> &str {
        &self.head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_widths_are_the_references() {
        // From the reference at 3 classes (tests/tests/fixtures/primus/make_fixtures.py's Primus).
        assert_eq!(decoder_channels(396, 3, 8), [396, 96, 24, 3]);
        assert_eq!(decoder_channels(792, 3, 8), [792, 152, 32, 3]);
        assert_eq!(decoder_channels(864, 3, 8), [864, 168, 32, 3]);
        assert_eq!(decoder_channels(1056, 3, 8), [1056, 192, 32, 3]);
    }
}
