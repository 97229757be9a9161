//! Rotation and scaling, then the crop to the final patch: batchgeneratorsv2's
//! `SpatialTransform` as nnU-Net configures it (p_rotation 0.2, p_scaling 0.2, scaling
//! (0.7, 1.4) shared by all axes, no elastic deformation, patch centred in the enlarged crop).
//!
//! One pass maps every output voxel `o` to the input position `M·(o − (P−1)/2) + (S−1)/2`
//! (`P` patch shape, `S` input shape: torch's `grid_sample` with `align_corners=False`, as
//! batchgeneratorsv2 builds its grid) and interpolates there:
//! * image: (tri)linear, zero outside the input (`padding_mode="zeros"`);
//! * segmentation: each label's indicator is interpolated linearly with the padding label −1
//!   outside, the label with the top score wins, and ties go to the nearest neighbour's label
//!   (`mode_seg="bilinear"`, `seg_tiebreak="nearest"`: the labels stay in step with the image).
//!   Scores within 5e-4 count as tied, as batchgeneratorsv2's float16 scores (scale 1000) do.
//!
//! Without rotation or scaling the patch is cut out around the centre with no interpolation,
//! exactly as `crop_tensor` does.
//!
//! Speed: the pass reads the enlarged patch straight from the case through a [`Window`]
//! (no copy of the enlarged crop); the 8 neighbours' indices and weights are computed once per
//! output voxel and shared by every image and label channel; in-plane matrices (2D, dummy 2D)
//! use 4 neighbours instead of 8 (bit-identical, see `resample`); a neighbourhood of one label
//! skips the vote, and a point with no neighbour inside (the padding around a case) is
//! written as padding at once. Hand-written: the crates with affine resampling (e.g.
//! `ndarray-ndimage`) offer neither the label-voting rule nor one pass over image and labels.

use nnunet_core::{Error, Result};
use rand::Rng;

use crate::case_source::CaseData;
use crate::patch_sampling::crop_and_pad;
use crate::random::{chance, uniform};
use crate::sample::{Sample, voxel_count};

/// A 3×3 matrix acting on `[z, y, x]` coordinates.
pub type Matrix = [[f64; 3]; 3];

/// Spatial augmentation settings (nnU-Net's values from [`SpatialConfig::nnunet`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SpatialConfig {
    pub p_rotation: f64,
    /// Rotation range in radians, sampled per axis.
    pub rotation: (f64, f64),
    pub p_scaling: f64,
    pub scaling: (f64, f64),
    /// 3: rotate about all three axes; 2: in-plane only (2D configurations and dummy 2D).
    pub dims: usize,
}

impl SpatialConfig {
    /// nnU-Net's default spatial transform for a given rotation range and dimensionality.
    pub fn nnunet(rotation: (f64, f64), dims: usize) -> Self {
        SpatialConfig {
            p_rotation: 0.2,
            rotation,
            p_scaling: 0.2,
            scaling: (0.7, 1.4),
            dims,
        }
    }
}

fn matmul(a: &Matrix, b: &Matrix) -> Matrix {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

/// batchgeneratorsv2's `create_affine_matrix_3d`: `Rz(a2)·Ry(a1)·Rx(a0)·S`.
pub fn affine_3d(angles: [f64; 3], scale: [f64; 3]) -> Matrix {
    let r = |axis: usize, a: f64| -> Matrix {
        let (s, c) = a.sin_cos();
        match axis {
            0 => [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]],
            1 => [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]],
            _ => [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]],
        }
    };
    let s = [
        [scale[0], 0.0, 0.0],
        [0.0, scale[1], 0.0],
        [0.0, 0.0, scale[2]],
    ];
    matmul(
        &r(2, angles[2]),
        &matmul(&r(1, angles[1]), &matmul(&r(0, angles[0]), &s)),
    )
}

/// `create_affine_matrix_2d` acting on `(y, x)`, identity on `z`.
pub fn affine_in_plane(angle: f64, scale: [f64; 2]) -> Matrix {
    let (s, c) = angle.sin_cos();
    [
        [1.0, 0.0, 0.0],
        [0.0, c * scale[0], -s * scale[1]],
        [0.0, s * scale[0], c * scale[1]],
    ]
}

