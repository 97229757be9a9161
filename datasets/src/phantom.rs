//! The phantom generator behind `nnunet demo-data`: a small synthetic dataset in nnU-Net's raw
//! layout, for the demo and for fast end-to-end tests.
//!
//! Each case is a "body" (an ellipsoid of soft tissue in air, so cropping to the non-zero region
//! has something to do) holding an "organ" (label 1, a rotated ellipsoid) that contains a
//! smaller, brighter "lesion" (label 2, a sphere), with Gaussian noise and a smooth
//! multiplicative intensity bias. Position, size, rotation, bias and noise vary per case.
//!
//! * 3D: `(z, y, x) = 32 × 56 × 64` voxels of `2.0 × 1.0 × 1.0` mm, float32 `.nii.gz`, channel
//!   `MRI`.
//! * 2D: `96 × 128` pixels, 8-bit grey `.png`, channel `grey`.
//!
//! Everything is drawn from ChaCha8 seeded with `seed`, one stream per case, so a case does not
//! depend on how many cases are generated, and the same seed gives the same files on every
//! machine.

use crate::convert::target::{Existing, TargetDataset};
use nnunet_core::{DatasetDescriptor, Geometry, Image, LabelMap, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::path::PathBuf;

/// 2D or 3D phantoms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    Two,
    Three,
}

/// Options of `nnunet demo-data`.
#[derive(Clone, Debug)]
pub struct PhantomOptions {
    pub dim: Dim,
    /// The `nnUNet_raw` folder to write into.
    pub raw: PathBuf,
    /// Training cases (imagesTr/labelsTr).
    pub training_cases: usize,
    /// Test cases (imagesTs, with their labels in labelsTs for scoring predictions).
    pub test_cases: usize,
    /// Dataset id; `None`: 900 for 3D, 901 for 2D.
    pub id: Option<u32>,
    pub seed: u64,
    pub existing: Existing,
    /// 1: the phantoms as described above. K > 1: each phantom placed at a random position in
    /// air K times as large along every axis (in-plane only in 2D), so its objects are small
    /// in a large field of view (the two-stage ROI pipeline's test case, docs/roi.md).
    pub field_of_view: usize,
}

impl PhantomOptions {
    /// The demo's defaults: 24 training and 4 test cases, seed 1234.
    pub fn new(dim: Dim, raw: PathBuf) -> Self {
        PhantomOptions {
            dim,
            raw,
            training_cases: 24,
            test_cases: 4,
            id: None,
            seed: 1234,
            existing: Existing::Refuse,
            field_of_view: 1,
        }
    }

    pub fn dataset_id(&self) -> u32 {
        // The wide phantoms get ids of their own, so that both kinds can sit in one nnUNet_raw.
        self.id.unwrap_or(match (self.dim, self.field_of_view > 1) {
            (Dim::Three, false) => 900,
            (Dim::Two, false) => 901,
            (Dim::Three, true) => 910,
            (Dim::Two, true) => 911,
        })
    }

    pub fn dataset_name(&self) -> &'static str {
        match (self.dim, self.field_of_view > 1) {
            (Dim::Three, false) => "Phantom3D",
            (Dim::Two, false) => "Phantom2D",
            (Dim::Three, true) => "Phantom3DWide",
            (Dim::Two, true) => "Phantom2DWide",
        }
    }
}

/// Shape `(z, y, x)` and spacing of the phantoms.
pub fn phantom_grid(dim: Dim) -> ([usize; 3], [f64; 3]) {
    match dim {
        Dim::Three => ([32, 56, 64], [2.0, 1.0, 1.0]),
        Dim::Two => ([1, 96, 128], [999.0, 1.0, 1.0]),
    }
}

/// Intensities of the tissues, noise and bias strength.
struct Appearance {
    body: f64,
    organ: f64,
    lesion: f64,
    noise: f64,
    bias: f64,
}

fn appearance(dim: Dim) -> Appearance {
    match dim {
        Dim::Three => Appearance {
            body: 100.0,
            organ: 200.0,
            lesion: 320.0,
            noise: 20.0,
            bias: 0.15,
        },
        Dim::Two => Appearance {
            body: 70.0,
            organ: 140.0,
            lesion: 210.0,
            noise: 12.0,
            bias: 0.15,
        },
    }
}

