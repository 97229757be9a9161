//! The Swin transformer encoder of SwinUNETR (MONAI's `SwinTransformer`, v1, "merging"
//! down-sampling): a 2×-patch embedding, then four stages of shifted-window attention blocks,
//! each stage ending in patch merging (channels ×2, resolution ½).
//!
//! MONAI's details are kept where they change results: windows larger than a feature map are
//! clipped to it (and that axis is then not shifted), feature maps are padded at the end to a
//! multiple of the window, the relative-position index of the configured window is cut to the
//! first `n × n` entries for a clipped window, and the shifted-window mask is built with
//! Python's slice semantics (a zero shift makes its last slice cover the whole axis).

use crate::layers::{Conv, ConvShape, LayerNorm, Linear, Mlp, split_heads};
use nnunet_core::Result;
use nnunet_core::tch::{Device, Kind, Tensor, nn};

/// `x` (channels last, `(b, *spatial, c)`) cut into windows: `(b · windows, prod(window), c)`.
fn window_partition(x: &Tensor, window: &[i64]) -> Result<Tensor> {
    let size = x.size();
    let k = window.len();
    let (b, c) = (size[0], size[k + 1]);
    let mut shape = vec![b];
    for (s, w) in size[1..=k].iter().zip(window) {
        shape.extend([s / w, *w]);
    }
    shape.push(c);
    let mut order = vec![0];
    order.extend((0..k).map(|a| 1 + 2 * a as i64));
    order.extend((0..k).map(|a| 2 + 2 * a as i64));
    order.push(2 * k as i64 + 1);
    Ok(x.f_view(&shape[..])?
        .f_permute(&order[..])?
        .f_contiguous()?
        .f_view([-1, window.iter().product(), c])?)
}

/// Windows back to `(b, *spatial, c)`.
fn window_reverse(windows: &Tensor, window: &[i64], b: i64, spatial: &[i64]) -> Result<Tensor> {
    let k = window.len();
    let mut shape = vec![b];
    shape.extend(spatial.iter().zip(window).map(|(s, w)| s / w));
    shape.extend(window);
    shape.push(-1);
    let mut order = vec![0];
    for a in 0..k as i64 {
        order.extend([1 + a, 1 + k as i64 + a]);
    }
    order.push(2 * k as i64 + 1);
    let mut out = vec![b];
    out.extend(spatial);
    out.push(-1);
    Ok(windows
        .f_view(&shape[..])?
        .f_permute(&order[..])?
        .f_contiguous()?
        .f_view(&out[..])?)
}

/// MONAI's `get_window_size`: a window no larger than the map; no shift where it is clipped.
fn clip_window(spatial: &[i64], window: &[i64], shift: &[i64]) -> (Vec<i64>, Vec<i64>) {
    spatial
        .iter()
        .zip(window.iter().zip(shift))
        .map(|(&s, (&w, &sh))| if s <= w { (s, 0) } else { (w, sh) })
        .unzip()
}

/// MONAI's `relative_position_index` for `window`: `(n, n)` indices into the bias table.
fn relative_position_index(window: &[i64]) -> Vec<i64> {
    let k = window.len();
    let n: i64 = window.iter().product();
    let coords: Vec<Vec<i64>> = (0..n)
        .map(|mut i| {
            let mut c = vec![0; k];
            for a in (0..k).rev() {
                c[a] = i % window[a];
                i /= window[a];
            }
            c
        })
        .collect();
    let multiplier: Vec<i64> = (0..k)
        .map(|a| window[a + 1..].iter().map(|w| 2 * w - 1).product())
        .collect();
    let mut index = Vec::with_capacity((n * n) as usize);
    for p in &coords {
        for q in &coords {
            index.push(
                (0..k)
                    .map(|a| (p[a] - q[a] + window[a] - 1) * multiplier[a])
                    .sum(),
            );
        }
    }
    index
}

