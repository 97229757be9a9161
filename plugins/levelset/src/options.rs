//! The postprocessor's options, read from the JSON object `nnunet predict --postprocess` passes:
//! every key is checked by name and type, unknown keys are refused with the list of known ones.

use nnunet_core::serde_json::{Map, Value};
use nnunet_core::{Error, Result};

/// The keys `levelset` accepts.
pub const KNOWN: &[&str] = &["iterations", "mu", "lambda", "dt", "epsilon", "labels"];

/// Level-set parameters (see the crate documentation for the energy they weigh).
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Number of semi-implicit steps.
    pub iterations: usize,
    /// Weight of the contour length (curvature) term.
    pub mu: f64,
    /// Weight of the region (probability) term.
    pub lambda: f64,
    /// Time step.
    pub dt: f64,
    /// Width of the regularised Heaviside/Dirac, in voxels of the finest axis.
    pub epsilon: f64,
    /// Foreground labels to refine; `None`: every label the probabilities have.
    pub labels: Option<Vec<i16>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            iterations: 200,
            mu: 0.2,
            lambda: 1.0,
            dt: 0.5,
            epsilon: 1.0,
            labels: None,
        }
    }
}

fn invalid(message: String) -> Error {
    Error::Invalid(format!("levelset: {message}"))
}

fn number(map: &Map<String, Value>, key: &str, min: f64, strict: bool) -> Result<Option<f64>> {
    let Some(value) = map.get(key) else {
        return Ok(None);
    };
    let x = value
        .as_f64()
        .ok_or_else(|| invalid(format!("option \"{key}\" must be a number, got {value}")))?;
    let ok = x.is_finite() && if strict { x > min } else { x >= min };
    if !ok {
        let bound = if strict { ">" } else { ">=" };
        return Err(invalid(format!(
            "option \"{key}\" must be {bound} {min}, got {x}"
        )));
    }
    Ok(Some(x))
}

fn labels(value: &Value) -> Result<Vec<i16>> {
    let bad = || {
        invalid(format!(
            "option \"labels\" must be a list of labels >= 1, got {value}"
        ))
    };
    let list = value.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|v| {
            v.as_u64()
                .filter(|&l| (1..=i16::MAX as u64).contains(&l))
                .map(|l| l as i16)
                .ok_or_else(bad)
        })
        .collect()
}

impl Options {
    /// Reads `json` (`null` or `{}`: the defaults).
    pub fn parse(json: &Value) -> Result<Options> {
        let mut options = Options::default();
        if json.is_null() {
            return Ok(options);
        }
        let map = json
            .as_object()
            .ok_or_else(|| invalid(format!("options must be a JSON object, got {json}")))?;
        if let Some(key) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            let known = KNOWN.join(", ");
            return Err(invalid(format!(
                "unknown option \"{key}\" (known: {known})"
            )));
        }
        if let Some(value) = map.get("iterations") {
            options.iterations = value.as_u64().filter(|&n| n <= 10_000).ok_or_else(|| {
                invalid(format!(
                    "option \"iterations\" must be a whole number from 0 to 10000, got {value}"
                ))
            })? as usize;
        }
        options.mu = number(map, "mu", 0.0, false)?.unwrap_or(options.mu);
        options.lambda = number(map, "lambda", 0.0, false)?.unwrap_or(options.lambda);
        options.dt = number(map, "dt", 0.0, true)?.unwrap_or(options.dt);
        options.epsilon = number(map, "epsilon", 0.0, true)?.unwrap_or(options.epsilon);
        options.labels = map.get("labels").map(labels).transpose()?;
        Ok(options)
    }

    /// Whether `label` is to be refined.
    pub fn refines(&self, label: i16) -> bool {
        self.labels.as_ref().is_none_or(|l| l.contains(&label))
    }
}
