//! The comparison's table: one row per network, figures aggregated over folds (Dice mean ± std,
//! timings averaged, peak memory the maximum) and the per-case figures (Dice mean ± sd over all
//! validation cases, mean rank, p-value against the baseline), written as `comparison.md` and
//! `comparison.csv`.

use crate::paired::{PairedTest, Statistics, p_text};
use crate::run::RunRecord;
use nnunet_core::{DatasetDescriptor, LabelValue, Result, atomic};
use std::path::Path;

/// Mean and sample standard deviation (n − 1) of the defined values; std is `None` for fewer
/// than two values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub n: usize,
}

impl Stat {
    pub fn of(values: impl IntoIterator<Item = Option<f64>>) -> Self {
        let v: Vec<f64> = values.into_iter().flatten().collect();
        let n = v.len();
        if n == 0 {
            return Stat {
                mean: None,
                std: None,
                n,
            };
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let std = (n > 1)
            .then(|| (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
        Stat {
            mean: Some(mean),
            std,
            n,
        }
    }

    pub fn text(&self, decimals: usize) -> String {
        match (self.mean, self.std) {
            (None, _) => "-".into(),
            (Some(m), None) => format!("{m:.decimals$}"),
            (Some(m), Some(s)) => format!("{m:.decimals$} ± {s:.decimals$}"),
        }
    }
}

/// A label column: the summary key (`"1"`) and its name in `dataset.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelColumn {
    pub key: String,
    pub name: String,
}

/// The evaluated labels (or regions) of a dataset, named as `dataset.json` names them.
pub fn label_columns(dataset: &DatasetDescriptor) -> Result<Vec<LabelColumn>> {
    let targets = nnunet_inference::evaluation::targets(dataset)?;
    let names = dataset.label_values()?;
    Ok(targets
        .iter()
        .map(|t| {
            let key = t.key();
            let name = names
                .iter()
                .find(|(_, v)| match v {
                    LabelValue::Single(v) => v.to_string() == key,
                    LabelValue::Region(vs) => {
                        nnunet_inference::evaluation::Target::Region(vs.clone()).key() == key
                    }
                })
                .map_or_else(|| key.clone(), |(n, _)| n.clone());
            LabelColumn { key, name }
        })
        .collect())
}

/// One network's row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub label: String,
    pub network: String,
    pub plans: String,
    pub trainer: String,
    pub folds: Vec<String>,
    pub parameters: u64,
    /// Per label column, in order.
    pub dice: Vec<Stat>,
    pub foreground_dice: Stat,
    pub train_seconds_per_epoch: Stat,
    pub inference_seconds_per_case: Stat,
    pub peak_gpu_mib: Option<u64>,
    /// Largest peak RSS over the folds (MiB).
    pub peak_rss_mib: Option<u64>,
    pub flops_per_patch: Option<u64>,
    /// Epochs trained per fold, and the schedule's.
    pub epochs: Vec<usize>,
    pub scheduled_epochs: Option<usize>,
    /// The training seeds the checkpoints record (one unless folds differ).
    pub seeds: Vec<u64>,
    /// Foreground Dice over every validation case of every fold (mean ± sd, n cases).
    pub case_dice: Stat,
    /// Mean rank across the cases every network has (1 = best).
    pub mean_rank: Option<f64>,
    /// The test against the baseline; `None` for the baseline itself.
    pub test: Option<PairedTest>,
}

impl Row {
    /// Aggregates one network's folds.
    pub fn from_runs(runs: &[&RunRecord], columns: &[LabelColumn]) -> Option<Self> {
        let first = runs.first()?;
        Some(Row {
            label: first.label.clone(),
            network: first.network.clone(),
            plans: first.plans.clone(),
            trainer: first.trainer.clone(),
            folds: runs.iter().map(|r| r.fold.clone()).collect(),
            parameters: first.parameters,
            dice: columns
                .iter()
                .map(|c| Stat::of(runs.iter().map(|r| r.dice.get(&c.key).copied().flatten())))
                .collect(),
            foreground_dice: Stat::of(runs.iter().map(|r| r.foreground_dice)),
            train_seconds_per_epoch: Stat::of(runs.iter().map(|r| r.train_seconds_per_epoch)),
            inference_seconds_per_case: Stat::of(runs.iter().map(|r| r.inference_seconds_per_case)),
            peak_gpu_mib: runs.iter().filter_map(|r| r.peak_gpu_mib).max(),
            peak_rss_mib: runs.iter().filter_map(|r| r.peak_rss_mib).max(),
            flops_per_patch: first.flops_per_patch,
            epochs: runs.iter().map(|r| r.epochs).collect(),
            scheduled_epochs: first.scheduled_epochs,
            seeds: {
                let mut seeds: Vec<u64> = runs.iter().filter_map(|r| r.seed).collect();
                seeds.sort_unstable();
                seeds.dedup();
                seeds
            },
            case_dice: Stat::of([]),
            mean_rank: None,
            test: None,
        })
    }