/// Draws this sample's transform: `None` when neither rotation nor scaling fires.
pub fn sample_matrix(rng: &mut impl Rng, cfg: &SpatialConfig) -> Option<Matrix> {
    let do_rotation = chance(rng, cfg.p_rotation);
    let do_scale = chance(rng, cfg.p_scaling);
    if !do_rotation && !do_scale {
        return None;
    }
    let mut angles = [0.0; 3];
    if do_rotation {
        for a in angles.iter_mut().take(cfg.dims) {
            *a = uniform(rng, cfg.rotation.0, cfg.rotation.1);
        }
    }
    let s = if do_scale {
        uniform(rng, cfg.scaling.0, cfg.scaling.1)
    } else {
        1.0
    };
    Some(if cfg.dims == 3 {
        affine_3d(angles, [s; 3])
    } else {
        affine_in_plane(angles[cfg.dims - 1], [s; 2])
    })
}

/// What the transform reads: the box `[lower, lower + size)` of `(channels, z, y, x)` arrays
/// of `shape`. The part of the box outside the arrays is padding (image 0, labels −1), exactly
/// as if the box had been cut out with [`crop_and_pad`] first — but nothing is copied.
#[derive(Debug, Clone)]
pub struct Window<'a> {
    pub image: &'a [f32],
    pub channels: usize,
    /// One label array per segmentation channel.
    pub seg: Vec<&'a [i16]>,
    pub shape: [usize; 3],
    pub lower: [i64; 3],
    pub size: [usize; 3],
}

impl<'a> Window<'a> {
    /// The whole of `sample`.
    pub fn whole(sample: &'a Sample) -> Self {
        let n = sample.voxels();
        Window {
            image: &sample.image,
            channels: sample.channels,
            seg: (0..sample.seg_channels)
                .map(|c| &sample.seg[c * n..(c + 1) * n])
                .collect(),
            shape: sample.shape,
            lower: [0; 3],
            size: sample.shape,
        }
    }

    /// The box `[lower, lower + size)` of a case; with `previous_stage` the cascade's
    /// previous-stage segmentation is the second label channel.
    pub fn of_case(
        case: &'a CaseData,
        lower: [i64; 3],
        size: [usize; 3],
        previous_stage: bool,
    ) -> Result<Self> {
        let mut seg = vec![case.seg.as_slice()];
        if previous_stage {
            seg.push(case.seg_prev.as_deref().ok_or_else(|| {
                Error::Invalid(format!(
                    "case {}: the cascade needs the previous stage's segmentation",
                    case.identifier
                ))
            })?);
        }
        Ok(Window {
            image: &case.data,
            channels: case.channels,
            seg,
            shape: case.shape,
            lower,
            size,
        })
    }
}

/// Applies `matrix` (or the plain centre crop when `None`) and returns a sample of shape `patch`.
pub fn apply(sample: &Sample, patch: [usize; 3], matrix: Option<&Matrix>) -> Sample {
    match matrix {
        None => centre_crop(sample, patch),
        Some(m) => apply_window(&Window::whole(sample), patch, m, sample.ndim),
    }
}

/// Applies `matrix` to the window (its box is the enlarged patch) and returns a sample of
/// shape `patch`; equal to [`apply`] on the box cut out with [`crop_and_pad`].
pub fn apply_window(w: &Window, patch: [usize; 3], m: &Matrix, ndim: usize) -> Sample {
    resample(w, patch, m, ndim, true)
}

/// Where the window's voxels lie in the arrays it reads.
struct Grid {
    /// Array position of the window's voxel 0.
    lower: [i64; 3],
    /// Readable range per axis (window ∩ arrays), in array positions.
    lo: [i64; 3],
    hi: [i64; 3],
    stride: [usize; 3],
}

impl Grid {
    fn new(w: &Window) -> Self {
        Grid {
            lower: w.lower,
            lo: std::array::from_fn(|d| w.lower[d].max(0)),
            hi: std::array::from_fn(|d| (w.lower[d] + w.size[d] as i64).min(w.shape[d] as i64)),
            stride: [w.shape[1] * w.shape[2], w.shape[2], 1],
        }
    }
}

