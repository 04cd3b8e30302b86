//! JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7396), applied to a document's value: every operation or none.
//!
//! Both change a [`Value`]; rendered back with [`crate::SyntaxTree::render`],
//! the edit is lossless like any other: bytes outside the changed values
//! stay as they were.
//!
//! ```
//! use jlock_json::patch::{apply_merge_patch, apply_patch};
//! use serde_json::json;
//!
//! let mut doc = json!({"a": 1, "list": [1, 2]});
//! apply_patch(&mut doc, &json!([
//!     {"op": "test", "path": "/a", "value": 1},
//!     {"op": "add", "path": "/list/-", "value": 3},
//!     {"op": "move", "from": "/a", "path": "/b"},
//! ]))?;
//! assert_eq!(doc, json!({"list": [1, 2, 3], "b": 1}));
//! apply_merge_patch(&mut doc, &json!({"b": null, "c": {"d": true}}));
//! assert_eq!(doc, json!({"list": [1, 2, 3], "c": {"d": true}}));
//! # Ok::<(), jlock_json::Error>(())
//! ```

use serde_json::{Map, Value};

use crate::number::same_value;
use crate::path::pointer_index;
use crate::{deeper_than, Error, JsonPath, Result, Segment, MAX_DEPTH};

/// How many values a patch may add by `copy`, beyond a small multiple of
/// the document and the patch: a patch of `copy` operations that each copy
/// the whole document would otherwise double it each time.
const COPY_ALLOWANCE: usize = 1 << 20;

/// Applies the RFC 6902 JSON Patch `patch` (an array of operations: `add`,
/// `remove`, `replace`, `move`, `copy`, `test`) to `doc`, in order: all of
/// them, or — if one fails — none (`doc` is left as it was).
///
/// A patch that is not one (not an array, an unknown `op`, a missing
/// member, a `path` that is not a JSON Pointer) is [`Error::BadPatch`]; an
/// operation that cannot apply (a path that does not exist, an index past
/// the end) is [`Error::PatchFailed`]; a `test` whose value differs is
/// [`Error::TestFailed`]. Each names the operation by its index in the patch.
/// Numbers compare by value (`1` tests equal to `1.0`), objects without
/// regard to member order.
pub fn apply_patch(doc: &mut Value, patch: &Value) -> Result<()> {
    let Value::Array(ops) = patch else {
        return Err(Error::BadPatch {
            index: None,
            message: "a JSON Patch is an array of operations".into(),
        });
    };
    let mut work = doc.clone();
    let mut allowance = 4 * (size(doc) + size(patch)) + COPY_ALLOWANCE;
    for (index, op) in ops.iter().enumerate() {
        apply_op(&mut work, index, op, &mut allowance)?;
    }
    *doc = work;
    Ok(())
}

