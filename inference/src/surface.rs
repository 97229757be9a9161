//! Surface metrics of one target in one case — the 95th-percentile Hausdorff distance (HD95)
//! and the normalised surface distance (NSD, "surface Dice") at a tolerance — in mm, exactly as
//! MONAI 1.6 computes them (`compute_hausdorff_distance(percentile=95)` and
//! `compute_surface_dice(use_subvoxels=False)`):
//!
//! - A mask's surface is its edge voxels: voxels of the mask with a face neighbour (6 in 3D, 4
//!   in 2D) outside the mask or outside the image (`mask ^ binary_erosion(mask)`).
//! - A surface voxel's distance is the Euclidean distance, in mm with the voxel spacing, to the
//!   nearest surface voxel of the other mask; here by an exact distance transform
//!   (Felzenszwalb–Huttenlocher separable passes, anisotropic spacing, lines in parallel) over
//!   the bounding box of both masks. Distances are rounded to `f32` as MONAI's are.
//! - HD95: per direction the 95th percentile (linear interpolation, `torch.quantile`), then the
//!   larger of the two. NSD: the surface voxels of both masks within the tolerance, over all
//!   surface voxels.
//! - Edge cases as MONAI: both masks empty → HD95 and NSD `NaN`; exactly one empty → HD95 `NaN`
//!   (MONAI's distances are all `inf` then, and `torch.quantile` interpolates them to `NaN`),
//!   NSD 0.
//!
//! A label map with one slice (`z = 1`) is 2D: its surface is traced in-plane.

use rayon::prelude::*;

/// HD95 and NSD of one target in one case.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SurfaceMetrics {
    /// 95th-percentile symmetric Hausdorff distance, mm.
    pub hd95: f64,
    /// Normalised surface distance at the tolerance, in [0, 1].
    pub nsd: f64,
}

/// The box `[lo, hi)` per axis holding every voxel of either mask, or `None` when both are empty.
fn bounding_box(shape: [usize; 3], a: &[bool], b: &[bool]) -> Option<([usize; 3], [usize; 3])> {
    let mut lo = shape;
    let mut hi = [0; 3];
    let plane = shape[1] * shape[2];
    for (i, _) in a.iter().zip(b).enumerate().filter(|(_, (x, y))| **x || **y) {
        let at = [i / plane, (i / shape[2]) % shape[1], i % shape[2]];
        for k in 0..3 {
            lo[k] = lo[k].min(at[k]);
            hi[k] = hi[k].max(at[k] + 1);
        }
    }
    (hi[0] > 0).then_some((lo, hi))
}

/// The edge voxels of `mask` inside the box, as a box-sized mask.
fn edges(mask: &[bool], shape: [usize; 3], lo: [usize; 3], size: [usize; 3]) -> Vec<bool> {
    let axes: &[usize] = if shape[0] == 1 { &[1, 2] } else { &[0, 1, 2] };
    let strides = [shape[1] * shape[2], shape[2], 1];
    let mut out = vec![false; size.iter().product()];
    out.par_chunks_mut(size[2])
        .enumerate()
        .for_each(|(row, line)| {
            let (bz, by) = (row / size[1], row % size[1]);
            for (bx, o) in line.iter_mut().enumerate() {
                let at = [lo[0] + bz, lo[1] + by, lo[2] + bx];
                let i = at[0] * strides[0] + at[1] * strides[1] + at[2];
                *o = mask[i]
                    && axes.iter().any(|&k| {
                        at[k] == 0
                            || at[k] + 1 == shape[k]
                            || !mask[i - strides[k]]
                            || !mask[i + strides[k]]
                    });
            }
        });
    out
}

/// One line of the squared distance transform (Felzenszwalb & Huttenlocher): `f` holds squared
/// distances (`inf` for none), samples `step` mm apart; returns `min_q (step·(p−q))² + f(q)`.
fn edt_line(f: &[f64], step: f64) -> Vec<f64> {
    let n = f.len();
    let mut out = vec![f64::INFINITY; n];
    let mut v: Vec<usize> = Vec::with_capacity(n);
    let mut z: Vec<f64> = Vec::with_capacity(n + 1);
    let pos = |q: usize| step * q as f64;
    for q in (0..n).filter(|&q| f[q].is_finite()) {
        let fq = f[q] + pos(q) * pos(q);
        loop {
            let Some(&last) = v.last() else {
                v.push(q);
                z.clear();
                z.push(f64::NEG_INFINITY);
                break;
            };
            let s = (fq - (f[last] + pos(last) * pos(last))) / (2.0 * (pos(q) - pos(last)));
            if s <= z[z.len() - 1] {
                v.pop();
                z.pop();
                continue;
            }
            v.push(q);
            z.push(s);
            break;
        }
    }
    if v.is_empty() {
        return out;
    }
    let mut k = 0;
    for (p, o) in out.iter_mut().enumerate() {
        while k + 1 < v.len() && z[k + 1] < pos(p) {
            k += 1;
        }
        let d = pos(p) - pos(v[k]);
        *o = d * d + f[v[k]];
    }
    out
}

