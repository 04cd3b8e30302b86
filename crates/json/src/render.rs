//! Writing a changed document back: the original bytes with only the spans whose values changed rewritten, laid out like their neighbours; or the whole document restyled on request.
//!
//! The rules (docs/design.md, "Lossless documents", has the reasons):
//!
//! * Values are compared, not texts: numbers as exact decimals (`1E2` equals
//!   `100`, and an equal number keeps its spelling), strings after unescaping,
//!   objects as maps (the last of duplicated keys counts). Equal values keep
//!   their bytes; if the whole document is equal, the original bytes come back.
//! * A changed scalar, or a value of another type, is replaced in place.
//! * An object keeps its members in their order. A member whose key is gone
//!   is removed with its separator and the whitespace leading to it, so its
//!   line goes; every occurrence of a removed duplicated key goes. New keys
//!   are added after the last member, each preceded by the same whitespace
//!   as that member (its newline and indentation, or the spaces of a one-line
//!   object) and with the same `:` spacing. Untouched duplicates stay.
//! * An array keeps its common prefix and suffix; between them, elements are
//!   changed in place pairwise, and the rest are inserted (laid out like the
//!   element they precede or follow) or removed with their separators.
//! * A new value of several lines is indented from its line's indentation by
//!   the document's indentation unit (that of the first member or element of
//!   the root, two spaces if there is none) with the document's newline (CRLF
//!   if its first line break is). In a document written on one line, new
//!   values are written on one line too, with its separators.
//! * An emptied object or array is written `{}` / `[]`; an empty one that gets
//!   members is pretty-printed (on one line in a one-line document).
//! * A new document (the file was empty) is pretty-printed with two spaces
//!   and ends with a newline; a byte order mark stays.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashSet;

use serde_json::{Map, Value};

use super::number::{same_value, Spellings};
use super::syntax::{
    decode_string, is_ws, skip_ws, string_end, value_end, Kind, Member, Node, Tree,
};
use super::MAX_DEPTH;

/// How to write a changed document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Style {
    /// Rewrite only what changed; keep every other byte (the default).
    #[default]
    Preserve,
    /// Rewrite the whole document indented with two spaces, ending in a newline.
    Pretty,
    /// Rewrite the whole document on one line, ending in a newline.
    Compact,
}

/// The new document nests arrays and objects deeper than [`MAX_DEPTH`]:
/// nothing is written that would be refused on reading. [`crate::Error::TooDeep`]
/// to callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TooDeep {
    /// The limit, [`MAX_DEPTH`].
    pub limit: usize,
}

impl From<TooDeep> for crate::Error {
    fn from(e: TooDeep) -> crate::Error {
        crate::Error::TooDeep {
            what: "the new document".to_string(),
            limit: e.limit,
        }
    }
}

/// True if `v` nests arrays and objects deeper than `limit` (`[]` is 1 deep).
/// Iterative, so any depth is safe to ask about.
pub fn deeper_than(v: &Value, limit: usize) -> bool {
    let mut stack: Vec<(&Value, usize)> = vec![(v, 0)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(items) => {
                if d + 1 > limit {
                    return true;
                }
                stack.extend(items.iter().map(|x| (x, d + 1)));
            }
            Value::Object(map) => {
                if d + 1 > limit {
                    return true;
                }
                stack.extend(map.values().map(|x| (x, d + 1)));
            }
            _ => {}
        }
    }
    false
}

/// Writes `new`, the changed value of the document `original` parsed as
/// `tree`, in `style`. See the module documentation for what is rewritten.
pub fn render(
    original: &[u8],
    tree: &Tree,
    new: &Value,
    style: Style,
    sp: &Spellings,
) -> Result<Vec<u8>, TooDeep> {
    let mut out = Vec::new();
    Ok(if render_into(original, tree, new, style, sp, &mut out)? {
        out
    } else {
        original.to_vec()
    })
}

