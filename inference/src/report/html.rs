//! The report page: one self-contained HTML document (inline CSS, inline SVG, a few lines of
//! inline script for sorting; images by relative path), readable from disk with no server and no
//! network.
//!
//! The per-case table sorts when a column header is clicked (again: descending), and when the
//! page is opened with `#sort=KEY` (`#sort=-KEY`: descending) in its address, e.g.
//! `index.html#sort=dice_1`. Column keys are `case` and `METRIC_TARGET` (`dice`, `iou`,
//! `precision`, `recall`, `hd95`, `nsd`, `vol_gt`, `vol_pred`; the target's key with every
//! character other than a letter or digit as `_`, e.g. `dice_1`, `dice_1__2` for region `(1, 2)`).
//! The table carries `data-sorted` with the key it is sorted by; each cell its value in `data-v`
//! (empty when undefined: such cells sort last).

use super::svg::escape;
use std::fmt::Write;

/// One target's figures in one case.
#[derive(Clone, Copy, Debug)]
pub struct TargetFigures {
    pub dice: f64,
    pub iou: f64,
    pub precision: f64,
    pub recall: f64,
    pub hd95: f64,
    pub nsd: f64,
    pub volume_reference: f64,
    pub volume_prediction: f64,
}

/// One table row.
pub struct CaseRow {
    pub case: String,
    /// The overlay image, relative to the page.
    pub overlay: Option<String>,
    /// Per target, in the page's target order.
    pub targets: Vec<TargetFigures>,
}

/// Everything the page shows.
pub struct Page {
    pub title: String,
    /// (key as in summary.json, name from dataset.json) per target.
    pub targets: Vec<(String, String)>,
    /// `mL` (3D) or `mm²` (2D).
    pub volume_unit: String,
    pub tolerance_mm: f64,
    pub cases: Vec<CaseRow>,
    /// One box plot (SVG) per target.
    pub box_plots: Vec<String>,
    /// Training curves (HTML fragments), when a model folder was given.
    pub curves: Vec<String>,
}

