//! Structured mutations of JSON and TOML documents: a random node is replaced by a value of
//! another type or an extreme one, deleted, duplicated or grafted from elsewhere; then the text
//! itself may get a few token-level edits (`NaN`, `1e999`, stray quotes) that no serialiser
//! writes.

use crate::bytes;
use arbitrary::{Result, Unstructured};
use serde_json::{Map, Value};

/// Text tokens spliced into documents.
const TOKENS: [&str; 14] = [
    "NaN", "Infinity", "-1", "1e999", "-0", "\"", "{", "}", "[", "]", ",", "null", "0x10", "\u{0}",
];

/// A scalar, container or extreme value of any JSON type.
fn random_value(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0..=11)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(*u.choose(&bytes::INTERESTING)?),
        3 => Value::from(*u.choose(&[0.5, -0.0, 1e308, -1e308, 5e-324, 999.0, -3.5])?),
        4 => Value::from(""),
        5 => Value::from(*u.choose(&["NaN", "nan", "-1", "../../..", "${HOME}", "$", "ü∑"])?),
        6 => Value::from("x".repeat(u.int_in_range(100..=20_000)?)),
        7 => Value::Array(Vec::new()),
        8 => Value::Object(Map::new()),
        9 => Value::Array(
            (0..u.int_in_range(0..=8)?)
                .map(|_| Ok(Value::from(*u.choose(&bytes::INTERESTING)?)))
                .collect::<Result<_>>()?,
        ),
        10 => Value::from(u.arbitrary::<String>()?),
        _ => Value::from(u.arbitrary::<i16>()?),
    })
}

/// A node of `value`, reached by random steps down (stopping early sometimes).
fn pick<'a>(u: &mut Unstructured, value: &'a mut Value) -> Result<&'a mut Value> {
    let descend = u.ratio(3, 4)?;
    let len = match value {
        Value::Array(a) => a.len(),
        Value::Object(m) => m.len(),
        _ => 0,
    };
    if !descend || len == 0 {
        return Ok(value);
    }
    let index = u.int_in_range(0..=len - 1)?;
    match value {
        Value::Array(a) => pick(u, &mut a[index]),
        Value::Object(m) => {
            let child = m
                .values_mut()
                .nth(index)
                .expect("index is below the map's length");
            pick(u, child)
        }
        _ => unreachable!("only containers have children"),
    }
}

/// A copy of a random node of `value`.
fn sample(u: &mut Unstructured, value: &Value) -> Result<Value> {
    let mut copy = value.clone();
    Ok(pick(u, &mut copy)?.clone())
}

/// One structural edit of `doc`; `donors` give subtrees to graft.
fn mutate_tree_once(u: &mut Unstructured, doc: &mut Value, donors: &[Value]) -> Result<()> {
    let graft = match u.choose(donors) {
        Ok(donor) => Some(sample(u, donor)?),
        Err(_) => None,
    };
    let node = pick(u, doc)?;
    match u.int_in_range(0..=6)? {
        0 | 1 => *node = random_value(u)?,
        2 => match node {
            Value::Object(m) if !m.is_empty() => {
                let index = u.int_in_range(0..=m.len() - 1)?;
                let key = m.keys().nth(index).cloned().expect("index below length");
                m.remove(&key);
            }
            Value::Array(a) if !a.is_empty() => {
                let index = u.int_in_range(0..=a.len() - 1)?;
                a.remove(index);
            }
            _ => *node = Value::Null,
        },
        3 => match node {
            Value::Array(a) if !a.is_empty() => {
                let index = u.int_in_range(0..=a.len() - 1)?;
                let copy = a[index].clone();
                for _ in 0..u.int_in_range(1..=4)? {
                    a.push(copy.clone());
                }
            }
            Value::Object(m) => {
                let key = u.choose(&["", "labels", "1", "background", "regions_class_order"])?;
                m.insert(key.to_string(), random_value(u)?);
            }
            _ => *node = Value::Array(vec![node.clone(), node.clone()]),
        },
        4 => {
            if let Some(n) = node.as_f64() {
                let factor = *u.choose(&[-1.0, 0.0, 1000.0, 1e-6, 1e12])?;
                *node = serde_json::Number::from_f64(n * factor).map_or(Value::Null, Value::Number);
            } else if let Some(s) = node.as_str() {
                *node = Value::from(s.chars().rev().collect::<String>());
            }
        }
        5 => {
            let text = node.to_string();
            *node = Value::from(text);
        }
        _ => {
            if let Some(graft) = graft {
                *node = graft;
            }
        }
    }
    Ok(())
}

/// Token-level edits of serialised text.
fn mutate_text(u: &mut Unstructured, text: &mut Vec<u8>) -> Result<()> {
    for _ in 0..u.int_in_range(1..=3)? {
        let at = u.int_in_range(0..=text.len())?;
        if u.ratio(1, 2)? {
            let token = u.choose(&TOKENS)?;
            text.splice(at..at, token.bytes());
        } else {
            bytes::mutate_once(u, text, &[])?;
        }
    }
    Ok(())
}

/// A mutated JSON document from one of `seeds` (JSON texts).
pub fn mutate_json(u: &mut Unstructured, seeds: &[Vec<u8>]) -> Result<Vec<u8>> {
    let donors: Vec<Value> = seeds
        .iter()
        .filter_map(|s| serde_json::from_slice(s).ok())
        .collect();
    let mut doc = u.choose(&donors)?.clone();
    for _ in 0..u.int_in_range(1..=4)? {
        mutate_tree_once(u, &mut doc, &donors)?;
    }
    let mut text = if u.ratio(1, 2)? {
        serde_json::to_vec_pretty(&doc)
    } else {
        serde_json::to_vec(&doc)
    }
    .expect("a serde_json::Value always serialises");
    if u.ratio(1, 4)? {
        mutate_text(u, &mut text)?;
    }
    Ok(text)
}

/// Drops `null`s, which TOML cannot express.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Array(a) => {
            a.retain(|v| !v.is_null());
            a.iter_mut().for_each(strip_nulls);
        }
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        _ => {}
    }
}

/// A mutated TOML document from one of `seeds` (TOML texts): the tree is mutated as JSON and
/// written back as TOML; a tree TOML cannot hold is mutated as text instead.
pub fn mutate_toml(u: &mut Unstructured, seeds: &[Vec<u8>]) -> Result<Vec<u8>> {
    let donors: Vec<Value> = seeds
        .iter()
        .filter_map(|s| std::str::from_utf8(s).ok())
        .filter_map(|s| toml::from_str::<toml::Table>(s).ok())
        .filter_map(|t| serde_json::to_value(t).ok())
        .collect();
    let mut doc = u.choose(&donors)?.clone();
    for _ in 0..u.int_in_range(1..=4)? {
        mutate_tree_once(u, &mut doc, &donors)?;
    }
    strip_nulls(&mut doc);
    let mut text = match toml::Table::try_from(&doc).map(|t| toml::to_string(&t)) {
        Ok(Ok(text)) => text.into_bytes(),
        _ => u.choose(seeds)?.clone(),
    };
    if u.ratio(1, 3)? {
        mutate_text(u, &mut text)?;
    }
    Ok(text)
}