/// [`render`], appending to `out` (which may already hold, say, a journal
/// header). Returns `Ok(false)`, with `out` as it was, if the result would
/// be `original` itself: then there is nothing to write. New numbers are
/// spelled as `sp` says; a restyled document's numbers, as they were written
/// in `original` (or, for new ones, in `sp`).
pub fn render_into(
    original: &[u8],
    tree: &Tree,
    new: &Value,
    style: Style,
    sp: &Spellings,
    out: &mut Vec<u8>,
) -> Result<bool, TooDeep> {
    let start = out.len();
    let whole = |out: &mut Vec<u8>, pretty: bool| {
        out.truncate(start);
        if tree.bom {
            out.extend_from_slice(b"\xEF\xBB\xBF");
        }
        let sp = Spellings::of(original).overlaid(sp);
        if pretty {
            write_pretty(out, new, "", "  ", "\n", ": ", &sp);
        } else {
            write_inline(out, new, ",", ":", &sp);
        }
        out.push(b'\n');
        if out[start..] == *original {
            out.truncate(start);
            false
        } else {
            true
        }
    };
    let root = match &tree.root {
        // Not the bytes the tree was parsed from (a caller's mistake): spans
        // would point anywhere, so the whole value is written instead.
        Some(root) if style == Style::Preserve && original.len() == tree.len => root,
        None if style == Style::Preserve && new.is_null() => return Ok(false),
        _ if deeper_than(new, MAX_DEPTH) => return Err(TooDeep { limit: MAX_DEPTH }),
        _ => return Ok(whole(out, style != Style::Compact)),
    };
    let mut ctx = Ctx::new(original, sp);
    ctx.patch(root, new, 0);
    match ctx.finish(out)? {
        Some(written) => Ok(written),
        None => Ok(whole(out, true)),
    }
}

/// Writes the document `original` (checked) in which the value `node`,
/// nested inside `depth` arrays and objects, became `new`, exactly as
/// [`render_into`] would for the whole document changed only there — the
/// same edits, from the same layout rules, which read the document's bytes,
/// not its tree. So an edit of one place needs the tree of that place only.
/// `Ok(None)` if the edits overlap (a bug; [`render_into`] would restyle).
pub fn render_at(
    original: &[u8],
    node: &Node,
    depth: usize,
    new: &Value,
    sp: &Spellings,
    out: &mut Vec<u8>,
) -> Result<Option<bool>, TooDeep> {
    let mut ctx = Ctx::new(original, sp);
    ctx.patch(node, new, depth);
    ctx.finish(out)
}

/// `v` on its own: see [`super::value_text`].
pub fn value_text(v: &Value, pretty: bool, sp: &Spellings) -> String {
    let mut out = Vec::new();
    if pretty {
        write_pretty(&mut out, v, "", "  ", "\n", ": ", sp);
    } else {
        write_inline(&mut out, v, ",", ":", sp);
    }
    // Only JSON text, from strings that were UTF-8, was written.
    String::from_utf8(out).unwrap_or_default()
}

struct Edit {
    start: usize,
    end: usize,
    text: Vec<u8>,
}

struct Ctx<'a> {
    b: &'a [u8],
    /// Where the root value starts, if the document has one.
    root: Option<usize>,
    /// Where the document's text starts (after a byte order mark).
    content: usize,
    nl: &'static str,
    unit: String,
    /// The root value spans more than one line.
    multiline: bool,
    /// Separators (`,` and `:` with their spaces) for new values written on
    /// one line, found on first use.
    seps: OnceCell<(String, String)>,
    edits: Vec<Edit>,
    /// A new value would nest deeper than [`MAX_DEPTH`].
    too_deep: bool,
    /// How new numbers are spelled.
    sp: &'a Spellings,
}

