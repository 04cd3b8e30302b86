//! JSON paths — where in a document a value sits: RFC 6901 JSON Pointers (`/a/0`) and jq-style paths (`.a[0]`), and how to read, set and remove the value there.
//! jq-style shorthand people type (`.a.b[0]`, `.count`, `."odd key"`).
//!
//! A path is parsed once into segments; this module also owns walking a
//! document along them, to read a value or to reach the place to change one.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::MAX_DEPTH;

/// One step of a [`JsonPath`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Segment {
    /// An object member, from `.name`, `."name"` or `["name"]`.
    Key(String),
    /// An array element, from `[N]`; negative counts from the end, as in jq.
    Index(i64),
    /// A JSON Pointer reference token: an object member, or an array index
    /// when the value there is an array (`-` meaning one past the end).
    Token(String),
}

/// A parsed path into a JSON document.
///
/// Both spellings parse to the same thing, and the empty path (`""` or `"."`)
/// is the whole document:
///
/// ```
/// use jlock_json::JsonPath;
/// use serde_json::json;
///
/// let doc = json!({"jobs": [{"name": "build", "runs": 3}]});
/// let jq: JsonPath = ".jobs[0].runs".parse()?;
/// let pointer: JsonPath = "/jobs/0/runs".parse()?;
/// assert_eq!(jq.get(&doc)?, Some(&json!(3)));
/// assert_eq!(pointer.get(&doc)?, Some(&json!(3)));
/// assert!(JsonPath::root().is_root());
/// # Ok::<(), jlock_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Vec<Segment>,
}

impl JsonPath {
    /// How far past the end of an array a write may go: setting index
    /// `len + k` with `k <= MAX_GAP` pads with `null` (as jq does); farther
    /// is [`Error::IndexPastEnd`], so no index can make jlock allocate
    /// without bound.
    pub const MAX_GAP: usize = 1024;

    /// The path of the whole document.
    pub fn root() -> JsonPath {
        JsonPath {
            text: ".".to_string(),
            segments: Vec::new(),
        }
    }

    /// Parses a JSON Pointer (starting with `/`) or a jq-style path.
    ///
    /// A bare name such as `count` is taken as `.count`.
    pub fn parse(input: &str) -> Result<JsonPath> {
        let segments = if input.is_empty() || input == "." {
            Vec::new()
        } else if input.starts_with('/') {
            parse_pointer(input)?
        } else {
            parse_jq(input)?
        };
        Ok(JsonPath {
            text: if input.is_empty() {
                ".".into()
            } else {
                input.into()
            },
            segments,
        })
    }

