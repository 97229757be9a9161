//! Signed distance of a mask, the level set's initial value: exact Euclidean distances
//! (Felzenszwalb & Huttenlocher's separable transform, one pass per moving axis, each axis
//! weighted by its relative spacing), positive inside, negative outside, with the zero level
//! half a voxel from the boundary voxels' centres.

use crate::grid::Grid;

/// Squared distance of every voxel to the nearest voxel of `set`; `f64::INFINITY` when the
/// set is empty (along the moving axes).
fn squared_distance_to(grid: &Grid, set: &[bool]) -> Vec<f64> {
    let mut d: Vec<f64> = set
        .iter()
        .map(|&s| if s { 0.0 } else { f64::INFINITY })
        .collect();
    for &a in &grid.axes {
        let (n, stride, w) = (grid.shape[a], grid.strides[a], grid.h[a] * grid.h[a]);
        let mut line = vec![0.0; n];
        let mut out = vec![0.0; n];
        let mut scratch = Scratch::new(n);
        grid.for_each(|i, c| {
            if c[a] != 0 {
                return; // one line per start voxel
            }
            for (k, v) in line.iter_mut().enumerate() {
                *v = d[i + k * stride];
            }
            scratch.transform(&line, w, &mut out);
            for (k, &v) in out.iter().enumerate() {
                d[i + k * stride] = v;
            }
        });
    }
    d
}

/// Working arrays of the 1D lower envelope of parabolas.
struct Scratch {
    vertices: Vec<usize>,
    bounds: Vec<f64>,
}

impl Scratch {
    fn new(n: usize) -> Self {
        Scratch {
            vertices: vec![0; n],
            bounds: vec![0.0; n + 1],
        }
    }

    /// `out[p] = min_q f[q] + w (p - q)²`.
    fn transform(&mut self, f: &[f64], w: f64, out: &mut [f64]) {
        let (v, z) = (&mut self.vertices, &mut self.bounds);
        let finite: Vec<usize> = (0..f.len()).filter(|&q| f[q].is_finite()).collect();
        let Some(&first) = finite.first() else {
            out.fill(f64::INFINITY);
            return;
        };
        let meet = |q: usize, p: usize| {
            let (qf, pf) = (q as f64, p as f64);
            ((f[q] + w * qf * qf) - (f[p] + w * pf * pf)) / (2.0 * w * (qf - pf))
        };
        let mut k = 0;
        v[0] = first;
        z[0] = f64::NEG_INFINITY;
        z[1] = f64::INFINITY;
        for &q in &finite[1..] {
            let mut s = meet(q, v[k]);
            while s <= z[k] {
                k -= 1;
                s = meet(q, v[k]);
            }
            k += 1;
            v[k] = q;
            z[k] = s;
            z[k + 1] = f64::INFINITY;
        }
        let mut k = 0;
        for (p, o) in out.iter_mut().enumerate() {
            while z[k + 1] < p as f64 {
                k += 1;
            }
            let dp = p as f64 - v[k] as f64;
            *o = w * dp * dp + f[v[k]];
        }
    }
}

/// Signed distance of `mask` in units of the finest axis' voxel: `d_out − ½` inside, where
/// `d_out` is the distance to the nearest voxel outside, and `−(d_in − ½)` outside. A mask
/// filling the grid gets `+cap`, an empty one `−cap` (`cap`: the grid's diagonal).
pub fn signed_distance(grid: &Grid, mask: &[bool]) -> Vec<f32> {
    let outside: Vec<bool> = mask.iter().map(|&m| !m).collect();
    let to_outside = squared_distance_to(grid, &outside);
    let to_inside = squared_distance_to(grid, mask);
    let cap = grid
        .axes
        .iter()
        .map(|&a| (grid.shape[a] as f64 * grid.h[a]).powi(2))
        .sum::<f64>()
        .sqrt();
    mask.iter()
        .zip(to_outside.iter().zip(&to_inside))
        .map(|(&m, (&o, &i))| {
            let d = if m { o.sqrt() - 0.5 } else { 0.5 - i.sqrt() };
            d.clamp(-cap, cap) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(shape: [usize; 3], h: [f64; 3], is_2d: bool) -> Grid {
        let [_, ny, nx] = shape;
        Grid {
            shape,
            axes: if is_2d { vec![1, 2] } else { vec![0, 1, 2] },
            h,
            strides: [ny * nx, nx, 1],
        }
    }

    #[test]
    fn distances_match_brute_force_with_anisotropic_spacing() {
        let g = grid([5, 7, 6], [2.5, 1.0, 1.5], false);
        let mask: Vec<bool> = (0..g.len())
            .map(|i| {
                let c = g.coords(i);
                (c[0] as i64 - 2).pow(2) + (c[1] as i64 - 3).pow(2) + (c[2] as i64 - 2).pow(2) <= 4
            })
            .collect();
        let d = squared_distance_to(&g, &mask);
        for (i, &di) in d.iter().enumerate() {
            let c = g.coords(i);
            let brute = (0..g.len())
                .filter(|&j| mask[j])
                .map(|j| {
                    let e = g.coords(j);
                    (0..3)
                        .map(|a| ((c[a] as f64 - e[a] as f64) * g.h[a]).powi(2))
                        .sum::<f64>()
                })
                .fold(f64::INFINITY, f64::min);
            assert!((di - brute).abs() < 1e-9, "voxel {c:?}: {di} vs {brute}");
        }
    }

    #[test]
    fn signed_distance_is_positive_inside_and_slices_stay_apart_in_2d() {
        let g = grid([2, 1, 5], [1.0; 3], true);
        // slice 0: x in 1..=3 inside; slice 1: empty.
        let mask = [
            false, true, true, true, false, false, false, false, false, false,
        ];
        let phi = signed_distance(&g, &mask);
        assert_eq!(&phi[..5], &[-0.5, 0.5, 1.5, 0.5, -0.5]);
        assert!(phi[5..].iter().all(|&p| p < -4.0), "{phi:?}");
    }
}
