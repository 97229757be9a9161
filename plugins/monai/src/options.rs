//! The run configuration's options for a MONAI network (a JSON object of integers and integer
//! lists, each with MONAI's default or ours), and the refusals every network shares: spatial
//! dimensions other than 2 or 3, and a plans patch its down-sampling cannot divide.

use nnunet_core::registry::Options;
use nnunet_core::{Error, NetworkSpec, Result};
use serde_json::{Map, Value};

/// The options given to network `network`, checked against the keys it knows.
pub struct Given<'a> {
    network: &'static str,
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Given<'a> {
    /// Refuses anything but `null` or an object whose keys are all in `known`.
    pub fn parse(network: &'static str, options: &'a Options, known: &[&str]) -> Result<Self> {
        if options.is_null() {
            return Ok(Given { network, map: None });
        }
        let map = options.as_object().ok_or_else(|| {
            Error::Invalid(format!(
                "{network}: options must be a JSON object, got {options}"
            ))
        })?;
        if let Some(key) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(Error::Invalid(format!(
                "{network}: unknown option {key:?} (known: {})",
                known.join(", ")
            )));
        }
        Ok(Given {
            network,
            map: Some(map),
        })
    }

    /// A positive integer option, `default` when absent.
    pub fn int(&self, key: &str, default: i64) -> Result<i64> {
        match self.map.and_then(|m| m.get(key)) {
            None => Ok(default),
            Some(v) => v.as_i64().filter(|&n| n > 0).ok_or_else(|| {
                Error::Invalid(format!(
                    "{}: option {key:?} must be a positive integer, got {v}",
                    self.network
                ))
            }),
        }
    }

    /// A list of positive integers, `default` when absent.
    pub fn ints(&self, key: &str, default: &[i64]) -> Result<Vec<i64>> {
        let Some(v) = self.map.and_then(|m| m.get(key)) else {
            return Ok(default.to_vec());
        };
        let list: Option<Vec<i64>> = v.as_array().and_then(|a| {
            a.iter()
                .map(|x| x.as_i64().filter(|&n| n > 0))
                .collect::<Option<Vec<_>>>()
        });
        list.filter(|l| !l.is_empty()).ok_or_else(|| {
            Error::Invalid(format!(
                "{}: option {key:?} must be a list of positive integers, got {v}",
                self.network
            ))
        })
    }

    /// An error naming this network.
    pub fn invalid(&self, what: String) -> Error {
        Error::Invalid(format!("{}: {what}", self.network))
    }
}

/// Refuses spatial dimensions other than 2 or 3.
pub fn check_dims(network: &str, spec: &NetworkSpec) -> Result<usize> {
    match spec.spatial_dims {
        2 | 3 => Ok(spec.spatial_dims),
        d => Err(Error::Invalid(format!(
            "{network}: spatial_dims must be 2 or 3, got {d}"
        ))),
    }
}

/// Refuses a patch (the plans' at construction, an input's at forward) with a side that
/// `divisor` does not divide, saying why.
pub fn check_divisible(network: &str, what: &str, patch: &[i64], divisor: i64) -> Result<()> {
    if patch.iter().all(|&s| s > 0 && s % divisor == 0) {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "{network} needs every patch dimension divisible by {divisor}, {what} is {patch:?}"
    )))
}

/// The plans' patch (from the spec), checked against `divisor`; `None` when the host did not
/// say (the input is then checked at forward).
pub fn plans_patch(network: &str, spec: &NetworkSpec, divisor: i64) -> Result<Option<Vec<i64>>> {
    if spec.patch_size.is_empty() {
        return Ok(None);
    }
    if spec.patch_size.len() != spec.spatial_dims {
        return Err(Error::Invalid(format!(
            "{network}: the plans' patch {:?} has {} axes, the network {}",
            spec.patch_size,
            spec.patch_size.len(),
            spec.spatial_dims
        )));
    }
    check_divisible(network, "the plans' patch", &spec.patch_size, divisor)?;
    Ok(Some(spec.patch_size.clone()))
}
