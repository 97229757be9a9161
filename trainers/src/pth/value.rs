//! The Python values a `.pth` pickle holds, as far as nnU-Net checkpoints need them: plain
//! data, tensors (a storage in the archive plus offset, shape and strides), and anything else
//! kept opaque as the global it was built from.

/// Element type of a tensor storage (`torch.FloatStorage` …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl Dtype {
    /// From a storage class name (`FloatStorage`, …).
    pub fn from_storage(name: &str) -> Option<Dtype> {
        Some(match name {
            "DoubleStorage" => Dtype::F64,
            "FloatStorage" => Dtype::F32,
            "HalfStorage" => Dtype::F16,
            "BFloat16Storage" => Dtype::BF16,
            "LongStorage" => Dtype::I64,
            "IntStorage" => Dtype::I32,
            "ShortStorage" => Dtype::I16,
            "CharStorage" => Dtype::I8,
            "ByteStorage" => Dtype::U8,
            "BoolStorage" => Dtype::Bool,
            _ => return None,
        })
    }

    /// The storage class name torch writes for this type.
    pub fn storage_name(self) -> &'static str {
        match self {
            Dtype::F64 => "DoubleStorage",
            Dtype::F32 => "FloatStorage",
            Dtype::F16 => "HalfStorage",
            Dtype::BF16 => "BFloat16Storage",
            Dtype::I64 => "LongStorage",
            Dtype::I32 => "IntStorage",
            Dtype::I16 => "ShortStorage",
            Dtype::I8 => "CharStorage",
            Dtype::U8 => "ByteStorage",
            Dtype::Bool => "BoolStorage",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }

    pub fn kind(self) -> nnunet_core::tch::Kind {
        use nnunet_core::tch::Kind;
        match self {
            Dtype::F64 => Kind::Double,
            Dtype::F32 => Kind::Float,
            Dtype::F16 => Kind::Half,
            Dtype::BF16 => Kind::BFloat16,
            Dtype::I64 => Kind::Int64,
            Dtype::I32 => Kind::Int,
            Dtype::I16 => Kind::Int16,
            Dtype::I8 => Kind::Int8,
            Dtype::U8 => Kind::Uint8,
            Dtype::Bool => Kind::Bool,
        }
    }

    pub fn from_kind(kind: nnunet_core::tch::Kind) -> Option<Dtype> {
        use nnunet_core::tch::Kind;
        Some(match kind {
            Kind::Double => Dtype::F64,
            Kind::Float => Dtype::F32,
            Kind::Half => Dtype::F16,
            Kind::BFloat16 => Dtype::BF16,
            Kind::Int64 => Dtype::I64,
            Kind::Int => Dtype::I32,
            Kind::Int16 => Dtype::I16,
            Kind::Int8 => Dtype::I8,
            Kind::Uint8 => Dtype::U8,
            Kind::Bool => Dtype::Bool,
            _ => return None,
        })
    }
}

/// A storage of the archive: `data/<key>`, `numel` elements of `dtype`.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageRef {
    pub dtype: Dtype,
    pub key: String,
    pub numel: usize,
}

/// A tensor: a view of a storage (`torch._utils._rebuild_tensor_v2`).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

impl TensorRef {
    /// A contiguous tensor over the whole of `storage`.
    pub fn contiguous(storage: StorageRef, shape: Vec<usize>) -> Self {
        let mut stride = vec![1; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            stride[i] = stride[i + 1] * shape[i + 1];
        }
        TensorRef {
            storage,
            offset: 0,
            shape,
            stride,
        }
    }
}

/// A Python value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// `collections.OrderedDict` (a state dict).
    OrderedDict(Vec<(Value, Value)>),
    /// A class or function named by `module` and `name`.
    Global {
        module: String,
        name: String,
    },
    /// Anything else built by calling a global (`torch.device('cpu')`, an unknown class): kept
    /// opaque, its arguments recorded; a later `BUILD` state is dropped.
    Object {
        module: String,
        name: String,
        args: Vec<Value>,
    },
    Storage(StorageRef),
    Tensor(TensorRef),
}

impl Value {
    /// The entries of a dict or an OrderedDict.
    pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(items) | Value::OrderedDict(items) => Some(items),
            _ => None,
        }
    }

    /// The value under string key `key` of a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict()?
            .iter()
            .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
            .map(|(_, v)| v)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// The items of a list or tuple.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// A JSON value (for dicts of plain data: plans, dataset.json, logs); tensors, storages and
    /// opaque objects become `null`, non-string keys their JSON text.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::None => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Bytes(_) => J::Null,
            Value::List(v) | Value::Tuple(v) => J::Array(v.iter().map(Value::to_json).collect()),
            Value::Dict(items) | Value::OrderedDict(items) => J::Object(
                items
                    .iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Value::Str(s) => s.clone(),
                            other => other.to_json().to_string(),
                        };
                        (key, v.to_json())
                    })
                    .collect(),
            ),
            Value::Global { .. } | Value::Object { .. } | Value::Storage(_) | Value::Tensor(_) => {
                J::Null
            }
        }
    }

    /// The Python value of a JSON value (dicts, lists, strings, numbers, booleans, null).
    pub fn from_json(json: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match json {
            J::Null => Value::None,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(v) => Value::List(v.iter().map(Value::from_json).collect()),
            J::Object(m) => Value::Dict(
                m.iter()
                    .map(|(k, v)| (Value::Str(k.clone()), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}
