//! The JSON parser of jlock: exactly RFC 8259, bounded in depth, producing a concrete tree that keeps every value's byte span next to the `serde_json::Value`.
//!
//! The tree says where each value, key and member sits in the original
//! bytes; the bytes between two spans are only JSON whitespace and one
//! separator (`,` or `:`), so they need not be stored. Strings keep whether
//! they were written with escapes, numbers their text (the span).

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Number, Value};

use super::MAX_DEPTH;
use crate::path::{pointer_index, Segment};

/// A byte range `start..end` of the original document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// One value of the concrete tree, with its span.
#[derive(Clone, Debug)]
pub struct Node {
    /// The value's bytes: the literal, the quoted string, or from the opening
    /// bracket to the closing one.
    pub span: Span,
    /// What kind of value, and its children.
    pub kind: Kind,
}

/// The kind of a [`Node`].
#[derive(Clone, Debug)]
pub enum Kind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number; its text is the span.
    Number,
    /// A string; `escaped` if its text holds a backslash escape.
    String {
        /// The text holds at least one `\` escape.
        escaped: bool,
    },
    /// An array and its elements in order.
    Array(Vec<Node>),
    /// An object and its members in the order written, duplicates included.
    Object {
        /// The members as written.
        members: Vec<Member>,
        /// Some key occurs more than once (the last occurrence is the value).
        duplicates: bool,
    },
}

/// One `"key": value` of an object.
#[derive(Clone, Debug)]
pub struct Member {
    /// The quoted key's bytes.
    pub key_span: Span,
    /// The key holds a `\` escape.
    pub key_escaped: bool,
    /// The value.
    pub value: Node,
}

impl Member {
    /// True if the key is `key`; `bytes` are the document the tree was parsed from.
    pub fn key_is(&self, bytes: &[u8], key: &str) -> bool {
        string_is(bytes, self.key_span, self.key_escaped, key)
    }

    /// The key, unescaped; `bytes` are the document the tree was parsed from.
    pub fn key<'a>(&self, bytes: &'a [u8]) -> Cow<'a, str> {
        let raw = &bytes[self.key_span.start + 1..self.key_span.end - 1];
        match (self.key_escaped, std::str::from_utf8(raw)) {
            (false, Ok(s)) => Cow::Borrowed(s),
            _ => Cow::Owned(decode_string(bytes, self.key_span).unwrap_or_default()),
        }
    }
}

/// A parsed document: where its value sits, and what surrounds it.
#[derive(Clone, Debug)]
pub struct Tree {
    /// The document starts with a UTF-8 byte order mark (`EF BB BF`), which
    /// is kept: the value is read, and edited, behind it.
    pub bom: bool,
    /// The root value, or `None` if the document is empty (only whitespace).
    pub root: Option<Node>,
    /// The length of the parsed bytes.
    pub len: usize,
}

/// Why bytes are not a JSON document, and where: [`crate::Error::InvalidJson`]
/// to callers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// 1-based line (lines end with LF).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl From<SyntaxError> for crate::Error {
    fn from(e: SyntaxError) -> crate::Error {
        crate::Error::InvalidJson {
            line: e.line,
            column: e.column,
            message: e.message,
        }
    }
}

