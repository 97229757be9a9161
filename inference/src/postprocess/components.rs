//! Connected-component labelling of a binary `(z, y, x)` mask with full connectivity (26
//! neighbours in 3D; a 2D map has `z = 1`, where this is 8-connectivity), as
//! `skimage.measure.label(mask, connectivity=None)`, which nnU-Net's
//! `remove_all_but_largest_component` (acvl_utils) uses.
//!
//! Hand-written (two-pass union-find, 13 backward neighbours per voxel): the maintained Rust
//! options are 2D-only (`imageproc`) or need an `ndarray` view and a structuring element of
//! their own (`ndarray-ndimage`), and this is about 80 lines over our flat `LabelMap` layout.

/// Components of a mask: `labels[i]` is 0 outside the mask, else the component number
/// (1-based, numbered in raster order of first voxel); `sizes[k - 1]` is the size of component `k`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Components {
    pub labels: Vec<u32>,
    pub sizes: Vec<usize>,
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let p = parent[x as usize];
        parent[x as usize] = parent[p as usize];
        x = p;
    }
    x
}

/// Labels the components of `mask` (C order over `shape`).
///
/// Panics if `mask.len()` differs from the shape's voxel count.
pub fn label_components(mask: &[bool], shape: [usize; 3]) -> Components {
    let [nz, ny, nx] = shape;
    assert_eq!(
        mask.len(),
        nz * ny * nx,
        "mask does not fit shape {shape:?}"
    );
    // Backward neighbours: offsets before (0, 0, 0) in raster order.
    let mut offsets = Vec::with_capacity(13);
    for dz in -1i64..=0 {
        for dy in -1i64..=1 {
            for dx in -1i64..=1 {
                if (dz, dy, dx) < (0, 0, 0) {
                    offsets.push((dz, dy, dx));
                }
            }
        }
    }
    let mut provisional = vec![0u32; mask.len()];
    // parent[0] is unused (background).
    let mut parent: Vec<u32> = vec![0];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let i = (z * ny + y) * nx + x;
                if !mask[i] {
                    continue;
                }
                let mut current = 0u32;
                for &(dz, dy, dx) in &offsets {
                    let (zz, yy, xx) = (z as i64 + dz, y as i64 + dy, x as i64 + dx);
                    if zz < 0 || yy < 0 || xx < 0 || yy >= ny as i64 || xx >= nx as i64 {
                        continue;
                    }
                    let j = (zz as usize * ny + yy as usize) * nx + xx as usize;
                    let other = provisional[j];
                    if other == 0 {
                        continue;
                    }
                    if current == 0 {
                        current = find(&mut parent, other);
                    } else {
                        let (a, b) = (find(&mut parent, current), find(&mut parent, other));
                        if a != b {
                            let (lo, hi) = (a.min(b), a.max(b));
                            parent[hi as usize] = lo;
                            current = lo;
                        }
                    }
                }
                if current == 0 {
                    current = parent.len() as u32;
                    parent.push(current);
                }
                provisional[i] = current;
            }
        }
    }
    // Second pass: roots → consecutive numbers in order of first appearance.
    let mut number = vec![0u32; parent.len()];
    let mut sizes = Vec::new();
    for label in provisional.iter_mut() {
        if *label == 0 {
            continue;
        }
        let root = find(&mut parent, *label) as usize;
        if number[root] == 0 {
            sizes.push(0);
            number[root] = sizes.len() as u32;
        }
        *label = number[root];
        sizes[*label as usize - 1] += 1;
    }
    Components {
        labels: provisional,
        sizes,
    }
}