/// The resampling pass. With `planar` an in-plane matrix (identity on axis 0: 2D, dummy 2D)
/// takes the bilinear path on every output slice that maps onto one input slice: 4 neighbours
/// instead of 8. Its result is bit-identical to the trilinear one (there the 4 neighbours of
/// the next slice have weight 0, and a label of weight 0 can never win or tie the vote).
fn resample(w: &Window, patch: [usize; 3], m: &Matrix, ndim: usize, planar: bool) -> Sample {
    let g = Grid::new(w);
    let sn = voxel_count(w.shape);
    let pn = voxel_count(patch);
    let mut image = vec![0f32; w.channels * pn];
    let mut seg = vec![0i16; w.seg.len() * pn];
    let images: Vec<&[f32]> = (0..w.channels)
        .map(|c| &w.image[c * sn..(c + 1) * sn])
        .collect();
    let centre_in: [f64; 3] = std::array::from_fn(|d| (w.size[d] as f64 - 1.0) / 2.0);
    let centre_out: [f64; 3] = std::array::from_fn(|d| (patch[d] as f64 - 1.0) / 2.0);
    let in_plane = planar && m[0] == [1.0, 0.0, 0.0] && m[1][0] == 0.0 && m[2][0] == 0.0;

    let row_len = patch[2];
    for oz in 0..patch[0] {
        let o_slice = oz * patch[1] * row_len;
        let pz = oz as f64 - centre_out[0];
        // in-plane: every voxel of this slice reads input slice `z` (when it is an exact one)
        let slice = if in_plane {
            let cz = m[0][0] * pz + centre_in[0];
            let f = fast_floor(cz);
            let z = f + g.lower[0];
            (f as f64 == cz && z >= g.lo[0] && z < g.hi[0]).then_some(z as usize * g.stride[0])
        } else {
            None
        };
        let row = |oy: usize| -> [f64; 3] {
            let py = oy as f64 - centre_out[1];
            std::array::from_fn(|d| m[d][0] * pz + m[d][1] * py + centre_in[d])
        };
        match slice {
            Some(zbase) => {
                for oy in 0..patch[1] {
                    let row = row(oy);
                    for ox in 0..row_len {
                        let px = ox as f64 - centre_out[2];
                        let c = [row[1] + m[1][2] * px, row[2] + m[2][2] * px];
                        let k = Corners::<4>::inside(c, &g, 1, zbase)
                            .unwrap_or_else(|| Corners::new(c, &g, 1, zbase));
                        let o = o_slice + oy * row_len + ox;
                        k.write(&images, &w.seg, &mut image, &mut seg, pn, o);
                    }
                }
            }
            None => {
                for oy in 0..patch[1] {
                    let row = row(oy);
                    for ox in 0..row_len {
                        let px = ox as f64 - centre_out[2];
                        let c: [f64; 3] = std::array::from_fn(|d| row[d] + m[d][2] * px);
                        let k = Corners::<8>::inside(c, &g, 0, 0)
                            .unwrap_or_else(|| Corners::new(c, &g, 0, 0));
                        let o = o_slice + oy * row_len + ox;
                        k.write(&images, &w.seg, &mut image, &mut seg, pn, o);
                    }
                }
            }
        }
    }
    Sample {
        image,
        channels: w.channels,
        seg,
        seg_channels: w.seg.len(),
        shape: patch,
        ndim,
    }
}

/// The `N` neighbours of a sample point (8 in 3D, 4 in-plane): flat indices, weights, which
/// lie inside the readable range (bit `k` of `inside`) and which one is nearest.
struct Corners<const N: usize> {
    index: [usize; N],
    weight: [f32; N],
    inside: u8,
    nearest: usize,
}

/// `floor` without a libm call (the baseline x86-64 target has no `roundsd`).
#[inline(always)]
fn fast_floor(v: f64) -> i64 {
    let i = v as i64;
    if (i as f64) > v { i - 1 } else { i }
}

impl<const N: usize> Corners<N> {
    const ALL: u8 = ((1u16 << N) - 1) as u8;

    /// The common case, all `N = 2^D` neighbours inside; `None` otherwise. `c` is the point on
    /// the grid axes `first..first + D`, and `base` the flat offset of the other axes (the
    /// input slice of an in-plane transform, else 0). Weights are `1·w0·w1…` in axis order.
    #[inline(always)]
    fn inside<const D: usize>(c: [f64; D], g: &Grid, first: usize, base: usize) -> Option<Self> {
        debug_assert_eq!(N, 1 << D);
        let mut base = base;
        let mut step = [0usize; D];
        let mut t = [0f32; D];
        let mut near = 0usize;
        for a in 0..D {
            let d = a + first;
            let f0 = fast_floor(c[a]);
            let frac = c[a] - f0 as f64;
            let f = f0 + g.lower[d];
            if f < g.lo[d] || f >= g.hi[d] {
                return None;
            }
            if f + 1 < g.hi[d] {
                step[a] = g.stride[d];
            } else if frac != 0.0 {
                return None;
            }
            base += f as usize * g.stride[d];
            t[a] = frac as f32;
            near |= ((frac > 0.5) as usize) << (D - 1 - a);
        }
        let mut index = [0usize; N];
        let mut weight = [0f32; N];
        for k in 0..N {
            let mut w = 1f32;
            let mut idx = base;
            for a in 0..D {
                let h = (k >> (D - 1 - a)) & 1;
                idx += h * step[a];
                w *= if h == 1 { t[a] } else { 1.0 - t[a] };
            }
            index[k] = idx;
            weight[k] = w;
        }
        Some(Corners {
            index,
            weight,
            inside: Self::ALL,
            nearest: near,
        })
    }