/// JSON whitespace (RFC 8259): space, tab, line feed, carriage return. Not
/// form feed, not vertical tab, not NBSP.
pub fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Parses `bytes` into its tree and its value. An empty document (nothing
/// but whitespace, after an optional byte order mark) is `null` with no root.
pub fn parse(bytes: &[u8]) -> Result<(Tree, Value), SyntaxError> {
    parse_with(bytes, Mode::Tree, &[]).map(|(tree, value, _)| (tree, value))
}

/// Parses `bytes` into its value only, with the same grammar and limits as
/// [`parse`] but without building the tree (for reads, which write nothing).
pub fn parse_value_only(bytes: &[u8]) -> Result<Value, SyntaxError> {
    parse_with(bytes, Mode::Value, &[]).map(|(_, v, _)| v)
}

/// Checks `bytes` with the same grammar, limits and errors as [`parse`],
/// building nothing, and returns where the root value starts (`None` for
/// an empty document).
pub fn check(bytes: &[u8]) -> Result<Option<usize>, SyntaxError> {
    check_and_locate(bytes, &[]).map(|reached| reached.map(|r| r.start))
}

/// Parses the one value that starts at `start` of `bytes`, a document that
/// [`check`] accepted, nested inside `depth` arrays and objects: its node
/// (with spans into the whole of `bytes`) and its value.
pub fn parse_at(bytes: &[u8], start: usize, depth: usize) -> Result<(Node, Value), SyntaxError> {
    let mut p = Parser::new(bytes, start, Mode::Tree);
    p.depth = depth;
    p.value()
}

/// Parses the array or object that starts at `start` of `bytes` (checked),
/// nested inside `depth` arrays and objects, without its children's
/// contents: each child is a placeholder — its node of kind `Null` spans
/// its bytes, its value is `null` — while keys are read. Enough to add,
/// remove or replace children by their spans, never to read one.
pub fn parse_shallow(
    bytes: &[u8],
    start: usize,
    depth: usize,
) -> Result<(Node, Value), SyntaxError> {
    let mut p = Parser::new(bytes, start, Mode::Shallow);
    p.depth = depth;
    p.value()
}

/// Where [`locate`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Located {
    /// Where the value reached starts.
    pub start: usize,
    /// How many arrays and objects enclose it (the number of steps taken).
    pub depth: usize,
}

/// [`check`], following `steps` from the root value on the way as far as
/// each step names a member or element that exists — the last of a
/// duplicated key, as the parsed value has it; an index `>= 0` — and
/// returning where it stopped (`None` for an empty document). One pass: the
/// grammar is checked and the path followed together, nothing is built.
pub fn check_and_locate(bytes: &[u8], steps: &[Segment]) -> Result<Option<Located>, SyntaxError> {
    parse_with(bytes, Mode::Check, steps).map(|(tree, _, reached)| tree.root.map(|_| reached))
}

