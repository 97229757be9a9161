//! What calling a global builds, for the globals torch's pickles use (`REDUCE`): tensors from
//! `torch._utils._rebuild_tensor_v2` over a persistent-id storage, `OrderedDict`s, bytes from
//! `_codecs.encode`, numpy scalars; any other call stays an opaque [`Value::Object`].

use super::value::{Dtype, StorageRef, TensorRef, Value};

/// Why a call could not be understood (the unpickler adds the byte offset).
pub type Result<T> = std::result::Result<T, String>;

fn err<T>(message: impl Into<String>) -> Result<T> {
    Err(message.into())
}

/// A `BINPERSID` id: torch's `('storage', StorageClass, key, location, numel)`.
pub fn persistent(pid: Value) -> Result<Value> {
    let Value::Tuple(items) = pid else {
        return err("persistent id is not a tuple");
    };
    match items.as_slice() {
        [Value::Str(kind), class, key, _location, numel] if kind == "storage" => {
            let dtype = match class {
                Value::Global { name, .. } => Dtype::from_storage(name),
                _ => None,
            };
            let Some(dtype) = dtype else {
                return err(format!("unsupported storage type {class:?}"));
            };
            let key = match key {
                Value::Str(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                _ => return err("storage key is not a string"),
            };
            let Some(numel) = numel.as_int().and_then(|n| usize::try_from(n).ok()) else {
                return err("storage size is not a count");
            };
            Ok(Value::Storage(StorageRef { dtype, key, numel }))
        }
        _ => err(format!("unsupported persistent id {items:?}")),
    }
}

/// Calls `callable(*args)` for the globals that matter; anything else stays opaque.
pub fn reduce(callable: Value, args: Value) -> Result<Value> {
    let Value::Global { module, name } = callable else {
        // Calling an opaque object (rare): keep it opaque.
        return Ok(Value::Object {
            module: String::new(),
            name: String::new(),
            args: Vec::new(),
        });
    };
    let args = match args {
        Value::Tuple(a) | Value::List(a) => a,
        other => vec![other],
    };
    Ok(match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") => Value::OrderedDict(Vec::new()),
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => tensor(&args)?,
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            match args.into_iter().next() {
                Some(t @ Value::Tensor(_)) => t,
                _ => return err("_rebuild_parameter without a tensor"),
            }
        }
        ("_codecs", "encode") => match args.first() {
            // Bytes pickled by protocol 2: their latin-1 text.
            Some(Value::Str(s)) => Value::Bytes(s.chars().map(|c| c as u32 as u8).collect()),
            _ => return err("_codecs.encode without a string"),
        },
        ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar") => {
            numpy_scalar(&args).unwrap_or(Value::Object { module, name, args })
        }
        _ => Value::Object { module, name, args },
    })
}

fn tensor(args: &[Value]) -> Result<Value> {
    let usizes = |v: &Value| -> Option<Vec<usize>> {
        v.as_seq()?
            .iter()
            .map(|x| x.as_int().and_then(|i| usize::try_from(i).ok()))
            .collect()
    };
    match args {
        [Value::Storage(storage), offset, shape, stride, ..] => {
            let (Some(offset), Some(shape), Some(stride)) = (
                offset.as_int().and_then(|i| usize::try_from(i).ok()),
                usizes(shape),
                usizes(stride),
            ) else {
                return err("tensor offset, shape or stride is not a count");
            };
            if shape.len() != stride.len() {
                return err("tensor shape and stride differ in length");
            }
            Ok(Value::Tensor(TensorRef {
                storage: storage.clone(),
                offset,
                shape,
                stride,
            }))
        }
        _ => err("_rebuild_tensor_v2 without (storage, offset, shape, stride)"),
    }
}

/// `numpy.core.multiarray.scalar(dtype, bytes)` as a number, for the common dtypes.
pub fn numpy_scalar(args: &[Value]) -> Option<Value> {
    let [
        Value::Object {
            args: dtype_args, ..
        },
        Value::Bytes(bytes),
    ] = args
    else {
        return None;
    };
    let code = dtype_args.first()?.as_str()?;
    let fixed = |n: usize| -> Option<[u8; 8]> {
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(bytes.get(..n)?);
        Some(a)
    };
    Some(match code {
        "f8" => Value::Float(f64::from_le_bytes(fixed(8)?)),
        "f4" => {
            let a = fixed(4)?;
            Value::Float(f32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64)
        }
        "i8" => Value::Int(i64::from_le_bytes(fixed(8)?)),
        "i4" => {
            let a = fixed(4)?;
            Value::Int(i32::from_le_bytes([a[0], a[1], a[2], a[3]]) as i64)
        }
        "b1" => Value::Bool(*bytes.first()? != 0),
        _ => return None,
    })
}
