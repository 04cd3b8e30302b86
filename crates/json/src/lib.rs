//! Lossless JSON documents: bytes read into a `serde_json::Value` plus a concrete tree of where each value sits, so that an edit rewrites only the bytes of what it changed.
//!
//! What toml_edit is for TOML: a caller reads a document with
//! [`SyntaxTree::parse`], changes the [`Value`], and writes back
//! [`SyntaxTree::render`]: the
//! original bytes in which only the values that differ were rewritten (laid
//! out like their neighbours), or — with [`Style::Pretty`] / [`Style::Compact`]
//! — the whole document restyled. If the new value equals the old one, the
//! original bytes come back unchanged and need not be written.
//!
//! ```
//! use jlock_json::{SyntaxTree, Style};
//!
//! let old = b"{\n\t\"name\": \"x\",\n\t\"n\": 1E2\n}";
//! let (doc, mut value) = SyntaxTree::parse(old)?;
//! value["n"] = serde_json::json!(101);
//! value["new"] = serde_json::json!([1, 2]);
//! let new = doc.render(old, &value, Style::Preserve)?;
//! assert_eq!(new, b"{\n\t\"name\": \"x\",\n\t\"n\": 101,\n\t\"new\": [\n\t\t1,\n\t\t2\n\t]\n}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Numbers keep their value exactly (integers past 64 bits, decimals past
//! `f64`) and, where unchanged, their spelling (`1E2` stays `1E2`); see
//! [`number`]. Paths into a document are [`JsonPath`]s: jq-style (`.a[0]`)
//! or RFC 6901 JSON Pointers (`/a/0`). Every error is an [`Error`], which
//! says where in the document, never which file: the caller knows that.
//!
//! One limit, [`MAX_DEPTH`], bounds both reading and writing; the reasons and
//! rules are in jlock's docs/design.md ("Lossless documents"). No input makes
//! the parser or an edit panic, recurse without bound or allocate more than
//! a small multiple of the input (property-tested, and run against
//! JSONTestSuite in `tests/conformance.rs`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;

use serde_json::{Number, Value};

mod convert;
mod error;
pub mod number;
pub mod patch;
mod path;
mod render;
mod syntax;

pub use convert::from_value_exact;
pub use error::{Error, Result};
pub use number::Spellings;
pub use path::{JsonPath, Segment};
pub use render::{deeper_than, Style};
pub use syntax::Span;
use syntax::Tree;

/// The deepest nesting of arrays and objects read or written: `[]` is
/// 1 level, `{"a": []}` 2. A deeper document is invalid JSON here
/// ([`Error::InvalidJson`]); an edit that would make a document deeper is
/// refused ([`Error::TooDeep`]), so nothing is written that could not be
/// read back. serde_json refuses documents nested 128 deep and over, so
/// anything it reads, this crate reads too.
pub const MAX_DEPTH: usize = 128;

/// A parsed document: the concrete tree of the bytes it was parsed from.
///
/// It does not hold the bytes; [`SyntaxTree::render`] is given them again.
#[derive(Clone, Debug)]
pub struct SyntaxTree {
    tree: Tree,
}

impl SyntaxTree {
    /// Parses `bytes` (RFC 8259 JSON, optionally after a UTF-8 byte order
    /// mark; only whitespace means `null`) into the document and its value.
    /// Bytes that are not JSON are [`Error::InvalidJson`], with a line and
    /// a column.
    pub fn parse(bytes: &[u8]) -> Result<(SyntaxTree, Value)> {
        let (tree, value) = syntax::parse(bytes)?;
        Ok((SyntaxTree { tree }, value))
    }

    /// True if the document was empty (nothing but whitespace).
    pub fn is_empty(&self) -> bool {
        self.tree.root.is_none()
    }

    /// Writes `new`, the changed value of this document, whose bytes were
    /// `original`. With [`Style::Preserve`], only what changed is rewritten and
    /// an equal value gives back `original` itself. A value nested deeper
    /// than [`MAX_DEPTH`] is [`Error::TooDeep`].
    pub fn render(&self, original: &[u8], new: &Value, style: Style) -> Result<Vec<u8>> {
        self.render_spelled(original, new, style, &Spellings::default())
    }

    /// [`SyntaxTree::render`], writing new numbers as `spellings` says — those
    /// of the text the new values were read from (`1E2` stays `1E2`).
    pub fn render_spelled(
        &self,
        original: &[u8],
        new: &Value,
        style: Style,
        spellings: &Spellings,
    ) -> Result<Vec<u8>> {
        Ok(render::render(original, &self.tree, new, style, spellings)?)
    }

