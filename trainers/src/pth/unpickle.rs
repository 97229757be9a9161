//! A small unpickler for the pickles `torch.save` writes (protocol 2, and the opcodes of
//! protocols 0–5 that plain data uses).
//!
//! It builds [`Value`]s without running anything: `collections.OrderedDict` becomes an
//! [`Value::OrderedDict`], `torch._utils._rebuild_tensor_v2` (and `_rebuild_parameter`) a
//! [`Value::Tensor`], a `BINPERSID` storage tuple a [`Value::Storage`], numpy scalars
//! (`numpy.core.multiarray.scalar` with their `_codecs.encode`d bytes) numbers, and any other
//! call an opaque [`Value::Object`] whose later `BUILD` state is dropped — so the `logging`
//! dicts, `init_args` (with its `torch.device`), `_best_ema` and optimiser states of nnU-Net's
//! checkpoints read without knowing their classes.
//!
//! The memo holds copies, not shared references: a container stored by `BINPUT` while empty and
//! fetched again later comes back empty. torch's pickles fetch only strings, globals and tuples
//! again, so this does not matter for checkpoints.

use super::globals;
use super::value::Value;
use std::collections::HashMap;

/// Why a pickle could not be read (the caller adds the file name).
#[derive(Debug, thiserror::Error)]
#[error("pickle byte {offset}: {message}")]
pub struct PickleError {
    pub offset: usize,
    pub message: String,
}

type Result<T> = std::result::Result<T, PickleError>;

/// One stack slot: a value, or a `MARK`.
enum Slot {
    Mark,
    Value(Value),
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    /// Where the opcode being run starts (for errors).
    at: usize,
    stack: Vec<Slot>,
    memo: HashMap<u32, Value>,
}

