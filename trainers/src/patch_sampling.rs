//! Where patches come from: nnU-Net's enlarged initial patch size, the foreground
//! oversampling rule, bounding-box sampling and crop-with-padding
//! (`nnunetv2/training/dataloading/data_loader.py`, `compute_initial_patch_size.py`).

use rand::Rng;

use crate::random::round_half_even;

/// nnU-Net's default fraction of foreground-forced samples per batch.
pub const OVERSAMPLE_FOREGROUND_PERCENT: f64 = 0.33;

/// nnU-Net's rule: sample `j` of a batch of `batch_size` is forced to contain foreground iff
/// `j >= round(batch_size · (1 − percent))` (Python rounding, half to even).
pub fn force_foreground(j: usize, batch_size: usize, percent: f64) -> bool {
    (j as i64) >= round_half_even(batch_size as f64 * (1.0 - percent))
}

fn rotation_matrix_3d(axis: usize, a: f64) -> [[f64; 3]; 3] {
    let (s, c) = a.sin_cos();
    match axis {
        0 => [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]],
        1 => [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]],
        _ => [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]],
    }
}

/// nnU-Net's `get_patch_size`: the patch, rotated by the largest angle about each axis
/// (capped at 90°) and divided by the smallest scale 0.85, bounding box truncated to integers.
/// `patch` has 2 or 3 axes; `max_rotation` is in radians.
pub fn initial_patch_size(patch: &[usize], max_rotation: f64) -> Vec<usize> {
    let rot = max_rotation.abs().min(std::f64::consts::FRAC_PI_2);
    let coords: Vec<f64> = patch.iter().map(|&p| p as f64).collect();
    let mut out = coords.clone();
    // row vector times matrix, as batchgenerators' rotate_coords_*
    let rotate = |m: &[[f64; 3]; 3], n: usize| -> Vec<f64> {
        (0..n)
            .map(|j| (0..n).map(|i| coords[i] * m[i][j]).sum::<f64>())
            .collect()
    };
    if coords.len() == 3 {
        for axis in 0..3 {
            let r = rotate(&rotation_matrix_3d(axis, rot), 3);
            for d in 0..3 {
                out[d] = out[d].max(r[d].abs());
            }
        }
    } else {
        let (s, c) = rot.sin_cos();
        let m = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]];
        let r = rotate(&m, 2);
        for d in 0..2 {
            out[d] = out[d].max(r[d].abs());
        }
    }
    out.iter().map(|&v| (v / 0.85) as usize).collect()
}

/// Lower corner of a patch of `patch` voxels in a case of `shape` voxels, as nnU-Net's
/// `get_bbox`. `need_to_pad` = initial − final patch size per axis; `center` is the selected
/// foreground voxel for a forced-foreground sample (else the corner is uniform in range).
pub fn sample_bbox(
    rng: &mut impl Rng,
    shape: [usize; 3],
    patch: [usize; 3],
    need_to_pad: [usize; 3],
    center: Option<[usize; 3]>,
) -> [i64; 3] {
    let mut lower = [0i64; 3];
    for d in 0..3 {
        let (s, p) = (shape[d] as i64, patch[d] as i64);
        let mut need = need_to_pad[d] as i64;
        if need + s < p {
            need = p - s;
        }
        let lb = (-need).div_euclid(2);
        let ub = s + need / 2 + need % 2 - p;
        lower[d] = match center {
            Some(c) => lb.max(c[d] as i64 - p / 2),
            None => rng.gen_range(lb..=ub.max(lb)),
        };
    }
    lower
}

