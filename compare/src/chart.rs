//! `comparison.png`: six panels — validation Dice per label and the mean (bars with ± std
//! whiskers, one colour per network), the per-case foreground Dice of each network (a box of
//! the quartiles with the median, and every case as a point), parameters, GFLOPs per patch,
//! training seconds per epoch and inference seconds per case. Drawn with plotters on the
//! embedded DejaVu font, like `progress.png`.

use crate::paired::CaseTable;
use crate::report::{LabelColumn, Row, Stat};
use nnunet_core::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// A colour per network, cycling.
fn colour(i: usize) -> RGBColor {
    const PALETTE: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    PALETTE[i % PALETTE.len()]
}

/// Grouped bars: `groups` on the x axis, one bar per series (network) in each group.
fn grouped_bars(
    area: &DrawingArea<BitMapBackend, Shift>,
    title: &str,
    unit: &str,
    groups: &[String],
    series: &[(String, Vec<Stat>)],
) -> DrawResult {
    let top = series
        .iter()
        .flat_map(|(_, stats)| stats.iter())
        .filter_map(|s| s.mean.map(|m| m + s.std.unwrap_or(0.0)))
        .fold(0.0f64, f64::max);
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let n = groups.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n as f64, 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(unit)
        .draw()?;
    let k = series.len().max(1) as f64;
    let width = 0.8 / k;
    // One unnamed series: one group per network, coloured as in the Dice panel's legend.
    let per_group = series.len() == 1 && series[0].0.is_empty();
    for (s, (name, stats)) in series.iter().enumerate() {
        let c = colour(s);
        let bars: Vec<_> = stats
            .iter()
            .enumerate()
            .filter_map(|(g, st)| {
                let x0 = g as f64 + 0.1 + s as f64 * width;
                let fill = if per_group { colour(g) } else { c };
                st.mean
                    .map(|m| Rectangle::new([(x0, 0.0), (x0 + width * 0.9, m)], fill.filled()))
            })
            .collect();
        chart
            .draw_series(bars)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        let whiskers: Vec<_> = stats
            .iter()
            .enumerate()
            .filter_map(|(g, st)| {
                let x = g as f64 + 0.1 + (s as f64 + 0.45) * width;
                let (m, sd) = (st.mean?, st.std?);
                Some(PathElement::new(
                    vec![(x, (m - sd).max(0.0)), (x, m + sd)],
                    BLACK.stroke_width(2),
                ))
            })
            .collect();
        chart.draw_series(whiskers)?;
    }
    if series.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    // Group names under the axis, centred on each group.
    let style = TextStyle::from(("sans-serif", 16).into_font()).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ),
    );
    let (origin_x, origin_y) = area.get_base_pixel();
    for (g, name) in groups.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(g as f64 + 0.5, 0.0));
        area.draw(&Text::new(
            name.clone(),
            (px - origin_x, py - origin_y + 6),
            style.clone(),
        ))?;
    }
    Ok(())
}

/// The `q`-quantile of sorted values (linear interpolation, numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Per-case foreground Dice: per network a quartile box with the median, and the cases as
/// points spread across the box's width.
fn case_strips(area: &DrawingArea<BitMapBackend, Shift>, table: &CaseTable) -> DrawResult {
    let n = table.networks.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption("Dice per validation case (foreground)", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n as f64, 0f64..1.05)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("Dice")
        .draw()?;
    for (j, name) in table.networks.iter().enumerate() {
        let mut v = table.column(j);
        let c = colour(j);
        let points: Vec<_> = v
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                // A fixed spread (golden-ratio sequence) instead of random jitter.
                let x = j as f64 + 0.2 + 0.6 * ((i as f64 * 0.618_034) % 1.0);
                Circle::new((x, d), 3, c.mix(0.6).filled())
            })
            .collect();
        chart.draw_series(points)?;
        v.sort_by(f64::total_cmp);
        if !v.is_empty() {
            let (q1, med, q3) = (quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75));
            let (x0, x1) = (j as f64 + 0.15, j as f64 + 0.85);
            chart.draw_series([Rectangle::new([(x0, q1), (x1, q3)], BLACK.stroke_width(2))])?;
            chart.draw_series([PathElement::new(
                vec![(x0, med), (x1, med)],
                BLACK.stroke_width(3),
            )])?;
        }
        let style = TextStyle::from(("sans-serif", 16).into_font()).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ),
        );
        let (origin_x, origin_y) = area.get_base_pixel();
        let (px, py) = chart.backend_coord(&(j as f64 + 0.5, 0.0));
        area.draw(&Text::new(
            name.clone(),
            (px - origin_x, py - origin_y + 6),
            style,
        ))?;
    }
    Ok(())
}

