//! Reading a loss's options (`LossSpec::options`, JSON): unknown keys and mistyped values are
//! errors that name the loss and the key.

use nnunet_core::{CheckedOptions, Result};
use serde_json::Value;

/// A loss's options, checked against the keys it accepts (`nnunet_core::CheckedOptions`, with
/// errors naming `loss NAME`).
pub(crate) struct Options<'a>(CheckedOptions<'a>);

impl<'a> Options<'a> {
    pub(crate) fn parse(loss: &str, value: &'a Value, allowed: &[&str]) -> Result<Self> {
        CheckedOptions::parse(&format!("loss {loss}"), value, allowed).map(Options)
    }

    pub(crate) fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        Ok(self.0.f64(key)?.unwrap_or(default))
    }

    pub(crate) fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        Ok(self.0.bool(key)?.unwrap_or(default))
    }

    /// `regions`: the label values making up each region, e.g. `[[1, 2, 3], [2, 3], [3]]` (the
    /// `labels` of a region-based dataset.json, in `regions_class_order`).
    pub(crate) fn regions(&self) -> Result<Option<Vec<Vec<i64>>>> {
        let Some(value) = self.0.get("regions") else {
            return Ok(None);
        };
        let parse = |v: &Value| -> Option<Vec<i64>> {
            match v {
                Value::Number(n) => Some(vec![n.as_i64()?]),
                Value::Array(items) => items.iter().map(Value::as_i64).collect(),
                _ => None,
            }
        };
        value
            .as_array()
            .and_then(|regions| regions.iter().map(parse).collect::<Option<Vec<_>>>())
            .filter(|regions| !regions.is_empty())
            .map(Some)
            .ok_or_else(|| self.0.wrong("regions", "a non-empty list of label lists"))
    }
}