/// Squared Euclidean distance (mm²) of every voxel of a `size` box to the nearest `true` voxel
/// of `sites`, `spacing` mm apart per axis.
pub fn squared_distance_transform(sites: &[bool], size: [usize; 3], spacing: [f64; 3]) -> Vec<f64> {
    let mut d: Vec<f64> = sites
        .iter()
        .map(|&s| if s { 0.0 } else { f64::INFINITY })
        .collect();
    let strides = [size[1] * size[2], size[2], 1];
    for axis in (0..3).filter(|&k| size[k] > 1) {
        let n = size[axis];
        // Every line along `axis`, by its first voxel.
        let starts: Vec<usize> = (0..d.len())
            .filter(|&i| (i / strides[axis]).is_multiple_of(n))
            .collect();
        let lines: Vec<Vec<f64>> = starts
            .par_iter()
            .map(|&s| {
                let line: Vec<f64> = (0..n).map(|j| d[s + j * strides[axis]]).collect();
                edt_line(&line, spacing[axis])
            })
            .collect();
        for (s, line) in starts.iter().zip(lines) {
            for (j, v) in line.into_iter().enumerate() {
                d[s + j * strides[axis]] = v;
            }
        }
    }
    d
}

/// The distances (mm, rounded to `f32`) from each `from` voxel to the nearest `to` voxel.
fn directed(from: &[bool], to: &[bool], size: [usize; 3], spacing: [f64; 3]) -> Vec<f32> {
    if !to.iter().any(|&t| t) {
        return vec![f32::INFINITY; from.iter().filter(|&&f| f).count()];
    }
    let d = squared_distance_transform(to, size, spacing);
    from.iter()
        .zip(&d)
        .filter(|(f, _)| **f)
        .map(|(_, &d)| d.sqrt() as f32)
        .collect()
}

/// `torch.quantile(values, q)` in `f32`: linear interpolation between the sorted neighbours;
/// `NaN` for no values.
fn quantile(mut values: Vec<f32>, q: f32) -> f32 {
    if values.is_empty() {
        return f32::NAN;
    }
    values.sort_by(f32::total_cmp);
    let rank = q * (values.len() - 1) as f32;
    let below = rank.floor();
    let (a, b) = (
        values[below as usize],
        values[(rank.ceil() as usize).min(values.len() - 1)],
    );
    let w = rank - below;
    // torch.lerp's formula (so infinite distances give NaN, as in MONAI).
    if w < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

/// HD95 and NSD at `tolerance` mm of `prediction` against `reference` (masks of a `(z, y, x)`
/// `shape`, `spacing` mm per axis).
pub fn surface_metrics(
    reference: &[bool],
    prediction: &[bool],
    shape: [usize; 3],
    spacing: [f64; 3],
    tolerance: f64,
) -> SurfaceMetrics {
    let Some((lo, hi)) = bounding_box(shape, reference, prediction) else {
        return SurfaceMetrics {
            hd95: f64::NAN,
            nsd: f64::NAN,
        };
    };
    let size = [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]];
    let (gt, pred) = (
        edges(reference, shape, lo, size),
        edges(prediction, shape, lo, size),
    );
    let (to_gt, to_pred) = if !gt.iter().any(|&g| g) {
        // MONAI: an empty reference gives `inf` for every prediction edge, both ways.
        let n = pred.iter().filter(|&&p| p).count();
        (vec![f32::INFINITY; n], vec![f32::INFINITY; n])
    } else {
        (
            directed(&pred, &gt, size, spacing),
            directed(&gt, &pred, size, spacing),
        )
    };
    let tol = tolerance as f32;
    let within = to_gt.iter().chain(&to_pred).filter(|&&d| d <= tol).count();
    let complete = to_gt.len() + to_pred.len();
    let nsd = within as f64 / complete as f64;
    // torch.max: NaN wins.
    let (a, b) = (quantile(to_gt, 0.95), quantile(to_pred, 0.95));
    let hd95 = if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.max(b)
    };
    SurfaceMetrics {
        hd95: f64::from(hd95),
        nsd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_transform_is_exact_with_anisotropic_spacing() {
        let size = [3, 4, 5];
        let mut sites = vec![false; 60];
        sites[0] = true;
        sites[59] = true;
        let spacing = [2.0, 0.5, 1.5];
        let d = squared_distance_transform(&sites, size, spacing);
        for (i, &got) in d.iter().enumerate() {
            let at = [i / 20, (i / 5) % 4, i % 5];
            let sq = |o: [usize; 3]| {
                (0..3)
                    .map(|k| ((at[k] as f64 - o[k] as f64) * spacing[k]).powi(2))
                    .sum::<f64>()
            };
            let want = sq([0, 0, 0]).min(sq([2, 3, 4]));
            assert!((got - want).abs() < 1e-9, "voxel {at:?}: {got} vs {want}");
        }
    }

    #[test]
    fn quantile_interpolates_like_torch() {
        assert_eq!(quantile(vec![0.0, 10.0], 0.95), 9.5);
        assert_eq!(quantile(vec![3.0], 0.95), 3.0);
        assert!(quantile(vec![], 0.95).is_nan());
    }

    #[test]
    fn edge_cases_follow_monai() {
        let empty = vec![false; 9];
        let mut one = vec![false; 9];
        one[4] = true;
        let m = surface_metrics(&empty, &empty, [1, 3, 3], [1.0; 3], 1.0);
        assert!(m.hd95.is_nan() && m.nsd.is_nan());
        let m = surface_metrics(&empty, &one, [1, 3, 3], [1.0; 3], 1.0);
        assert!(m.hd95.is_nan() && m.nsd == 0.0);
        let m = surface_metrics(&one, &empty, [1, 3, 3], [1.0; 3], 1.0);
        assert!(m.hd95.is_nan() && m.nsd == 0.0);
        let m = surface_metrics(&one, &one, [1, 3, 3], [1.0; 3], 1.0);
        assert_eq!((m.hd95, m.nsd), (0.0, 1.0));
    }
}
