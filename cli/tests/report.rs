//! `nnunet report` on the 2D phantom, opened from disk in headless Chromium (Debian's package;
//! `scripts/chromium.sh` installs it): the screenshot is not blank, the page logs nothing to the
//! console, the table, box plots, overlays and training curves are in the DOM, and opening it
//! with `#sort=dice_1` sorts the rows by Dice. Without Chromium the test is a counted skip, a
//! failure under NNUNET_REQUIRE_SHARED_DATA=1.

mod support;

use nnunet_core::LabelMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::Sandbox;

const CHROMIUM: &str = "/usr/bin/chromium";
const CASES: usize = 5;

/// Predictions: each reference shifted right by a different number of pixels (case i by
/// `CASES - i`), so Dice rises with the case's name order and sorting by Dice reverses it.
fn write_predictions(gt: &Path, pred: &Path) -> Vec<String> {
    std::fs::create_dir_all(pred).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(gt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".png"))
        .collect();
    names.sort();
    for (i, name) in names.iter().enumerate() {
        let reference = nnunet_datasets::io::read_label(&gt.join(name)).unwrap();
        let [_, h, w] = reference.shape;
        let shift = 2 * (CASES - i);
        let mut data = vec![0i16; h * w];
        for y in 0..h {
            for x in shift..w {
                data[y * w + x] = reference.data[y * w + x - shift];
            }
        }
        let prediction = LabelMap {
            data,
            ..reference.clone()
        };
        nnunet_datasets::io::write_label(&pred.join(name), &prediction).unwrap();
    }
    names
}

/// A model folder whose one fold has a checkpoint sidecar with a three-epoch training log.
fn write_model(dir: &Path) {
    let fold = dir.join("fold_0");
    std::fs::create_dir_all(&fold).unwrap();
    let epochs: Vec<serde_json::Value> = (0..3)
        .map(|e| {
            serde_json::json!({
                "epoch": e, "train_loss": 1.0 - 0.3 * e as f64, "val_loss": 1.1 - 0.3 * e as f64,
                "pseudo_dice": [0.2 * e as f64, 0.25 * e as f64], "ema_pseudo_dice": 0.1 * e as f64,
                "learning_rate": 0.01, "epoch_seconds": 1.0
            })
        })
        .collect();
    let meta = serde_json::json!({ "epoch": 3, "log": { "epochs": epochs } });
    std::fs::write(fold.join("checkpoint_final.json"), meta.to_string()).unwrap();
}

fn chromium(page: &Path, profile: &Path, extra: &[String], address_tail: &str) -> (String, String) {
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}{address_tail}", page.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed:\n{stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// The console lines Chromium logged for the page (any message, error or not).
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// (case, Dice of the first label) per table row, in the DOM's order.
fn rows(dom: &str) -> Vec<(String, f64)> {
    dom.split("<tr data-case=\"")
        .skip(1)
        .map(|chunk| {
            let case = chunk.split('"').next().unwrap().to_string();
            let v = chunk.split("data-v=\"").nth(1).unwrap();
            let dice = v.split('"').next().unwrap().parse().unwrap_or(f64::NAN);
            (case, dice)
        })
        .collect()
}