    /// [`SyntaxTree::render_spelled`] into a buffer: appends the new bytes to
    /// `out` (after whatever it holds, e.g. room for a journal header) and
    /// returns `Ok(true)`, or returns `Ok(false)` with `out` unchanged if the
    /// new bytes would be `original` itself — nothing to write.
    pub fn render_into(
        &self,
        original: &[u8],
        new: &Value,
        style: Style,
        spellings: &Spellings,
        out: &mut Vec<u8>,
    ) -> Result<bool> {
        Ok(render::render_into(
            original, &self.tree, new, style, spellings, out,
        )?)
    }
}

/// What an edit of one path does to the value the path reaches (as far as
/// it exists), given the rest of the path: its result, and whether it
/// changed anything.
pub type PathEdit<'f, T, E> =
    dyn Fn(&mut Value, &JsonPath) -> std::result::Result<(T, bool), E> + 'f;

/// An edit of the value at `path` in the document `bytes` that reads into
/// values only the part it changes: the document is checked whole (same
/// grammar and limits as [`SyntaxTree::parse`]), the path followed over its
/// bytes as far as it exists (to its parent, with `parent`) in the same
/// pass, and only the value found there is parsed; `f` gets that value and
/// the rest of the path, and returns its result and whether it changed
/// anything. The bytes written are those [`SyntaxTree::render`] would write
/// for the whole document changed the same way.
///
/// `None` means "take the whole-document path": the path is the root, the
/// document is empty or invalid, `f` failed, or the result is refused — the
/// whole-document path then gives the same result or error.
///
/// ```
/// use jlock_json::{edit_at, JsonPath, Spellings};
///
/// let old = br#"{"big": [1, 2, 3], "n": 1}"#;
/// let path: JsonPath = ".n".parse()?;
/// let edit = |v: &mut serde_json::Value, _: &JsonPath| {
///     *v = 2.into();
///     Ok::<_, jlock_json::Error>(((), true))
/// };
/// let (_, new) = edit_at(old, &path, false, &Spellings::default(), &edit).expect("a path edit");
/// assert_eq!(new.as_deref(), Some(&br#"{"big": [1, 2, 3], "n": 2}"#[..]));
/// # Ok::<(), jlock_json::Error>(())
/// ```
pub fn edit_at<T, E>(
    bytes: &[u8],
    path: &JsonPath,
    parent: bool,
    spellings: &Spellings,
    f: &PathEdit<'_, T, E>,
) -> Option<(T, Option<Vec<u8>>)> {
    let steps = path.segments();
    if steps.is_empty() || steps.len() > MAX_DEPTH {
        return None;
    }
    let follow = if parent {
        &steps[..steps.len() - 1]
    } else {
        steps
    };
    let here = syntax::check_and_locate(bytes, follow).ok()??;
    // Where the edit adds a child to the container found, or removes a member
    // of an object, it never reads the other children: they need not be
    // read into values (a key added to a root holding 1 MB reads two keys).
    let first = steps.get(here.depth);
    let removes_here = parent && here.depth + 1 == steps.len();
    let shallow = match (bytes[here.start], first) {
        // A key locate did not find, or the member `del` removes.
        (b'{', Some(Segment::Key(_) | Segment::Token(_))) => true,
        // Past the end (locate found no such element): appended.
        (b'[', Some(Segment::Index(i))) => *i >= 0 && !removes_here,
        (b'[', Some(Segment::Token(t))) => {
            !removes_here && (t == "-" || path::pointer_index(t).is_some())
        }
        _ => false,
    };
    if here.depth == 0 && !shallow {
        return None; // the whole root is read either way
    }
    let (node, mut value) = if shallow {
        syntax::parse_shallow(bytes, here.start, here.depth).ok()?
    } else {
        syntax::parse_at(bytes, here.start, here.depth).ok()?
    };
    let (out, changed) = f(&mut value, &path.after(here.depth)).ok()?;
    if !changed {
        return Some((out, None));
    }
    let mut new = Vec::new();
    match render::render_at(bytes, &node, here.depth, &value, spellings, &mut new).ok()?? {
        true => Some((out, Some(new))),
        false => Some((out, None)),
    }
}

