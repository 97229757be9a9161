//! Trainers across the boundary: hooks whose arguments and results are [`TrainingOptions`] and
//! numbers, all as JSON.

use crate::plugin::client::Foreign;
use crate::plugin::server::{Incoming, Outgoing, Served, export, unknown_method};
use crate::registry::{Options, TrainerCtor};
use crate::{Registry, Result, Trainer, TrainingOptions};
use serde::{Deserialize, Serialize};

factory!(TrainerCtor, Options, "trainer constructor");

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
}

pub(crate) fn import(
    registry: &mut Registry,
    name: &str,
    desc: &str,
    factory: Foreign,
) -> Result<()> {
    registry.add_trainer(name, desc, move |options| {
        let object = factory.call("build", options, &[])?.take_object()?;
        Ok(Box::new(ForeignTrainer(object)))
    })
}
