//! Planners across the boundary: fingerprint, `dataset.json` and options in, plans out, as JSON.

use crate::plugin::client::Foreign;
use crate::plugin::server::{Incoming, Outgoing, Served, export, unknown_method};
use crate::registry::{Options, PlannerCtor};
use crate::{DatasetDescriptor, Fingerprint, PlanOptions, Planner, Plans, Registry, Result};
use serde::{Deserialize, Serialize};

factory!(PlannerCtor, Options, "planner constructor", add_planner => ForeignPlanner);

#[derive(Serialize, Deserialize)]
struct PlanArgs {
    fingerprint: Fingerprint,
    dataset: DatasetDescriptor,
    options: PlanOptions,
}

struct Exported(Box<dyn Planner>);

impl Served for Exported {
    const WHAT: &'static str = "planner";
    unsafe fn serve(this: *mut Self, method: &str, input: &Incoming, out: &Outgoing) -> Result<()> {
        // SAFETY: `plan` takes `&self`.
        let this = unsafe { &*this };
        match method {
            "plan" => {
                let args: PlanArgs = input.parse()?;
                out.json(
                    &this
                        .0
                        .plan(&args.fingerprint, &args.dataset, &args.options)?,
                )
            }
            other => Err(unknown_method(Self::WHAT, other)),
        }
    }
}

struct ForeignPlanner(Foreign);

impl Planner for ForeignPlanner {
    fn plan(
        &self,
        fingerprint: &Fingerprint,
        dataset: &DatasetDescriptor,
        options: &PlanOptions,
    ) -> Result<Plans> {
        let args = PlanArgs {
            fingerprint: fingerprint.clone(),
            dataset: dataset.clone(),
            options: options.clone(),
        };
        self.0.call("plan", &args, &[])?.parse()
    }
}
