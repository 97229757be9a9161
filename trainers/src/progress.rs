//! The training log kept per epoch, and `progress.png` drawn from it like nnU-Net's: losses with
//! pseudo-Dice and its EMA, epoch duration, and learning rate, one panel each.

use nnunet_core::Result;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Once;

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    /// Pseudo-Dice per foreground class (global Dice over the validation batches).
    pub pseudo_dice: Vec<f64>,
    /// nnU-Net's EMA of the mean pseudo-Dice: `0.9·ema + 0.1·mean`.
    pub ema_pseudo_dice: f64,
    pub learning_rate: f64,
    pub epoch_seconds: f64,
}

impl EpochRecord {
    pub fn mean_pseudo_dice(&self) -> f64 {
        let finite: Vec<f64> = self
            .pseudo_dice
            .iter()
            .cloned()
            .filter(|d| d.is_finite())
            .collect();
        if finite.is_empty() {
            f64::NAN
        } else {
            finite.iter().sum::<f64>() / finite.len() as f64
        }
    }
}

/// All epochs so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingLog {
    pub epochs: Vec<EpochRecord>,
}

impl TrainingLog {
    /// The next EMA value given this epoch's mean pseudo-Dice (the first epoch starts the EMA).
    pub fn next_ema(&self, mean_pseudo_dice: f64) -> f64 {
        match self.epochs.last() {
            Some(last) if last.ema_pseudo_dice.is_finite() => {
                0.9 * last.ema_pseudo_dice + 0.1 * mean_pseudo_dice
            }
            _ => mean_pseudo_dice,
        }
    }
}

static FONT: Once = Once::new();

/// Registers the embedded DejaVu font as plotters' `sans-serif` (once per process), so charts
/// need no system fonts. Every chart of ours calls this before drawing.
pub fn register_font() {
    FONT.call_once(|| {
        // The DejaVu font is embedded (dejavu crate), so no system fonts are needed.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    (lo - pad, hi + pad)
}

/// Draws `progress.png` (written atomically).
pub fn draw(log: &TrainingLog, path: &Path) -> Result<()> {
    register_font();
    // The backend picks the encoder from the extension, so the temporary name ends in .png.
    nnunet_core::atomic::write_via_path(path, ".png", |tmp| {
        draw_to(log, tmp).map_err(|e| format!("cannot draw progress plot: {e}"))
    })
}

fn draw_to(log: &TrainingLog, path: &Path) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (1200, 1500)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((3, 1));
    let epochs = &log.epochs;
    let x_max = epochs.last().map(|e| e.epoch + 1).unwrap_or(1).max(1) as f64;

    // Panel 1: losses (left axis), pseudo-Dice and EMA (right axis).
    let (lo, hi) = range(epochs.iter().flat_map(|e| [e.train_loss, e.val_loss]));
    let mut chart = ChartBuilder::on(&panels[0])
        .caption("losses and pseudo-Dice", ("sans-serif", 24))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max, lo..hi)?
        .set_secondary_coord(0f64..x_max, 0f64..1f64);
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss")
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("pseudo-Dice")
        .draw()?;
    let series = |f: fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
        epochs
            .iter()
            .map(|e| (e.epoch as f64, f(e)))
            .filter(|(_, v)| v.is_finite())
            .collect()
    };
    chart
        .draw_series(LineSeries::new(
            series(|e| e.train_loss),
            BLUE.stroke_width(2),
        ))?
        .label("train loss")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(series(|e| e.val_loss), RED.stroke_width(2)))?
        .label("val loss")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart
        .draw_secondary_series(LineSeries::new(
            series(EpochRecord::mean_pseudo_dice),
            GREEN.stroke_width(1),
        ))?
        .label("pseudo-Dice")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN));
    chart
        .draw_secondary_series(LineSeries::new(
            series(|e| e.ema_pseudo_dice),
            GREEN.mix(0.6).stroke_width(3),
        ))?
        .label("pseudo-Dice (EMA)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN.mix(0.6)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;

    // Panels 2 and 3: epoch time and learning rate.
    type Panel = (&'static str, &'static str, fn(&EpochRecord) -> f64);
    let simple: [Panel; 2] = [
        ("epoch duration", "seconds", |e| e.epoch_seconds),
        ("learning rate", "lr", |e| e.learning_rate),
    ];
    for (panel, (title, unit, f)) in panels[1..].iter().zip(simple) {
        let (lo, hi) = range(epochs.iter().map(f));
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 24))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max, lo..hi)?;
        chart.configure_mesh().x_desc("epoch").y_desc(unit).draw()?;
        chart.draw_series(LineSeries::new(series(f), BLACK.stroke_width(2)))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_follows_nnunet() {
        let mut log = TrainingLog::default();
        assert_eq!(log.next_ema(0.5), 0.5);
        log.epochs.push(EpochRecord {
            epoch: 0,
            train_loss: 0.0,
            val_loss: 0.0,
            pseudo_dice: vec![0.5],
            ema_pseudo_dice: 0.5,
            learning_rate: 0.01,
            epoch_seconds: 1.0,
        });
        assert!((log.next_ema(1.0) - 0.55).abs() < 1e-12);
    }

    #[test]
    fn progress_png_is_written() {
        let log = TrainingLog {
            epochs: (0..5)
                .map(|e| EpochRecord {
                    epoch: e,
                    train_loss: 1.0 / (e + 1) as f64,
                    val_loss: 1.2 / (e + 1) as f64,
                    pseudo_dice: vec![0.1 * e as f64, f64::NAN],
                    ema_pseudo_dice: 0.05 * e as f64,
                    learning_rate: 0.01 * (1.0 - e as f64 / 5.0),
                    epoch_seconds: 2.0,
                })
                .collect(),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("progress.png");
        draw(&log, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.len() > 10_000, "a plot with text and lines");
    }
}