/// MONAI's `compute_mask`: `(windows, n, n)` with −100 between tokens from different regions
/// of the shifted map, `spatial` already padded to a multiple of `window`.
fn compute_mask(spatial: &[i64], window: &[i64], shift: &[i64], device: Device) -> Result<Tensor> {
    // Python's slice(None, -w), slice(-w, -s), slice(-s, None) on an axis of length l: the label
    // of a voxel is that of the last slice covering it along each axis.
    let region = |l: i64, w: i64, s: i64, i: i64| -> i64 {
        let norm = |v: i64| if v < 0 { (l + v).max(0) } else { v.min(l) };
        let bounds = [(0, norm(-w)), (norm(-w), norm(-s)), (norm(-s), l)];
        (0..3)
            .rev()
            .find(|&r| bounds[r].0 <= i && i < bounds[r].1)
            .unwrap_or(0) as i64
    };
    let total: i64 = spatial.iter().product();
    let labels: Vec<f32> = (0..total)
        .map(|mut flat| {
            let mut label = 0;
            let mut weight = 1;
            for a in (0..spatial.len()).rev() {
                let i = flat % spatial[a];
                flat /= spatial[a];
                label += weight * region(spatial[a], window[a], shift[a], i);
                weight *= 3;
            }
            label as f32
        })
        .collect();
    let mut shape = vec![1];
    shape.extend(spatial);
    shape.push(1);
    let img = Tensor::from_slice(&labels)
        .f_view(&shape[..])?
        .f_to(device)?;
    let windows = window_partition(&img, window)?.f_squeeze_dim(-1)?;
    let diff = windows.f_unsqueeze(1)? - windows.f_unsqueeze(2)?;
    Ok(diff.f_ne(0.0)?.to_kind(Kind::Float) * -100.0)
}

/// MONAI's `WindowAttention`.
struct WindowAttention {
    table: Tensor,
    /// The configured window's index, `(n, n)` flattened.
    index: Vec<i64>,
    full: i64,
    qkv: Linear,
    proj: Linear,
    heads: i64,
}

impl WindowAttention {
    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, n, c) = x.size3()?;
        let (q, k, v, scale) = split_heads(&self.qkv.forward(x)?, self.heads)?;
        let q = q * scale;
        // index[:n, :n] of the configured window's (full × full) index.
        let rows: Vec<i64> = (0..n)
            .flat_map(|i| (0..n).map(move |j| i * self.full + j))
            .map(|p| self.index[p as usize])
            .collect();
        let rows = Tensor::from_slice(&rows).f_to(self.table.device())?;
        let bias = self
            .table
            .f_index_select(0, &rows)?
            .f_reshape([n, n, -1])?
            .f_permute([2, 0, 1])?;
        let mut attn = q.f_matmul(&k.f_transpose(-2, -1)?)? + bias.f_unsqueeze(0)?;
        if let Some(mask) = mask {
            let nw = mask.size()[0];
            attn = attn.f_view([b / nw, nw, self.heads, n, n])?
                + mask.f_unsqueeze(1)?.f_unsqueeze(0)?;
            attn = attn.f_view([-1, self.heads, n, n])?;
        }
        let attn = attn.f_softmax(-1, Kind::Float)?;
        let out = attn.f_matmul(&v)?.f_transpose(1, 2)?.f_reshape([b, n, c])?;
        self.proj.forward(&out)
    }
}

/// MONAI's `SwinTransformerBlock`.
struct SwinBlock {
    norm1: LayerNorm,
    attn: WindowAttention,
    norm2: LayerNorm,
    mlp: Mlp,
    window: Vec<i64>,
    shift: Vec<i64>,
}

impl SwinBlock {
    fn new(path: &nn::Path, dim: i64, heads: i64, window: &[i64], shift: Vec<i64>) -> Result<Self> {
        let a = path / "attn";
        let entries: i64 = window.iter().map(|w| 2 * w - 1).product();
        let init = nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let attn = WindowAttention {
            table: a.f_var("relative_position_bias_table", &[entries, heads], init)?,
            index: relative_position_index(window),
            full: window.iter().product(),
            qkv: Linear::new(&(&a / "qkv"), dim, 3 * dim, true)?,
            proj: Linear::new(&(&a / "proj"), dim, dim, true)?,
            heads,
        };
        Ok(SwinBlock {
            norm1: LayerNorm::new(&(path / "norm1"), dim)?,
            attn,
            norm2: LayerNorm::new(&(path / "norm2"), dim)?,
            mlp: Mlp::new(&(path / "mlp"), dim, 4 * dim)?,
            window: window.to_vec(),
            shift,
        })
    }