    /// Any point, as [`Corners::inside`]: neighbours outside the readable range are left out
    /// (bit clear in `inside`); an exact grid coordinate needs no second neighbour (keeps
    /// z = 1 volumes inside); a point with no neighbour inside (the padding around a case)
    /// returns at once.
    #[inline(always)]
    fn new<const D: usize>(c: [f64; D], g: &Grid, first: usize, base: usize) -> Self {
        debug_assert_eq!(N, 1 << D);
        let mut offset = [[0i64; 2]; D];
        let mut ok = [[false; 2]; D];
        let mut t = [0f32; D];
        let mut near = 0usize;
        for a in 0..D {
            let d = a + first;
            let f0 = fast_floor(c[a]);
            let frac = c[a] - f0 as f64;
            let i0 = f0 + g.lower[d];
            let i1 = if frac == 0.0 { i0 } else { i0 + 1 };
            ok[a] = [i0 >= g.lo[d] && i0 < g.hi[d], i1 >= g.lo[d] && i1 < g.hi[d]];
            offset[a] = [i0 * g.stride[d] as i64, i1 * g.stride[d] as i64];
            t[a] = frac as f32;
            near |= ((frac > 0.5) as usize) << (D - 1 - a);
        }
        let mut out = Corners {
            index: [0; N],
            weight: [0.0; N],
            inside: 0,
            nearest: near,
        };
        if ok.iter().any(|o| !(o[0] || o[1])) {
            return out;
        }
        for k in 0..N {
            let mut w = 1f32;
            let mut idx = base as i64;
            let mut ins = true;
            for a in 0..D {
                let h = (k >> (D - 1 - a)) & 1;
                w *= if h == 1 { t[a] } else { 1.0 - t[a] };
                ins &= ok[a][h];
                idx += offset[a][h];
            }
            out.weight[k] = w;
            if ins {
                out.index[k] = idx as usize;
                out.inside |= 1 << k;
            }
        }
        out
    }

    /// Interpolates every image channel and votes every label channel into output voxel `o`.
    #[inline(always)]
    fn write(
        &self,
        images: &[&[f32]],
        segs: &[&[i16]],
        image: &mut [f32],
        seg: &mut [i16],
        pn: usize,
        o: usize,
    ) {
        if self.inside == 0 {
            // all padding: the image stays 0 (as a sum of no terms), the labels are −1
            for ch in 0..segs.len() {
                seg[ch * pn + o] = -1;
            }
            return;
        }
        for (ch, src) in images.iter().enumerate() {
            image[ch * pn + o] = self.interpolate(src);
        }
        for (ch, src) in segs.iter().enumerate() {
            seg[ch * pn + o] = self.vote(src);
        }
    }

    #[inline(always)]
    fn interpolate(&self, src: &[f32]) -> f32 {
        let mut acc = 0f32;
        if self.inside == Self::ALL {
            for k in 0..N {
                acc += self.weight[k] * src[self.index[k]];
            }
        } else {
            for k in 0..N {
                if self.inside & (1 << k) != 0 {
                    acc += self.weight[k] * src[self.index[k]];
                }
            }
        }
        acc
    }

    #[inline(always)]
    fn label(&self, src: &[i16], k: usize) -> i16 {
        const PAD: i16 = -1;
        if self.inside & (1 << k) != 0 {
            src[self.index[k]]
        } else {
            PAD
        }
    }

