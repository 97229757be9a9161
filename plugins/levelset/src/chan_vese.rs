//! The level-set evolution: Chan–Vese's region energy with a length term, minimised by the
//! semi-implicit scheme of Getreuer ("Chan–Vese Segmentation", IPOL 2012), written for any
//! number of moving axes and relative spacings.
//!
//! `φ > 0` is inside. Each step is, for every voxel,
//!
//! ```text
//! φ ← (φ + dt δε(φ) (μ Σa (Ca+ φ(+a) + Ca− φ(−a)) / ha² + λ f))
//!     / (1 + dt δε(φ) μ Σa (Ca+ + Ca−) / ha²)
//! ```
//!
//! where `Ca± = 1 / |∇φ|` at the half-voxel `±a` (forward difference along `a`, central ones
//! along the others), `δε(φ) = ε / (π (ε² + φ²))` and `f` the region force in `[−1, 1]`
//! (positive where the voxel would rather be inside). The `Ca±` terms discretise the curvature
//! `div(∇φ / |∇φ|)`; Neumann boundaries (no flux across the grid's border). Every update uses
//! the previous step's `φ` (Jacobi), so the result does not depend on the voxel order. The new
//! `φ` is a weighted mean of its neighbours plus a bounded force, so the scheme is stable for
//! any `dt`.

use crate::grid::Grid;
use crate::options::Options;

/// Regularisation of `|∇φ|` (Getreuer's η): keeps `1 / |∇φ|` finite on flat ground.
const ETA: f64 = 1e-8;

/// `1 / |∇φ|` at the half-voxel between `i` and its forward neighbour along every moving axis
/// (`inv[k][i]` for the `k`-th moving axis; 0 where there is no forward neighbour).
fn inverse_gradients(grid: &Grid, phi: &[f32], inv: &mut [Vec<f32>]) {
    grid.for_each(|i, c| {
        for (k, &a) in grid.axes.iter().enumerate() {
            let Some(next) = grid.next(i, c, a) else {
                inv[k][i] = 0.0;
                continue;
            };
            let along = (phi[next] - phi[i]) as f64 / grid.h[a];
            let mut sum = ETA * ETA + along * along;
            for &b in grid.axes.iter().filter(|&&b| b != a) {
                let fwd = grid.next(i, c, b).unwrap_or(i);
                let back = grid.prev(i, c, b).unwrap_or(i);
                let across = (phi[fwd] - phi[back]) as f64 / (2.0 * grid.h[b]);
                sum += across * across;
            }
            inv[k][i] = (1.0 / sum.sqrt()) as f32;
        }
    });
}

/// Evolves `phi` for `options.iterations` steps under the region force `force`.
pub fn evolve(grid: &Grid, phi: &mut Vec<f32>, force: &[f32], options: &Options) {
    let n = grid.len();
    let mut inv: Vec<Vec<f32>> = vec![vec![0.0; n]; grid.axes.len()];
    let mut next = vec![0.0f32; n];
    let (mu, lambda, dt, eps) = (options.mu, options.lambda, options.dt, options.epsilon);
    let weights: Vec<f64> = grid
        .axes
        .iter()
        .map(|&a| 1.0 / (grid.h[a] * grid.h[a]))
        .collect();
    for _ in 0..options.iterations {
        if mu > 0.0 {
            inverse_gradients(grid, phi, &mut inv);
        }
        let phi_ref: &[f32] = phi;
        grid.for_each(|i, c| {
            let p = phi_ref[i] as f64;
            let delta = eps / (std::f64::consts::PI * (eps * eps + p * p));
            let (mut pull, mut weight) = (0.0, 0.0);
            if mu > 0.0 {
                for (k, &a) in grid.axes.iter().enumerate() {
                    if let Some(j) = grid.next(i, c, a) {
                        let w = inv[k][i] as f64 * weights[k];
                        pull += w * phi_ref[j] as f64;
                        weight += w;
                    }
                    if let Some(j) = grid.prev(i, c, a) {
                        let w = inv[k][j] as f64 * weights[k];
                        pull += w * phi_ref[j] as f64;
                        weight += w;
                    }
                }
            }
            let step = dt * delta;
            let numerator = p + step * (mu * pull + lambda * force[i] as f64);
            next[i] = (numerator / (1.0 + step * mu * weight)) as f32;
        });
        std::mem::swap(phi, &mut next);
    }
}
