//! Lossless documents: a JSON file read into a `serde_json::Value` plus a concrete tree of where each value sits, so that an edit rewrites only the bytes of what it changed.
//!
//! The store reads a file with [`Document::parse_file`], lets the caller
//! change the [`Value`], and writes back [`Document::render_file`]: the
//! original bytes in which only the values that differ were rewritten (laid
//! out like their neighbours), or — with [`Style::Pretty`] / [`Style::Compact`]
//! — the whole document restyled. If the new value equals the old one, the
//! original bytes come back unchanged and need not be written.
//!
//! ```
//! use jlock_core::document::{Document, Style};
//!
//! let old = b"{\n\t\"name\": \"x\",\n\t\"n\": 1E2\n}";
//! let (doc, mut value) = Document::parse(old)?;
//! value["n"] = serde_json::json!(101);
//! value["new"] = serde_json::json!([1, 2]);
//! let new = doc.render(old, &value, Style::Preserve)?;
//! assert_eq!(new, b"{\n\t\"name\": \"x\",\n\t\"n\": 101,\n\t\"new\": [\n\t\t1,\n\t\t2\n\t]\n}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! One limit, [`MAX_DEPTH`], bounds both reading and writing; the reasons and
//! rules are in `docs/lossless.md`.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

mod convert;
pub mod number;
mod render;
pub mod syntax;

pub use convert::from_value_exact;
pub use render::{deeper_than, Style, TooDeep};
pub use syntax::{Kind, Member, Node, Span, SyntaxError, Tree};

/// The deepest nesting of arrays and objects jlock reads or writes: `[]` is
/// 1 level, `{"a": []}` 2. A deeper file is invalid JSON to jlock (exit 65);
/// an edit that would make a document deeper is refused ([`Error::TooDeep`]),
/// so jlock never writes a document it would refuse to read. serde_json
/// refuses documents nested 128 deep and over, so anything it reads, jlock
/// reads too.
pub const MAX_DEPTH: usize = 128;

/// A parsed document: the concrete tree of the bytes it was parsed from.
///
/// It does not hold the bytes; [`Document::render`] is given them again.
#[derive(Clone, Debug)]
pub struct Document {
    tree: Tree,
}

impl Document {
    /// Parses `bytes` (RFC 8259 JSON, optionally after a UTF-8 byte order
    /// mark; only whitespace means `null`) into the document and its value.
    pub fn parse(bytes: &[u8]) -> std::result::Result<(Document, Value), SyntaxError> {
        let (tree, value) = syntax::parse(bytes)?;
        Ok((Document { tree }, value))
    }

    /// [`Document::parse`], with errors as [`Error::InvalidJson`] naming `file`.
    pub fn parse_file(bytes: &[u8], file: &Path) -> Result<(Document, Value)> {
        Document::parse(bytes).map_err(|e| invalid_json(e, file))
    }

    /// The concrete tree.
    pub fn tree(&self) -> &Tree {
        &self.tree
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
        render::render(original, &self.tree, new, style)
    }

    /// [`Document::render`], with errors as [`Error::TooDeep`] naming `file`.
    pub fn render_file(
        &self,
        original: &[u8],
        new: &Value,
        style: Style,
        file: &Path,
    ) -> Result<Vec<u8>> {
        self.render(original, new, style)
            .map_err(|e| Error::TooDeep {
                path: file.to_path_buf(),
                what: "the new document".to_string(),
                limit: e.limit,
            })
    }
}

/// Parses one JSON value (a VALUE argument, the output of an `update`
/// command, a file read without writing) with the same grammar and limits
/// as a data file: empty input is `null`, numbers keep their value exactly.
pub fn parse_value(bytes: &[u8]) -> std::result::Result<Value, SyntaxError> {
    syntax::parse_value_only(bytes)
}

/// [`parse_value`], with errors as [`Error::InvalidJson`] naming `file`: what a
/// read that writes nothing (`get`, `read`) needs, without the tree.
pub fn parse_value_file(bytes: &[u8], file: &Path) -> Result<Value> {
    parse_value(bytes).map_err(|e| invalid_json(e, file))
}

fn invalid_json(e: SyntaxError, file: &Path) -> Error {
    Error::InvalidJson {
        path: file.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.message,
    }
}
