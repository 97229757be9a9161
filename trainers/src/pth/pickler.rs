//! Writes [`Value`]s as a protocol-2 pickle that `torch.load` reads: dicts, lists, tuples,
//! strings, numbers, `OrderedDict`s, tensors (`torch._utils._rebuild_tensor_v2` over a
//! persistent-id storage, as `torch.save` writes them) and objects built by calling a global
//! (`torch.device('cpu')`). No memo: every value is written where it occurs.

use super::value::{TensorRef, Value};

/// The pickle of `value`, from `PROTO 2` to `STOP`.
pub fn pickle(value: &Value) -> Vec<u8> {
    let mut out = vec![0x80, 2];
    write(&mut out, value);
    out.push(b'.');
    out
}

fn global(out: &mut Vec<u8>, module: &str, name: &str) {
    out.push(b'c');
    out.extend(module.as_bytes());
    out.push(b'\n');
    out.extend(name.as_bytes());
    out.push(b'\n');
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'X');
    out.extend((s.len() as u32).to_le_bytes());
    out.extend(s.as_bytes());
}

fn int(out: &mut Vec<u8>, i: i64) {
    if (0..256).contains(&i) {
        out.extend([b'K', i as u8]);
    } else if let Ok(v) = i32::try_from(i) {
        out.push(b'J');
        out.extend(v.to_le_bytes());
    } else {
        out.extend([0x8a, 8]);
        out.extend(i.to_le_bytes());
    }
}

fn tuple(out: &mut Vec<u8>, items: &[Value]) {
    if items.is_empty() {
        out.push(b')');
        return;
    }
    out.push(b'(');
    for v in items {
        write(out, v);
    }
    out.push(b't');
}

fn items(out: &mut Vec<u8>, pairs: &[(Value, Value)]) {
    for chunk in pairs.chunks(1000) {
        out.push(b'(');
        for (k, v) in chunk {
            write(out, k);
            write(out, v);
        }
        out.push(b'u');
    }
}

fn tensor(out: &mut Vec<u8>, t: &TensorRef) {
    let ints = |v: &[usize]| v.iter().map(|&x| Value::Int(x as i64)).collect::<Vec<_>>();
    global(out, "torch._utils", "_rebuild_tensor_v2");
    out.push(b'(');
    // The storage: BINPERSID ('storage', torch.FloatStorage, key, 'cpu', numel).
    out.push(b'(');
    string(out, "storage");
    global(out, "torch", t.storage.dtype.storage_name());
    string(out, &t.storage.key);
    string(out, "cpu");
    int(out, t.storage.numel as i64);
    out.push(b't');
    out.push(b'Q');
    int(out, t.offset as i64);
    tuple(out, &ints(&t.shape));
    tuple(out, &ints(&t.stride));
    out.push(0x89); // requires_grad = False
    global(out, "collections", "OrderedDict"); // backward hooks
    out.extend([b')', b'R']);
    out.extend([b't', b'R']);
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::None => out.push(b'N'),
        Value::Bool(b) => out.push(if *b { 0x88 } else { 0x89 }),
        Value::Int(i) => int(out, *i),
        Value::Float(f) => {
            out.push(b'G');
            out.extend(f.to_be_bytes());
        }
        Value::Str(s) => string(out, s),
        Value::Bytes(b) => {
            // Protocol 2 has no bytes opcode: `_codecs.encode(latin-1 text, 'latin1')`.
            global(out, "_codecs", "encode");
            let text: String = b.iter().map(|&c| c as char).collect();
            tuple(out, &[Value::Str(text), Value::Str("latin1".into())]);
            out.push(b'R');
        }
        Value::List(v) => {
            out.push(b']');
            for chunk in v.chunks(1000) {
                out.push(b'(');
                for x in chunk {
                    write(out, x);
                }
                out.push(b'e');
            }
        }
        Value::Tuple(v) => tuple(out, v),
        Value::Dict(pairs) => {
            out.push(b'}');
            items(out, pairs);
        }
        Value::OrderedDict(pairs) => {
            global(out, "collections", "OrderedDict");
            out.extend([b')', b'R']);
            items(out, pairs);
        }
        Value::Global { module, name } => global(out, module, name),
        Value::Object { module, name, args } => {
            global(out, module, name);
            tuple(out, args);
            out.push(b'R');
        }
        // A bare storage is not something torch.save writes on its own: write its tensor.
        Value::Storage(s) => tensor(out, &TensorRef::contiguous(s.clone(), vec![s.numel])),
        Value::Tensor(t) => tensor(out, t),
    }
}

#[cfg(test)]
mod tests {
    use super::super::unpickle::unpickle;
    use super::super::value::{Dtype, StorageRef};
    use super::*;

    #[test]
    fn what_we_write_reads_back_the_same() {
        let storage = StorageRef {
            dtype: Dtype::F32,
            key: "0".into(),
            numel: 6,
        };
        let v = Value::Dict(vec![
            (
                Value::Str("network_weights".into()),
                Value::OrderedDict(vec![(
                    Value::Str("w".into()),
                    Value::Tensor(TensorRef::contiguous(storage, vec![2, 3])),
                )]),
            ),
            (Value::Str("n".into()), Value::Int(-70000)),
            (Value::Str("big".into()), Value::Int(1 << 40)),
            (Value::Str("x".into()), Value::Float(0.1)),
            (
                Value::Str("axes".into()),
                Value::Tuple(vec![Value::Int(0), Value::Int(1)]),
            ),
            (Value::Str("l".into()), Value::List(vec![Value::None])),
            (Value::Str("b".into()), Value::Bytes(vec![0, 200, 255])),
            (
                Value::Str("device".into()),
                Value::Object {
                    module: "torch".into(),
                    name: "device".into(),
                    args: vec![Value::Str("cpu".into())],
                },
            ),
        ]);
        assert_eq!(unpickle(&pickle(&v)).unwrap(), v);
    }
}