/// Generates case `index` (pure: no files).
pub fn phantom_case(dim: Dim, seed: u64, index: u64) -> (Image, LabelMap) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let (shape, spacing) = phantom_grid(dim);
    let look = appearance(dim);
    let three = dim == Dim::Three;
    // physical extent (mm) and centre, per axis (z, y, x); a 2D phantom lives in the plane z = 0
    let extent: [f64; 3] = std::array::from_fn(|a| shape[a] as f64 * spacing[a].min(1e3));
    let centre: [f64; 3] = if three {
        std::array::from_fn(|a| extent[a] / 2.0)
    } else {
        [0.0, extent[1] / 2.0, extent[2] / 2.0]
    };
    let mut uniform = |lo: f64, hi: f64| rng.gen_range(lo..hi);

    // body: a fixed ellipsoid filling most of the field of view, slightly shifted
    let body_axes: [f64; 3] = std::array::from_fn(|a| 0.46 * extent[a]);
    let body_centre: [f64; 3] = std::array::from_fn(|a| {
        centre[a]
            + if three || a > 0 {
                uniform(-2.0, 2.0)
            } else {
                0.0
            }
    });
    // organ: rotated about z, semi-axes ~ a fifth of the field of view
    let short = extent[1].min(extent[2]);
    let organ_axes = [
        if three {
            uniform(0.16, 0.24) * extent[0]
        } else {
            1.0
        },
        uniform(0.16, 0.26) * short,
        uniform(0.18, 0.28) * short,
    ];
    let organ_centre: [f64; 3] = std::array::from_fn(|a| {
        if a == 0 && !three {
            0.0
        } else {
            centre[a] + uniform(-0.1, 0.1) * extent[a]
        }
    });
    let angle = uniform(0.0, std::f64::consts::PI);
    let (sin, cos) = angle.sin_cos();
    // lesion: a sphere inside the organ (offset ≤ 0.4 and radius ≤ 0.4 of the organ's axes)
    let smallest_axis = if three {
        organ_axes.iter().copied().fold(f64::MAX, f64::min)
    } else {
        organ_axes[1].min(organ_axes[2])
    };
    let lesion_radius = uniform(0.28, 0.4) * smallest_axis;
    let offset: [f64; 3] = {
        let u = [
            if three { uniform(-1.0, 1.0) } else { 0.0 },
            uniform(-1.0, 1.0),
            uniform(-1.0, 1.0),
        ];
        let norm = u.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-9);
        let r = uniform(0.0, 0.4);
        std::array::from_fn(|a| u[a] / norm * r)
    };
    // organ frame → world: rotate (y, x) by `angle`
    let lesion_centre = {
        let (oz, oy, ox) = (
            offset[0] * organ_axes[0],
            offset[1] * organ_axes[1],
            offset[2] * organ_axes[2],
        );
        [
            organ_centre[0] + oz,
            organ_centre[1] + cos * oy - sin * ox,
            organ_centre[2] + sin * oy + cos * ox,
        ]
    };
    // smooth bias: two low-frequency cosines
    let waves: Vec<([f64; 3], f64, f64)> = (0..2)
        .map(|_| {
            let freq: [f64; 3] = std::array::from_fn(|a| {
                if a == 0 && !three {
                    0.0
                } else {
                    uniform(-1.0, 1.0) / extent[a]
                }
            });
            (freq, uniform(0.0, std::f64::consts::TAU), uniform(0.5, 1.0))
        })
        .collect();
    let noise = Normal::new(0.0, look.noise).expect("positive noise level");

    let voxels = shape.iter().product();
    let mut intensity = vec![0f32; voxels];
    let mut label = vec![0i16; voxels];
    let mut i = 0;
    for z in 0..shape[0] {
        for y in 0..shape[1] {
            for x in 0..shape[2] {
                let p = [
                    if three {
                        (z as f64 + 0.5) * spacing[0]
                    } else {
                        0.0
                    },
                    (y as f64 + 0.5) * spacing[1],
                    (x as f64 + 0.5) * spacing[2],
                ];
                let inside = |axes: &[f64; 3], d: [f64; 3]| {
                    (0..3)
                        .filter(|&a| three || a > 0)
                        .map(|a| (d[a] / axes[a]).powi(2))
                        .sum::<f64>()
                        <= 1.0
                };
                let d_body: [f64; 3] = std::array::from_fn(|a| p[a] - body_centre[a]);
                let d: [f64; 3] = std::array::from_fn(|a| p[a] - organ_centre[a]);
                // world → organ frame (inverse rotation)
                let d_organ = [d[0], cos * d[1] + sin * d[2], -sin * d[1] + cos * d[2]];
                let d_lesion: [f64; 3] = std::array::from_fn(|a| p[a] - lesion_centre[a]);
                let lesion_axes = [lesion_radius; 3];
                let (tissue, value) = if inside(&lesion_axes, d_lesion) {
                    (look.lesion, 2)
                } else if inside(&organ_axes, d_organ) {
                    (look.organ, 1)
                } else if inside(&body_axes, d_body) {
                    (look.body, 0)
                } else {
                    (0.0, 0)
                };
                if tissue > 0.0 {
                    let bias: f64 = 1.0
                        + look.bias
                            * waves
                                .iter()
                                .map(|(f, phase, amp)| {
                                    let t = f[0] * p[0] + f[1] * p[1] + f[2] * p[2];
                                    amp * (std::f64::consts::TAU * t + phase).cos()
                                })
                                .sum::<f64>()
                            / 1.5;
                    let v = tissue * bias + noise.sample(&mut rng);
                    let v = if three {
                        v.max(1.0)
                    } else {
                        v.round().clamp(1.0, 255.0)
                    };
                    intensity[i] = v as f32;
                }
                label[i] = value;
                i += 1;
            }
        }
    }
    let geometry = Geometry {
        spacing,
        ..Default::default()
    };
    (
        Image {
            shape,
            channels: vec![intensity],
            geometry: geometry.clone(),
            is_2d: !three,
        },
        LabelMap {
            shape,
            data: label,
            geometry,
            is_2d: !three,
        },
    )
}