impl<'a> Ctx<'a> {
    /// The layout of the document `b` (checked): its newline, indentation
    /// unit and whether it spans lines, read from its bytes.
    fn new(b: &'a [u8], sp: &'a Spellings) -> Ctx<'a> {
        let content = if b.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
        let nl = match b.iter().position(|&c| c == b'\n') {
            Some(i) if i > 0 && b[i - 1] == b'\r' => "\r\n",
            _ => "\n",
        };
        let mut ctx = Ctx {
            b,
            root: None,
            content,
            nl,
            unit: "  ".to_string(),
            multiline: false,
            seps: OnceCell::new(),
            edits: Vec::new(),
            too_deep: false,
            sp,
        };
        let start = skip_ws(b, content);
        if start == b.len() {
            return ctx;
        }
        ctx.root = Some(start);
        // Only whitespace follows the root value.
        let end = b
            .iter()
            .rposition(|&c| !is_ws(c))
            .map_or(b.len(), |i| i + 1);
        ctx.multiline = b[start..end].contains(&b'\n');
        let first_child = match b[start] {
            b'{' | b'[' => Some(skip_ws(b, start + 1))
                .filter(|&at| !matches!(b.get(at), Some(b'}' | b']') | None)),
            _ => None,
        };
        if let Some(at) = first_child {
            let lead = ctx.lead(at);
            if let Some(i) = lead.rfind('\n') {
                let indent = &lead[i + 1..];
                let base = String::from_utf8_lossy(ctx.line_indent(start)).into_owned();
                if let Some(unit) = indent.strip_prefix(base.as_str()) {
                    if !unit.is_empty() {
                        ctx.unit = unit.to_string();
                    }
                }
            }
        }
        ctx
    }

    /// Appends the document with this context's edits made to `out` and
    /// returns `Some(true)`, or `Some(false)` (and `out` as it was) if there
    /// is nothing to write; `None` if the edits overlap.
    fn finish(mut self, out: &mut Vec<u8>) -> Result<Option<bool>, TooDeep> {
        let original = self.b;
        let start = out.len();
        if self.too_deep {
            return Err(TooDeep { limit: MAX_DEPTH });
        }
        if self.edits.is_empty() {
            return Ok(Some(false));
        }
        let mut edits = std::mem::take(&mut self.edits);
        edits.sort_by_key(|e| (e.start, e.end));
        let extra: usize = edits.iter().map(|e| e.text.len()).sum();
        out.reserve(original.len() + extra);
        let mut cur = 0;
        for e in edits {
            if e.start < cur || e.end < e.start || e.end > original.len() {
                // Overlapping edits would be a bug here; never write a broken
                // document because of one.
                debug_assert!(false, "overlapping edits");
                out.truncate(start);
                return Ok(None);
            }
            out.extend_from_slice(&original[cur..e.start]);
            out.extend_from_slice(&e.text);
            cur = e.end;
        }
        out.extend_from_slice(&original[cur..]);
        // Edits of equal values spelled differently cannot happen (values are
        // compared), but an edit may still give the same bytes back.
        if out[start..] == *original {
            out.truncate(start);
            return Ok(Some(false));
        }
        Ok(Some(true))
    }

    /// The document's first one-line `,` separator and first `:` separator
    /// (`, ` and `: ` in a document of several lines without them, else `,`
    /// and `:`).
    fn seps(&self) -> &(String, String) {
        self.seps.get_or_init(|| {
            let (comma, colon) = match self.root {
                // A document of several lines writes new values over
                // several lines: it needs no one-line comma, and looking for
                // one could walk the whole document.
                Some(root) => first_separators(self.b, root, !self.multiline),
                None => (None, None),
            };
            let (dc, dk) = if self.multiline {
                (", ", ": ")
            } else {
                (",", ":")
            };
            (
                comma.unwrap_or_else(|| dc.to_string()),
                colon.unwrap_or_else(|| dk.to_string()),
            )
        })
    }

    fn comma(&self) -> String {
        self.seps().0.clone()
    }

    fn colon(&self) -> String {
        self.seps().1.clone()
    }

    fn edit(&mut self, start: usize, end: usize, text: Vec<u8>) {
        self.edits.push(Edit { start, end, text });
    }

    /// The whitespace before `pos`, reduced to its last line break and the
    /// indentation after it (or kept as is if it has no line break).
    fn lead(&self, pos: usize) -> String {
        let mut s = pos;
        while s > self.content && is_ws(self.b[s - 1]) {
            s -= 1;
        }
        let ws = &self.b[s..pos];
        let text = match ws.iter().rposition(|&c| c == b'\n') {
            Some(i) => {
                let cr = i > 0 && ws[i - 1] == b'\r';
                let mut t = if cr { b"\r\n".to_vec() } else { b"\n".to_vec() };
                t.extend_from_slice(&ws[i + 1..]);
                t
            }
            None => ws.to_vec(),
        };
        // Whitespace is ASCII.
        String::from_utf8(text).unwrap_or_default()
    }

    /// The spaces and tabs that start the line holding `pos`.
    fn line_indent(&self, pos: usize) -> &'a [u8] {
        let start = self.b[..pos]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(self.content, |i| i + 1)
            .max(self.content);
        let end = self.b[start..pos]
            .iter()
            .position(|&c| c != b' ' && c != b'\t')
            .map_or(pos, |i| start + i);
        &self.b[start..end]
    }

    /// Records that `v` is written inside `enclosing` arrays and objects,
    /// refusing it if that nests too deep.
    fn check_depth(&mut self, v: &Value, enclosing: usize) {
        if deeper_than(v, MAX_DEPTH.saturating_sub(enclosing)) {
            self.too_deep = true;
        }
    }

    /// Changes `node`, inside `depth` arrays and objects, into `v`.
    fn patch(&mut self, node: &Node, v: &Value, depth: usize) {
        let root = depth == 0;
        match (&node.kind, v) {
            (
                Kind::Object {
                    members,
                    duplicates,
                },
                Value::Object(map),
            ) => self.patch_object(node, members, *duplicates, map, depth),
            (Kind::Array(items), Value::Array(values)) => {
                self.patch_array(node, items, values, depth)
            }
            _ => {
                if !node_eq(self.b, node, v) {
                    self.check_depth(v, depth);
                    let text = self.fresh_at(node.span.start, v, root);
                    self.edit(node.span.start, node.span.end, text);
                }
            }
        }
    }

    /// `v` written to stand at `pos`: indented from that line if the
    /// document spans lines (or `v` becomes the whole document), else on one line.
    fn fresh_at(&self, pos: usize, v: &Value, root: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if !(v.is_array() || v.is_object()) {
            write_scalar(&mut out, v, self.sp);
        } else if self.multiline || root {
            let indent = String::from_utf8_lossy(self.line_indent(pos)).into_owned();
            write_pretty(
                &mut out,
                v,
                &indent,
                &self.unit,
                self.nl,
                &self.colon_pretty(),
                self.sp,
            );
        } else {
            write_inline(&mut out, v, &self.comma(), &self.colon(), self.sp);
        }
        out
    }

    fn colon_pretty(&self) -> String {
        if self.multiline {
            self.colon()
        } else {
            ": ".to_string()
        }
    }

    /// A new member or element after a separator `lead` (see [`Ctx::lead`]):
    /// on its own lines if `lead` breaks the line, else on one line.
    fn fresh_after(&self, out: &mut Vec<u8>, lead: &str, colon: &str, v: &Value) {
        match lead.rfind('\n') {
            Some(i) => write_pretty(out, v, &lead[i + 1..], &self.unit, self.nl, colon, self.sp),
            None => write_inline(out, v, &format!(",{lead}"), colon, self.sp),
        }
    }

    /// Writes members or elements into an empty container `node`.
    fn fill(&mut self, node: &Node, items: &[(Option<&str>, &Value)], depth: usize) {
        let root = depth == 0;
        for (_, v) in items {
            self.check_depth(v, depth + 1);
        }
        let mut text = Vec::new();
        if self.multiline || root {
            let indent = String::from_utf8_lossy(self.line_indent(node.span.start)).into_owned();
            let inner = format!("{indent}{}", self.unit);
            let colon = self.colon_pretty();
            for (i, (key, v)) in items.iter().enumerate() {
                if i > 0 {
                    text.push(b',');
                }
                text.extend_from_slice(self.nl.as_bytes());
                text.extend_from_slice(inner.as_bytes());
                if let Some(k) = key {
                    write_key(&mut text, k);
                    text.extend_from_slice(colon.as_bytes());
                }
                write_pretty(&mut text, v, &inner, &self.unit, self.nl, &colon, self.sp);
            }
            text.extend_from_slice(self.nl.as_bytes());
            text.extend_from_slice(indent.as_bytes());
        } else {
            let (comma, colon) = (self.comma(), self.colon());
            for (i, (key, v)) in items.iter().enumerate() {
                if i > 0 {
                    text.extend_from_slice(comma.as_bytes());
                }
                if let Some(k) = key {
                    write_key(&mut text, k);
                    text.extend_from_slice(colon.as_bytes());
                }
                write_inline(&mut text, v, &comma, &colon, self.sp);
            }
        }
        self.edit(node.span.start + 1, node.span.end - 1, text);
    }

    fn patch_object(
        &mut self,
        node: &Node,
        members: &[Member],
        duplicates: bool,
        map: &Map<String, Value>,
        depth: usize,
    ) {
        // Fast path: the same keys in the same order, no duplicates.
        if !duplicates
            && members.len() == map.len()
            && members
                .iter()
                .zip(map.keys())
                .all(|(m, k)| m.key_is(self.b, k))
        {
            for (m, v) in members.iter().zip(map.values()) {
                self.patch(&m.value, v, depth + 1);
            }
            return;
        }
        let b = self.b;
        let index = KeyIndex::new(b, members, duplicates);
        let n = members.len();
        let keep: Vec<bool> = members
            .iter()
            .map(|m| map.contains_key(m.key(b).as_ref()))
            .collect();
        for (i, m) in members.iter().enumerate() {
            if keep[i] && index.is_last(i) {
                if let Some(v) = map.get(m.key(b).as_ref()) {
                    self.patch(&m.value, v, depth + 1);
                }
            }
        }
        let added: Vec<(Option<&str>, &Value)> = map
            .iter()
            .filter(|(k, _)| !index.contains(b, members, k))
            .map(|(k, v)| (Some(k.as_str()), v))
            .collect();
        let Some(last) = (0..n).rev().find(|&i| keep[i]) else {
            if !added.is_empty() {
                self.fill(node, &added, depth);
            } else if n > 0 {
                self.edit(node.span.start + 1, node.span.end - 1, Vec::new());
            }
            return;
        };
        // Runs of removed members.
        let mut i = 0;
        while i < n {
            if keep[i] {
                i += 1;
                continue;
            }
            let s = i;
            while i < n && !keep[i] {
                i += 1;
            }
            if i < n {
                self.edit(
                    members[s].key_span.start,
                    members[i].key_span.start,
                    Vec::new(),
                );
            } else {
                // A run at the end: take the comma before it instead.
                self.edit(
                    members[s - 1].value.span.end,
                    members[n - 1].value.span.end,
                    Vec::new(),
                );
            }
        }
        if !added.is_empty() {
            let m = &members[last];
            let mut lead = self.lead(m.key_span.start);
            let colon =
                String::from_utf8_lossy(&self.b[m.key_span.end..m.value.span.start]).into_owned();
            // The only member, written tight against `{`, gives no comma
            // spacing to copy: follow its colon's (`{"a": 1}` gets `, "k": 2`).
            if last == 0 && lead.is_empty() && colon.ends_with(' ') && !colon.contains('\n') {
                lead = " ".to_string();
            }
            let mut text = Vec::new();
            for (k, v) in &added {
                self.check_depth(v, depth + 1);
                text.push(b',');
                text.extend_from_slice(lead.as_bytes());
                write_key(&mut text, k.unwrap_or_default());
                text.extend_from_slice(colon.as_bytes());
                let inner_colon = if colon.contains('\n') {
                    self.colon()
                } else {
                    colon.clone()
                };
                self.fresh_after(&mut text, &lead, &inner_colon, v);
            }
            self.edit(m.value.span.end, m.value.span.end, text);
        }
    }

    fn patch_array(&mut self, node: &Node, items: &[Node], values: &[Value], depth: usize) {
        let (n, m) = (items.len(), values.len());
        let short = n.min(m);
        let mut p = 0;
        while p < short && node_eq(self.b, &items[p], &values[p]) {
            p += 1;
        }
        let mut s = 0;
        while s < short - p && node_eq(self.b, &items[n - 1 - s], &values[m - 1 - s]) {
            s += 1;
        }
        let (old_mid, new_mid) = (n - s - p, m - s - p);
        let k = old_mid.min(new_mid);
        for i in p..p + k {
            self.patch(&items[i], &values[i], depth + 1);
        }
        let q = p + k;
        if new_mid > k {
            let new: Vec<(Option<&str>, &Value)> =
                values[q..m - s].iter().map(|v| (None, v)).collect();
            for (_, v) in &new {
                self.check_depth(v, depth + 1);
            }
            if n == 0 {
                self.fill(node, &new, depth);
            } else if q < n {
                // Insert before items[q], each followed by its separator.
                let lead = self.lead(items[q].span.start);
                let mut text = Vec::new();
                for (_, v) in &new {
                    self.fresh_after(&mut text, &lead, &self.colon(), v);
                    text.push(b',');
                    text.extend_from_slice(lead.as_bytes());
                }
                self.edit(items[q].span.start, items[q].span.start, text);
            } else {
                let lead = self.lead(items[n - 1].span.start);
                let mut text = Vec::new();
                for (_, v) in &new {
                    text.push(b',');
                    text.extend_from_slice(lead.as_bytes());
                    self.fresh_after(&mut text, &lead, &self.colon(), v);
                }
                self.edit(items[n - 1].span.end, items[n - 1].span.end, text);
            }
        } else if old_mid > k {
            let end = n - s; // items[q..end] go
            if end < n {
                self.edit(items[q].span.start, items[end].span.start, Vec::new());
            } else if q > 0 {
                self.edit(items[q - 1].span.end, items[n - 1].span.end, Vec::new());
            } else {
                self.edit(node.span.start + 1, node.span.end - 1, Vec::new());
            }
        }
    }
}