/// Where the string literal that starts at `start` of `bytes` (checked) ends.
pub fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        i += plain_run(&bytes[i..]).0;
        let Some(&c) = bytes.get(i) else { break };
        match c {
            b'"' => return i + 1,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Where the value that starts at `start` of `bytes` ends, for a document
/// that [`check`] accepted: with the grammar already checked, only strings
/// and brackets need reading. (On bytes that were not checked the answer
/// is meaningless but in bounds.)
pub fn value_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    let mut depth = 0usize;
    while i < bytes.len() {
        if depth > 0 {
            // Inside a container only strings and brackets matter.
            i += quiet_run(&bytes[i..]);
            if i == bytes.len() {
                break;
            }
        }
        match bytes[i] {
            b'"' => {
                i = string_end(bytes, i);
                if depth == 0 {
                    return i;
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth == 0 => return i,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b',' | b':' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// The first position at or after `pos` that is not JSON whitespace.
pub fn skip_ws(bytes: &[u8], pos: usize) -> usize {
    let mut p = Parser::new(bytes, pos, Mode::Check);
    p.skip_ws();
    p.pos
}

/// What the parser builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The tree and the value.
    Tree,
    /// The value only.
    Value,
    /// Nothing: the grammar and limits are checked, and positions found.
    Check,
    /// One container of a checked document, its children as placeholders
    /// ([`parse_shallow`]).
    Shallow,
}

/// Parses `bytes` in `mode`, following `steps` on the way (see
/// [`check_and_locate`]): the tree (its root only in [`Mode::Check`]), the
/// value, and where the path reached.
fn parse_with(
    bytes: &[u8],
    mode: Mode,
    steps: &[Segment],
) -> Result<(Tree, Value, Located), SyntaxError> {
    let bom = bytes.starts_with(b"\xEF\xBB\xBF");
    let mut p = Parser::new(bytes, if bom { 3 } else { 0 }, mode);
    p.skip_ws();
    let mut tree = Tree {
        bom,
        root: None,
        len: bytes.len(),
    };
    if p.pos == bytes.len() {
        return Ok((tree, Value::Null, p.reached));
    }
    p.steps = steps;
    p.reached = Located {
        start: p.pos,
        depth: 0,
    };
    let (node, value) = p.value()?;
    p.skip_ws();
    if p.pos != bytes.len() {
        return Err(p.error("trailing characters after the JSON value"));
    }
    tree.root = Some(node);
    Ok((tree, value, p.reached))
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
    depth: usize,
    mode: Mode,
    /// Children of the containers being parsed, innermost last: each
    /// container takes its own off the end when it closes, so it allocates
    /// exactly once, at its final size.
    nodes: Vec<Node>,
    values: Vec<Value>,
    members: Vec<Member>,
    pairs: Vec<(String, Value)>,
    /// A path to follow while parsing (see [`check_and_locate`]), and the
    /// value it has reached so far.
    steps: &'a [Segment],
    reached: Located,
}

impl<'a> Parser<'a> {
    fn new(b: &'a [u8], pos: usize, mode: Mode) -> Parser<'a> {
        Parser {
            b,
            pos,
            depth: 0,
            mode,
            nodes: Vec::new(),
            values: Vec::new(),
            members: Vec::new(),
            pairs: Vec::new(),
            steps: &[],
            reached: Located { start: 0, depth: 0 },
        }
    }

    fn error(&self, message: impl Into<String>) -> SyntaxError {
        self.error_at(self.pos, message)
    }

    fn error_at(&self, at: usize, message: impl Into<String>) -> SyntaxError {
        let at = at.min(self.b.len());
        let before = &self.b[..at];
        let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
        // Characters, not bytes: count the bytes that start a UTF-8 sequence.
        let column = before[line_start..]
            .iter()
            .filter(|&&c| (c & 0xC0) != 0x80)
            .count()
            + 1;
        SyntaxError {
            line,
            column,
            message: message.into(),
        }
    }

    fn skip_ws(&mut self) {
        while self.b.get(self.pos).is_some_and(|&c| is_ws(c)) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn unexpected(&self, expected: &str) -> SyntaxError {
        match self.peek() {
            None => self.error(format!("unexpected end of input, expected {expected}")),
            Some(c) if c.is_ascii_graphic() => self.error(format!(
                "unexpected character '{}', expected {expected}",
                char::from(c)
            )),
            Some(c) => self.error(format!(
                "unexpected byte 0x{c:02X}, expected {expected}{}",
                if c == 0x0C {
                    " (a form feed is not JSON whitespace)"
                } else {
                    ""
                }
            )),
        }
    }

    fn value(&mut self) -> Result<(Node, Value), SyntaxError> {
        let start = self.pos;
        let (kind, value) = match self.peek() {
            Some(b'{') => return self.object(),
            Some(b'[') => return self.array(),
            Some(b'"') if self.mode == Mode::Check => {
                let escaped = self.scan_string(None)?;
                (Kind::String { escaped }, Value::Null)
            }
            Some(b'"') => {
                let (s, escaped) = self.string()?;
                (Kind::String { escaped }, Value::String(s))
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.number_text()?;
                let value = match self.mode {
                    Mode::Check => Value::Null,
                    _ => Value::Number(self.number(start)?),
                };
                (Kind::Number, value)
            }
            Some(b't') => {
                self.literal(b"true")?;
                (Kind::Bool(true), Value::Bool(true))
            }
            Some(b'f') => {
                self.literal(b"false")?;
                (Kind::Bool(false), Value::Bool(false))
            }
            Some(b'n') => {
                self.literal(b"null")?;
                (Kind::Null, Value::Null)
            }
            _ => return Err(self.unexpected("a JSON value")),
        };
        Ok((
            Node {
                span: Span {
                    start,
                    end: self.pos,
                },
                kind,
            },
            value,
        ))
    }

    /// If the container that starts at `start` is the one the path has
    /// reached so far and the path goes on, its level (the step it takes).
    fn on_path(&self, start: usize) -> Option<usize> {
        let level = self.depth;
        (level < self.steps.len() && self.reached.start == start && self.reached.depth == level)
            .then_some(level)
    }

    /// The path's step `level` names the member whose key is at `key`.
    fn step_is_key(&self, level: usize, key: Span, escaped: bool) -> bool {
        match &self.steps[level] {
            Segment::Key(k) | Segment::Token(k) => string_is(self.b, key, escaped, k),
            _ => false,
        }
    }

    /// The path's step `level` names element `index`.
    fn step_is_index(&self, level: usize, index: usize) -> bool {
        match &self.steps[level] {
            Segment::Index(i) => usize::try_from(*i).ok() == Some(index),
            Segment::Token(t) => pointer_index(t) == Some(index),
            _ => false,
        }
    }

    /// The value at `pos` is where the path's step `level` leads.
    fn reach(&mut self, level: usize) {
        self.reached = Located {
            start: self.pos,
            depth: level + 1,
        };
    }

    /// A member's value or an element: parsed, or in [`Mode::Shallow`] a
    /// placeholder spanning it.
    fn child(&mut self) -> Result<(Node, Value), SyntaxError> {
        if self.mode != Mode::Shallow {
            return self.value();
        }
        let start = self.pos;
        self.pos = value_end(self.b, start);
        Ok((
            Node {
                span: Span {
                    start,
                    end: self.pos,
                },
                kind: Kind::Null,
            },
            Value::Null,
        ))
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), SyntaxError> {
        if self.b[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.unexpected("a JSON value"))
        }
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!(
                "arrays and objects nested deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(())
    }

    fn array(&mut self) -> Result<(Node, Value), SyntaxError> {
        let start = self.pos;
        let level = self.on_path(start);
        self.enter()?;
        self.pos += 1;
        let (node_mark, value_mark) = (self.nodes.len(), self.values.len());
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
        } else {
            let mut index = 0;
            loop {
                self.skip_ws();
                if let Some(level) = level {
                    if self.step_is_index(level, index) {
                        self.reach(level);
                    }
                    index += 1;
                }
                let (n, v) = self.child()?;
                match self.mode {
                    Mode::Tree | Mode::Shallow => {
                        self.nodes.push(n);
                        self.values.push(v);
                    }
                    Mode::Value => self.values.push(v),
                    Mode::Check => {}
                }
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.unexpected("',' or ']'")),
                }
            }
        }
        self.depth -= 1;
        let nodes = self.nodes.drain(node_mark..).collect();
        let values = self.values.drain(value_mark..).collect();
        Ok((
            Node {
                span: Span {
                    start,
                    end: self.pos,
                },
                kind: Kind::Array(nodes),
            },
            Value::Array(values),
        ))
    }

    fn object(&mut self) -> Result<(Node, Value), SyntaxError> {
        let start = self.pos;
        let level = self.on_path(start);
        self.enter()?;
        self.pos += 1;
        let (member_mark, pair_mark) = (self.members.len(), self.pairs.len());
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                if self.peek() != Some(b'"') {
                    return Err(self.unexpected("a string key"));
                }
                let key_start = self.pos;
                let (key, key_escaped) = if self.mode == Mode::Check {
                    (String::new(), self.scan_string(None)?)
                } else {
                    self.string()?
                };
                let key_span = Span {
                    start: key_start,
                    end: self.pos,
                };
                self.skip_ws();
                if self.peek() != Some(b':') {
                    return Err(self.unexpected("':'"));
                }
                self.pos += 1;
                self.skip_ws();
                if let Some(level) = level {
                    if self.step_is_key(level, key_span, key_escaped) {
                        // The last of a duplicated key wins: a later one
                        // replaces what an earlier one reached.
                        self.reach(level);
                    }
                }
                let (node, value) = self.child()?;
                if self.mode != Mode::Check {
                    self.pairs.push((key, value));
                }
                if matches!(self.mode, Mode::Tree | Mode::Shallow) {
                    self.members.push(Member {
                        key_span,
                        key_escaped,
                        value: node,
                    });
                }
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.unexpected("',' or '}'")),
                }
            }
        }
        self.depth -= 1;
        let mut map = Map::with_capacity(self.pairs.len() - pair_mark);
        let mut duplicates = false;
        for (key, value) in self.pairs.drain(pair_mark..) {
            // As serde_json: the last value of a duplicated key wins, at the
            // place of its first occurrence.
            duplicates |= map.insert(key, value).is_some();
        }
        let members = self.members.drain(member_mark..).collect();
        Ok((
            Node {
                span: Span {
                    start,
                    end: self.pos,
                },
                kind: Kind::Object {
                    members,
                    duplicates,
                },
            },
            Value::Object(map),
        ))
    }

    fn digits(&mut self) -> usize {
        let s = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - s
    }

    /// Reads a number's text at `pos`, checking its grammar.
    fn number_text(&mut self) -> Result<(), SyntaxError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return Err(self.error("invalid number: leading zero"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("invalid number: expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number: expected a digit after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number: expected a digit in the exponent"));
            }
        }
        Ok(())
    }

    /// The number whose text, checked by [`Parser::number_text`], runs from
    /// `start` to `pos`. (With serde_json's `arbitrary_precision`, which keeps
    /// the text, a number of any size and precision parses.)
    fn number(&self, start: usize) -> Result<Number, SyntaxError> {
        let text = std::str::from_utf8(&self.b[start..self.pos])
            .map_err(|_| self.error_at(start, "invalid number"))?;
        text.parse::<Number>()
            .map_err(|e| self.error_at(start, format!("invalid number: {e}")))
    }

    /// Reads a string at `pos` (a `"`); returns it and whether it had escapes.
    fn string(&mut self) -> Result<(String, bool), SyntaxError> {
        let open = self.pos;
        let mut out = Vec::new();
        let escaped = self.scan_string(Some(&mut out))?;
        let text = String::from_utf8(out).map_err(|_| {
            // Point at the bad byte: offsets in `out` match the input only
            // up to the first escape, so search the input again.
            let at =
                first_invalid_utf8(&self.b[open + 1..self.pos - 1]).map_or(open, |i| open + 1 + i);
            self.error_at(at, "invalid UTF-8 in a string")
        })?;
        Ok((text, escaped))
    }

    /// Reads a string at `pos` (a `"`), appending its unescaped bytes to
    /// `out` if given (the caller then checks them as UTF-8; else this does,
    /// on the input: escapes are ASCII and decode to whole characters, so
    /// one is valid UTF-8 exactly when the other is). Returns whether it
    /// had escapes.
    fn scan_string(&mut self, mut out: Option<&mut Vec<u8>>) -> Result<bool, SyntaxError> {
        let open = self.pos;
        self.pos += 1;
        let mut run = self.pos;
        let mut escaped = false;
        let mut ascii = true;
        let mut scratch = Vec::new();
        loop {
            let (plain, high) = plain_run(&self.b[self.pos..]);
            self.pos += plain;
            ascii &= !high;
            let Some(c) = self.peek() else {
                return Err(self.error_at(open, "unterminated string"));
            };
            match c {
                b'"' => {
                    if let Some(out) = out.as_deref_mut() {
                        out.extend_from_slice(&self.b[run..self.pos]);
                    }
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    escaped = true;
                    let sink = match out.as_deref_mut() {
                        Some(out) => {
                            out.extend_from_slice(&self.b[run..self.pos]);
                            out
                        }
                        None => {
                            scratch.clear();
                            &mut scratch
                        }
                    };
                    self.pos += 1;
                    self.escape(sink)?;
                    run = self.pos;
                }
                0x00..=0x1F => {
                    return Err(self.error(format!(
                        "control character 0x{c:02X} in a string (write it as \\u{c:04X})"
                    )))
                }
                _ => {
                    ascii &= c < 0x80;
                    self.pos += 1;
                }
            }
        }
        if out.is_none() && !ascii {
            if let Some(i) = first_invalid_utf8(&self.b[open + 1..self.pos - 1]) {
                return Err(self.error_at(open + 1 + i, "invalid UTF-8 in a string"));
            }
        }
        Ok(escaped)
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let Some(h) = self.b.get(self.pos..self.pos + 4) else {
            return Err(self.error("unexpected end of a \\u escape"));
        };
        let mut v = 0u32;
        for &c in h {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(self.error("invalid \\u escape: expected 4 hex digits")),
            };
            v = v * 16 + u32::from(d);
        }
        self.pos += 4;
        Ok(v)
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), SyntaxError> {
        let at = self.pos - 1;
        let Some(c) = self.peek() else {
            return Err(self.error_at(at, "unterminated string"));
        };
        self.pos += 1;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by a low one.
                    if self.b.get(self.pos..self.pos + 2) != Some(b"\\u") {
                        return Err(self.error_at(at, "lone leading surrogate in a \\u escape"));
                    }
                    self.pos += 2;
                    let lo = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(self.error_at(at, "lone leading surrogate in a \\u escape"));
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00..0xE000).contains(&hi) {
                    return Err(self.error_at(at, "lone trailing surrogate in a \\u escape"));
                } else {
                    hi
                };
                char::from_u32(code).ok_or_else(|| self.error_at(at, "invalid \\u escape"))?
            }
            _ => return Err(self.error_at(at, "invalid escape in a string")),
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// For a word `w` of eight bytes: non-zero exactly when some byte of `w` is
/// below `k` (`k <= 0x80`). A byte equal to `c` is a zero byte of
/// `w ^ c·0x01…01`, so `below(w ^ c·0x01…01, 1)` finds it.
fn below(w: u64, k: u64) -> u64 {
    w.wrapping_sub(ONES * k) & !w & HIGH
}

