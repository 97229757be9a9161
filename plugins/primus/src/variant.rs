//! The Primus sizes (S, B, M, L) and the options a Primus network accepts.
//!
//! Numbers from nnU-Net 2.8's `nnUNet_Primus_{S,B,M,L}_Trainer.build_network_architecture`
//! (nnunetv2/training/nnUNetTrainer/primus/primus_trainers.py): patch embedding 8³, EVA width,
//! depth and heads per size, drop-path rate 0.2, LayerScale 0.1, a LayerNorm inside attention.

use nnunet_core::registry::Options;
use nnunet_core::{Error, Result};

/// One Primus size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// `s`, `b`, `m` or `l`.
    pub letter: &'static str,
    pub embed_dim: i64,
    pub depth: usize,
    pub heads: i64,
}

pub const VARIANTS: [Variant; 4] = [
    Variant {
        letter: "s",
        embed_dim: 396,
        depth: 12,
        heads: 6,
    },
    Variant {
        letter: "b",
        embed_dim: 792,
        depth: 12,
        heads: 12,
    },
    Variant {
        letter: "m",
        embed_dim: 864,
        depth: 16,
        heads: 12,
    },
    Variant {
        letter: "l",
        embed_dim: 1056,
        depth: 24,
        heads: 16,
    },
];

/// The patch embedding's kernel and stride on every axis (the trainers' `(8, 8, 8)`).
pub const PATCH_EMBED: i64 = 8;
/// The trainers' stochastic-depth rate of the last block (linearly from 0 at the first).
pub const DROP_PATH_RATE: f64 = 0.2;
/// The trainers' LayerScale initial value (`init_values`).
pub const LAYER_SCALE: f64 = 0.1;

/// The registered name, e.g. `primus-s`.
pub fn network_name(variant: &Variant) -> String {
    format!("primus-{}", variant.letter)
}

/// Options from the run configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct PrimusOptions {
    /// The plans' patch size `(z, y, x)`: it fixes the number of tokens, hence the absolute
    /// position embedding's shape and the rotary embedding's grid.
    pub patch_size: Vec<i64>,
    /// Stochastic depth of the last block while training (0 turns it off).
    pub drop_path_rate: f64,
}

const KNOWN: &str = "patch_size, drop_path_rate";

impl PrimusOptions {
    /// Parses `{"patch_size": [40, 56, 40], "drop_path_rate": 0.2}`; `patch_size` defaults to
    /// `plans_patch`, the plans' patch the host passes in `NetworkSpec::patch_size` (empty when
    /// unknown: then the option is required).
    pub fn parse(network: &str, options: &Options, plans_patch: &[i64]) -> Result<Self> {
        let invalid = |message: String| Error::Invalid(format!("{network}: {message}"));
        let empty = nnunet_core::serde_json::Map::new();
        let map = match options {
            nnunet_core::serde_json::Value::Null => &empty,
            other => other
                .as_object()
                .ok_or_else(|| invalid(format!("options must be a JSON object, got {options}")))?,
        };
        let mut patch_size = (!plans_patch.is_empty()).then(|| plans_patch.to_vec());
        let mut drop_path_rate = DROP_PATH_RATE;
        for (key, value) in map {
            match key.as_str() {
                "patch_size" => {
                    let sides: Option<Vec<i64>> = value
                        .as_array()
                        .map(|a| a.iter().map(|v| v.as_i64()).collect())
                        .unwrap_or(None);
                    patch_size = Some(sides.ok_or_else(|| {
                        invalid(format!(
                            "option \"patch_size\" must be a list of integers, got {value}"
                        ))
                    })?);
                }
                "drop_path_rate" => {
                    drop_path_rate = value
                        .as_f64()
                        .filter(|r| (0.0..1.0).contains(r))
                        .ok_or_else(|| {
                            invalid(format!(
                                "option \"drop_path_rate\" must be a number in [0, 1), got {value}"
                            ))
                        })?;
                }
                other => {
                    return Err(invalid(format!(
                        "unknown option {other:?} (known: {KNOWN})"
                    )));
                }
            }
        }
        let patch_size = patch_size.ok_or_else(|| {
            invalid(
                "needs the plans' patch size as option \"patch_size\": [z, y, x] (it sizes the \
                 position embedding)"
                    .into(),
            )
        })?;
        Ok(PrimusOptions {
            patch_size,
            drop_path_rate,
        })
    }
}