#[test]
fn report_renders_in_chromium_and_sorts() {
    if !Path::new(CHROMIUM).is_file() {
        nnunet_core::test_data::skip(&format!("{CHROMIUM} is missing (scripts/chromium.sh)"));
        return;
    }
    let sandbox = Sandbox::new();
    sandbox.run(&[
        "demo-data",
        "--dim",
        "2",
        "--cases",
        &CASES.to_string(),
        "--test-cases",
        "1",
    ]);
    let raw = sandbox.path().join("raw/Dataset901_Phantom2D");
    let (gt, pred, out, model) = (
        raw.join("labelsTr"),
        sandbox.path().join("pred"),
        sandbox.path().join("report"),
        sandbox.path().join("model"),
    );
    let names = write_predictions(&gt, &pred);
    write_model(&model);
    let text = sandbox.run(&[
        "report",
        "-g",
        gt.to_str().unwrap(),
        "-p",
        pred.to_str().unwrap(),
        "-d",
        "901",
        "-o",
        out.to_str().unwrap(),
        "-m",
        model.to_str().unwrap(),
        "--nsd-tolerance",
        "2",
    ]);
    let page: PathBuf = out.join("index.html");
    assert!(text.contains("index.html"), "{text}");
    for name in &names {
        let case = name.trim_end_matches(".png");
        assert!(
            out.join(format!("overlays/{case}.png")).is_file(),
            "overlay of {case}"
        );
    }
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("\"HD95\"") && summary.contains("\"nsd_tolerance_mm\": 2.0"));

    let profile = tempfile::tempdir().unwrap();
    // The DOM after the page sorted itself by Dice, ascending.
    let (dom, stderr) = chromium(
        &page,
        profile.path(),
        &["--dump-dom".into()],
        "#sort=dice_1",
    );
    assert!(
        console_lines(&stderr).is_empty(),
        "console output: {:?}",
        console_lines(&stderr)
    );
    assert!(
        dom.contains("data-sorted=\"dice_1\""),
        "not sorted by dice_1"
    );
    let order = rows(&dom);
    assert_eq!(order.len(), CASES, "one row per case");
    assert!(
        order.windows(2).all(|w| w[0].1 <= w[1].1),
        "rows not in ascending Dice: {order:?}"
    );
    let mut by_name = order.clone();
    by_name.sort_by(|a, b| a.0.cmp(&b.0));
    assert_ne!(order, by_name, "the sort changed the order");
    let labels = dom.matches("class=\"boxplot\"").count();
    assert!(labels >= 1, "a box plot per label");
    assert_eq!(dom.matches("<th colspan=").count(), labels);
    assert_eq!(dom.matches("class=\"overlay\"").count(), CASES);
    assert_eq!(
        dom.matches("class=\"curves\"").count(),
        2,
        "loss and pseudo-Dice charts"
    );

    // The screenshot shows something: not one flat colour.
    let shot = profile.path().join("shot.png");
    let (_, stderr) = chromium(
        &page,
        profile.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,1600".into(),
        ],
        "",
    );
    assert!(
        console_lines(&stderr).is_empty(),
        "console output: {:?}",
        console_lines(&stderr)
    );
    let img = image::open(&shot).unwrap().to_luma8();
    let n = img.pixels().len() as f64;
    let mean = img.pixels().map(|p| f64::from(p.0[0])).sum::<f64>() / n;
    let var = img
        .pixels()
        .map(|p| (f64::from(p.0[0]) - mean).powi(2))
        .sum::<f64>()
        / n;
    assert!(
        var > 100.0,
        "screenshot nearly blank: mean {mean:.1}, variance {var:.1}"
    );
}

#[test]
fn evaluate_surface_adds_hd95_and_nsd_beside_nnunets_keys() {
    let sandbox = Sandbox::new();
    sandbox.run(&[
        "demo-data",
        "--dim",
        "2",
        "--cases",
        "3",
        "--test-cases",
        "1",
    ]);
    let gt = sandbox.path().join("raw/Dataset901_Phantom2D/labelsTr");
    let pred = sandbox.path().join("pred");
    write_predictions(&gt, &pred);
    let read = |file: &Path| -> serde_json::Value {
        let text = std::fs::read_to_string(file).unwrap();
        serde_json::from_str(&text.replace("NaN", "null")).unwrap()
    };
    let (plain, surface) = (
        sandbox.path().join("plain.json"),
        sandbox.path().join("surface.json"),
    );
    let (g, p) = (gt.to_str().unwrap(), pred.to_str().unwrap());
    sandbox.run(&["evaluate", g, p, "-d", "901", "-o", plain.to_str().unwrap()]);
    let text = sandbox.run(&[
        "evaluate",
        g,
        p,
        "-d",
        "901",
        "-o",
        surface.to_str().unwrap(),
        "--surface",
        "--nsd-tolerance",
        "1.5",
    ]);
    assert!(text.contains("HD95"), "{text}");
    let (plain, surface) = (read(&plain), read(&surface));
    assert!(plain.get("nsd_tolerance_mm").is_none());
    assert!(
        !plain.to_string().contains("HD95"),
        "no surface keys without --surface"
    );
    assert_eq!(surface["nsd_tolerance_mm"], 1.5);
    for (key, mean) in surface["mean"].as_object().unwrap() {
        // nnU-Net's figures are unchanged.
        assert_eq!(mean["Dice"], plain["mean"][key]["Dice"], "label {key}");
        let (hd, nsd) = (
            mean["HD95"].as_f64().unwrap(),
            mean["NSD"].as_f64().unwrap(),
        );
        assert!(
            hd > 0.0 && (0.0..1.0).contains(&nsd),
            "label {key}: HD95 {hd}, NSD {nsd}"
        );
    }
    let case = &surface["metric_per_case"][0]["metrics"];
    assert!(
        case.as_object()
            .unwrap()
            .values()
            .all(|m| m.get("HD95").is_some())
    );
}
