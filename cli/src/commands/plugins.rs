//! `nnunet plugins list`: every registered component, by kind, with where it came from;
//! `nnunet plugin new`: a new plugin crate (see [`super::plugin_new`]).

use anyhow::Result;
use clap::Subcommand;
use nnunet_core::ComponentKind;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum PluginsCommand {
    /// List networks, losses, trainers, planners, postprocessors and dataset formats.
    List {
        /// A plugin file (.so) to load first; may be repeated.
        #[arg(long = "plugin", value_name = "PATH")]
        plugins: Vec<PathBuf>,
    },
    /// Write a new plugin crate (outside this checkout) that builds and loads as it is.
    New(super::plugin_new::NewArgs),
}

pub fn run(command: PluginsCommand) -> Result<()> {
    match command {
        PluginsCommand::List { plugins } => list(&plugins),
        PluginsCommand::New(args) => super::plugin_new::run(args),
    }
}

fn list(plugins: &[PathBuf]) -> Result<()> {
    let registry = super::registry_with(plugins)?;
    let components = registry.components();
    for kind in ComponentKind::ALL {
        let of_kind: Vec<_> = components.iter().filter(|c| c.kind == kind).collect();
        println!("{}:", kind.plural());
        if of_kind.is_empty() {
            println!("  (none)");
        }
        for c in of_kind {
            println!(
                "  {:<20} {:<45} {}",
                c.name,
                c.origin.to_string(),
                c.description
            );
        }
    }
    Ok(())
}