    /// True if this path is the whole document.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The steps of this path, outermost first.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The value at this path, or `None` if some member or element on the
    /// way is missing (or `null`).
    ///
    /// Indexing into a string, number or boolean is an error
    /// ([`Error::WrongType`]), as it is in jq.
    pub fn get<'v>(&self, doc: &'v Value) -> Result<Option<&'v Value>> {
        let mut cur = doc;
        for seg in &self.segments {
            let next = match (cur, seg) {
                (Value::Null, _) => None,
                (Value::Object(map), Segment::Key(k) | Segment::Token(k)) => map.get(k),
                (Value::Array(items), Segment::Index(i)) => {
                    resolve_index(*i, items.len()).and_then(|i| items.get(i))
                }
                (Value::Array(items), Segment::Token(t)) => match pointer_index(t) {
                    Some(i) => items.get(i),
                    None if t == "-" => None,
                    None => return Err(self.wrong_type("an array index", cur)),
                },
                (Value::Array(_), Segment::Key(_)) => return Err(self.wrong_type("an object", cur)),
                (Value::Object(_), Segment::Index(_)) => {
                    return Err(self.wrong_type("an array", cur))
                }
                (_, seg) => return Err(self.wrong_type(container_for(seg), cur)),
            };
            match next {
                Some(v) => cur = v,
                None => return Ok(None),
            }
        }
        Ok(Some(cur))
    }

    /// The place this path names, created (with `null`) if missing: a `null`
    /// on the way becomes an object for a key or an array for an index, and
    /// an array grows to reach an index past its end (padded with `null`, as
    /// jq does).
    ///
    /// A path longer than [`MAX_DEPTH`] is refused ([`Error::TooDeep`]) before
    /// anything is created, and an index more than [`JsonPath::MAX_GAP`] past
    /// the end of its array is [`Error::IndexPastEnd`].
    pub fn slot_mut<'v>(&self, doc: &'v mut Value) -> Result<&'v mut Value> {
        if self.segments.len() > MAX_DEPTH {
            return Err(Error::TooDeep {
                what: format!("the path {}", abbreviate(&self.text)),
                limit: MAX_DEPTH,
            });
        }
        let mut cur = doc;
        for seg in &self.segments {
            if cur.is_null() {
                *cur = match seg {
                    Segment::Index(_) => Value::Array(Vec::new()),
                    _ => Value::Object(Map::new()),
                };
            }
            cur = match (cur, seg) {
                (Value::Object(map), Segment::Key(k) | Segment::Token(k)) => {
                    map.entry(k.clone()).or_insert(Value::Null)
                }
                (Value::Array(items), Segment::Index(i)) => {
                    let len = items.len();
                    let at = if *i >= 0 {
                        usize::try_from(*i).ok()
                    } else {
                        resolve_index(*i, len)
                    };
                    let Some(at) = at else {
                        if *i >= 0 {
                            return Err(self.past_end(&i.to_string(), len));
                        }
                        return Err(self.out_of_range(*i, len));
                    };
                    self.grow_to(items, at, &i.to_string())?
                }
                (Value::Array(items), Segment::Token(t)) => {
                    let at = if t == "-" {
                        Some(items.len())
                    } else {
                        pointer_index(t)
                    };
                    match at {
                        Some(at) => self.grow_to(items, at, t)?,
                        None if is_canonical_index(t) => {
                            // Digits too many for any array.
                            return Err(self.past_end(t, items.len()));
                        }
                        None => {
                            let found = Value::Array(Vec::new());
                            return Err(self.wrong_type("an array index", &found));
                        }
                    }
                }
                (other, seg) => {
                    let expected = match (&*other, seg) {
                        (Value::Array(_), _) => "an object",
                        (Value::Object(_), _) => "an array",
                        (_, seg) => container_for(seg),
                    };
                    return Err(self.wrong_type(expected, other));
                }
            };
        }
        Ok(cur)
    }

    /// Removes the value at this path; `Ok(false)` if there was none.
    pub fn remove(&self, doc: &mut Value) -> Result<bool> {
        let Some((last, parents)) = self.segments.split_last() else {
            let had = !doc.is_null();
            *doc = Value::Null;
            return Ok(had);
        };
        let parent_path = JsonPath {
            text: self.text.clone(),
            segments: parents.to_vec(),
        };
        // Walk with get first so a missing parent is not created.
        if parent_path.get(doc)?.is_none() {
            return Ok(false);
        }
        let parent = parent_path.slot_mut(doc)?;
        match (parent, last) {
            (Value::Object(map), Segment::Key(k) | Segment::Token(k)) => {
                Ok(map.shift_remove(k).is_some())
            }
            (Value::Array(items), Segment::Index(i)) => match resolve_index(*i, items.len()) {
                Some(at) => {
                    items.remove(at);
                    Ok(true)
                }
                None => Ok(false),
            },
            (Value::Array(items), Segment::Token(t)) => match pointer_index(t) {
                Some(at) if at < items.len() => {
                    items.remove(at);
                    Ok(true)
                }
                Some(_) => Ok(false),
                None if t == "-" || is_canonical_index(t) => Ok(false),
                // "/arr/x", "/arr/01": not an index, as get and set say too.
                None => {
                    let found = Value::Array(Vec::new());
                    Err(self.wrong_type("an array index", &found))
                }
            },
            (Value::Null, _) => Ok(false),
            (other, seg) => {
                let expected = match (&*other, seg) {
                    (Value::Array(_), _) => "an object",
                    (Value::Object(_), _) => "an array",
                    (_, seg) => container_for(seg),
                };
                Err(self.wrong_type(expected, other))
            }
        }
    }

    /// The rest of this path after its first `n` steps, to be followed from
    /// the value those steps reach. Errors still name the whole path.
    pub(crate) fn after(&self, n: usize) -> JsonPath {
        JsonPath {
            text: self.text.clone(),
            segments: self.segments[n.min(self.segments.len())..].to_vec(),
        }
    }

    /// The error for a value of the wrong type at this path.
    pub fn wrong_type(&self, expected: &'static str, found: &Value) -> Error {
        Error::WrongType {
            at: self.text.clone(),
            expected,
            found: type_name(found),
        }
    }

    fn past_end(&self, index: &str, len: usize) -> Error {
        Error::IndexPastEnd {
            at: self.text.clone(),
            index: index.to_string(),
            len,
        }
    }

    /// The element at `at`, padding the array with `null` up to it if `at`
    /// is at most [`JsonPath::MAX_GAP`] past the end.
    fn grow_to<'v>(
        &self,
        items: &'v mut Vec<Value>,
        at: usize,
        written: &str,
    ) -> Result<&'v mut Value> {
        let len = items.len();
        if at >= len {
            if at - len > JsonPath::MAX_GAP {
                return Err(self.past_end(written, len));
            }
            items.resize(at + 1, Value::Null);
        }
        Ok(&mut items[at])
    }

    fn out_of_range(&self, index: i64, len: usize) -> Error {
        Error::IndexOutOfRange {
            at: self.text.clone(),
            index,
            len,
        }
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for JsonPath {
    type Err = Error;

    fn from_str(s: &str) -> Result<JsonPath> {
        JsonPath::parse(s)
    }
}

/// The JSON type name of a value, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn container_for(seg: &Segment) -> &'static str {
    match seg {
        Segment::Key(_) => "an object",
        Segment::Index(_) => "an array",
        Segment::Token(_) => "an object or array",
    }
}

