//! One module per component kind, each holding both sides of that kind's boundary: the plugin
//! side (`Served` objects wrapping the plain trait object and its constructor) and the host side
//! (a `Foreign*` struct implementing the plain trait by calling across).
//!
//! Adding a trait method is one `match` arm in the kind's `serve` and one method in its host
//! wrapper. Adding a kind is one module like these, one [`AnyCtor`] variant and one arm in each
//! function below.

mod dataset;
mod loss;
mod network;
mod planner;
mod postprocessor;
mod trainer;

use super::client::Foreign;
use super::ffi::ForeignObject;
use crate::registry::AnyCtor;
use crate::{ComponentKind, Registry, Result};

/// Plugin side: the factory object for a constructor from the plugin's own registry.
pub(crate) fn export_factory(ctor: AnyCtor) -> (ComponentKind, ForeignObject) {
    use super::server::export;
    match ctor {
        AnyCtor::Network(c) => (ComponentKind::Network, export(network::Factory(c))),
        AnyCtor::Loss(c) => (ComponentKind::Loss, export(loss::Factory(c))),
        AnyCtor::Trainer(c) => (ComponentKind::Trainer, export(trainer::Factory(c))),
        AnyCtor::Planner(c) => (ComponentKind::Planner, export(planner::Factory(c))),
        AnyCtor::Postprocessor(c) => (
            ComponentKind::Postprocessor,
            export(postprocessor::Factory(c)),
        ),
        AnyCtor::DatasetFormat(c) => (ComponentKind::DatasetFormat, export(dataset::Factory(c))),
    }
}

/// Host side: registers a plugin's factory as a component of `kind`.
pub(crate) fn import(
    registry: &mut Registry,
    kind: ComponentKind,
    name: &str,
    description: &str,
    factory: Foreign,
) -> Result<()> {
    match kind {
        ComponentKind::Network => network::import(registry, name, description, factory),
        ComponentKind::Loss => loss::import(registry, name, description, factory),
        ComponentKind::Trainer => trainer::import(registry, name, description, factory),
        ComponentKind::Planner => planner::import(registry, name, description, factory),
        ComponentKind::Postprocessor => postprocessor::import(registry, name, description, factory),
        ComponentKind::DatasetFormat => dataset::import(registry, name, description, factory),
    }
}