    /// `x`: channels last, `(b, *spatial, c)`.
    fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let size = x.size();
        let k = self.window.len();
        let (b, c, spatial) = (size[0], size[k + 1], &size[1..=k]);
        let (window, shift) = clip_window(spatial, &self.window, &self.shift);
        let h = self.norm1.forward(x)?;
        let mut pad = vec![0, 0];
        for (s, w) in spatial.iter().zip(&window).rev() {
            pad.extend([0, (w - s % w) % w]);
        }
        let h = h.f_constant_pad_nd(&pad[..])?;
        let padded = h.size()[1..=k].to_vec();
        let axes: Vec<i64> = (1..=k as i64).collect();
        let shifted = shift.iter().any(|&s| s > 0);
        let h = match shifted {
            true => h.f_roll(shift.iter().map(|s| -s).collect::<Vec<_>>(), &axes[..])?,
            false => h,
        };
        let windows = window_partition(&h, &window)?;
        let attended = self.attn.forward(&windows, shifted.then_some(mask))?;
        let mut view = vec![-1];
        view.extend(&window);
        view.push(c);
        let h = window_reverse(&attended.f_view(&view[..])?, &window, b, &padded)?;
        let mut h = match shifted {
            true => h.f_roll(&shift[..], &axes[..])?,
            false => h,
        };
        for (axis, &s) in spatial.iter().enumerate() {
            h = h.f_narrow(axis as i64 + 1, 0, s)?;
        }
        let x = x + h;
        Ok(&x + self.mlp.forward(&self.norm2.forward(&x)?)?)
    }
}

/// MONAI's `PatchMerging` (v1): the 2^k voxels of each 2-voxel cell concatenated, layer norm,
/// linear to twice the channels.
struct PatchMerging {
    norm: LayerNorm,
    reduction: Linear,
}

impl PatchMerging {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let k = x.dim() - 2;
        // MONAI's order: 3D x0…x7 as written in its PatchMerging, 2D as PatchMergingV2.
        let offsets: &[&[i64]] = match k {
            3 => &[
                &[0, 0, 0],
                &[1, 0, 0],
                &[0, 1, 0],
                &[0, 0, 1],
                &[1, 1, 0],
                &[1, 0, 1],
                &[0, 1, 1],
                &[1, 1, 1],
            ],
            _ => &[&[0, 0], &[1, 0], &[0, 1], &[1, 1]],
        };
        let parts = offsets
            .iter()
            .map(|o| {
                o.iter()
                    .enumerate()
                    .try_fold(x.shallow_clone(), |t, (a, &start)| {
                        t.f_slice(a as i64 + 1, start, None, 2)
                    })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        self.reduction
            .forward(&self.norm.forward(&Tensor::f_cat(&parts, -1)?)?)
    }
}

/// One stage (MONAI's `BasicLayer`): blocks alternating unshifted and shifted windows, then
/// patch merging.
struct Stage {
    blocks: Vec<SwinBlock>,
    merge: PatchMerging,
    window: Vec<i64>,
}

impl Stage {
    /// `x`: channels first; returns channels first at half the resolution.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let k = x.dim() - 2;
        let spatial = x.size()[2..].to_vec();
        let half: Vec<i64> = self.window.iter().map(|w| w / 2).collect();
        let (window, shift) = clip_window(&spatial, &self.window, &half);
        let padded: Vec<i64> = spatial
            .iter()
            .zip(&window)
            .map(|(s, w)| (s + w - 1) / w * w)
            .collect();
        let mask = compute_mask(&padded, &window, &shift, x.device())?;
        let mut to_last: Vec<i64> = vec![0];
        to_last.extend(2..k as i64 + 2);
        to_last.push(1);
        let mut h = x.f_permute(&to_last[..])?;
        for block in &self.blocks {
            h = block.forward(&h, &mask)?;
        }
        let h = self.merge.forward(&h)?;
        let mut to_first = vec![0, k as i64 + 1];
        to_first.extend(1..k as i64 + 1);
        Ok(h.f_permute(&to_first[..])?)
    }
}