/// Copies the box `[lower, lower + patch)` of a `(channels, shape)` array into a new
/// `(channels, patch)` array, filling what lies outside the source with `pad`
/// (acvl_utils' `crop_and_pad_nd`).
pub fn crop_and_pad<T: Copy>(
    src: &[T],
    channels: usize,
    shape: [usize; 3],
    lower: [i64; 3],
    patch: [usize; 3],
    pad: T,
) -> Vec<T> {
    let pn = patch[0] * patch[1] * patch[2];
    let sn = shape[0] * shape[1] * shape[2];
    // overlap along each axis, in patch coordinates
    let range = |d: usize| -> (usize, usize) {
        let lo = (-lower[d]).max(0) as usize;
        let hi = ((shape[d] as i64 - lower[d]).min(patch[d] as i64)).max(0) as usize;
        (lo.min(hi), hi)
    };
    let (z0, z1) = range(0);
    let (y0, y1) = range(1);
    let (x0, x1) = range(2);
    // written once, row by row in output order (no fill first, then copy over it)
    let mut out = Vec::with_capacity(channels * pn);
    let pad_n = |out: &mut Vec<T>, n: usize| out.extend(std::iter::repeat_n(pad, n));
    for c in 0..channels {
        for z in 0..patch[0] {
            for y in 0..patch[1] {
                if !(z0..z1).contains(&z) || !(y0..y1).contains(&y) || x0 >= x1 {
                    pad_n(&mut out, patch[2]);
                    continue;
                }
                let sz = (z as i64 + lower[0]) as usize;
                let sy = (y as i64 + lower[1]) as usize;
                let sx = (x0 as i64 + lower[2]) as usize;
                let s = c * sn + (sz * shape[1] + sy) * shape[2] + sx;
                pad_n(&mut out, x0);
                out.extend_from_slice(&src[s..s + (x1 - x0)]);
                pad_n(&mut out, patch[2] - x1);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::batch_rng;

    #[test]
    fn oversampling_rule_matches_nnunet() {
        let forced = |bs| (0..bs).filter(|&j| force_foreground(j, bs, 0.33)).count();
        assert_eq!(forced(2), 1); // round(1.34) = 1 → sample 1 forced
        assert_eq!(forced(9), 3); // round(6.03) = 6
        assert_eq!(forced(12), 4); // round(8.04) = 8
        assert_eq!(forced(366), 121); // round(245.22) = 245
        assert!(!force_foreground(0, 2, 0.33) && force_foreground(1, 2, 0.33));
    }

    #[test]
    fn initial_patch_sizes_as_nnunet() {
        // values computed with nnunetv2.training.data_augmentation.compute_initial_patch_size
        let r30 = 30f64.to_radians();
        assert_eq!(initial_patch_size(&[40, 56, 40], r30), vec![73, 80, 64]);
        assert_eq!(
            initial_patch_size(&[56, 40], std::f64::consts::PI),
            vec![65, 65]
        );
        assert_eq!(
            initial_patch_size(&[56, 40], 15f64.to_radians()),
            vec![75, 47]
        );
    }

    #[test]
    fn crop_pads_outside() {
        let shape = [1, 2, 3];
        let src: Vec<i16> = (0..6).collect();
        let out = crop_and_pad(&src, 1, shape, [0, -1, 1], [1, 3, 3], -1);
        assert_eq!(out, vec![-1, -1, -1, 1, 2, -1, 4, 5, -1]);
        let none = crop_and_pad(&src, 1, shape, [5, 5, 5], [1, 2, 2], -1);
        assert_eq!(none, vec![-1; 4]);
    }

    #[test]
    fn crop_equals_voxel_by_voxel_lookup() {
        let shape = [3, 5, 7];
        let src: Vec<i32> = (0..2 * 105).collect();
        for lower in [
            [0i64, 0, 0],
            [-2, 1, -3],
            [1, -4, 2],
            [2, 4, 6],
            [-5, 0, 0],
            [0, 0, 9],
        ] {
            let patch = [4, 3, 6];
            let out = crop_and_pad(&src, 2, shape, lower, patch, -1);
            let mut i = 0;
            for c in 0..2 {
                for z in 0..4 {
                    for y in 0..3 {
                        for x in 0..6 {
                            let p = [z, y, x].map(|v| v as i64);
                            let q: [i64; 3] = std::array::from_fn(|d| p[d] + lower[d]);
                            let inside = (0..3).all(|d| q[d] >= 0 && q[d] < shape[d] as i64);
                            let want = if inside {
                                src[c * 105 + ((q[0] * 5 + q[1]) * 7 + q[2]) as usize]
                            } else {
                                -1
                            };
                            assert_eq!(out[i], want, "lower {lower:?} at {c} {p:?}");
                            i += 1;
                        }
                    }
                }
            }
            assert_eq!(i, out.len());
        }
    }

    #[test]
    fn bbox_centres_on_foreground_and_stays_in_range() {
        let mut rng = batch_rng(0, 0);
        let lower = sample_bbox(
            &mut rng,
            [30, 30, 30],
            [20, 20, 20],
            [4, 4, 4],
            Some([29, 0, 15]),
        );
        assert_eq!(lower, [19, -2, 5]);
        for _ in 0..200 {
            let l = sample_bbox(&mut rng, [30, 30, 30], [20, 20, 20], [5, 5, 5], None);
            // lb = -3, ub = 30 + 2 + 1 - 20 = 13
            assert!(l.iter().all(|&v| (-3..=13).contains(&v)), "{l:?}");
        }
        // image smaller than the patch: padded on both sides
        let l = sample_bbox(&mut rng, [1, 10, 10], [1, 20, 20], [0, 0, 0], None);
        assert_eq!(l, [0, -5, -5]);
    }
}