/// Reads one pickle from `data` up to its `STOP`.
pub fn unpickle(data: &[u8]) -> Result<Value> {
    let mut m = Machine {
        data,
        pos: 0,
        at: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    m.run()
}

impl<'a> Machine<'a> {
    fn err<T>(&self, message: impl Into<String>) -> Result<T> {
        Err(PickleError {
            offset: self.at,
            message: message.into(),
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        match self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
        {
            Some(end) => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => self.err(format!("truncated: {n} byte(s) needed past the end")),
        }
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn count(&mut self, n: u64) -> Result<usize> {
        usize::try_from(n).or_else(|_| self.err("length does not fit in memory"))
    }

    /// A text line (protocol 0 opcodes), without its newline.
    fn line(&mut self) -> Result<&'a str> {
        let rest = &self.data[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return self.err("unterminated line");
        };
        self.pos += end + 1;
        std::str::from_utf8(&rest[..end]).or_else(|_| self.err("line is not UTF-8"))
    }

    fn utf8(&mut self, n: usize) -> Result<Value> {
        let bytes = self.take(n)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Value::Str(s.to_string())),
            Err(_) => self.err("string is not UTF-8"),
        }
    }

    fn push(&mut self, v: Value) {
        self.stack.push(Slot::Value(v));
    }

    fn pop(&mut self) -> Result<Value> {
        match self.stack.pop() {
            Some(Slot::Value(v)) => Ok(v),
            Some(Slot::Mark) => self.err("unexpected MARK on the stack"),
            None => self.err("stack underflow"),
        }
    }

    fn top(&mut self) -> Result<&mut Value> {
        match self.stack.last_mut() {
            Some(Slot::Value(v)) => Ok(v),
            _ => Err(PickleError {
                offset: self.at,
                message: "no value on the stack".into(),
            }),
        }
    }

    /// The values above the topmost MARK, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let Some(mark) = self.stack.iter().rposition(|s| matches!(s, Slot::Mark)) else {
            return self.err("no MARK on the stack");
        };
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .filter_map(|s| match s {
                Slot::Value(v) => Some(v),
                Slot::Mark => None,
            })
            .collect())
    }

    fn memo_get(&self, key: u32) -> Result<Value> {
        match self.memo.get(&key) {
            Some(v) => Ok(v.clone()),
            None => self.err(format!("memo key {key} was never stored")),
        }
    }

    fn memo_put(&mut self, key: u32) -> Result<()> {
        let v = self.top()?.clone();
        self.memo.insert(key, v);
        Ok(())
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<()> {
        if !items.len().is_multiple_of(2) {
            return self.err("SETITEMS with an odd number of values");
        }
        let mut pairs = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        match self.top()? {
            Value::Dict(d) | Value::OrderedDict(d) => {
                for (k, v) in pairs {
                    match d.iter_mut().find(|(old, _)| *old == k) {
                        Some(slot) => slot.1 = v,
                        None => d.push((k, v)),
                    }
                }
                Ok(())
            }
            // Items set on an opaque object (a dict subclass) are dropped with it.
            Value::Object { .. } => Ok(()),
            _ => self.err("SETITEM(S) on a value that is not a dict"),
        }
    }

    fn append(&mut self, items: Vec<Value>) -> Result<()> {
        match self.top()? {
            Value::List(l) => {
                l.extend(items);
                Ok(())
            }
            Value::Object { .. } => Ok(()),
            _ => self.err("APPEND(S) on a value that is not a list"),
        }
    }

    fn call(&self, callable: Value, args: Value) -> Result<Value> {
        globals::reduce(callable, args).or_else(|e| self.err(e))
    }

    fn run(&mut self) -> Result<Value> {
        loop {
            self.at = self.pos;
            let op = self.u8()?;
            if op == b'.' {
                return self.pop();
            }
            if !(self.scalar(op)? || self.container(op)? || self.object(op)?) {
                return self.err(format!("unsupported pickle opcode 0x{op:02x}"));
            }
        }
    }

    /// Protocol, stack and mark opcodes, numbers, strings and bytes; `false` if `op` is none of them.
    fn scalar(&mut self, op: u8) -> Result<bool> {
        match op {
            0x80 => {
                let proto = self.u8()?;
                if proto > 5 {
                    return self.err(format!("pickle protocol {proto} is not supported"));
                }
            }
            0x95 => {
                self.u64()?; // FRAME: a length hint
            }
            b'(' => self.stack.push(Slot::Mark),
            b'0' => {
                self.stack.pop();
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let v = self.top()?.clone();
                self.push(v);
            }
            b'N' => self.push(Value::None),
            0x88 => self.push(Value::Bool(true)),
            0x89 => self.push(Value::Bool(false)),
            b'J' => {
                let v = self.u32()? as i32;
                self.push(Value::Int(v as i64));
            }
            b'K' => {
                let v = self.u8()?;
                self.push(Value::Int(v as i64));
            }
            b'M' => {
                let v = self.u16()?;
                self.push(Value::Int(v as i64));
            }
            0x8a | 0x8b => {
                let n = if op == 0x8a {
                    self.u8()? as u64
                } else {
                    self.u32()? as u64
                };
                let n = self.count(n)?;
                let bytes = self.take(n)?;
                self.push(long_from_bytes(bytes).map_or_else(
                    || self.err("integer wider than 64 bits"),
                    |v| Ok(Value::Int(v)),
                )?);
            }
            b'I' | b'L' => {
                let line = self.line()?.trim_end_matches('L');
                let v = match line {
                    "00" => Value::Bool(false),
                    "01" => Value::Bool(true),
                    s => Value::Int(match s.parse() {
                        Ok(v) => v,
                        Err(_) => return self.err(format!("bad integer {s:?}")),
                    }),
                };
                self.push(v);
            }
            b'F' => {
                let line = self.line()?;
                let v = match line.parse() {
                    Ok(v) => v,
                    Err(_) => return self.err(format!("bad float {line:?}")),
                };
                self.push(Value::Float(v));
            }
            b'G' => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                self.push(Value::Float(f64::from_be_bytes(a)));
            }
            b'X' | 0x8c | 0x8d => {
                let n = match op {
                    b'X' => self.u32()? as u64,
                    0x8c => self.u8()? as u64,
                    _ => self.u64()?,
                };
                let n = self.count(n)?;
                let v = self.utf8(n)?;
                self.push(v);
            }
            b'V' => {
                let line = self.line()?.to_string();
                self.push(Value::Str(line));
            }
            b'S' => {
                let line = self.line()?;
                let s = line.trim_matches(|c| c == '\'' || c == '"').to_string();
                self.push(Value::Str(s));
            }
            b'T' | b'U' | b'B' | b'C' | 0x8e | 0x96 => {
                let n = match op {
                    b'T' | b'B' => self.u32()? as u64,
                    b'U' | b'C' => self.u8()? as u64,
                    _ => self.u64()?,
                };
                let n = self.count(n)?;
                let bytes = self.take(n)?.to_vec();
                self.push(Value::Bytes(bytes));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Tuples, lists, dicts and sets; `false` if `op` is none of them.
    fn container(&mut self, op: u8) -> Result<bool> {
        match op {
            b')' => self.push(Value::Tuple(Vec::new())),
            b't' => {
                let items = self.pop_mark()?;
                self.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.push(Value::Tuple(items));
            }
            b']' => self.push(Value::List(Vec::new())),
            b'l' => {
                let items = self.pop_mark()?;
                self.push(Value::List(items));
            }
            b'a' => {
                let v = self.pop()?;
                self.append(vec![v])?;
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.append(items)?;
            }
            b'}' => self.push(Value::Dict(Vec::new())),
            b'd' => {
                let items = self.pop_mark()?;
                self.push(Value::Dict(Vec::new()));
                self.set_items(items)?;
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.set_items(vec![k, v])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                self.set_items(items)?;
            }
            0x8f => self.push(Value::List(Vec::new())),
            0x90 => {
                let items = self.pop_mark()?;
                self.append(items)?;
            }
            0x91 => {
                let items = self.pop_mark()?;
                self.push(Value::List(items));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Globals, calls, the memo and persistent ids; `false` if `op` is none of them.
    fn object(&mut self, op: u8) -> Result<bool> {
        match op {
            b'c' => {
                let module = self.line()?.to_string();
                let name = self.line()?.to_string();
                self.push(Value::Global { module, name });
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (module, name) {
                    (Value::Str(module), Value::Str(name)) => {
                        self.push(Value::Global { module, name })
                    }
                    _ => return self.err("STACK_GLOBAL needs two strings"),
                }
            }
            b'R' => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let v = self.call(callable, args)?;
                self.push(v);
            }
            0x81 => {
                let args = self.pop()?;
                let class = self.pop()?;
                let v = self.call(class, args)?;
                self.push(v);
            }
            0x92 => {
                let _kwargs = self.pop()?;
                let args = self.pop()?;
                let class = self.pop()?;
                let v = self.call(class, args)?;
                self.push(v);
            }
            b'b' => {
                // BUILD: the state of an object (an OrderedDict's `_metadata`, a numpy
                // dtype's byte order): not needed.
                self.pop()?;
                self.top()?;
            }
            b'p' => {
                let line = self.line()?;
                let key = line.parse().or_else(|_| self.err("bad PUT key"))?;
                self.memo_put(key)?;
            }
            b'q' => {
                let key = self.u8()? as u32;
                self.memo_put(key)?;
            }
            b'r' => {
                let key = self.u32()?;
                self.memo_put(key)?;
            }
            0x94 => {
                let key = self.memo.len() as u32;
                self.memo_put(key)?;
            }
            b'g' => {
                let line = self.line()?;
                let key = line.parse().or_else(|_| self.err("bad GET key"))?;
                let v = self.memo_get(key)?;
                self.push(v);
            }
            b'h' => {
                let key = self.u8()? as u32;
                let v = self.memo_get(key)?;
                self.push(v);
            }
            b'j' => {
                let key = self.u32()?;
                let v = self.memo_get(key)?;
                self.push(v);
            }
            b'Q' => {
                let pid = self.pop()?;
                let v = globals::persistent(pid).or_else(|e| self.err(e))?;
                self.push(v);
            }
            b'P' => {
                let line = self.line()?.to_string();
                self.push(Value::Object {
                    module: "persistent".into(),
                    name: line,
                    args: Vec::new(),
                });
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// A little-endian two's-complement integer of up to 8 bytes (`LONG1`/`LONG4`).
fn long_from_bytes(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() {
        return Some(0);
    }
    if bytes.len() > 8 {
        return None;
    }
    let negative = bytes[bytes.len() - 1] & 0x80 != 0;
    let mut a = [if negative { 0xff } else { 0 }; 8];
    a[..bytes.len()].copy_from_slice(bytes);
    Some(i64::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_data_and_numpy_scalars() {
        // {'a': [1, -2, 3.5], 'b': (True, None), 'c': numpy.float64(0.25)} as protocol 2,
        // written by hand as pickle.dumps writes it (dtype BUILD state included).
        let mut p = vec![0x80, 2, b'}', b'q', 0, b'('];
        p.extend(b"X\x01\x00\x00\x00a]q\x01(K\x01J\xfe\xff\xff\xffG");
        p.extend(3.5f64.to_be_bytes());
        p.extend(b"eX\x01\x00\x00\x00b\x88N\x86X\x01\x00\x00\x00c");
        p.extend(b"cnumpy.core.multiarray\nscalar\ncnumpy\ndtype\nX\x02\x00\x00\x00f8");
        p.extend(
            b"\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb",
        );
        // 0.25 = bytes 00 00 00 00 00 00 d0 3f, as latin-1 text (UTF-8 encoded in the pickle).
        p.extend(b"c_codecs\nencode\nX\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\xc3\x90?");
        p.extend(b"X\x06\x00\x00\x00latin1\x86R\x86Ru.");
        let v = unpickle(&p).unwrap();
        let a = v.get("a").unwrap().as_seq().unwrap();
        assert_eq!(a, &[Value::Int(1), Value::Int(-2), Value::Float(3.5)]);
        assert_eq!(
            v.get("b"),
            Some(&Value::Tuple(vec![Value::Bool(true), Value::None]))
        );
        assert_eq!(v.get("c"), Some(&Value::Float(0.25)));
    }

    #[test]
    fn numpy_float64_scalar_reads_as_a_float() {
        let dtype = Value::Object {
            module: "numpy".into(),
            name: "dtype".into(),
            args: vec![Value::Str("f8".into())],
        };
        let v = globals::numpy_scalar(&[dtype, Value::Bytes(0.25f64.to_le_bytes().to_vec())]);
        assert_eq!(v, Some(Value::Float(0.25)));
    }

    #[test]
    fn truncated_and_unknown_input_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"\x80",
            b"X\xff\xff\xff\xff",
            b"\xff",
            b"h\x05.",
            b"t.",
            b"s.",
        ] {
            assert!(unpickle(bad).is_err(), "{bad:?}");
        }
        assert_eq!(long_from_bytes(&[0xff]), Some(-1));
        assert_eq!(long_from_bytes(&[0x00, 0x01]), Some(256));
    }
}