/// The column key of `metric` for the target keyed `key`.
pub fn column_key(metric: &str, key: &str) -> String {
    let t: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{metric}_{}", t.trim_matches('_'))
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;font-size:13px}\
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}\
td:first-child,th:first-child{text-align:left}\
thead th[data-key]{cursor:pointer;background:#eef}\
thead th[data-key]:hover{background:#dde}\
.plots,.gallery{display:flex;flex-wrap:wrap;gap:12px}\
figure{margin:0;border:1px solid #ddd;padding:6px}\
figure img{max-width:520px;image-rendering:pixelated}\
figcaption{font-size:12px;color:#555}";

const SCRIPT: &str = r#"(function () {
  var table = document.getElementById('cases');
  var head = table.tHead.rows[1].cells;
  function value(cell) {
    var v = cell.getAttribute('data-v');
    if (v === null) return cell.textContent;
    var f = parseFloat(v);
    return isNaN(f) ? null : f;
  }
  function sortBy(key, descending) {
    var col = -1;
    for (var i = 0; i < head.length; i++) {
      if (head[i].getAttribute('data-key') === key) col = i;
    }
    if (col < 0) return;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a.cells[col]), y = value(b.cells[col]);
      if (x === null && y === null) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      var c = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
      return descending ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    table.setAttribute('data-sorted', (descending ? '-' : '') + key);
  }
  for (var i = 0; i < head.length; i++) {
    head[i].addEventListener('click', function () {
      var key = this.getAttribute('data-key');
      sortBy(key, table.getAttribute('data-sorted') === key);
    });
  }
  function fromAddress() {
    var m = /^#sort=(-?)(.+)$/.exec(window.location.hash);
    if (m) sortBy(decodeURIComponent(m[2]), m[1] === '-');
  }
  fromAddress();
  window.addEventListener('hashchange', fromAddress);
})();"#;

/// The metric columns: (key prefix, header, decimals).
const COLUMNS: [(&str, &str, usize); 8] = [
    ("dice", "Dice", 4),
    ("iou", "IoU", 4),
    ("precision", "Precision", 4),
    ("recall", "Recall", 4),
    ("hd95", "HD95 mm", 2),
    ("nsd", "NSD", 4),
    ("vol_gt", "Vol GT", 3),
    ("vol_pred", "Vol pred", 3),
];

fn cell(out: &mut String, v: f64, decimals: usize) {
    if v.is_finite() {
        let _ = write!(out, r#"<td data-v="{v}">{v:.decimals$}</td>"#);
    } else {
        out.push_str(r#"<td data-v="">–</td>"#);
    }
}

fn table(out: &mut String, page: &Page) {
    out.push_str(r#"<table id="cases" data-sorted="case"><thead><tr><th rowspan="1"></th>"#);
    for (_, name) in &page.targets {
        let _ = write!(
            out,
            r#"<th colspan="{}">{}</th>"#,
            COLUMNS.len(),
            escape(name)
        );
    }
    out.push_str(r#"</tr><tr><th data-key="case">Case</th>"#);
    for (key, _) in &page.targets {
        for (metric, header, _) in COLUMNS {
            let header = if metric.starts_with("vol") {
                format!("{header} {}", page.volume_unit)
            } else if metric == "nsd" {
                format!("{header} @{} mm", page.tolerance_mm)
            } else {
                header.to_string()
            };
            let _ = write!(
                out,
                r#"<th data-key="{}">{}</th>"#,
                column_key(metric, key),
                escape(&header)
            );
        }
    }
    out.push_str("</tr></thead><tbody>");
    for row in &page.cases {
        let case = escape(&row.case);
        let _ = write!(
            out,
            r##"<tr data-case="{case}"><td><a href="#overlay-{case}">{case}</a></td>"##
        );
        for f in &row.targets {
            let values = [
                f.dice,
                f.iou,
                f.precision,
                f.recall,
                f.hd95,
                f.nsd,
                f.volume_reference,
                f.volume_prediction,
            ];
            for (v, (metric, _, decimals)) in values.into_iter().zip(COLUMNS) {
                let two_d_volume = metric.starts_with("vol") && page.volume_unit != "mL";
                cell(out, v, if two_d_volume { 1 } else { decimals });
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// The whole page.
pub fn render(page: &Page) -> String {
    let mut out = String::new();
    let title = escape(&page.title);
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{STYLE}</style></head><body><h1>{title}</h1>"#
    );
    let _ = write!(
        out,
        "<p>{} case(s). Click a column header to sort (again: descending), or open the page with \
         <code>#sort=KEY</code>. HD95 and NSD (tolerance {} mm) as MONAI computes them.</p>",
        page.cases.len(),
        page.tolerance_mm
    );
    out.push_str("<h2>Per case</h2>");
    table(&mut out, page);
    out.push_str(r#"<h2>Per label</h2><div class="plots" id="box-plots">"#);
    for svg in &page.box_plots {
        let _ = write!(out, "<figure>{svg}</figure>");
    }
    out.push_str("</div>");
    if !page.curves.is_empty() {
        out.push_str(r#"<h2>Training</h2><div class="plots" id="curves">"#);
        for fragment in &page.curves {
            out.push_str(fragment);
        }
        out.push_str("</div>");
    }
    out.push_str(
        r#"<h2>Overlays</h2><p>Reference | prediction.</p><div class="gallery" id="overlays">"#,
    );
    for row in &page.cases {
        if let Some(src) = &row.overlay {
            let case = escape(&row.case);
            let _ = write!(
                out,
                r#"<figure id="overlay-{case}"><img class="overlay" src="{}" alt="{case}"><figcaption>{case}</figcaption></figure>"#,
                escape(src)
            );
        }
    }
    let _ = writeln!(out, "</div><script>{SCRIPT}</script></body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_keys_are_address_safe() {
        assert_eq!(column_key("dice", "1"), "dice_1");
        assert_eq!(column_key("hd95", "(1, 2)"), "hd95_1__2");
    }
}
