//! A tiny JSON object writer: just enough to encode an event batch without
//! serde (which would cost kilobytes of wasm). Strings are escaped per
//! RFC 8259; numbers are written by the caller's formatter.
use alloc::string::String;

/// Builds one JSON object, field by field.
pub struct Obj(String);

impl Default for Obj {
    fn default() -> Self {
        Self::new()
    }
}

impl Obj {
    /// An empty object (`{`).
    pub fn new() -> Self {
        Obj(String::from("{"))
    }

    /// Writes `"k":`, preceded by a comma unless it is the first field.
    fn key(&mut self, k: &str) {
        if self.0.len() > 1 {
            self.0.push_str(",");
        }
        quote(&mut self.0, k);
        self.0.push_str(":");
    }

    /// A string field, cut to at most `max` bytes (on a char boundary).
    pub fn str(&mut self, k: &str, v: &str, max: usize) {
        self.key(k);
        quote(&mut self.0, cut(v, max));
    }

    /// A string field, left out when `v` is empty.
    pub fn opt(&mut self, k: &str, v: &str, max: usize) {
        if !v.is_empty() {
            self.str(k, v, max);
        }
    }

    /// An unsigned integer field.
    pub fn int(&mut self, k: &str, v: u64) {
        self.key(k);
        push_u64(&mut self.0, v);
    }

    /// A field whose value is already JSON (a number, `true`, an object...).
    pub fn raw(&mut self, k: &str, v: &str) {
        self.key(k);
        self.0.push_str(v);
    }

    /// The text so far, left open for more (a batch's `"events":[`).
    pub fn finish_open(self) -> String {
        self.0
    }

    /// Closes the object and returns its text.
    pub fn finish(mut self) -> String {
        self.0.push_str("}");
        self.0
    }
}

/// Appends `s` as a JSON string literal. Works on bytes: everything JSON
/// escapes is ASCII, so runs between escapes are copied whole (no per-char
/// UTF-8 re-encoding, which costs wasm size).
pub fn quote(out: &mut String, s: &str) {
    out.push_str("\"");
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "\\u00",
            _ => continue,
        };
        // `i` is at an ASCII byte: a char boundary.
        out.push_str(s.get(start..i).unwrap_or(""));
        out.push_str(esc);
        if esc.len() == 4 {
            out.push_str(hex_digit(b >> 4));
            out.push_str(hex_digit(b));
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or(""));
    out.push_str("\"");
}

/// The lower-case hex digit of `n & 15`, as a one-byte string (pushing
/// strings rather than `char`s keeps UTF-8 encoding out of the wasm).
pub fn hex_digit(n: u8) -> &'static str {
    let i = usize::from(n & 15);
    "0123456789abcdef".get(i..i + 1).unwrap_or("0")
}

/// `s` cut to at most `max` bytes, on a char boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Appends the decimal digits of `v`.
pub fn push_u64(out: &mut String, v: u64) {
    if v >= 10 {
        push_u64(out, v / 10);
    }
    out.push_str(hex_digit((v % 10) as u8));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_json_needs() {
        let mut s = String::new();
        quote(&mut s, "a\"b\\c\nd\re\tf\u{1}g\u{1f}é☃\u{2028}");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fé☃\u{2028}\"");
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn serde_json_decodes_every_escape() {
        let all: String = (0u32..0x300).filter_map(char::from_u32).collect();
        for input in [all.as_str(), "", "plain", "\"\\/", "emoji 🎉 \u{7f} \u{fffd}"] {
            let mut s = String::new();
            quote(&mut s, input);
            assert_eq!(serde_json::from_str::<String>(&s).unwrap(), input);
        }
    }

    #[test]
    fn cut_respects_char_boundaries() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("", 0), "");
    }

    #[test]
    fn integers() {
        for (v, text) in [(0, "0"), (1_732_240_000_123, "1732240000123"), (u64::MAX, "18446744073709551615")] {
            let mut s = String::new();
            push_u64(&mut s, v);
            assert_eq!(s, text);
        }
    }

    #[test]
    fn object_fields_and_commas() {
        let mut o = Obj::new();
        o.str("a", "x", 10);
        o.opt("skip", "", 10);
        o.int("n", 5);
        o.raw("b", "true");
        o.str("long", "abcdef", 3);
        o.str("k\"ey", "v", 3);
        assert_eq!(o.finish(), r#"{"a":"x","n":5,"b":true,"long":"abc","k\"ey":"v"}"#);
        assert_eq!(Obj::new().finish(), "{}");
    }
}
