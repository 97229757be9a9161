//! A component's JSON options, checked: unknown keys and mistyped values are errors naming the
//! component and the key.

use nnunet_core::serde_json::Value;
use nnunet_core::{Error, Result};

pub struct Options<'a> {
    component: &'a str,
    json: &'a Value,
}

impl<'a> Options<'a> {
    pub fn parse(component: &'a str, json: &'a Value, known: &[&str]) -> Result<Self> {
        if !json.is_null() && !json.is_object() {
            return Err(Error::Invalid(format!(
                "{component}: options must be a JSON object, not {json}"
            )));
        }
        let keys = json.as_object().into_iter().flat_map(|m| m.keys());
        if let Some(key) = keys.into_iter().find(|k| !known.contains(&k.as_str())) {
            return Err(Error::Invalid(format!(
                "{component}: unknown option {key:?} (known: {})",
                known.join(", ")
            )));
        }
        Ok(Options { component, json })
    }

    fn wrong(&self, key: &str, want: &str) -> Error {
        Error::Invalid(format!(
            "{}: option {key:?} must be {want}, got {}",
            self.component, self.json[key]
        ))
    }

    pub fn f64(&self, key: &str) -> Result<Option<f64>> {
        self.json
            .get(key)
            .map(|v| v.as_f64().ok_or_else(|| self.wrong(key, "a number")))
            .transpose()
    }

    pub fn usize(&self, key: &str) -> Result<Option<usize>> {
        self.json
            .get(key)
            .map(|v| {
                v.as_u64()
                    .map(|n| n as usize)
                    .ok_or_else(|| self.wrong(key, "a whole number"))
            })
            .transpose()
    }
}
