//! Trainers across the boundary: hooks whose arguments and results are [`TrainingOptions`],
//! numbers, the trainer's own loss and the epoch report, all as JSON.

use crate::plugin::client::Foreign;
use crate::plugin::server::{Incoming, Outgoing, Served, export, unknown_method};
use crate::registry::{Options, TrainerCtor};
use crate::trainer::{EpochControl, EpochReport, TrainerLoss};
use crate::{Registry, Result, Trainer, TrainingOptions};
use serde::{Deserialize, Serialize};

factory!(TrainerCtor, Options, "trainer constructor", add_trainer => ForeignTrainer);

#[derive(Serialize, Deserialize)]
struct LearningRateArgs {
    options: TrainingOptions,
    epoch: usize,
}

struct Exported(Box<dyn Trainer>);

impl Served for Exported {
    const WHAT: &'static str = "trainer";
    unsafe fn serve(this: *mut Self, method: &str, input: &Incoming, out: &Outgoing) -> Result<()> {
        // SAFETY: every trainer hook takes `&self`.
        let this = unsafe { &*this };
        match method {
            "configure" => {
                let mut options: TrainingOptions = input.parse()?;
                this.0.configure(&mut options)?;
                out.json(&options)
            }
            "learning_rate" => {
                let args: LearningRateArgs = input.parse()?;
                out.json(&this.0.learning_rate(&args.options, args.epoch)?)
            }
            "loss" => out.json(&this.0.loss()?),
            "on_epoch_end" => {
                let report: EpochReport = input.parse()?;
                out.json(&this.0.on_epoch_end(&report)?)
            }
            other => Err(unknown_method(Self::WHAT, other)),
        }
    }
}

struct ForeignTrainer(Foreign);

impl Trainer for ForeignTrainer {
    fn configure(&self, options: &mut TrainingOptions) -> Result<()> {
        *options = self.0.call("configure", options, &[])?.parse()?;
        Ok(())
    }
    fn learning_rate(&self, options: &TrainingOptions, epoch: usize) -> Result<f64> {
        let args = LearningRateArgs {
            options: options.clone(),
            epoch,
        };
        self.0.call("learning_rate", &args, &[])?.parse()
    }
    fn loss(&self) -> Result<Option<TrainerLoss>> {
        self.0.call("loss", &(), &[])?.parse()
    }
    fn on_epoch_end(&self, report: &EpochReport) -> Result<EpochControl> {
        self.0.call("on_epoch_end", report, &[])?.parse()
    }
}