/// The value at `path` in the document `bytes`, reading into values only
/// that value (the rest is checked, not built), as [`JsonPath::get`]
/// gives it on the whole document. `None` means "take the whole-document
/// path" (the root, an empty or invalid document, an error to report).
pub fn get_at(bytes: &[u8], path: &JsonPath) -> Option<(Option<Value>, Span)> {
    let steps = path.segments();
    if steps.is_empty() {
        return None;
    }
    let here = syntax::check_and_locate(bytes, steps).ok()??;
    if here.depth == 0 {
        return None;
    }
    let (node, value) = syntax::parse_at(bytes, here.start, here.depth).ok()?;
    let found = path.after(here.depth).get(&value).ok()?;
    Some((found.cloned(), node.span))
}

/// `value` on its own, as `jlock get` prints it: indented two spaces a level
/// (or, with `pretty` false, on one line), with no final newline, its numbers
/// written as `spellings` says (those of the file it was read from: `1E2`
/// stays `1E2`).
///
/// ```
/// use jlock_json::Spellings;
///
/// let text = br#"{"n": 1E2, "a": []}"#;
/// let v = jlock_json::parse_value(text)?;
/// assert_eq!(jlock_json::value_text(&v, true, &Spellings::of(text)), "{\n  \"n\": 1E2,\n  \"a\": []\n}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn value_text(value: &Value, pretty: bool, spellings: &Spellings) -> String {
    render::value_text(value, pretty, spellings)
}

/// Parses one JSON value (a VALUE argument, the output of an `update`
/// command, a file read without writing) with the same grammar and limits
/// as a data file: empty input is `null`, numbers keep their value exactly.
pub fn parse_value(bytes: &[u8]) -> Result<Value> {
    Ok(syntax::parse_value_only(bytes)?)
}

/// Checks that `bytes` are a document [`SyntaxTree::parse`] accepts, with the
/// same grammar, limits and errors, without building anything.
///
/// ```
/// use jlock_json::check;
///
/// assert!(check(b"{\"a\": [1, 2e400]}").is_ok());
/// assert_eq!(check(b"[1,]").unwrap_err().to_string(), "1:4: unexpected character ']', expected a JSON value");
/// ```
pub fn check(bytes: &[u8]) -> Result<()> {
    syntax::check(bytes)?;
    Ok(())
}

/// The increment, the one place it is written: adds `by` to the value in
/// `slot` (the value `path` reaches), exactly, and returns the sum. A
/// missing or `null` value counts as 0; anything else that is not a number
/// is [`Error::WrongType`]; a sum past the bounds of [`number::add_numbers`]
/// is [`Error::Overflow`].
///
/// ```
/// use jlock_json::{add_at, JsonPath};
///
/// let path: JsonPath = ".n".parse()?;
/// let mut doc = serde_json::json!({"n": 0.1});
/// let slot = path.slot_mut(&mut doc)?;
/// assert_eq!(add_at(slot, &path, &jlock_json::parse_value(b"0.2")?.as_number().unwrap().clone())?.to_string(), "0.3");
/// # Ok::<(), jlock_json::Error>(())
/// ```
pub fn add_at(slot: &mut Value, path: &JsonPath, by: &Number) -> Result<Number> {
    let current = match slot {
        Value::Null => Number::from(0),
        Value::Number(n) => n.clone(),
        other => return Err(path.wrong_type("a number", other)),
    };
    let sum = number::add_numbers(&current, by).map_err(|why| Error::Overflow {
        at: path.to_string(),
        message: why.to_string(),
    })?;
    *slot = Value::Number(sum.clone());
    Ok(sum)
}

#[cfg(test)]
mod tests {
    //! The engine as the store will drive it: parse, edit through a
    //! [`JsonPath`], render.
    use super::*;
    use serde_json::json;

    /// One store-like update: `f` edits the value at the path's slot.
    fn update(bytes: &[u8], f: impl FnOnce(&mut Value) -> Result<()>) -> Result<Vec<u8>> {
        let (doc, mut value) = SyntaxTree::parse(bytes)?;
        f(&mut value)?;
        // As the store does: room for a header, then the document, if changed.
        let mut record = vec![0xAA; 8];
        if doc.render_into(
            bytes,
            &value,
            Style::Preserve,
            &Spellings::default(),
            &mut record,
        )? {
            assert_eq!(record[..8], [0xAA; 8]);
            Ok(record.split_off(8))
        } else {
            assert_eq!(record, [0xAA; 8]);
            Ok(bytes.to_vec())
        }
    }

