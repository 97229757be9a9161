//! Trainer `localise`: the preset for MIP slice localisation. Loss `ce+heatmap` (options
//! `sigma` and `label` go to `heatmap`), no deep supervision (a row band would vanish at the
//! coarse scales), mirroring across columns only and rotations of at most ±`max_rotation`
//! degrees (default 10), so that up stays up. Options `batch_size` overrides the plans'.

use nnunet_core::CheckedOptions as Options;
use nnunet_core::serde_json::{Value, json};
use nnunet_core::{Result, Trainer, TrainerLoss, TrainingOptions};

pub struct LocaliseTrainer {
    batch_size: Option<usize>,
    max_rotation: f64,
    loss_options: Value,
}

impl LocaliseTrainer {
    pub fn from_options(json: &Value) -> Result<Self> {
        let o = Options::parse(
            "localise",
            json,
            &["batch_size", "max_rotation", "sigma", "label"],
        )?;
        // a composite loss hands the options under a term's name to that term alone
        let mut heatmap = json!({});
        for key in ["sigma", "label"] {
            if let Some(v) = json.get(key) {
                o.f64(key)?;
                heatmap[key] = v.clone();
            }
        }
        let loss_options = json!({ "heatmap": heatmap });
        Ok(LocaliseTrainer {
            batch_size: o.usize("batch_size")?,
            max_rotation: o.f64("max_rotation")?.unwrap_or(10.0),
            loss_options,
        })
    }
}

impl Trainer for LocaliseTrainer {
    fn configure(&self, options: &mut TrainingOptions) -> Result<()> {
        options.deep_supervision = false;
        options.augmentation.mirror_axes = Some(vec![1]);
        options.augmentation.rotation_degrees = Some((-self.max_rotation, self.max_rotation));
        if let Some(b) = self.batch_size {
            options.batch_size = Some(b);
        }
        Ok(())
    }

    fn loss(&self) -> Result<Option<TrainerLoss>> {
        Ok(Some(TrainerLoss {
            expression: "ce+heatmap".into(),
            options: self.loss_options.clone(),
        }))
    }
}