/// The voxels of `mask` that lie in its largest component; ties keep every largest component
/// (acvl_utils' `remove_all_but_largest_component`). An empty mask gives an empty result.
pub fn largest_components(mask: &[bool], shape: [usize; 3]) -> Vec<bool> {
    let components = label_components(mask, shape);
    let Some(&max) = components.sizes.iter().max() else {
        return vec![false; mask.len()];
    };
    components
        .labels
        .iter()
        .map(|&l| l > 0 && components.sizes[l as usize - 1] == max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(text: &[&str]) -> (Vec<bool>, [usize; 3]) {
        let ny = text.len();
        let nx = text[0].len();
        let m = text
            .iter()
            .flat_map(|row| row.chars().map(|c| c == '#'))
            .collect();
        (m, [1, ny, nx])
    }

    #[test]
    fn two_d_uses_eight_neighbours() {
        let (m, shape) = mask(&[
            "#..##", //
            ".#..#", //
            ".....", //
            "##...",
        ]);
        let c = label_components(&m, shape);
        // The diagonal pair is one component; the right group another; the bottom a third.
        assert_eq!(c.sizes, vec![2, 3, 2]);
        assert_eq!(c.labels[0], c.labels[6]);
        assert_ne!(c.labels[0], c.labels[3]);
    }

    #[test]
    fn u_shape_merges_late() {
        // Two arms meet only in the last row: union-find must merge them.
        let (m, shape) = mask(&[
            "#...#", //
            "#...#", //
            "#####",
        ]);
        let c = label_components(&m, shape);
        assert_eq!(c.sizes, vec![9]);
        assert!(m.iter().zip(&c.labels).all(|(&v, &l)| v == (l == 1)));
    }

    #[test]
    fn three_d_corner_neighbours_connect() {
        // (0,0,0) and (1,1,1) touch only at a corner: one component with 26-connectivity.
        let shape = [2, 3, 3];
        let mut m = vec![false; 18];
        m[0] = true;
        m[9 + 3 + 1] = true;
        m[2] = true; // (0,0,2): touches (1,1,1) by a corner as well
        let c = label_components(&m, shape);
        assert_eq!(c.sizes, vec![3]);
        // Separated by a gap of one voxel along x: two components.
        let mut m = vec![false; 18];
        m[0] = true;
        m[2] = true;
        assert_eq!(label_components(&m, shape).sizes, vec![1, 1]);
    }

    /// A pseudo-random mask (64-bit LCG), the same as the Python that produced the expected
    /// sizes with `skimage.measure.label(mask, connectivity=None)` (nnU-Net's call).
    fn random_mask(shape: [usize; 3], seed: u64, p: f64) -> Vec<bool> {
        let mut x = seed;
        (0..shape.iter().product::<usize>())
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) as f64 / (1u64 << 31) as f64) < p
            })
            .collect()
    }

    #[test]
    fn matches_skimage_on_random_masks() {
        let cases: [([usize; 3], u64, f64, &[usize]); 3] = [
            (
                [7, 9, 11],
                1,
                0.1,
                &[1, 7, 5, 12, 1, 1, 3, 1, 1, 1, 1, 1, 18, 1, 10, 2, 4, 1, 1],
            ),
            (
                [1, 13, 17],
                7,
                0.3,
                &[14, 9, 2, 1, 2, 9, 2, 5, 2, 1, 12, 1, 1, 3, 6, 2, 1],
            ),
            ([5, 6, 7], 3, 0.15, &[1, 7, 1, 5, 2, 4, 1, 1]),
        ];
        for (shape, seed, p, sizes) in cases {
            let m = random_mask(shape, seed, p);
            assert_eq!(label_components(&m, shape).sizes, sizes, "{shape:?}");
        }
    }

    #[test]
    fn largest_keeps_ties_and_handles_empty() {
        let (m, shape) = mask(&["##.##", ".....", "#...."]);
        let keep = largest_components(&m, shape);
        let expected: Vec<bool> = m.iter().enumerate().map(|(i, &v)| v && i < 5).collect();
        assert_eq!(keep, expected);
        let empty = vec![false; 6];
        assert_eq!(largest_components(&empty, [1, 2, 3]), empty);
    }
}