    fn set(bytes: &[u8], path: &str, v: Value) -> Result<Vec<u8>> {
        let path = JsonPath::parse(path)?;
        update(bytes, |doc| {
            *path.slot_mut(doc)? = v;
            Ok(())
        })
    }

    fn del(bytes: &[u8], path: &str) -> Result<Vec<u8>> {
        let path = JsonPath::parse(path)?;
        update(bytes, |doc| path.remove(doc).map(|_| ()))
    }

    fn incr(bytes: &[u8], path: &str, by: &str) -> Result<Vec<u8>> {
        let path = JsonPath::parse(path)?;
        let Value::Number(by) = parse_value(by.as_bytes())? else {
            panic!("{by} is not a number")
        };
        update(bytes, |doc| {
            add_at(path.slot_mut(doc)?, &path, &by).map(|_| ())
        })
    }

    #[test]
    fn set_then_del_gives_back_the_bytes() {
        let files: [&[u8]; 4] = [
            b"{\n    \"n\": 0.9999999999999999,\n    \"id\": 12345678901234567890123,\n    \"e\": 1E2\n}\n",
            b"{\"compact\":[1,2,3],\"dup\":1,\"dup\":2}",
            b"\xEF\xBB\xBF{\r\n\t\"crlf\": \"\\u00e9\\/\"\r\n}",
            b"[1, 2]",
        ];
        for old in files {
            let path = if old.ends_with(b"]") { "/-" } else { ".k" };
            let mid = set(old, path, json!({"new": [1, 2]})).unwrap();
            let back = del(&mid, if path == "/-" { "/2" } else { ".k" }).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&back),
                String::from_utf8_lossy(old),
                "via {}",
                String::from_utf8_lossy(&mid)
            );
        }
    }

    #[test]
    fn incr_is_exact_and_only_the_number_changes() {
        let mut bytes = b"{\n  \"total\": 0,\n  \"id\": 99999999999999999999\n}\n".to_vec();
        for _ in 0..10 {
            bytes = incr(&bytes, ".total", "0.1").unwrap();
        }
        assert_eq!(
            bytes,
            b"{\n  \"total\": 1,\n  \"id\": 99999999999999999999\n}\n"
        );
        let bytes = incr(&bytes, ".id", "1").unwrap();
        assert_eq!(
            bytes,
            b"{\n  \"total\": 1,\n  \"id\": 100000000000000000000\n}\n"
        );
        let bytes = incr(&bytes, ".big", "99999999999999999999").unwrap();
        assert_eq!(
            bytes,
            b"{\n  \"total\": 1,\n  \"id\": 100000000000000000000,\n  \"big\": 99999999999999999999\n}\n"
        );
        assert!(matches!(
            incr(b"{\"x\": 1e5000}", ".x", "1"),
            Err(Error::Overflow { .. })
        ));
        assert_eq!(
            incr(b"18446744073709551615", ".", "1").unwrap(),
            b"18446744073709551616"
        );
    }

    #[test]
    fn limits_leave_the_file_unchanged() {
        let old = b"{\"a\": [0]}";
        for (path, usage) in [
            (".a[9223372036854775807]", true),
            ("/a/1000000000000", true),
            (".a[100000000]", true),
            (&".x".repeat(200), true),
        ] {
            let err = set(old, path, json!(1)).unwrap_err();
            assert_eq!(err.is_usage(), usage, "{path}: {err}");
        }
        let err = del(old, "/a/x").unwrap_err();
        assert!(err.is_bad_data(), "{err}");
        // A path of 128 steps fits exactly; a value that makes it deeper does not.
        let deep = ".x".repeat(MAX_DEPTH - 1);
        assert!(set(b"", &deep, json!(1)).is_ok());
        let err = set(b"", &deep, json!([[]])).unwrap_err();
        assert!(matches!(err, Error::TooDeep { .. }), "{err}");
        assert!(
            err.to_string().starts_with("the new document would nest"),
            "{err}"
        );
        // What was written is read back.
        let out = set(b"", &deep, json!([])).unwrap();
        assert!(SyntaxTree::parse(&out).is_ok());
        // A file too deep to read is invalid JSON with a position.
        let deep_file = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let err = set(deep_file.as_bytes(), ".x", json!(1)).unwrap_err();
        assert!(err.is_bad_data(), "{err}");
        assert!(err.to_string().starts_with("1:129: "), "{err}");
    }
}