/// The length of the run that starts `b` with no byte `stop` accepts,
/// eight bytes at a time while `stops(word)`, which must be non-zero
/// exactly when the word holds such a byte, says the word is clear.
fn run_until(b: &[u8], stops: impl Fn(u64) -> u64, stop: impl Fn(u8) -> bool) -> usize {
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        if stops(u64::from_le_bytes(bytes)) != 0 {
            break;
        }
        i += 8;
    }
    while b.get(i).is_some_and(|&c| !stop(c)) {
        i += 1;
    }
    i
}

/// The length of the run that starts `b` holding no `"`, no `\\` and no
/// control character — the bytes a string scan need not look at one by one
/// — and whether that run holds a byte `>= 0x80`.
fn plain_run(b: &[u8]) -> (usize, bool) {
    let n = run_until(
        b,
        |w| {
            below(w ^ (ONES * u64::from(b'"')), 1)
                | below(w ^ (ONES * u64::from(b'\\')), 1)
                | below(w, 0x20)
        },
        |c| c == b'"' || c == b'\\' || c < 0x20,
    );
    (n, !b[..n].is_ascii())
}

/// The length of the run that starts `b` holding no `"` and no bracket
/// (`[`, `]`, `{`, `}`). A byte with `0x20` set is `{` only if it was `[` or
/// `{`, `}` only if `]` or `}`.
fn quiet_run(b: &[u8]) -> usize {
    run_until(
        b,
        |w| {
            let folded = w | (ONES * 0x20);
            below(w ^ (ONES * u64::from(b'"')), 1)
                | below(folded ^ (ONES * u64::from(b'{')), 1)
                | below(folded ^ (ONES * u64::from(b'}')), 1)
        },
        |c| matches!(c, b'"' | b'[' | b']' | b'{' | b'}'),
    )
}

