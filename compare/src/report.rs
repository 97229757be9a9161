//! The comparison's table: one row per network, figures aggregated over folds (Dice mean ± std,
//! timings averaged, peak GPU memory the maximum), written as `comparison.md` and
//! `comparison.csv`.

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

    fn text(&self, decimals: usize) -> String {
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
        })
    }
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
}

/// `comparison.md`.
pub fn markdown(setting: &Setting, columns: &[LabelColumn], rows: &[Row]) -> String {
    let mut md = format!(
        "# Network comparison: {} {}\n\nFolds {}; budget: {}; device: {}.\n\n\
         Dice: mean over each fold's validation cases (nnU-Net's `summary.json`), then mean ± \
         standard deviation over folds. Training time per epoch includes the validation \
         iterations; inference time per case is the final validation (read, sliding window \
         with the configured mirroring, export, scoring). Peak GPU memory: this process as \
         `nvidia-smi` reports it (CUDA context included).\n\n",
        setting.dataset,
        setting.configuration,
        setting.folds.join(", "),
        setting.budget,
        setting.device
    );
    let mut header = vec![
        "network".to_string(),
        "architecture".into(),
        "parameters".into(),
    ];
    header.extend(
        columns
            .iter()
            .map(|c| format!("Dice {} ({})", c.name, c.key)),
    );
    header.extend([
        "mean Dice".into(),
        "s / epoch".into(),
        "s / case".into(),
        "peak GPU MiB".into(),
    ]);
    md.push_str(&format!("| {} |\n", header.join(" | ")));
    md.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for row in rows {
        let mut cells = vec![
            row.label.clone(),
            format!("`{}` ({})", row.network, row.plans),
            thousands(row.parameters),
        ];
        cells.extend(row.dice.iter().map(|s| s.text(4)));
        cells.push(row.foreground_dice.text(4));
        cells.push(row.train_seconds_per_epoch.text(2));
        cells.push(row.inference_seconds_per_case.text(2));
        cells.push(row.peak_gpu_mib.map_or("-".into(), |m| m.to_string()));
        md.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    md.push_str("\n![comparison](comparison.png)\n");
    md
}

fn csv_field(text: &str) -> String {
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