/// Applies the RFC 7396 JSON Merge Patch `patch` to `doc`: an object's
/// members are merged into the document's (a `null` member removes it),
/// recursively; anything else replaces the document. It cannot fail.
pub fn apply_merge_patch(doc: &mut Value, patch: &Value) {
    let Value::Object(members) = patch else {
        *doc = patch.clone();
        return;
    };
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    if let Value::Object(target) = doc {
        for (key, value) in members {
            if value.is_null() {
                target.shift_remove(key);
            } else {
                apply_merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// The number of values in `v` (containers and leaves), without recursion.
fn size(v: &Value) -> usize {
    let mut n = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        n += 1;
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    n
}

/// One operation's name, as the error messages say it.
fn op_name(op: &str) -> Option<&'static str> {
    ["add", "remove", "replace", "move", "copy", "test"]
        .into_iter()
        .find(|known| *known == op)
}

fn apply_op(doc: &mut Value, index: usize, op: &Value, allowance: &mut usize) -> Result<()> {
    let bad = |message: String| Error::BadPatch {
        index: Some(index),
        message,
    };
    let Value::Object(fields) = op else {
        return Err(bad("an operation is an object".into()));
    };
    let name = match fields.get("op") {
        Some(Value::String(s)) => op_name(s).ok_or_else(|| bad(format!("unknown op {s:?}")))?,
        Some(_) => return Err(bad("\"op\" must be a string".into())),
        None => return Err(bad("an operation needs \"op\"".into())),
    };
    let pointer = |member: &str| -> Result<(String, Vec<String>)> {
        match fields.get(member) {
            Some(Value::String(s)) => Ok((s.clone(), tokens(s).map_err(&bad)?)),
            Some(_) => Err(bad(format!("{name}: \"{member}\" must be a string"))),
            None => Err(bad(format!("{name} needs \"{member}\""))),
        }
    };
    let value = || {
        fields
            .get("value")
            .ok_or_else(|| bad(format!("{name} needs \"value\"")))
    };
    let (path, at) = pointer("path")?;
    let failed = |message: String| Error::PatchFailed {
        index,
        op: name,
        path: path.clone(),
        message,
    };
    // The document never nests deeper than MAX_DEPTH, so a patch cannot
    // build one that is too deep to render or even to drop (recursion):
    // every value placed is checked against where it lands.
    let fits = |placed: &Value| -> Result<()> {
        match deeper_than(placed, MAX_DEPTH.saturating_sub(at.len())) {
            true => Err(Error::TooDeep {
                what: format!("patch operation {index} ({name} at {path:?})"),
                limit: MAX_DEPTH,
            }),
            false => Ok(()),
        }
    };
    match name {
        "add" => {
            let new = value()?;
            fits(new)?;
            add(doc, &at, new.clone()).map_err(failed)
        }
        "remove" => remove(doc, &at).map(drop).map_err(failed),
        "replace" => {
            let new = value()?;
            fits(new)?;
            let new = new.clone();
            match get_mut(doc, &at) {
                Some(slot) => {
                    *slot = new;
                    Ok(())
                }
                None => Err(failed("there is no value there to replace".into())),
            }
        }
        "move" => {
            let (from, from_at) = pointer("from")?;
            if at.len() > from_at.len() && at.starts_with(&from_at) {
                return Err(failed(format!("cannot move {from:?} into its own child")));
            }
            if from_at.is_empty() {
                return Err(failed("the whole document cannot be moved".into()));
            }
            if at == from_at {
                return get(doc, &from_at)
                    .map(drop)
                    .ok_or_else(|| failed(format!("from {from:?}: there is no value there")));
            }
            if let Some(moving) = get(doc, &from_at) {
                fits(moving)?;
            }
            let moved = remove(doc, &from_at).map_err(|m| failed(format!("from {from:?}: {m}")))?;
            add(doc, &at, moved).map_err(failed)
        }
        "copy" => {
            let (from, from_at) = pointer("from")?;
            let copied = get(doc, &from_at)
                .ok_or_else(|| failed(format!("from {from:?}: there is no value there")))?
                .clone();
            fits(&copied)?;
            let n = size(&copied);
            if n > *allowance {
                return Err(bad(
                    "the patch copies more than a patch may add to a document".into(),
                ));
            }
            *allowance -= n;
            add(doc, &at, copied).map_err(failed)
        }
        _ => {
            let expected = value()?;
            match get(doc, &at) {
                Some(found) if equal(found, expected) => Ok(()),
                found => Err(Error::TestFailed {
                    index,
                    path: path.clone(),
                    found: found.map(crate::path::type_name),
                }),
            }
        }
    }
}

/// The reference tokens of an RFC 6901 JSON Pointer: `""` is the whole
/// document; anything else starts with `/`.
fn tokens(pointer: &str) -> std::result::Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    if !pointer.starts_with('/') {
        return Err(format!(
            "{pointer:?} is not a JSON Pointer (\"\" or starting with /)"
        ));
    }
    let path = JsonPath::parse(pointer).map_err(|e| e.to_string())?;
    Ok(path
        .segments()
        .iter()
        .map(|s| match s {
            Segment::Token(t) | Segment::Key(t) => t.clone(),
            Segment::Index(i) => i.to_string(),
        })
        .collect())
}

/// An array index token (RFC 6901: `0` or digits without a leading zero).
fn array_index(token: &str, len: usize) -> Option<usize> {
    pointer_index(token).filter(|i| *i < len)
}

fn get<'v>(doc: &'v Value, at: &[String]) -> Option<&'v Value> {
    at.iter().try_fold(doc, |cur, t| match cur {
        Value::Object(map) => map.get(t),
        Value::Array(items) => array_index(t, items.len()).map(|i| &items[i]),
        _ => None,
    })
}

fn get_mut<'v>(doc: &'v mut Value, at: &[String]) -> Option<&'v mut Value> {
    at.iter().try_fold(doc, |cur, t| match cur {
        Value::Object(map) => map.get_mut(t),
        Value::Array(items) => {
            let len = items.len();
            array_index(t, len).map(move |i| &mut items[i])
        }
        _ => None,
    })
}