/// Which members of an object hold its value: the last of each key.
struct KeyIndex<'a> {
    /// For objects with duplicates: is member i the last with its key?
    last: Option<Vec<bool>>,
    /// Keys present, for large objects.
    set: Option<HashSet<Cow<'a, str>>>,
}

impl<'a> KeyIndex<'a> {
    fn new(b: &'a [u8], members: &[Member], duplicates: bool) -> KeyIndex<'a> {
        let last = duplicates.then(|| {
            let mut seen = HashSet::new();
            let mut last = vec![false; members.len()];
            for (i, m) in members.iter().enumerate().rev() {
                last[i] = seen.insert(m.key(b));
            }
            last
        });
        let set = (members.len() > 16).then(|| members.iter().map(|m| m.key(b)).collect());
        KeyIndex { last, set }
    }

    fn is_last(&self, i: usize) -> bool {
        self.last.as_ref().is_none_or(|l| l[i])
    }

    fn contains(&self, b: &[u8], members: &[Member], key: &str) -> bool {
        match &self.set {
            Some(set) => set.contains(key),
            None => members.iter().any(|m| m.key_is(b, key)),
        }
    }
}

/// The first `:` separator and the first `,` separator on one line of the
/// document `b` (checked) whose root value starts at `root`: containers are
/// visited in the order they open (depth first), each offering the `:` of
/// its first member and the `,` between its first two children; the search
/// stops when both are found. It reads bytes, not a tree, so that an edit of
/// one place ([`render_at`]) lays out new values as an edit of the whole does.
fn first_separators(b: &[u8], root: usize, want_comma: bool) -> (Option<String>, Option<String>) {
    let mut colon = None;
    let mut comma = (!want_comma).then(String::new);
    // Positions past the end (only on bytes that were not checked) read as empty.
    let one_line = |s: usize, e: usize| {
        let t = b.get(s..e).unwrap_or_default();
        (!t.contains(&b'\n')).then(|| String::from_utf8_lossy(t).into_owned())
    };
    let mut i = root;
    while i < b.len() && !(colon.is_some() && comma.is_some()) {
        match b[i] {
            b'"' => {
                i = string_end(b, i);
                continue;
            }
            open @ (b'{' | b'[') => {
                let first = skip_ws(b, i + 1);
                if !matches!(b.get(first), Some(b'}' | b']') | None) {
                    let first_value = if open == b'{' {
                        let key_end = string_end(b, first);
                        let value = skip_ws(b, skip_ws(b, key_end) + 1);
                        if colon.is_none() {
                            colon = one_line(key_end, value);
                        }
                        value
                    } else {
                        first
                    };
                    if comma.is_none() {
                        let end = value_end(b, first_value);
                        let sep = skip_ws(b, end);
                        if b.get(sep) == Some(&b',') {
                            comma = one_line(end, skip_ws(b, sep + 1));
                        }
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    (comma.filter(|_| want_comma), colon)
}

/// True if the tree `node` of `b` has the value `v` (numbers compared exactly
/// as decimals, objects as maps where the last duplicate counts).
pub(crate) fn node_eq(b: &[u8], node: &Node, v: &Value) -> bool {
    match (&node.kind, v) {
        (Kind::Null, Value::Null) => true,
        (Kind::Bool(x), Value::Bool(y)) => x == y,
        (Kind::Number, Value::Number(n)) => {
            let raw = &b[node.span.start..node.span.end];
            raw == n.as_str().as_bytes()
                || same_value(std::str::from_utf8(raw).unwrap_or(""), n.as_str())
        }
        (Kind::String { escaped }, Value::String(s)) => {
            if *escaped {
                decode_string(b, node.span).is_some_and(|d| d == *s)
            } else {
                &b[node.span.start + 1..node.span.end - 1] == s.as_bytes()
            }
        }
        (Kind::Array(items), Value::Array(values)) => {
            items.len() == values.len() && items.iter().zip(values).all(|(n, v)| node_eq(b, n, v))
        }
        (
            Kind::Object {
                members,
                duplicates,
            },
            Value::Object(map),
        ) => {
            if !duplicates && members.len() == map.len() {
                if members.iter().zip(map.keys()).all(|(m, k)| m.key_is(b, k)) {
                    return members
                        .iter()
                        .zip(map.values())
                        .all(|(m, v)| node_eq(b, &m.value, v));
                }
                return members.iter().all(|m| {
                    map.get(m.key(b).as_ref())
                        .is_some_and(|v| node_eq(b, &m.value, v))
                });
            }
            let index = KeyIndex::new(b, members, *duplicates);
            let distinct = (0..members.len()).filter(|&i| index.is_last(i)).count();
            distinct == map.len()
                && members.iter().enumerate().all(|(i, m)| {
                    !index.is_last(i)
                        || map
                            .get(m.key(b).as_ref())
                            .is_some_and(|v| node_eq(b, &m.value, v))
                })
        }
        _ => false,
    }
}

fn write_key(out: &mut Vec<u8>, k: &str) {
    // Writing to a Vec cannot fail, and a string always serializes.
    let _ = serde_json::to_writer(&mut *out, k);
}

fn write_scalar(out: &mut Vec<u8>, v: &Value, sp: &Spellings) {
    match v {
        Value::Number(n) => out.extend_from_slice(sp.spell(&n.to_string()).as_bytes()),
        // Writing to a Vec cannot fail, and a scalar always serializes.
        _ => {
            let _ = serde_json::to_writer(&mut *out, v);
        }
    }
}

/// `v` on one line, with the given separators.
fn write_inline(out: &mut Vec<u8>, v: &Value, comma: &str, colon: &str, sp: &Spellings) {
    match v {
        Value::Array(items) => {
            out.push(b'[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(comma.as_bytes());
                }
                write_inline(out, x, comma, colon, sp);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, x)) in map.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(comma.as_bytes());
                }
                write_key(out, k);
                out.extend_from_slice(colon.as_bytes());
                write_inline(out, x, comma, colon, sp);
            }
            out.push(b'}');
        }
        _ => write_scalar(out, v, sp),
    }
}

/// `v` over several lines, its first line already indented by `indent`.
#[allow(clippy::too_many_arguments)]
fn write_pretty(
    out: &mut Vec<u8>,
    v: &Value,
    indent: &str,
    unit: &str,
    nl: &str,
    colon: &str,
    sp: &Spellings,
) {
    let inner = format!("{indent}{unit}");
    match v {
        Value::Array(items) if !items.is_empty() => {
            out.push(b'[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(nl.as_bytes());
                out.extend_from_slice(inner.as_bytes());
                write_pretty(out, x, &inner, unit, nl, colon, sp);
            }
            out.extend_from_slice(nl.as_bytes());
            out.extend_from_slice(indent.as_bytes());
            out.push(b']');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push(b'{');
            for (i, (k, x)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(nl.as_bytes());
                out.extend_from_slice(inner.as_bytes());
                write_key(out, k);
                out.extend_from_slice(colon.as_bytes());
                write_pretty(out, x, &inner, unit, nl, colon, sp);
            }
            out.extend_from_slice(nl.as_bytes());
            out.extend_from_slice(indent.as_bytes());
            out.push(b'}');
        }
        Value::Array(_) => out.extend_from_slice(b"[]"),
        Value::Object(_) => out.extend_from_slice(b"{}"),
        _ => write_scalar(out, v, sp),
    }
}
