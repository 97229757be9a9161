//! A CT-like phantom with a known landmark, for slice localisation (`nnunet demo-data
//! --landmark`): a body (an elliptic cylinder of soft tissue, 40 HU, in air, −1000 HU) holding a
//! spine of vertebral bodies (bone, 500–800 HU) at a regular spacing of 13–17 mm. The vertebrae
//! above L1 carry ribs (a thin bone ring at the body's edge) and two iliac blobs sit below L5,
//! so that L3 — the landmark, label 1 — is the third vertebra below the last rib. Where L3 sits,
//! the spacing, the body's size and the noise vary per case.
//!
//! `(z, y, x) = 48 × 32 × 40` voxels of `2.5 × 3 × 3` mm (120 × 96 × 120 mm), origin
//! `(−60, −48, −300)` mm; z increases towards the head. Drawn from ChaCha8 seeded with `seed`,
//! one stream per case, as [`crate::phantom`].

use crate::convert::target::{Existing, TargetDataset};
use nnunet_core::{DatasetDescriptor, Geometry, Image, LabelMap, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::path::PathBuf;

/// Shape `(z, y, x)` and spacing of the CT phantom.
pub const SHAPE: [usize; 3] = [48, 32, 40];
pub const SPACING: [f64; 3] = [2.5, 3.0, 3.0];
pub const ORIGIN: [f64; 3] = [-60.0, -48.0, -300.0];

/// Options of `nnunet demo-data --landmark`.
#[derive(Clone, Debug)]
pub struct CtPhantomOptions {
    pub raw: PathBuf,
    pub training_cases: usize,
    pub test_cases: usize,
    /// Dataset id (902 by default).
    pub id: u32,
    pub seed: u64,
    pub existing: Existing,
}

/// One vertebra: its level relative to L3 (L2 = +1, towards the head) and centre z (mm).
struct Spine {
    l3_z: f64,
    step: f64,
    centre_y: f64,
    centre_x: f64,
}

impl Spine {
    fn level_z(&self, level: i32) -> f64 {
        self.l3_z + level as f64 * self.step
    }
}

/// HU at point `p` (mm from the volume's corner, `(z, y, x)`) and whether it is L3.
fn tissue(p: [f64; 3], spine: &Spine, body: ([f64; 2], [f64; 2]), bone: &[f64]) -> (f64, bool) {
    let ([cy, cx], [ay, ax]) = body;
    let radial = ((p[1] - cy) / ay).powi(2) + ((p[2] - cx) / ax).powi(2);
    if radial > 1.0 {
        return (-1000.0, false);
    }
    for (i, level) in (-2..=6).enumerate() {
        let zc = spine.level_z(level);
        let d = ((p[0] - zc) / (0.32 * spine.step)).powi(2)
            + ((p[1] - spine.centre_y) / 7.0).powi(2)
            + ((p[2] - spine.centre_x) / 8.0).powi(2);
        if d <= 1.0 {
            return (bone[i], level == 0);
        }
        // ribs: vertebrae T12 and above (level >= 3), a thin ring at the body's edge
        if level >= 3 && (p[0] - zc - 0.3 * spine.step).abs() < 2.5 && (0.78..0.9).contains(&radial)
        {
            return (450.0, false);
        }
    }
    // iliac wings below L5
    let pelvis_z = spine.level_z(-3) - 0.2 * spine.step;
    for side in [-1.0, 1.0] {
        let d = ((p[0] - pelvis_z) / (0.9 * spine.step)).powi(2)
            + ((p[1] - spine.centre_y + 6.0) / (0.5 * ay)).powi(2)
            + ((p[2] - cx - side * 0.55 * ax) / (0.22 * ax)).powi(2);
        if d <= 1.0 {
            return (500.0, false);
        }
    }
    (40.0, false)
}

/// Generates case `index` (pure: no files).
pub fn ct_case(seed: u64, index: u64) -> (Image, LabelMap) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let extent: [f64; 3] = std::array::from_fn(|a| SHAPE[a] as f64 * SPACING[a]);
    let mut uniform = |lo: f64, hi: f64| rng.gen_range(lo..hi);
    let cy = extent[1] / 2.0 + uniform(-3.0, 3.0);
    let cx = extent[2] / 2.0 + uniform(-3.0, 3.0);
    let (ay, ax) = (
        uniform(0.36, 0.44) * extent[1],
        uniform(0.4, 0.46) * extent[2],
    );
    let spine = Spine {
        l3_z: uniform(0.35, 0.6) * extent[0],
        step: uniform(13.0, 17.0),
        centre_y: cy + 0.5 * ay,
        centre_x: cx + uniform(-2.0, 2.0),
    };
    let bone: Vec<f64> = (0..9).map(|_| uniform(500.0, 800.0)).collect();
    let noise = Normal::new(0.0, 15.0).expect("positive noise level");
    let voxels = SHAPE.iter().product();
    let mut intensity = Vec::with_capacity(voxels);
    let mut label = Vec::with_capacity(voxels);
    for z in 0..SHAPE[0] {
        for y in 0..SHAPE[1] {
            for x in 0..SHAPE[2] {
                let p = [z, y, x].map(|v| v as f64 + 0.5);
                let p = [p[0] * SPACING[0], p[1] * SPACING[1], p[2] * SPACING[2]];
                let (hu, l3) = tissue(p, &spine, ([cy, cx], [ay, ax]), &bone);
                intensity.push((hu + noise.sample(&mut rng)) as f32);
                label.push(i16::from(l3));
            }
        }
    }
    let geometry = Geometry {
        spacing: SPACING,
        origin: ORIGIN,
        ..Default::default()
    };
    let image = Image {
        shape: SHAPE,
        channels: vec![intensity],
        geometry: geometry.clone(),
        is_2d: false,
    };
    (
        image,
        LabelMap {
            shape: SHAPE,
            data: label,
            geometry,
            is_2d: false,
        },
    )
}

/// Writes the CT phantom dataset (`DatasetNNN_CTLandmark`, L3 labelled 1); returns its folder.
pub fn generate_ct(options: &CtPhantomOptions) -> Result<PathBuf> {
    let name = "CTLandmark";
    let target = TargetDataset::create(&options.raw, options.id, name, options.existing)?;
    let (training, test) = (options.training_cases, options.test_cases);
    crate::phantom::write_cases(&target, training, test, "ct", ".nii.gz", |index| {
        ct_case(options.seed, index)
    })?;
    let descriptor: DatasetDescriptor = serde_json::from_value(serde_json::json!({
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, "L3": 1},
        "numTraining": options.training_cases,
        "file_ending": ".nii.gz",
        "name": name,
        "description": format!(
            "CT-like phantoms from `nnunet demo-data --landmark` (seed {}): a body with a spine, \
             ribs above L1 and iliac wings below L5; label 1 is the L3 vertebra, the slice \
             localisation landmark. labelsTs holds the test cases' labels.",
            options.seed
        ),
        "licence": "CC0",
    }))
    .map_err(|e| nnunet_core::Error::Invalid(format!("CT phantom dataset.json: {e}")))?;
    target.finish(&descriptor)
}