/// Resolves a jq index (negative counts from the end) against a length.
fn resolve_index(i: i64, len: usize) -> Option<usize> {
    if i >= 0 {
        usize::try_from(i).ok().filter(|&i| i < len)
    } else {
        let back = usize::try_from(i.unsigned_abs()).ok()?;
        len.checked_sub(back)
    }
}

/// A JSON Pointer array index: `0` or digits without a leading zero.
pub(crate) fn pointer_index(t: &str) -> Option<usize> {
    let canonical = t == "0" || (!t.starts_with('0') && !t.is_empty());
    if canonical && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse().ok()
    } else {
        None
    }
}

/// Digits without a leading zero (or `0`): an array index in a JSON Pointer,
/// whether or not it fits in a `usize`.
fn is_canonical_index(t: &str) -> bool {
    (t == "0" || (!t.is_empty() && !t.starts_with('0'))) && t.bytes().all(|b| b.is_ascii_digit())
}

/// A path for a message: at most 80 characters of it.
fn abbreviate(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn bad(input: &str, reason: impl Into<String>) -> Error {
    Error::BadPath {
        input: input.to_string(),
        reason: reason.into(),
    }
}

fn parse_pointer(input: &str) -> Result<Vec<Segment>> {
    input[1..]
        .split('/')
        .map(|raw| {
            let mut token = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    token.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => token.push('~'),
                    Some('1') => token.push('/'),
                    _ => {
                        return Err(bad(
                            input,
                            "in a JSON Pointer, '~' must be followed by 0 or 1",
                        ))
                    }
                }
            }
            Ok(Segment::Token(token))
        })
        .collect()
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn parse_jq(input: &str) -> Result<Vec<Segment>> {
    let bytes = input.as_bytes();
    let mut segments = Vec::new();
    let mut pos = 0;
    // A bare name ("count") is shorthand for ".count".
    let mut bare = bytes.first().is_some_and(|&b| is_name_byte(b));
    while pos < bytes.len() || bare {
        if bare || bytes[pos] == b'.' {
            if !bare {
                pos += 1;
            }
            bare = false;
            match bytes.get(pos) {
                Some(b'"') => {
                    let (key, used) = parse_quoted(input, &input[pos..])?;
                    segments.push(Segment::Key(key));
                    pos += used;
                }
                Some(b'[') => {} // ".[0]" and ".a.[0]", as jq 1.7 accepts
                Some(&b) if is_name_byte(b) => {
                    let end = bytes[pos..]
                        .iter()
                        .position(|&b| !is_name_byte(b))
                        .map_or(bytes.len(), |n| pos + n);
                    segments.push(Segment::Key(input[pos..end].to_string()));
                    pos = end;
                }
                Some(_) => {
                    return Err(bad(
                        input,
                        format!("unexpected character after '.' at offset {pos}; quote odd keys: .\"my key\""),
                    ))
                }
                None if pos == 1 && segments.is_empty() => {}
                None => return Err(bad(input, "path ends with '.'")),
            }
        } else if bytes[pos] == b'[' {
            let rest = input[pos + 1..].trim_start();
            let start = input.len() - rest.len();
            if rest.starts_with('"') {
                let (key, used) = parse_quoted(input, rest)?;
                let after = input[start + used..].trim_start();
                if !after.starts_with(']') {
                    return Err(bad(input, "expected ']' after the quoted key"));
                }
                segments.push(Segment::Key(key));
                pos = input.len() - after.len() + 1;
            } else {
                let close = input[pos..]
                    .find(']')
                    .map(|n| pos + n)
                    .ok_or_else(|| bad(input, "'[' without a closing ']'"))?;
                let inner = input[pos + 1..close].trim();
                let index: i64 = inner.parse().map_err(|_| {
                    bad(
                        input,
                        format!("[{inner}] is not an array index (an integer) or a quoted key"),
                    )
                })?;
                segments.push(Segment::Index(index));
                pos = close + 1;
            }
        } else {
            return Err(bad(
                input,
                format!(
                    "unexpected {:?} at offset {pos}; write .key, [index] or a JSON Pointer like /a/0",
                    &input[pos..].chars().next().unwrap_or(' ')
                ),
            ));
        }
    }
    Ok(segments)
}