/// RFC 6902 `add`: the whole document, a member of an object (added or
/// replaced), or an element inserted into an array (`-`: appended).
fn add(doc: &mut Value, at: &[String], value: Value) -> std::result::Result<(), String> {
    let Some((last, parent)) = at.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent) {
        Some(Value::Object(map)) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            let at = match last.as_str() {
                "-" => items.len(),
                t => match pointer_index(t) {
                    Some(i) if i <= items.len() => i,
                    Some(i) => {
                        return Err(format!(
                            "index {i} is past the end of an array of length {}",
                            items.len()
                        ))
                    }
                    None => return Err(format!("{t:?} is not an array index")),
                },
            };
            items.insert(at, value);
            Ok(())
        }
        Some(other) => Err(format!(
            "its parent is {}, not an object or array",
            crate::path::type_name(other)
        )),
        None => Err("its parent does not exist".into()),
    }
}

/// RFC 6902 `remove`: the value there, which must exist.
fn remove(doc: &mut Value, at: &[String]) -> std::result::Result<Value, String> {
    let Some((last, parent)) = at.split_last() else {
        return Err("the whole document cannot be removed".into());
    };
    let gone = match get_mut(doc, parent) {
        Some(Value::Object(map)) => map.shift_remove(last),
        Some(Value::Array(items)) => array_index(last, items.len()).map(|i| items.remove(i)),
        _ => None,
    };
    gone.ok_or_else(|| "there is no value there".into())
}

/// RFC 6902 equality: numbers by value, objects regardless of member order.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => same_value(&x.to_string(), &y.to_string()),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, a)| y.get(k).is_some_and(|b| equal(a, b)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_operation_leaves_the_document_as_it_was() {
        let mut doc = json!({"a": 1});
        let err = apply_patch(
            &mut doc,
            &json!([{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/x"}]),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::PatchFailed {
                    index: 1,
                    op: "remove",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(doc, json!({"a": 1}));
    }

    #[test]
    fn copies_that_would_double_the_document_without_end_are_refused() {
        let mut doc = json!({"a": [1, 2, 3]});
        let grow = json!({"op": "copy", "from": "", "path": "/a/-"});
        let patch = Value::Array(vec![grow; 64]);
        let err = apply_patch(&mut doc, &patch).unwrap_err();
        assert!(matches!(err, Error::BadPatch { .. }), "{err}");
        assert_eq!(doc, json!({"a": [1, 2, 3]}));
    }

    #[test]
    fn a_patch_cannot_nest_the_document_deeper_than_max_depth() {
        // Each round nests the document one level deeper with no copy: an
        // adversarial pass crashed the renderer (stack overflow) this way.
        let mut doc = json!({"c": {}});
        let round = [
            json!({"op": "add", "path": "/n", "value": {}}),
            json!({"op": "move", "from": "/c", "path": "/n/c"}),
            json!({"op": "move", "from": "/n", "path": "/c"}),
        ];
        let patch = Value::Array(round.iter().cycle().take(3 * 20_000).cloned().collect());
        let err = apply_patch(&mut doc, &patch).unwrap_err();
        assert!(
            matches!(err, Error::TooDeep { .. }) && err.is_usage(),
            "{err}"
        );
        assert_eq!(doc, json!({"c": {}}));
        // Up to the limit is fine.
        let mut doc = json!({"c": {}});
        let patch = Value::Array(
            round
                .iter()
                .cycle()
                .take(3 * (MAX_DEPTH - 2))
                .cloned()
                .collect(),
        );
        apply_patch(&mut doc, &patch).unwrap();
        assert!(!deeper_than(&doc, MAX_DEPTH));
    }

    #[test]
    fn malformed_patches_are_usage_errors() {
        for bad in [
            json!({"op": "add"}),
            json!([{"path": "/a"}]),
            json!([{"op": "frob", "path": "/a"}]),
            json!([{"op": "add", "path": "a", "value": 1}]),
            json!([{"op": "add", "path": "/a"}]),
            json!([{"op": "move", "path": "/a"}]),
            json!([{"op": "add", "path": "/~2", "value": 1}]),
        ] {
            let err = apply_patch(&mut json!({}), &bad).unwrap_err();
            assert!(err.is_usage(), "{bad}: {err}");
        }
    }
}