/// The encoder's configuration.
pub struct SwinConfig {
    pub in_channels: i64,
    pub feature_size: i64,
    pub depths: Vec<i64>,
    pub heads: Vec<i64>,
    pub window: Vec<i64>,
}

/// MONAI's `SwinTransformer` (`swinViT`).
pub struct SwinTransformer {
    embed: Conv,
    stages: Vec<Stage>,
}

impl SwinTransformer {
    pub fn new(path: &nn::Path, config: &SwinConfig) -> Result<SwinTransformer> {
        let k = config.window.len();
        let shape = ConvShape {
            kernel: 2,
            stride: 2,
            bias: true,
            transposed: false,
        };
        let embed = Conv::new(
            &(path / "patch_embed" / "proj"),
            k,
            config.in_channels,
            config.feature_size,
            shape,
        )?;
        let mut stages = Vec::new();
        for (i, (&depth, &heads)) in config.depths.iter().zip(&config.heads).enumerate() {
            let dim = config.feature_size << i;
            let p = path / format!("layers{}", i + 1) / 0;
            let half: Vec<i64> = config.window.iter().map(|w| w / 2).collect();
            let blocks = (0..depth as usize)
                .map(|j| {
                    let shift = if j % 2 == 0 { vec![0; k] } else { half.clone() };
                    SwinBlock::new(&(&p / "blocks" / j), dim, heads, &config.window, shift)
                })
                .collect::<Result<_>>()?;
            let d = &p / "downsample";
            let cells = 1 << k;
            let merge = PatchMerging {
                norm: LayerNorm::new(&(&d / "norm"), cells * dim)?,
                reduction: Linear::new(&(&d / "reduction"), cells * dim, 2 * dim, false)?,
            };
            stages.push(Stage {
                blocks,
                merge,
                window: config.window.clone(),
            });
        }
        Ok(SwinTransformer { embed, stages })
    }

    /// The embedding and each stage's output, each layer-normed over channels (no affine):
    /// `[x0, …, x4]`, MONAI's `hidden_states_out` with `normalize=True`.
    pub fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let normed = |t: &Tensor| -> Result<Tensor> {
            let k = t.dim() - 2;
            let c = t.size()[1];
            let mut to_last: Vec<i64> = vec![0];
            to_last.extend(2..k as i64 + 2);
            to_last.push(1);
            let mut to_first = vec![0, k as i64 + 1];
            to_first.extend(1..k as i64 + 1);
            Ok(t.f_permute(&to_last[..])?
                .f_layer_norm::<Tensor>([c], None, None, 1e-5, false)?
                .f_permute(&to_first[..])?)
        };
        let mut h = self.embed.forward(x)?;
        let mut out = vec![normed(&h)?];
        for stage in &self.stages {
            h = stage.forward(&h.f_contiguous()?)?;
            out.push(normed(&h)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_position_index_matches_monai_for_a_2x2_window() {
        // MONAI (window (2, 2)): [[4, 3, 1, 0], [5, 4, 2, 1], [7, 6, 4, 3], [8, 7, 5, 4]].
        assert_eq!(
            relative_position_index(&[2, 2]),
            [4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4]
        );
    }

    #[test]
    fn windows_partition_and_reverse_round_trip() {
        let x = Tensor::arange(2 * 4 * 6 * 3, (Kind::Float, Device::Cpu)).view([2, 4, 6, 3]);
        let w = window_partition(&x, &[2, 3]).unwrap();
        assert_eq!(w.size(), [8, 6, 3]);
        assert!(window_reverse(&w, &[2, 3], 2, &[4, 6]).unwrap().equal(&x));
    }
}
