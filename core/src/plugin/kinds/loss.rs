//! Losses across the boundary: `compute` takes two borrowed tensors and returns one.

use crate::plugin::client::Foreign;
use crate::plugin::server::{Incoming, Outgoing, Served, export, unknown_method};
use crate::registry::LossCtor;
use crate::{Loss, LossSpec, Registry, Result};
use tch::Tensor;

factory!(LossCtor, LossSpec, "loss constructor", add_loss => ForeignLoss);

struct Exported(Box<dyn Loss>);

impl Served for Exported {
    const WHAT: &'static str = "loss";
    unsafe fn serve(this: *mut Self, method: &str, input: &Incoming, out: &Outgoing) -> Result<()> {
        // SAFETY: `compute` takes `&self`.
        let this = unsafe { &*this };
        match method {
            "compute" => {
                out.tensor(this.0.compute(input.tensor(0)?, input.tensor(1)?)?);
                Ok(())
            }
            other => Err(unknown_method(Self::WHAT, other)),
        }
    }
}

struct ForeignLoss(Foreign);

impl Loss for ForeignLoss {
    fn compute(&self, logits: &Tensor, target: &Tensor) -> Result<Tensor> {
        self.0
            .call("compute", &(), &[logits, target])?
            .into_tensor()
    }
}