fn first_invalid_utf8(b: &[u8]) -> Option<usize> {
    std::str::from_utf8(b).err().map(|e| e.valid_up_to())
}

/// True if the string literal at `span` of `bytes` (checked; `escaped` if it
/// holds a `\\` escape) is `text`.
fn string_is(bytes: &[u8], span: Span, escaped: bool, text: &str) -> bool {
    if escaped {
        decode_string(bytes, span).is_some_and(|s| s == text)
    } else {
        bytes[span.start + 1..span.end - 1] == *text.as_bytes()
    }
}

/// Decodes the string literal at `span` of `bytes` (quotes included), which
/// the parser has already checked.
pub(crate) fn decode_string(bytes: &[u8], span: Span) -> Option<String> {
    let mut p = Parser::new(bytes, span.start, Mode::Value);
    p.string().ok().map(|(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every node's span, walked from the tree.
    fn spans(node: &Node, out: &mut Vec<Span>) {
        out.push(node.span);
        match &node.kind {
            Kind::Array(items) => items.iter().for_each(|n| spans(n, out)),
            Kind::Object { members, .. } => members.iter().for_each(|m| spans(&m.value, out)),
            _ => {}
        }
    }

    #[test]
    fn skipping_a_checked_value_ends_where_the_parser_does() {
        for doc in [
            r#"{"a": [10, {"b": "x]}\"[", "c": [1,2e5,-0.5]}, 3], "": {}, "n": null}"#,
            "[1,[2,[3,[]]],\"\\\\\",true,false,{\"k\":{}}]",
            "\u{feff}[ 1 , 2 ,\r\n\t\"é\\u00e9\" ]",
            "17",
            "\"\\\\\"",
        ] {
            let (tree, _) = parse(doc.as_bytes()).unwrap();
            let mut all = Vec::new();
            spans(tree.root.as_ref().unwrap(), &mut all);
            for span in all {
                assert_eq!(
                    value_end(doc.as_bytes(), span.start),
                    span.end,
                    "{doc} at {span:?}"
                );
            }
        }
    }

    #[test]
    fn plain_runs_stop_where_a_byte_by_byte_scan_stops() {
        let naive = |b: &[u8]| {
            let n = b
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .unwrap_or(b.len());
            (n, b[..n].iter().any(|&c| c >= 0x80))
        };
        // Every byte value at every offset of a word, among plain bytes and
        // among high ones; then pseudo-random buffers biased to the edges.
        for fill in [b'a', 0x80, 0xFF, 0x21, 0x7F] {
            for len in 0..20 {
                for at in 0..len {
                    for c in 0..=255u8 {
                        let mut b = vec![fill; len];
                        b[at] = c;
                        assert_eq!(plain_run(&b), naive(&b), "{b:?}");
                    }
                }
            }
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            let len = (x % 40) as usize;
            let b: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    [b'"', b'\\', 0x1F, 0x20, 0x7F, 0x80, b'x', (x >> 32) as u8][(x % 8) as usize]
                })
                .collect();
            assert_eq!(plain_run(&b), naive(&b), "{b:?}");
        }
    }

    #[test]
    fn quiet_runs_stop_at_the_first_quote_or_bracket() {
        let naive = |b: &[u8]| {
            b.iter()
                .position(|c| b"\"[]{}".contains(c))
                .unwrap_or(b.len())
        };
        for fill in [b'a', b' ', 0x80, 0xFF, 0x7F, 0x3B, 0x5C] {
            for len in 0..20 {
                for at in 0..len {
                    for c in 0..=255u8 {
                        let mut b = vec![fill; len];
                        b[at] = c;
                        assert_eq!(quiet_run(&b), naive(&b), "{b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_check_follows_the_steps_that_exist() {
        let doc = br#"{"a": [10, {"b": "x]}", "c": [1]}, 3], "a": [20, {"\u0063": 5}], "z": 1}"#;
        let key = |k: &str| Segment::Key(k.into());
        let at = |steps: &[Segment]| {
            let here = check_and_locate(doc, steps).unwrap().unwrap();
            (
                std::str::from_utf8(&doc[here.start..value_end(doc, here.start)]).unwrap(),
                here.depth,
            )
        };
        // The last of a duplicated key; an escaped key; pointer tokens.
        assert_eq!(at(&[key("a"), Segment::Index(0)]), ("20", 2));
        assert_eq!(
            at(&[key("a"), Segment::Token("1".into()), key("c")]),
            ("5", 3)
        );
        // It stops where a step does not exist, or is not an index >= 0.
        assert_eq!(
            at(&[key("a"), Segment::Index(2), key("x")]),
            (r#"[20, {"\u0063": 5}]"#, 1)
        );
        assert_eq!(at(&[key("a"), Segment::Index(-1)]).1, 1);
        assert_eq!(at(&[key("a"), Segment::Token("-".into())]).1, 1);
        assert_eq!(at(&[key("z"), key("y")]), ("1", 1));
        assert_eq!(at(&[key("q")]).1, 0);
    }

    fn ok(s: &str) -> Value {
        parse(s.as_bytes())
            .map(|(_, v)| v)
            .unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn err(s: &[u8]) -> SyntaxError {
        match parse(s) {
            Ok(_) => panic!("{:?} parsed", String::from_utf8_lossy(s)),
            Err(e) => e,
        }
    }

    #[test]
    fn values_and_spans() {
        let text = "{\"a\" : [1, \"x\\n\", true],\n \"b\":null}";
        let (tree, v) = parse(text.as_bytes()).unwrap();
        assert_eq!(v, json!({"a": [1, "x\n", true], "b": null}));
        let root = tree.root.unwrap();
        assert_eq!((root.span.start, root.span.end), (0, text.len()));
        let Kind::Object {
            members,
            duplicates,
        } = root.kind
        else {
            panic!()
        };
        assert!(!duplicates);
        assert_eq!(
            &text[members[0].key_span.start..members[0].key_span.end],
            "\"a\""
        );
        let a = &members[0].value;
        assert_eq!(&text[a.span.start..a.span.end], "[1, \"x\\n\", true]");
        let Kind::Array(items) = &a.kind else {
            panic!()
        };
        assert!(matches!(items[1].kind, Kind::String { escaped: true }));
        assert_eq!(&text[items[1].span.start..items[1].span.end], "\"x\\n\"");
    }

    #[test]
    fn numbers_of_any_size_keep_their_value() {
        assert_eq!(ok("1e400").to_string(), "1e+400");
        for n in [
            "2.4e-324",
            "-0",
            "1234567890123456789012345678901234567890",
            "0.9999999999999999",
            "99999999999999999999",
        ] {
            assert_eq!(ok(n).to_string(), n);
        }
        // serde_json spells a parsed exponent with a sign.
        assert_eq!(ok("1E2").to_string(), "1e+2");
        for bad in [
            "01", "1.", ".5", "+1", "1e", "1e+", "-", "0x10", "1.e3", "NaN", "Infinity",
        ] {
            err(bad.as_bytes());
        }
    }

    #[test]
    fn empty_means_json_whitespace() {
        for empty in ["", " ", "\n\r\t ", "\u{FEFF}", "\u{FEFF}\n"] {
            let (tree, v) = parse(empty.as_bytes()).unwrap();
            assert!(tree.root.is_none());
            assert_eq!(v, Value::Null);
        }
        let e = err(b"\x0c");
        assert!(e.message.contains("form feed"), "{e}");
        err(b"\x0b1");
        err("\u{a0}1".as_bytes());
    }

    #[test]
    fn bom_is_kept_and_skipped() {
        let (tree, v) = parse("\u{FEFF}{\"a\":1}".as_bytes()).unwrap();
        assert!(tree.bom);
        assert_eq!(v, json!({"a": 1}));
        assert_eq!(tree.root.unwrap().span.start, 3);
        // Only at the start.
        err("[\u{FEFF}1]".as_bytes());
    }

    #[test]
    fn duplicates_last_wins_like_serde_json() {
        let text = r#"{"a":1,"b":2,"a":3}"#;
        let (tree, v) = parse(text.as_bytes()).unwrap();
        let expected: Value = serde_json::from_str(text).unwrap();
        assert_eq!(v, expected);
        assert_eq!(v["a"], json!(3));
        assert!(matches!(
            tree.root.unwrap().kind,
            Kind::Object {
                duplicates: true,
                ..
            }
        ));
    }

    #[test]
    fn depth_limit_is_an_error_not_a_crash() {
        let ok_deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        parse(ok_deep.as_bytes()).unwrap();
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let e = err(too_deep.as_bytes());
        assert!(e.message.contains("nested deeper"), "{e}");
        assert_eq!((e.line, e.column), (1, MAX_DEPTH + 1));
        // Far deeper input fails as fast: the recursion stops at the limit.
        let huge = "[".repeat(1_000_000);
        err(huge.as_bytes());
        let huge = "{\"a\":".repeat(1_000_000);
        err(huge.as_bytes());
    }

    #[test]
    fn errors_have_line_and_column() {
        let e = err(b"{\n  \"a\": 1,\n  \"b\" 2\n}");
        assert_eq!((e.line, e.column), (3, 7), "{e}");
        let e = err("{\"é\": x}".as_bytes());
        assert_eq!((e.line, e.column), (1, 7), "{e}");
        err(b"[1,]");
        err(b"{\"a\":1,}");
        err(b"[1 2]");
        err(b"\"\x01\"");
        err(b"\"\\ud800\"");
        err(b"\"\\udc00\"");
        err(b"\"\\ud800\\u0041\"");
        err(b"\"\xff\"");
        err(b"\"abc");
        err(b"1 2");
        err(b"nul");
        err(b"{1:2}");
    }

    #[test]
    fn strings_decode_like_serde_json() {
        for s in [
            r#""\u00e9\/\"\\\b\f\n\r\t""#,
            r#""\ud83d\ude00 é""#,
            r#""plain""#,
            r#""\u0000""#,
        ] {
            let ours = ok(s);
            let theirs: Value = serde_json::from_str(s).unwrap();
            assert_eq!(ours, theirs, "{s}");
        }
    }
}