fn draw_to(path: &Path, columns: &[LabelColumn], rows: &[Row], table: &CaseTable) -> DrawResult {
    let root = BitMapBackend::new(path, (2100, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, 3));
    let mut groups: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    groups.push("mean".into());
    let dice: Vec<(String, Vec<Stat>)> = rows
        .iter()
        .map(|r| {
            let mut stats = r.dice.clone();
            stats.push(r.foreground_dice);
            (r.label.clone(), stats)
        })
        .collect();
    grouped_bars(
        &panels[0],
        "validation Dice (mean ± std over folds)",
        "Dice",
        &groups,
        &dice,
    )?;
    let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    // One group per network, one series: bars coloured alike.
    let single = |f: &dyn Fn(&Row) -> Stat| -> Vec<(String, Vec<Stat>)> {
        vec![(String::new(), rows.iter().map(f).collect())]
    };
    case_strips(&panels[1], table)?;
    grouped_bars(
        &panels[2],
        "parameters",
        "millions",
        &labels,
        &single(&|r| Stat::of([Some(r.parameters as f64 / 1e6)])),
    )?;
    grouped_bars(
        &panels[3],
        "GFLOPs per patch (forward, batch 1)",
        "GFLOPs",
        &labels,
        &single(&|r| Stat::of([r.flops_per_patch.map(|f| f as f64 / 1e9)])),
    )?;
    grouped_bars(
        &panels[4],
        "training time per epoch",
        "seconds",
        &labels,
        &single(&|r| r.train_seconds_per_epoch),
    )?;
    grouped_bars(
        &panels[5],
        "inference time per case",
        "seconds",
        &labels,
        &single(&|r| r.inference_seconds_per_case),
    )?;
    root.present()?;
    Ok(())
}

/// Draws `comparison.png` atomically.
pub fn draw(path: &Path, columns: &[LabelColumn], rows: &[Row], table: &CaseTable) -> Result<()> {
    nnunet_trainers::progress::register_font();
    // The backend picks the encoder from the extension: the temporary name ends in .png.
    nnunet_core::atomic::write_via_path(path, ".png", |tmp| {
        draw_to(tmp, columns, rows, table)
            .map_err(|e| format!("cannot draw the comparison chart: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, dice: [f64; 2], params: u64) -> Row {
        Row {
            label: label.into(),
            network: label.into(),
            plans: "nnUNetPlans".into(),
            trainer: "nnUNetTrainer".into(),
            folds: vec!["0".into(), "1".into()],
            parameters: params,
            dice: dice
                .iter()
                .map(|&d| Stat::of([Some(d), Some(d - 0.05)]))
                .collect(),
            foreground_dice: Stat::of([Some(dice[0]), Some(dice[1])]),
            train_seconds_per_epoch: Stat::of([Some(12.0)]),
            inference_seconds_per_case: Stat::of([None]),
            peak_gpu_mib: None,
            peak_rss_mib: Some(900),
            flops_per_patch: Some(2_000_000_000),
            epochs: vec![2, 2],
            scheduled_epochs: Some(2),
            seeds: vec![12345],
            case_dice: Stat::of([Some(0.8)]),
            mean_rank: Some(1.5),
            test: None,
        }
    }

    #[test]
    fn chart_is_drawn() {
        let columns = [
            LabelColumn {
                key: "1".into(),
                name: "Anterior".into(),
            },
            LabelColumn {
                key: "2".into(),
                name: "Posterior".into(),
            },
        ];
        let rows = [
            row("PlainConvUNet", [0.85, 0.83], 30_000_000),
            row("MedNeXt-S k3", [0.8, 0.78], 5_553_840),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("comparison.png");
        let cases = |v: &[f64]| {
            vec![(
                "0".to_string(),
                v.iter()
                    .enumerate()
                    .map(|(i, &d)| crate::cases::CaseDice {
                        case: format!("c{i}"),
                        foreground: Some(d),
                    })
                    .collect(),
            )]
        };
        let table = CaseTable::new(
            vec!["PlainConvUNet".into(), "MedNeXt-S k3".into()],
            &[cases(&[0.8, 0.7, 0.9, 0.85]), cases(&[0.6, 0.75, 0.8, 0.7])],
        );
        draw(&path, &columns, &rows, &table).unwrap();
        assert!((quantile(&[1.0, 2.0, 3.0, 4.0], 0.25) - 1.75).abs() < 1e-12);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.len() > 10_000, "bars, axes and text");
    }
}