/// Refuses what the reference cannot build: 2D, a patch of another dimension, a side not a
/// multiple of the patch embedding, a width that leaves no valid rotary dimension.
pub fn check(network: &str, variant: &Variant, spatial_dims: usize, patch: &[i64]) -> Result<()> {
    let refuse = |why: String| Err(Error::Invalid(format!("{network}: {why}")));
    if spatial_dims != 3 {
        return refuse(format!(
            "Primus is 3D only (the reference asserts len(input_shape) == 3); these plans are \
             {spatial_dims}D"
        ));
    }
    if patch.len() != 3 || patch.iter().any(|&s| s <= 0 || s % PATCH_EMBED != 0) {
        return refuse(format!(
            "patch size {patch:?} must have three sides, each a positive multiple of the patch \
             embedding {PATCH_EMBED} (the reference asserts it); choose a patch such as [{}]",
            patch
                .iter()
                .map(|s| ((s + PATCH_EMBED - 1) / PATCH_EMBED * PATCH_EMBED).max(PATCH_EMBED))
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let head_dim = variant.embed_dim / variant.heads;
    if (head_dim * 2) % 3 != 0 || (head_dim * 2 / 3) % 4 != 0 {
        return refuse(format!(
            "head width {head_dim} gives no rotary dimension divisible by 4"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnunet_core::serde_json::json;

    #[test]
    fn options_need_a_patch_and_refuse_unknown_keys() {
        let ok =
            PrimusOptions::parse("primus-s", &json!({"patch_size": [40, 56, 40]}), &[]).unwrap();
        assert_eq!(ok.patch_size, [40, 56, 40]);
        assert_eq!(ok.drop_path_rate, DROP_PATH_RATE);
        // The plans' patch from the host serves when the option is absent; the option wins.
        let plans = [32, 64, 48];
        assert_eq!(
            PrimusOptions::parse("primus-s", &json!(null), &plans)
                .unwrap()
                .patch_size,
            plans
        );
        let both = PrimusOptions::parse("primus-s", &json!({"patch_size": [8, 8, 8]}), &plans);
        assert_eq!(both.unwrap().patch_size, [8, 8, 8]);
        for bad in [
            json!(null),
            json!({}),
            json!([40, 56, 40]),
            json!({"patch_size": "40"}),
            json!({"patch_size": [40, 56, 40], "drop_path_rate": 1.5}),
            json!({"patch_size": [40, 56, 40], "dropout": 0.1}),
        ] {
            let err = PrimusOptions::parse("primus-s", &bad, &[])
                .unwrap_err()
                .to_string();
            assert!(err.contains("primus-s"), "{err}");
        }
    }

    #[test]
    fn plans_the_reference_cannot_serve_are_refused_with_the_reason() {
        let s = VARIANTS[0];
        assert!(check("primus-s", &s, 3, &[40, 56, 40]).is_ok());
        let err = check("primus-s", &s, 3, &[40, 50, 40])
            .unwrap_err()
            .to_string();
        assert!(err.contains("multiple of the patch embedding 8"), "{err}");
        assert!(err.contains("[40, 56, 40]"), "{err}");
        let err = check("primus-s", &s, 2, &[64, 64]).unwrap_err().to_string();
        assert!(err.contains("3D only"), "{err}");
        for v in VARIANTS {
            assert!(check("primus", &v, 3, &[8, 8, 8]).is_ok(), "{v:?}");
        }
    }
}
