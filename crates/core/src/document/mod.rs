//! Lossless documents: a JSON file read into a `serde_json::Value` plus a concrete tree of where each value sits, so that an edit rewrites only the bytes of what it changed.
//!
//! The store reads a file with [`SyntaxTree::parse_file`], lets the caller
//! change the [`Value`], and writes back [`SyntaxTree::render_file`]: the
//! original bytes in which only the values that differ were rewritten (laid
//! out like their neighbours), or — with [`Style::Pretty`] / [`Style::Compact`]
//! — the whole document restyled. If the new value equals the old one, the
//! original bytes come back unchanged and need not be written.
//!
//! ```
//! use jlock_core::document::{SyntaxTree, Style};
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
//! One limit, [`MAX_DEPTH`], bounds both reading and writing; the reasons and
//! rules are in docs/design.md ("Lossless documents").

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::json_path::{self, JsonPath, Segment};

mod convert;
pub mod number;
mod render;
mod syntax;

pub use convert::from_value_exact;
pub use number::Spellings;
pub use render::{deeper_than, Style, TooDeep};
pub use syntax::SyntaxError;
use syntax::{Span, Tree};

/// The deepest nesting of arrays and objects jlock reads or writes: `[]` is
/// 1 level, `{"a": []}` 2. A deeper file is invalid JSON to jlock (exit 65);
/// an edit that would make a document deeper is refused ([`Error::TooDeep`]),
/// so jlock never writes a document it would refuse to read. serde_json
/// refuses documents nested 128 deep and over, so anything it reads, jlock
/// reads too.
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
    pub fn parse(bytes: &[u8]) -> std::result::Result<(SyntaxTree, Value), SyntaxError> {
        let (tree, value) = syntax::parse(bytes)?;
        Ok((SyntaxTree { tree }, value))
    }

    /// [`SyntaxTree::parse`], with errors as [`Error::InvalidJson`] naming `file`.
    pub fn parse_file(bytes: &[u8], file: &Path) -> Result<(SyntaxTree, Value)> {
        SyntaxTree::parse(bytes).map_err(|e| invalid_json(e, file))
    }

    /// True if the document was empty (nothing but whitespace).
    pub fn is_empty(&self) -> bool {
        self.tree.root.is_none()
    }

    /// Writes `new`, the changed value of this document, whose bytes were
    /// `original`. With [`Style::Preserve`], only what changed is rewritten and
    /// an equal value gives back `original` itself.
    pub fn render(
        &self,
        original: &[u8],
        new: &Value,
        style: Style,
    ) -> std::result::Result<Vec<u8>, TooDeep> {
        render::render(original, &self.tree, new, style, &Spellings::default())
    }

    /// [`SyntaxTree::render`], writing new numbers as `spellings` says — those
    /// of the text the new values were read from (`1E2` stays `1E2`).
    pub fn render_spelled(
        &self,
        original: &[u8],
        new: &Value,
        style: Style,
        spellings: &Spellings,
    ) -> std::result::Result<Vec<u8>, TooDeep> {
        render::render(original, &self.tree, new, style, spellings)
    }

    /// [`SyntaxTree::render_spelled`] for the store: appends the new bytes to
    /// `out` (after whatever it holds, e.g. room for a journal header) and
    /// returns `Ok(true)`, or returns `Ok(false)` with `out` unchanged if the
    /// new bytes would be `original` itself — nothing to write. Errors are
    /// [`Error::TooDeep`] naming `file`.
    pub fn render_into_file(
        &self,
        original: &[u8],
        new: &Value,
        style: Style,
        spellings: &Spellings,
        file: &Path,
        out: &mut Vec<u8>,
    ) -> Result<bool> {
        render::render_into(original, &self.tree, new, style, spellings, out)
            .map_err(|e| too_deep(e, file))
    }

    /// [`SyntaxTree::render_spelled`], with errors as [`Error::TooDeep`] naming `file`.
    pub fn render_file(
        &self,
        original: &[u8],
        new: &Value,
        style: Style,
        spellings: &Spellings,
        file: &Path,
    ) -> Result<Vec<u8>> {
        self.render_spelled(original, new, style, spellings)
            .map_err(|e| too_deep(e, file))
    }
}

/// What an edit of one path does to the value the path reaches (as far as
/// it exists), given the rest of the path: its result, and whether it
/// changed anything.
pub(crate) type PathEdit<'f, T> = dyn Fn(&mut Value, &JsonPath) -> Result<(T, bool)> + 'f;

