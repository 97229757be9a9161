//! A component's JSON options, checked: [`CheckedOptions`] refuses keys the component does not
//! know and values of the wrong type, with errors naming the component and the key. For plugin
//! and built-in components alike (`Registry` constructors receive their options as JSON).

use crate::registry::Options as Json;
use crate::{Error, Result};

/// Options of one component, checked against the keys it accepts.
pub struct CheckedOptions<'a> {
    /// How errors name the component, e.g. `heatmap` or `loss dice`.
    component: String,
    json: &'a Json,
}

impl<'a> CheckedOptions<'a> {
    /// `json` must be null (no options) or an object whose keys are all in `known`.
    pub fn parse(component: &str, json: &'a Json, known: &[&str]) -> Result<Self> {
        if !json.is_null() && !json.is_object() {
            return Err(Error::Invalid(format!(
                "{component}: options must be a JSON object, not {json}"
            )));
        }
        let keys = json.as_object().into_iter().flat_map(|m| m.keys());
        if let Some(key) = keys.into_iter().find(|k| !known.contains(&k.as_str())) {
            let known = match known.is_empty() {
                true => "none".to_string(),
                false => known.join(", "),
            };
            return Err(Error::Invalid(format!(
                "{component}: unknown option {key:?} (known: {known})"
            )));
        }
        Ok(CheckedOptions {
            component: component.to_string(),
            json,
        })
    }

    /// The error for option `key` not being `want` ("a number", …).
    pub fn wrong(&self, key: &str, want: &str) -> Error {
        Error::Invalid(format!(
            "{}: option {key:?} must be {want}, got {}",
            self.component, self.json[key]
        ))
    }

    /// The raw value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&'a Json> {
        self.json.get(key)
    }

    pub fn f64(&self, key: &str) -> Result<Option<f64>> {
        self.get(key)
            .map(|v| v.as_f64().ok_or_else(|| self.wrong(key, "a number")))
            .transpose()
    }

    pub fn usize(&self, key: &str) -> Result<Option<usize>> {
        self.get(key)
            .map(|v| {
                v.as_u64()
                    .map(|n| n as usize)
                    .ok_or_else(|| self.wrong(key, "a whole number"))
            })
            .transpose()
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|v| v.as_bool().ok_or_else(|| self.wrong(key, "true or false")))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_and_wrong_types_name_the_component_and_key() {
        let json = json!({"sigma": 2.5, "label": 1, "on": true});
        let o = CheckedOptions::parse("heatmap", &json, &["sigma", "label", "on"]).unwrap();
        assert_eq!(o.f64("sigma").unwrap(), Some(2.5));
        assert_eq!(o.usize("label").unwrap(), Some(1));
        assert_eq!(o.bool("on").unwrap(), Some(true));
        assert_eq!(o.f64("absent").unwrap(), None);
        let err = o.usize("sigma").unwrap_err().to_string();
        assert!(
            err.contains("heatmap") && err.contains("\"sigma\""),
            "{err}"
        );
        let err = CheckedOptions::parse("heatmap", &json, &["sigma"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("unknown option") && err.contains("(known: sigma)"),
            "{err}"
        );
        assert!(CheckedOptions::parse("heatmap", &json!([1]), &[]).is_err());
        assert!(CheckedOptions::parse("heatmap", &Json::Null, &[]).is_ok());
    }
}