/// Parses a JSON string literal at the start of `s`; returns it and the bytes used.
fn parse_quoted(input: &str, s: &str) -> Result<(String, usize)> {
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate().skip(1) {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => {
                let key: String = serde_json::from_str(&s[..=i])
                    .map_err(|e| bad(input, format!("bad quoted key: {e}")))?;
                return Ok((key, i + 1));
            }
            _ => {}
        }
    }
    Err(bad(input, "unterminated quoted key"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segs(s: &str) -> Vec<Segment> {
        JsonPath::parse(s).unwrap().segments
    }

    #[test]
    fn parses_both_syntaxes() {
        use Segment::*;
        assert_eq!(segs(""), vec![]);
        assert_eq!(segs("."), vec![]);
        assert_eq!(segs("count"), vec![Key("count".into())]);
        assert_eq!(
            segs(".a.b[0]"),
            vec![Key("a".into()), Key("b".into()), Index(0)]
        );
        assert_eq!(segs(".a[-1]"), vec![Key("a".into()), Index(-1)]);
        assert_eq!(segs(".[2]"), vec![Index(2)]);
        assert_eq!(
            segs(".\"odd key\".x"),
            vec![Key("odd key".into()), Key("x".into())]
        );
        assert_eq!(segs(".[\"a]b\"]"), vec![Key("a]b".into())]);
        assert_eq!(segs(".build-id"), vec![Key("build-id".into())]);
        assert_eq!(
            segs("/a/b~1c/~0/0"),
            vec![
                Token("a".into()),
                Token("b/c".into()),
                Token("~".into()),
                Token("0".into())
            ]
        );
        assert_eq!(segs("/"), vec![Token(String::new())]);
    }

    #[test]
    fn rejects_bad_paths_with_reason() {
        for bad in [".a[", ".a[x]", ".a.", "..", ".a b", "/a~2", ".\"open", "a]"] {
            let err = JsonPath::parse(bad).unwrap_err();
            assert!(matches!(err, Error::BadPath { .. }), "{bad}: {err:?}");
        }
    }

    #[test]
    fn get_follows_both_syntaxes_and_reports_wrong_types() {
        let doc = json!({"a": [10, 20, {"b": "x"}], "n": 1});
        let get = |p: &str| JsonPath::parse(p).unwrap().get(&doc).map(|v| v.cloned());
        assert_eq!(get(".a[1]").unwrap(), Some(json!(20)));
        assert_eq!(get(".a[-1].b").unwrap(), Some(json!("x")));
        assert_eq!(get("/a/2/b").unwrap(), Some(json!("x")));
        assert_eq!(get(".missing.deeper").unwrap(), None);
        assert_eq!(get(".a[7]").unwrap(), None);
        assert!(matches!(get(".n.x"), Err(Error::WrongType { .. })));
        assert!(matches!(get(".a.x"), Err(Error::WrongType { .. })));
    }

    #[test]
    fn slot_creates_intermediates() {
        let mut doc = Value::Null;
        let p = JsonPath::parse(".a.b[1]").unwrap();
        *p.slot_mut(&mut doc).unwrap() = json!(5);
        assert_eq!(doc, json!({"a": {"b": [null, 5]}}));
        let p = JsonPath::parse("/a/b/-").unwrap();
        *p.slot_mut(&mut doc).unwrap() = json!(6);
        assert_eq!(doc, json!({"a": {"b": [null, 5, 6]}}));
        let p = JsonPath::parse(".a.b.c").unwrap();
        assert!(matches!(p.slot_mut(&mut doc), Err(Error::WrongType { .. })));
    }

    #[test]
    fn remove_keeps_order_and_reports_absence() {
        let mut doc = json!({"z": 1, "a": 2, "m": [1, 2, 3]});
        assert!(JsonPath::parse(".a").unwrap().remove(&mut doc).unwrap());
        assert!(!JsonPath::parse(".a").unwrap().remove(&mut doc).unwrap());
        assert!(!JsonPath::parse(".q.r").unwrap().remove(&mut doc).unwrap());
        assert!(JsonPath::parse(".m[-1]").unwrap().remove(&mut doc).unwrap());
        assert_eq!(serde_json::to_string(&doc).unwrap(), r#"{"z":1,"m":[1,2]}"#);
    }

    #[test]
    fn writes_past_the_end_are_bounded() {
        let set = |path: &str, doc: &mut Value| {
            JsonPath::parse(path)
                .unwrap()
                .slot_mut(doc)
                .map(|slot| *slot = json!(1))
        };
        for path in [
            ".a[9223372036854775807]",
            ".a[100000000]",
            "/a/1000000000000",
            "/a/99999999999999999999999999",
            ".a[1026]",
        ] {
            let mut doc = json!({"a": [0]});
            let err = set(path, &mut doc).unwrap_err();
            assert!(
                matches!(err, Error::IndexPastEnd { len: 1, .. }),
                "{path}: {err:?}"
            );
            assert!(
                err.to_string().starts_with(&format!("at {path}: ")),
                "{err}"
            );
            assert_eq!(doc, json!({"a": [0]}), "{path} changed the document");
        }
        // Appending, and a gap up to MAX_GAP, are fine.
        let mut doc = json!({"a": [0]});
        set(".a[1]", &mut doc).unwrap();
        set("/a/-", &mut doc).unwrap();
        assert_eq!(doc, json!({"a": [0, 1, 1]}));
        set(&format!(".a[{}]", 3 + JsonPath::MAX_GAP), &mut doc).unwrap();
        assert_eq!(doc["a"].as_array().unwrap().len(), 4 + JsonPath::MAX_GAP);
        // Negative indexes before the start stay "out of range".
        let mut doc = json!([0]);
        assert!(matches!(
            set(".[-3]", &mut doc),
            Err(Error::IndexOutOfRange { .. })
        ));
        // Reads of far indexes are just missing.
        let doc = json!({"a": [0]});
        for path in [
            ".a[9223372036854775807]",
            "/a/1000000000000",
            ".a[-9223372036854775808]",
        ] {
            assert_eq!(
                JsonPath::parse(path).unwrap().get(&doc).unwrap(),
                None,
                "{path}"
            );
        }
    }

    #[test]
    fn paths_deeper_than_the_limit_are_refused_before_writing() {
        let deep = |n: usize| JsonPath::parse(&".a".repeat(n)).unwrap();
        let mut doc = Value::Null;
        *deep(MAX_DEPTH).slot_mut(&mut doc).unwrap() = json!(1);
        let mut doc = Value::Null;
        for n in [MAX_DEPTH + 1, 200, 60_000] {
            let err = deep(n).slot_mut(&mut doc).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::TooDeep {
                        limit: MAX_DEPTH,
                        ..
                    }
                ),
                "{err:?}"
            );
            assert_eq!(doc, Value::Null);
        }
        assert!(
            deep(60_000)
                .slot_mut(&mut doc)
                .unwrap_err()
                .to_string()
                .len()
                < 400
        );
    }

    #[test]
    fn del_of_a_non_index_in_an_array_is_an_error_like_get() {
        let doc = json!({"arr": [1, 2]});
        for path in ["/arr/x", "/arr/01", "/arr/-1", "/arr/"] {
            let p = JsonPath::parse(path).unwrap();
            let mut d = doc.clone();
            assert!(
                matches!(p.get(&doc), Err(Error::WrongType { .. })),
                "get {path}"
            );
            assert!(
                matches!(p.remove(&mut d), Err(Error::WrongType { .. })),
                "del {path}"
            );
            assert_eq!(d, doc);
        }
        let mut d = doc.clone();
        for path in ["/arr/-", "/arr/5", "/arr/99999999999999999999999"] {
            assert!(
                !JsonPath::parse(path).unwrap().remove(&mut d).unwrap(),
                "{path}"
            );
        }
        assert_eq!(d, doc);
    }
}