    #[inline(always)]
    fn vote(&self, src: &[i16]) -> i16 {
        let mut all = [0i16; N];
        for (k, l) in all.iter_mut().enumerate() {
            *l = self.label(src, k);
        }
        if all.iter().all(|&l| l == all[0]) {
            return all[0];
        }
        let mut labels = [0i16; N];
        let mut scores = [0f32; N];
        let mut n = 0usize;
        for (&w, &l) in self.weight.iter().zip(&all) {
            match labels[..n].iter().position(|&x| x == l) {
                Some(j) => scores[j] += w,
                None => {
                    labels[n] = l;
                    scores[n] = w;
                    n += 1;
                }
            }
        }
        let top = scores[..n].iter().cloned().fold(f32::MIN, f32::max);
        let nearest = all[self.nearest];
        let mut winner: Option<i16> = None;
        for j in 0..n {
            if top - scores[j] <= 5e-4 {
                if labels[j] == nearest {
                    return nearest;
                }
                winner = Some(winner.map_or(labels[j], |w: i16| w.min(labels[j])));
            }
        }
        winner.unwrap_or(nearest)
    }
}

/// The centre crop without interpolation (`crop_tensor` around `floor(shape / 2)`); image
/// padded with 0, segmentation with −1.
pub fn centre_crop(sample: &Sample, patch: [usize; 3]) -> Sample {
    let lower: [i64; 3] =
        std::array::from_fn(|d| (sample.shape[d] / 2) as i64 - (patch[d] / 2) as i64);
    Sample {
        image: crop_and_pad(
            &sample.image,
            sample.channels,
            sample.shape,
            lower,
            patch,
            0.0,
        ),
        channels: sample.channels,
        seg: crop_and_pad(
            &sample.seg,
            sample.seg_channels,
            sample.shape,
            lower,
            patch,
            -1,
        ),
        seg_channels: sample.seg_channels,
        shape: patch,
        ndim: sample.ndim,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::sample_rng;

    /// A 3D sample whose image equals its label map: blocks of labels 0..=3.
    fn blocks(shape: [usize; 3]) -> Sample {
        let n = voxel_count(shape);
        let seg: Vec<i16> = (0..n)
            .map(|i| {
                let (z, y, x) = (
                    i / (shape[1] * shape[2]),
                    (i / shape[2]) % shape[1],
                    i % shape[2],
                );
                ((z * 2 / shape[0]) + 2 * (y * 2 / shape[1]) + (x * 3 / shape[2] == 1) as usize)
                    as i16
                    % 4
            })
            .collect();
        Sample {
            image: seg.iter().map(|&l| l as f32).collect(),
            channels: 1,
            seg,
            seg_channels: 1,
            shape,
            ndim: 3,
        }
    }

    #[test]
    fn identity_matrix_reproduces_the_centre_crop() {
        let s = blocks([12, 14, 10]);
        let id = affine_3d([0.0; 3], [1.0; 3]);
        // even size differences: both paths sample the same voxels
        let a = apply(&s, [8, 10, 6], Some(&id));
        let b = centre_crop(&s, [8, 10, 6]);
        assert_eq!(a.seg, b.seg);
        assert_eq!(a.image, b.image);
    }

    #[test]
    fn labels_stay_in_step_with_the_image() {
        let s = blocks([30, 34, 28]);
        let cfg = SpatialConfig {
            p_rotation: 1.0,
            rotation: (-0.5, 0.5),
            p_scaling: 1.0,
            scaling: (0.7, 1.4),
            dims: 3,
        };
        for k in 0..5 {
            let m = sample_matrix(&mut sample_rng(3, k, 0), &cfg).unwrap();
            let out = apply(&s, [20, 24, 18], Some(&m));
            // A label's score is its interpolated indicator. With the image set to the
            // indicator of label 1: above ½ label 1 must win; below ¼ it cannot (the other at
            // most three labels share more than ¾, so one of them scores more than ¼).
            let ind: Vec<f32> = s.seg.iter().map(|&l| (l == 1) as u8 as f32).collect();
            let t = Sample {
                image: ind,
                ..s.clone()
            };
            let out_ind = apply(&t, [20, 24, 18], Some(&m));
            let (mut above, mut below) = (0, 0);
            for (&v, &l) in out_ind.image.iter().zip(&out.seg) {
                if v > 0.5 + 1e-3 {
                    assert_eq!(l, 1, "matrix {m:?}");
                    above += 1;
                } else if v < 0.25 {
                    assert_ne!(l, 1, "matrix {m:?}");
                    below += 1;
                }
            }
            assert!(above > 500 && below > 500, "{above} {below}");
            // image and labels are mapped by the same transform
            assert_eq!(out.image.len(), out.seg.len());
            // only labels of the input (or the padding label) appear
            assert!(out.seg.iter().all(|&l| (-1..=3).contains(&l)));
        }
    }

    #[test]
    fn rotation_by_90_degrees_in_plane_permutes_axes() {
        let mut s = blocks([1, 9, 9]);
        s.ndim = 2;
        let m = affine_in_plane(std::f64::consts::FRAC_PI_2, [1.0, 1.0]);
        let out = apply(&s, [1, 9, 9], Some(&m));
        // out(y, x) = in(M·p): y_in = -x_p, x_in = y_p (rotation about the centre)
        for y in 0..9 {
            for x in 0..9 {
                let (yi, xi) = (8 - x, y);
                assert_eq!(out.seg[y * 9 + x], s.seg[yi * 9 + xi]);
                assert!((out.image[y * 9 + x] - s.image[yi * 9 + xi]).abs() < 1e-5);
            }
        }
    }

    fn random_matrix(k: u64, dims: usize) -> Matrix {
        let cfg = SpatialConfig {
            p_rotation: 1.0,
            rotation: (-3.1, 3.1),
            p_scaling: 1.0,
            scaling: (0.7, 1.4),
            dims,
        };
        sample_matrix(&mut sample_rng(11, k, 0), &cfg).unwrap()
    }

    /// A 2-channel sample with a smooth image and block labels (−1 on one border).
    fn two_channel(shape: [usize; 3], ndim: usize) -> Sample {
        let mut s = blocks(shape);
        let n = s.voxels();
        s.image
            .extend((0..n).map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 2.0));
        s.channels = 2;
        for v in s.seg.iter_mut().step_by(shape[2]) {
            *v = -1;
        }
        s.ndim = ndim;
        s
    }

    #[test]
    fn in_plane_fast_path_equals_the_trilinear_pass() {
        // 2D (z = 1), with patches smaller and larger than the input (padding)
        let s = two_channel([1, 37, 41], 2);
        for k in 0..12 {
            let m = random_matrix(k, 2);
            for patch in [[1, 24, 30], [1, 52, 47]] {
                let w = Window::whole(&s);
                let fast = resample(&w, patch, &m, 2, true);
                let plain = resample(&w, patch, &m, 2, false);
                assert_eq!(fast, plain, "matrix {m:?} patch {patch:?}");
            }
        }
        // dummy 2D: in-plane matrix on a 3D patch, the same slices in and out
        let s = two_channel([5, 30, 28], 3);
        for k in 0..6 {
            let m = random_matrix(k, 2);
            let w = Window::whole(&s);
            let fast = resample(&w, [5, 20, 24], &m, 3, true);
            assert_eq!(fast, resample(&w, [5, 20, 24], &m, 3, false));
            // an odd difference in z: slices fall between input slices (trilinear path)
            let fast = resample(&w, [4, 20, 24], &m, 3, true);
            assert_eq!(fast, resample(&w, [4, 20, 24], &m, 3, false));
        }
    }

    #[test]
    fn window_equals_crop_then_transform() {
        let s3 = two_channel([14, 18, 16], 3);
        let s2 = two_channel([1, 40, 33], 2);
        for (s, dims, size, patch) in [
            (&s3, 3, [12, 16, 20], [8, 10, 12]),
            (&s2, 2, [1, 30, 30], [1, 22, 25]),
        ] {
            for (k, lower) in [[0i64, 0, 0], [-4, -6, -3], [5, 9, 1], [-1, 20, -12]]
                .into_iter()
                .enumerate()
            {
                let lower = if dims == 2 {
                    [0, lower[1], lower[2]]
                } else {
                    lower
                };
                let m = random_matrix(k as u64, dims);
                let cut = Sample {
                    image: crop_and_pad(&s.image, 2, s.shape, lower, size, 0.0),
                    seg: crop_and_pad(&s.seg, 1, s.shape, lower, size, -1),
                    shape: size,
                    ..s.clone()
                };
                let w = Window {
                    lower,
                    size,
                    ..Window::whole(s)
                };
                let direct = apply_window(&w, patch, &m, s.ndim);
                assert_eq!(direct, apply(&cut, patch, Some(&m)), "lower {lower:?}");
            }
        }
    }

    #[test]
    fn outside_is_padding() {
        let s = blocks([6, 6, 6]);
        let m = affine_3d([0.0; 3], [1.4; 3]);
        let out = apply(&s, [10, 10, 10], Some(&m));
        assert_eq!(out.seg[0], -1);
        assert_eq!(out.image[0], 0.0);
    }
}