/// Writes cases `0..training + test` made by `make(index)` as `PREFIX_NNN`: the first `training`
/// into imagesTr/labelsTr, the rest into imagesTs/labelsTs (in parallel; shared by the phantom
/// generators).
pub(crate) fn write_cases(
    target: &TargetDataset,
    training: usize,
    test: usize,
    prefix: &str,
    ending: &str,
    make: impl Fn(u64) -> (Image, LabelMap) + Sync,
) -> Result<()> {
    let folders = [
        target.folder("imagesTr")?,
        target.folder("labelsTr")?,
        target.folder("imagesTs")?,
        target.folder("labelsTs")?,
    ];
    use rayon::prelude::*;
    (0..training + test)
        .into_par_iter()
        .map(|index| {
            let (image, label) = make(index as u64);
            let case = format!("{prefix}_{index:03}");
            let split = if index < training { 0 } else { 2 };
            crate::io::write_image(&folders[split].join(format!("{case}_0000{ending}")), &image)?;
            crate::io::write_label(&folders[split + 1].join(format!("{case}{ending}")), &label)
        })
        .collect::<Result<Vec<()>>>()?;
    Ok(())
}

/// Case `index` placed in a field of view `scale` times as large along every axis (in-plane
/// only in 2D), at a random position drawn from its own stream; the rest is air (0, label 0).
pub fn phantom_case_in_large_field(
    dim: Dim,
    seed: u64,
    index: u64,
    scale: usize,
) -> (Image, LabelMap) {
    let (image, label) = phantom_case(dim, seed, index);
    if scale <= 1 {
        return (image, label);
    }
    let small = image.shape;
    let shape: [usize; 3] = std::array::from_fn(|a| {
        if a == 0 && dim == Dim::Two {
            1
        } else {
            small[a] * scale
        }
    });
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_f0f0);
    rng.set_stream(index);
    let at: [usize; 3] = std::array::from_fn(|a| rng.gen_range(0..=shape[a] - small[a]));
    let voxels = shape.iter().product();
    let mut intensity = vec![0f32; voxels];
    let mut labels = vec![0i16; voxels];
    for z in 0..small[0] {
        for y in 0..small[1] {
            let from = (z * small[1] + y) * small[2];
            let to = ((z + at[0]) * shape[1] + y + at[1]) * shape[2] + at[2];
            intensity[to..to + small[2]].copy_from_slice(&image.channels[0][from..from + small[2]]);
            labels[to..to + small[2]].copy_from_slice(&label.data[from..from + small[2]]);
        }
    }
    (
        Image {
            shape,
            channels: vec![intensity],
            ..image
        },
        LabelMap {
            shape,
            data: labels,
            ..label
        },
    )
}