/// An edit of the value at `path` in the document `bytes` that reads into
/// values only the part it changes: the document is checked whole (same
/// grammar and limits as [`SyntaxTree::parse`]), the path followed over its
/// bytes as far as it exists (to its parent, with `parent`) in the same
/// pass, and only the
/// value found there is parsed; `f` gets that value and the rest of the
/// path, and returns its result and whether it changed anything. The bytes
/// written are those [`SyntaxTree::render`] would write for the whole
/// document changed the same way ([`render::render_at`]).
///
/// `None` means "take the whole-document path": the path is the root, the
/// document is empty or invalid, `f` failed, or the result is refused — the
/// whole-document path then gives the same result or error.
pub(crate) fn edit_at<T>(
    bytes: &[u8],
    path: &JsonPath,
    parent: bool,
    spellings: &Spellings,
    f: &PathEdit<'_, T>,
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
            !removes_here && (t == "-" || json_path::pointer_index(t).is_some())
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
/// that value (the rest is checked, not built), as [`JsonPath::get_in`]
/// gives it on the whole document. `None` means "take the whole-document
/// path" (the root, an empty or invalid document, an error to report).
pub(crate) fn get_at(bytes: &[u8], path: &JsonPath) -> Option<(Option<Value>, Span)> {
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
/// use jlock_core::document::{self, Spellings};
///
/// let text = br#"{"n": 1E2, "a": []}"#;
/// let v = document::parse_value(text)?;
/// assert_eq!(document::value_text(&v, true, &Spellings::of(text)), "{\n  \"n\": 1E2,\n  \"a\": []\n}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn value_text(value: &Value, pretty: bool, spellings: &Spellings) -> String {
    render::value_text(value, pretty, spellings)
}

/// Parses one JSON value (a VALUE argument, the output of an `update`
/// command, a file read without writing) with the same grammar and limits
/// as a data file: empty input is `null`, numbers keep their value exactly.
pub fn parse_value(bytes: &[u8]) -> std::result::Result<Value, SyntaxError> {
    syntax::parse_value_only(bytes)
}

/// Checks that `bytes` are a document [`SyntaxTree::parse`] accepts, with the
/// same grammar, limits and errors, without building anything.
///
/// ```
/// use jlock_core::document::check;
///
/// assert!(check(b"{\"a\": [1, 2e400]}").is_ok());
/// assert_eq!(check(b"[1,]").unwrap_err().to_string(), "1:4: unexpected character ']', expected a JSON value");
/// ```
pub fn check(bytes: &[u8]) -> std::result::Result<(), SyntaxError> {
    syntax::check(bytes).map(|_| ())
}

/// [`parse_value`], with errors as [`Error::InvalidJson`] naming `file`: what a
/// read that writes nothing (`get`, `read`) needs, without the tree.
pub fn parse_value_file(bytes: &[u8], file: &Path) -> Result<Value> {
    parse_value(bytes).map_err(|e| invalid_json(e, file))
}

fn too_deep(e: TooDeep, file: &Path) -> Error {
    Error::TooDeep {
        path: file.to_path_buf(),
        what: "the new document".to_string(),
        limit: e.limit,
    }
}

fn invalid_json(e: SyntaxError, file: &Path) -> Error {
    Error::InvalidJson {
        path: file.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.message,
    }
}

#[cfg(test)]
mod tests {
    //! The engine as the store will drive it: parse, edit through a
    //! [`JsonPath`], render.
    use super::*;
    use crate::JsonPath;
    use serde_json::json;

    /// One store-like update: `f` edits the value at the path's slot.
    fn update(bytes: &[u8], f: impl FnOnce(&mut Value) -> Result<()>) -> Result<Vec<u8>> {
        let file = Path::new("db.json");
        let (doc, mut value) = SyntaxTree::parse_file(bytes, file)?;
        f(&mut value)?;
        // As the store does: room for a header, then the document, if changed.
        let mut record = vec![0xAA; 8];
        if doc.render_into_file(
            bytes,
            &value,
            Style::Preserve,
            &Spellings::default(),
            file,
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
            *path.slot_mut(doc, Path::new("db.json"))? = v;
            Ok(())
        })
    }

    fn del(bytes: &[u8], path: &str) -> Result<Vec<u8>> {
        let path = JsonPath::parse(path)?;
        update(bytes, |doc| {
            path.remove_in(doc, Path::new("db.json")).map(|_| ())
        })
    }

    fn incr(bytes: &[u8], path: &str, by: &str) -> Result<Vec<u8>> {
        let path = JsonPath::parse(path)?;
        let by = parse_value(by.as_bytes()).map_err(|e| Error::BadPath {
            input: e.to_string(),
            reason: String::new(),
        })?;
        update(bytes, |doc| {
            let slot = path.slot_mut(doc, Path::new("db.json"))?;
            let cur = match slot {
                Value::Null => serde_json::Number::from(0),
                Value::Number(n) => n.clone(),
                _ => panic!("not a number"),
            };
            let Value::Number(by) = by else { panic!() };
            let sum = number::add_numbers(&cur, &by).map_err(|e| Error::Overflow {
                path: "db.json".into(),
                at: path.to_string(),
                message: e.to_string(),
            })?;
            *slot = Value::Number(sum);
            Ok(())
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
        assert!(err.to_string().starts_with("db.json: "), "{err}");
        // What was written is read back.
        let out = set(b"", &deep, json!([])).unwrap();
        assert!(SyntaxTree::parse(&out).is_ok());
        // A file too deep to read is invalid JSON with a position.
        let deep_file = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let err = set(deep_file.as_bytes(), ".x", json!(1)).unwrap_err();
        assert!(err.is_bad_data(), "{err}");
        assert!(
            err.to_string().starts_with("db.json:1:129: invalid JSON"),
            "{err}"
        );
    }
}
