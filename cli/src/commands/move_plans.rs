//! `nnunet move-plans`: nnU-Net's `nnUNetv2_move_plans_between_datasets`, same flags
//! (`nnunet_planning::move_plans`).

use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct MovePlansArgs {
    /// Source dataset name or id.
    #[arg(short = 's', long = "source")]
    source: String,
    /// Target dataset name or id (its raw folder with dataset.json must exist).
    #[arg(short = 't', long = "target")]
    target: String,
    /// Source plans identifier: nnUNetPlans for nnUNetPlans.json (-sp works too).
    #[arg(long = "sp")]
    source_plans: String,
    /// Target plans identifier (default: the source's; better a new one, e.g.
    /// nnUNetPlansFromDataset004, than overwriting the target's own nnUNetPlans). -tp works too.
    #[arg(long = "tp")]
    target_plans: Option<String>,
}

pub fn run(args: MovePlansArgs) -> Result<()> {
    let request = nnunet_planning::MovePlansRequest {
        source: args.source,
        target: args.target,
        source_plans: args.source_plans,
        target_plans: args.target_plans,
    };
    let file = nnunet_planning::move_plans(&nnunet_core::paths::NnunetPaths::from_env(), &request)?;
    println!("wrote {}", file.display());
    Ok(())
}