    /// Epochs trained, e.g. `12` or `11–12` over folds, with `/ 20` when a time limit
    /// stopped training before the schedule's end.
    pub fn epochs_text(&self) -> String {
        let (lo, hi) = (
            self.epochs.iter().min().copied().unwrap_or(0),
            self.epochs.iter().max().copied().unwrap_or(0),
        );
        let range = if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}–{hi}")
        };
        match self.scheduled_epochs {
            Some(s) if s > lo => format!("{range} / {s}"),
            _ => range,
        }
    }
}

/// Fills the rows' per-case figures from the statistics (rows in the table's network order).
pub fn add_statistics(rows: &mut [Row], table: &crate::paired::CaseTable, stats: &Statistics) {
    for (j, row) in rows.iter_mut().enumerate() {
        row.case_dice = Stat::of(table.column(j).into_iter().map(Some));
        row.mean_rank = stats.mean_rank.get(j).and_then(|(_, r)| *r);
        row.test = stats.tests.iter().find(|t| t.network == row.label).cloned();
    }
}

fn gflops(f: Option<u64>) -> String {
    f.map_or("-".into(), |f| format!("{:.2}", f as f64 / 1e9))
}

/// `5553840` → `5,553,840`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What the report says about the setting.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub dataset: String,
    pub configuration: String,
    pub folds: Vec<String>,
    pub budget: String,
    /// The device in words (GPU name, or CPU model and threads).
    pub device: String,
    /// The seed every network trained with (`None`: each network's own).
    pub seed: Option<u64>,
    pub baseline: String,
}

/// `comparison.md`.
pub fn markdown(setting: &Setting, columns: &[LabelColumn], rows: &[Row]) -> String {
    let mut md = format!(
        "# Network comparison: {} {}\n\nFolds {}; budget: {}; seed: {}; device: {}.\n\n\
         Dice per label and mean Dice: mean over each fold's validation cases (nnU-Net's \
         `summary.json`), then mean ± standard deviation over folds. Dice per case: each \
         validation case's foreground Dice (mean of its labels), mean ± sd over all cases of \
         all folds. Mean rank: the network's rank among all networks on each case (1 = highest \
         Dice, ties averaged), averaged over the cases. p: two-sided Wilcoxon signed-rank test \
         of the per-case Dice against the baseline ({}), paired by fold and case, \
         Holm-adjusted across the networks (raw p in brackets); details in \
         `comparison_stats.json`, per-case values in `comparison_cases.csv`. GFLOPs: \
         one forward pass of one patch (batch 1, as trained), counted on libtorch's \
         dispatcher as `torch.utils.flop_counter` counts (2 × multiply-accumulates of \
         convolutions, matrix products and attention). \
         Training time per epoch includes the validation iterations; inference time per case \
         is the final validation (read, sliding window with the configured mirroring, export, \
         scoring). Peak RSS: the process's resident memory high-water mark during the run's \
         training and validation. Peak GPU memory: this process as `nvidia-smi` reports it \
         (CUDA context included).\n\n",
        setting.dataset,
        setting.configuration,
        setting.folds.join(", "),
        setting.budget,
        setting
            .seed
            .map_or("each network's own".into(), |s| s.to_string()),
        setting.device,
        setting.baseline,
    );
    let mut header = vec![
        "network".to_string(),
        "architecture".into(),
        "parameters".into(),
        "GFLOPs / patch".into(),
    ];
    header.extend(
        columns
            .iter()
            .map(|c| format!("Dice {} ({})", c.name, c.key)),
    );
    header.extend([
        "mean Dice".into(),
        "Dice per case (n)".into(),
        "mean rank".into(),
        "p vs baseline, Holm (raw)".into(),
        "epochs".into(),
        "s / epoch".into(),
        "s / case".into(),
        "peak RSS MiB".into(),
        "peak GPU MiB".into(),
    ]);
    md.push_str(&format!("| {} |\n", header.join(" | ")));
    md.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for row in rows {
        let mut cells = vec![
            row.label.clone(),
            format!("`{}` ({})", row.network, row.plans),
            thousands(row.parameters),
            gflops(row.flops_per_patch),
        ];
        cells.extend(row.dice.iter().map(|s| s.text(4)));
        cells.push(row.foreground_dice.text(4));
        cells.push(format!("{} ({})", row.case_dice.text(4), row.case_dice.n));
        cells.push(row.mean_rank.map_or("-".into(), |r| format!("{r:.2}")));
        cells.push(p_text(row.test.as_ref()));
        cells.push(row.epochs_text());
        cells.push(row.train_seconds_per_epoch.text(2));
        cells.push(row.inference_seconds_per_case.text(2));
        cells.push(row.peak_rss_mib.map_or("-".into(), |m| m.to_string()));
        cells.push(row.peak_gpu_mib.map_or("-".into(), |m| m.to_string()));
        md.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    md.push_str("\n![comparison](comparison.png)\n");
    md
}

pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn num(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v}"))
}