/// Writes the phantom dataset; returns its folder.
pub fn generate(options: &PhantomOptions) -> Result<PathBuf> {
    let id = options.dataset_id();
    let name = options.dataset_name();
    let ending = match options.dim {
        Dim::Three => ".nii.gz",
        Dim::Two => ".png",
    };
    let target = TargetDataset::create(&options.raw, id, name, options.existing)?;
    write_cases(
        &target,
        options.training_cases,
        options.test_cases,
        "phantom",
        ending,
        |index| {
            phantom_case_in_large_field(options.dim, options.seed, index, options.field_of_view)
        },
    )?;
    let descriptor: DatasetDescriptor = serde_json::from_value(serde_json::json!({
        "channel_names": {"0": if options.dim == Dim::Three { "MRI" } else { "grey" }},
        "labels": {"background": 0, "organ": 1, "lesion": 2},
        "numTraining": options.training_cases,
        "file_ending": ending,
        "name": name,
        "description": format!(
            "Synthetic phantoms from `nnunet demo-data` (seed {}): an ellipsoid organ holding a \
             brighter lesion, with noise and a smooth intensity bias. labelsTs holds the test \
             cases' labels for scoring predictions.",
            options.seed
        ),
        "licence": "CC0",
    }))
    .map_err(|e| nnunet_core::Error::Invalid(format!("phantom dataset.json: {e}")))?;
    target.finish(&descriptor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(label: &LabelMap, v: i16) -> usize {
        label.data.iter().filter(|&&x| x == v).count()
    }

    #[test]
    fn phantoms_are_reproducible_and_vary_between_cases() {
        for dim in [Dim::Two, Dim::Three] {
            let (a, la) = phantom_case(dim, 7, 3);
            let (b, lb) = phantom_case(dim, 7, 3);
            assert_eq!(a, b);
            assert_eq!(la, lb);
            let (_, lc) = phantom_case(dim, 7, 4);
            assert_ne!(la.data, lc.data, "cases must differ");
            let (_, ld) = phantom_case(dim, 8, 3);
            assert_ne!(la.data, ld.data, "seeds must differ");
        }
    }

    #[test]
    fn organ_holds_the_lesion_and_intensities_separate_the_tissues() {
        for dim in [Dim::Two, Dim::Three] {
            for index in 0..6 {
                let (image, label) = phantom_case(dim, 1234, index);
                let (shape, spacing) = phantom_grid(dim);
                assert_eq!(image.shape, shape);
                assert_eq!(image.geometry.spacing, spacing);
                let organ = count(&label, 1);
                let lesion = count(&label, 2);
                let n = label.data.len();
                assert!(organ > n / 50, "{dim:?} case {index}: organ {organ} of {n}");
                assert!(
                    lesion > 10 && lesion < organ,
                    "{dim:?} {index}: lesion {lesion}"
                );
                let mean = |v: i16| {
                    let (s, c) = image.channels[0]
                        .iter()
                        .zip(&label.data)
                        .filter(|(_, l)| **l == v)
                        .fold((0.0, 0), |(s, c), (x, _)| (s + *x as f64, c + 1));
                    s / c as f64
                };
                let (bg, org, les) = (mean(0), mean(1), mean(2));
                assert!(bg < org && org < les, "{dim:?}: means {bg} {org} {les}");
                // air outside the body is exactly zero (so cropping to non-zero crops)
                assert_eq!(image.channels[0][0], 0.0);
                if dim == Dim::Two {
                    assert!(
                        image.channels[0]
                            .iter()
                            .all(|&v| v.fract() == 0.0 && v <= 255.0)
                    );
                }
            }
        }
    }
}
