//! The report's charts as inline SVG text: a box plot (one box per metric, values in [0, 1]) and
//! a line chart (training curves). No scripts, no fonts beyond the browser's sans-serif.

use std::fmt::Write;

/// Plot area of every chart, in SVG pixels.
const WIDTH: f64 = 460.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 22.0;
const RIGHT: f64 = 12.0;

/// `s` with `&`, `<`, `>` and `"` escaped for HTML/SVG text and attributes.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The `q` quantile of sorted `v` (linear interpolation, numpy's default).
fn quantile(v: &[f64], q: f64) -> f64 {
    let rank = q * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

/// A box plot's figures: quartiles, Tukey whiskers (the extreme values within 1.5 IQR of the
/// box) and the values beyond them.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxStats {
    pub low: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub high: f64,
    pub outliers: Vec<f64>,
}

/// The box-plot figures of the finite `values`, `None` when there are none.
pub fn box_stats(values: &[f64]) -> Option<BoxStats> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let (q1, med, q3) = (quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75));
    let (lo_fence, hi_fence) = (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1));
    let inside: Vec<f64> = v
        .iter()
        .copied()
        .filter(|&x| x >= lo_fence && x <= hi_fence)
        .collect();
    let outliers = v
        .iter()
        .copied()
        .filter(|&x| x < lo_fence || x > hi_fence)
        .collect();
    Some(BoxStats {
        low: inside[0],
        q1,
        median: med,
        q3,
        high: inside[inside.len() - 1],
        outliers,
    })
}

fn open_svg(out: &mut String, title: &str, class: &str) {
    let _ = write!(
        out,
        r#"<svg class="{class}" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img"><title>{t}</title><rect width="{w}" height="{h}" fill="white"/>"#,
        w = WIDTH,
        h = HEIGHT,
        t = escape(title),
    );
    let _ = write!(
        out,
        r#"<text x="{x}" y="14" font-size="12" font-weight="bold" text-anchor="end" font-family="sans-serif">{t}</text>"#,
        x = WIDTH - RIGHT,
        t = escape(title),
    );
}

/// Horizontal grid lines and y labels for `[lo, hi]`; `y` maps a value to a pixel row.
fn y_axis(out: &mut String, lo: f64, hi: f64, y: &dyn Fn(f64) -> f64) {
    for i in 0..=4 {
        let v = lo + (hi - lo) * f64::from(i) / 4.0;
        let py = y(v);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{py:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{tx}" y="{ty:.1}" font-size="11" text-anchor="end" font-family="sans-serif">{v}</text>"##,
            x2 = WIDTH - RIGHT,
            tx = LEFT - 4.0,
            ty = py + 4.0,
            v = format_tick(v),
        );
    }
}

fn format_tick(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A box plot of `series` (name, values in [0, 1]; NaN skipped), one box each, titled `title`.
pub fn box_plot(title: &str, series: &[(&str, Vec<f64>)]) -> String {
    let mut out = String::new();
    open_svg(&mut out, title, "boxplot");
    let y = |v: f64| TOP + (1.0 - v.clamp(0.0, 1.0)) * (HEIGHT - TOP - BOTTOM);
    y_axis(&mut out, 0.0, 1.0, &y);

    let slot = (WIDTH - LEFT - RIGHT) / series.len().max(1) as f64;
    for (i, (name, values)) in series.iter().enumerate() {
        let cx = LEFT + slot * (i as f64 + 0.5);
        let half = (slot * 0.3).min(30.0);
        let _ = write!(
            out,
            r#"<text x="{cx:.1}" y="{ty}" font-size="12" text-anchor="middle" font-family="sans-serif">{n}</text>"#,
            ty = HEIGHT - 8.0,
            n = escape(name),
        );
        let Some(BoxStats {
            low: lo,
            q1,
            median: med,
            q3,
            high: hi,
            outliers,
        }) = box_stats(values)
        else {
            continue;
        };
        let _ = write!(
            out,
            r##"<g class="box" data-median="{med}"><line x1="{cx:.1}" x2="{cx:.1}" y1="{ylo:.1}" y2="{yhi:.1}" stroke="#333"/><rect x="{bx:.1}" y="{yq3:.1}" width="{bw:.1}" height="{bh:.1}" fill="#9ecae1" stroke="#333"/><line x1="{bx:.1}" x2="{bx2:.1}" y1="{ym:.1}" y2="{ym:.1}" stroke="#08306b" stroke-width="2"/>"##,
            ylo = y(lo),
            yhi = y(hi),
            bx = cx - half,
            bx2 = cx + half,
            bw = 2.0 * half,
            yq3 = y(q3),
            bh = (y(q1) - y(q3)).max(1.0),
            ym = y(med),
        );
        for o in outliers {
            let _ = write!(
                out,
                r##"<circle cx="{cx:.1}" cy="{:.1}" r="2.5" fill="none" stroke="#c00"/>"##,
                y(o)
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// A line chart of `lines` (name, colour, y per x = 0, 1, …) over x labelled `x_label`.
pub fn line_chart(title: &str, x_label: &str, lines: &[(&str, &str, Vec<f64>)]) -> String {
    let finite = || {
        lines
            .iter()
            .flat_map(|l| l.2.iter().copied())
            .filter(|v| v.is_finite())
    };
    let (mut lo, mut hi) = finite().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    let n = lines.iter().map(|l| l.2.len()).max().unwrap_or(0).max(2);
    let x = |i: usize| LEFT + (WIDTH - LEFT - RIGHT) * i as f64 / (n - 1) as f64;
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * (HEIGHT - TOP - BOTTOM);
    let mut out = String::new();
    open_svg(&mut out, title, "curves");
    y_axis(&mut out, lo, hi, &y);
    let _ = write!(
        out,
        r#"<text x="{cx}" y="{ty}" font-size="11" text-anchor="middle" font-family="sans-serif">{l} (0–{last})</text>"#,
        cx = (LEFT + WIDTH - RIGHT) / 2.0,
        ty = HEIGHT - 8.0,
        l = escape(x_label),
        last = n - 1,
    );
    for (k, (name, colour, values)) in lines.iter().enumerate() {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, &v)| format!("{:.1},{:.1}", x(i), y(v)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{p}"/><text x="{lx}" y="{ly}" font-size="11" fill="{colour}" font-family="sans-serif">{n}</text>"#,
            p = points.join(" "),
            lx = LEFT + 8.0,
            ly = TOP + 12.0 + 13.0 * k as f64,
            n = escape(name),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_stats_follow_tukey() {
        let b = box_stats(&[0.1, 0.5, 0.52, 0.54, 0.56, 0.58, f64::NAN]).unwrap();
        assert_eq!(b.outliers, vec![0.1]);
        assert_eq!((b.low, b.high), (0.5, 0.58));
        assert!((b.median - 0.53).abs() < 1e-12 && b.q1 < b.median && b.median < b.q3);
        assert!(box_stats(&[f64::NAN]).is_none());
    }

    #[test]
    fn charts_are_svg_with_escaped_titles() {
        let b = box_plot("a<b", &[("Dice", vec![0.5, 0.7])]);
        assert!(b.starts_with("<svg") && b.ends_with("</svg>") && b.contains("a&lt;b"));
        assert_eq!(b.matches("class=\"box\"").count(), 1);
        let c = line_chart("loss", "epoch", &[("train", "#00f", vec![1.0, 0.5, 0.2])]);
        assert!(c.contains("<polyline"));
    }
}