/// `comparison.csv`: one row per network, empty cells for unknown figures.
pub fn csv(columns: &[LabelColumn], rows: &[Row]) -> String {
    let mut header = vec![
        "label".to_string(),
        "network".into(),
        "plans".into(),
        "trainer".into(),
        "folds".into(),
        "parameters".into(),
    ];
    for c in columns {
        header.push(format!("dice_{}_mean", c.key));
        header.push(format!("dice_{}_std", c.key));
    }
    header.extend(
        [
            "dice_foreground_mean",
            "dice_foreground_std",
            "train_seconds_per_epoch",
            "inference_seconds_per_case",
            "peak_gpu_mib",
            "flops_per_patch",
            "dice_case_mean",
            "dice_case_std",
            "cases",
            "mean_rank",
            "p_value",
            "p_holm",
            "wilcoxon_method",
            "epochs",
            "scheduled_epochs",
            "seed",
            "peak_rss_mib",
        ]
        .map(String::from),
    );
    let mut out = header.join(",") + "\n";
    for row in rows {
        let mut cells = vec![
            csv_field(&row.label),
            csv_field(&row.network),
            csv_field(&row.plans),
            csv_field(&row.trainer),
            csv_field(&row.folds.join(" ")),
            row.parameters.to_string(),
        ];
        for s in &row.dice {
            cells.push(num(s.mean));
            cells.push(num(s.std));
        }
        cells.push(num(row.foreground_dice.mean));
        cells.push(num(row.foreground_dice.std));
        cells.push(num(row.train_seconds_per_epoch.mean));
        cells.push(num(row.inference_seconds_per_case.mean));
        cells.push(row.peak_gpu_mib.map_or(String::new(), |m| m.to_string()));
        let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
        cells.push(opt(row.flops_per_patch));
        cells.push(num(row.case_dice.mean));
        cells.push(num(row.case_dice.std));
        cells.push(row.case_dice.n.to_string());
        cells.push(num(row.mean_rank));
        cells.push(num(row.test.as_ref().and_then(|t| t.p_value)));
        cells.push(num(row.test.as_ref().and_then(|t| t.p_holm)));
        cells.push(
            row.test
                .as_ref()
                .map_or(String::new(), |t| t.method.clone()),
        );
        cells.push(csv_field(
            &row.epochs
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ));
        cells.push(opt(row.scheduled_epochs.map(|e| e as u64)));
        cells.push(csv_field(
            &row.seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ));
        cells.push(opt(row.peak_rss_mib));
        out.push_str(&(cells.join(",") + "\n"));
    }
    out
}

/// Writes `comparison.md` and `comparison.csv` atomically into `dir`.
pub fn write_tables(
    dir: &Path,
    setting: &Setting,
    columns: &[LabelColumn],
    rows: &[Row],
) -> Result<()> {
    atomic::write_bytes(
        &dir.join("comparison.md"),
        markdown(setting, columns, rows).as_bytes(),
    )?;
    atomic::write_bytes(&dir.join("comparison.csv"), csv(columns, rows).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_and_formatting() {
        let s = Stat::of([Some(0.8), None, Some(0.6)]);
        assert_eq!(s.n, 2);
        assert!((s.mean.unwrap() - 0.7).abs() < 1e-12);
        assert!((s.std.unwrap() - 0.02f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.text(2), "0.70 ± 0.14");
        assert_eq!(Stat::of([Some(0.5)]).text(3), "0.500");
        assert_eq!(Stat::of([None]).text(3), "-");
        assert_eq!(thousands(5_553_840), "5,553,840");
        assert_eq!(thousands(999), "999");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }
}
