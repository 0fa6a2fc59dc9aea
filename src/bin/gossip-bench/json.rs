//! A small JSON value and writer, enough for the benchmark's reports.
//!
//! Objects keep their keys in insertion order so the files read top-down the
//! way the table does. Non-finite numbers are written as `null`.

use std::fmt::Write;

/// One JSON value.
#[derive(Clone, Debug)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer, written exactly.
    Int(i128),
    /// A floating-point number.
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in insertion order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// An empty object, to fill with [`Json::with`].
    pub fn obj() -> Json {
        Json::Obj(Vec::new())
    }

    /// This object with one more key; on anything but an object, unchanged.
    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Json {
        if let Json::Obj(fields) = &mut self {
            fields.push((key.to_string(), value.into()));
        }
        self
    }

    /// The value as pretty-printed text with a final newline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, indent: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::Num(x) if x.is_finite() => {
                let _ = write!(out, "{x}");
            }
            Json::Num(_) => out.push_str("null"),
            Json::Str(s) => write_string(out, s),
            Json::Arr(items) => write_array(out, items, indent),
            Json::Obj(fields) => write_object(out, fields, indent),
        }
    }
}

/// Arrays of scalars go on one line (CDF tables stay compact); others one
/// element per line.
fn write_array(out: &mut String, items: &[Json], indent: usize) {
    let nested = items
        .iter()
        .any(|i| matches!(i, Json::Arr(_) | Json::Obj(_)));
    if !nested {
        out.push('[');
        for (n, item) in items.iter().enumerate() {
            if n > 0 {
                out.push_str(", ");
            }
            item.write(out, indent);
        }
        out.push(']');
        return;
    }
    out.push_str("[\n");
    for (n, item) in items.iter().enumerate() {
        push_indent(out, indent + 1);
        item.write(out, indent + 1);
        out.push_str(if n + 1 < items.len() { ",\n" } else { "\n" });
    }
    push_indent(out, indent);
    out.push(']');
}

fn write_object(out: &mut String, fields: &[(String, Json)], indent: usize) {
    if fields.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    for (n, (key, value)) in fields.iter().enumerate() {
        push_indent(out, indent + 1);
        write_string(out, key);
        out.push_str(": ");
        value.write(out, indent + 1);
        out.push_str(if n + 1 < fields.len() { ",\n" } else { "\n" });
    }
    push_indent(out, indent);
    out.push('}');
}

fn push_indent(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("  ");
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}

impl From<u64> for Json {
    fn from(i: u64) -> Json {
        Json::Int(i128::from(i))
    }
}

impl From<usize> for Json {
    fn from(i: usize) -> Json {
        // usize is at most 64 bits on every supported target.
        Json::Int(i as i128)
    }
}

impl From<i64> for Json {
    fn from(i: i64) -> Json {
        Json::Int(i128::from(i))
    }
}

impl From<u32> for Json {
    fn from(i: u32) -> Json {
        Json::Int(i128::from(i))
    }
}

impl From<f64> for Json {
    fn from(x: f64) -> Json {
        Json::Num(x)
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_string())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Str(s)
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(o: Option<T>) -> Json {
        o.map_or(Json::Null, Into::into)
    }
}

impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(items: Vec<T>) -> Json {
        Json::Arr(items.into_iter().map(Into::into).collect())
    }
}
