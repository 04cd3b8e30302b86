//! JSON Patch (RFC 6902) and Merge Patch (RFC 7396): the RFCs' own examples, lossless application through the syntax tree, and a property test against the `json-patch` crate as the oracle.

use jlock_json::patch::{apply_merge_patch, apply_patch};
use jlock_json::{parse_value, Error, Spellings, Style, SyntaxTree};
use proptest::prelude::*;
use serde_json::{json, Value};

fn v(text: &str) -> Value {
    parse_value(text.as_bytes()).unwrap()
}

/// RFC 6902, Appendix A: every example, with its result or its error.
#[test]
fn rfc_6902_appendix_a() {
    let ok = [
        // A.1 … A.8, A.10, A.11, A.14, A.16
        (
            r#"{"foo":"bar"}"#,
            r#"[{"op":"add","path":"/baz","value":"qux"}]"#,
            r#"{"baz":"qux","foo":"bar"}"#,
        ),
        (
            r#"{"foo":["bar","baz"]}"#,
            r#"[{"op":"add","path":"/foo/1","value":"qux"}]"#,
            r#"{"foo":["bar","qux","baz"]}"#,
        ),
        (
            r#"{"baz":"qux","foo":"bar"}"#,
            r#"[{"op":"remove","path":"/baz"}]"#,
            r#"{"foo":"bar"}"#,
        ),
        (
            r#"{"foo":["bar","qux","baz"]}"#,
            r#"[{"op":"remove","path":"/foo/1"}]"#,
            r#"{"foo":["bar","baz"]}"#,
        ),
        (
            r#"{"baz":"qux","foo":"bar"}"#,
            r#"[{"op":"replace","path":"/baz","value":"boo"}]"#,
            r#"{"baz":"boo","foo":"bar"}"#,
        ),
        (
            r#"{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}"#,
            r#"[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]"#,
            r#"{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}"#,
        ),
        (
            r#"{"foo":["all","grass","cows","eat"]}"#,
            r#"[{"op":"move","from":"/foo/1","path":"/foo/3"}]"#,
            r#"{"foo":["all","cows","eat","grass"]}"#,
        ),
        (
            r#"{"baz":"qux","foo":["a",2,"c"]}"#,
            r#"[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]"#,
            r#"{"baz":"qux","foo":["a",2,"c"]}"#,
        ),
        (
            r#"{"foo":"bar"}"#,
            r#"[{"op":"add","path":"/child","value":{"grandchild":{}}}]"#,
            r#"{"foo":"bar","child":{"grandchild":{}}}"#,
        ),
        (
            r#"{"foo":"bar"}"#,
            r#"[{"op":"add","path":"/baz","value":"qux","xyz":123}]"#,
            r#"{"foo":"bar","baz":"qux"}"#,
        ),
        (
            r#"{"/":9,"~1":10}"#,
            r#"[{"op":"test","path":"/~01","value":10}]"#,
            r#"{"/":9,"~1":10}"#,
        ),
        (
            r#"{"foo":["bar"]}"#,
            r#"[{"op":"add","path":"/foo/-","value":["abc","def"]}]"#,
            r#"{"foo":["bar",["abc","def"]]}"#,
        ),
    ];
    for (doc, patch, want) in ok {
        let mut d = v(doc);
        apply_patch(&mut d, &v(patch)).unwrap_or_else(|e| panic!("{patch}: {e}"));
        assert_eq!(d, v(want), "{patch}");
    }
    type Is = fn(&Error) -> bool;
    let failing: [(&str, &str, Is); 4] = [
        // A.9: a test that fails.
        (
            r#"{"baz":"qux"}"#,
            r#"[{"op":"test","path":"/baz","value":"bar"}]"#,
            |e| matches!(e, Error::TestFailed { index: 0, .. }),
        ),
        // A.12: adding to a nonexistent target.
        (
            r#"{"foo":"bar"}"#,
            r#"[{"op":"add","path":"/baz/bat","value":"qux"}]"#,
            |e| {
                matches!(
                    e,
                    Error::PatchFailed {
                        index: 0,
                        op: "add",
                        ..
                    }
                )
            },
        ),
        // A.13: an invalid patch (two "op"s; the last one counts, as for every
        // duplicate key, and removes what is not there).
        (
            r#"{"foo":"bar"}"#,
            r#"[{"op":"add","path":"/baz","value":"qux","op":"remove"}]"#,
            |e| {
                matches!(
                    e,
                    Error::PatchFailed {
                        index: 0,
                        op: "remove",
                        ..
                    }
                )
            },
        ),
        // A.15: strings and numbers differ.
        (
            r#"{"/":9,"~1":10}"#,
            r#"[{"op":"test","path":"/~01","value":"10"}]"#,
            |e| matches!(e, Error::TestFailed { .. }),
        ),
    ];
    for (doc, patch, is) in failing {
        let mut d = v(doc);
        let err = apply_patch(&mut d, &v(patch)).unwrap_err();
        assert!(is(&err), "{patch}: {err}");
        assert_eq!(d, v(doc), "{patch} changed the document");
    }
}

/// RFC 7396, Appendix A: every example.
#[test]
fn rfc_7396_appendix_a() {
    let cases = [
        (r#"{"a":"b"}"#, r#"{"a":"c"}"#, r#"{"a":"c"}"#),
        (r#"{"a":"b"}"#, r#"{"b":"c"}"#, r#"{"a":"b","b":"c"}"#),
        (r#"{"a":"b"}"#, r#"{"a":null}"#, r#"{}"#),
        (r#"{"a":"b","b":"c"}"#, r#"{"a":null}"#, r#"{"b":"c"}"#),
        (r#"{"a":["b"]}"#, r#"{"a":"c"}"#, r#"{"a":"c"}"#),
        (r#"{"a":"c"}"#, r#"{"a":["b"]}"#, r#"{"a":["b"]}"#),
        (
            r#"{"a":{"b":"c"}}"#,
            r#"{"a":{"b":"d","c":null}}"#,
            r#"{"a":{"b":"d"}}"#,
        ),
        (r#"{"a":[{"b":"c"}]}"#, r#"{"a":[1]}"#, r#"{"a":[1]}"#),
        (r#"["a","b"]"#, r#"["c","d"]"#, r#"["c","d"]"#),
        (r#"{"a":"b"}"#, r#"["c"]"#, r#"["c"]"#),
        (r#"{"a":"foo"}"#, r#"null"#, r#"null"#),
        (r#"{"a":"foo"}"#, r#""bar""#, r#""bar""#),
        (r#"{"e":null}"#, r#"{"a":1}"#, r#"{"e":null,"a":1}"#),
        (r#"[1,2]"#, r#"{"a":"b","c":null}"#, r#"{"a":"b"}"#),
        (
            r#"{}"#,
            r#"{"a":{"bb":{"ccc":null}}}"#,
            r#"{"a":{"bb":{}}}"#,
        ),
    ];
    for (doc, patch, want) in cases {
        let mut d = v(doc);
        apply_merge_patch(&mut d, &v(patch));
        assert_eq!(d, v(want), "{doc} + {patch}");
    }
}

/// A patch rewrites only what it changes: the rest of the file, its layout
/// and its number spellings stay, and new numbers keep the patch's spelling.
#[test]
fn a_patch_is_applied_losslessly() {
    let old = b"{\n    \"price\": 1.50,\n    \"id\": 12345678901234567890123,\n    \"tags\": [\"a\", \"b\"],\n    \"e\": 1E2\n}\n";
    let patch = br#"[{"op": "replace", "path": "/price", "value": 2.50},
                     {"op": "move", "from": "/tags/0", "path": "/tags/-"},
                     {"op": "add", "path": "/n", "value": 1E3}]"#;
    let (tree, mut doc) = SyntaxTree::parse(old).unwrap();
    apply_patch(&mut doc, &parse_value(patch).unwrap()).unwrap();
    let out = tree
        .render_spelled(old, &doc, Style::Preserve, &Spellings::of(patch))
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\n    \"price\": 2.50,\n    \"id\": 12345678901234567890123,\n    \"tags\": [\"b\", \"a\"],\n    \"e\": 1E2,\n    \"n\": 1E3\n}\n"
    );
}

// ---------------------------------------------------------------------------
// Property test: json-patch (https://crates.io/crates/json-patch) as the oracle.

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..30).prop_map(|n| json!(n)),
        "[a-c~/]{0,2}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(("[a-c~/]{0,2}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Every pointer into `v`, the root first.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
            out.push(format!("{at}/-"));
            out.push(format!("{at}/{}", items.len() + 1));
        }
        Value::Object(map) => {
            for (k, x) in map {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
            out.push(format!("{at}/new"));
        }
        _ => out.push(format!("{at}/x")),
    }
}

fn op() -> impl Strategy<Value = (u8, prop::sample::Index, prop::sample::Index, Value)> {
    (
        0u8..6,
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        value(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn json_patch_agrees_with_the_json_patch_crate(doc in value(), ops in proptest::collection::vec(op(), 1..5)) {
        let mut spots = Vec::new();
        pointers(&doc, String::new(), &mut spots);
        let patch: Vec<Value> = ops.into_iter().map(|(kind, a, b, value)| {
            let (path, from) = (a.get(&spots).clone(), b.get(&spots).clone());
            match kind {
                0 => json!({"op": "add", "path": path, "value": value}),
                1 => json!({"op": "remove", "path": path}),
                2 => json!({"op": "replace", "path": path, "value": value}),
                3 => json!({"op": "move", "from": from, "path": path}),
                4 => json!({"op": "copy", "from": from, "path": path}),
                _ => json!({"op": "test", "path": path, "value": value}),
            }
        }).collect();
        let patch = Value::Array(patch);
        let mut ours = doc.clone();
        let ours_result = apply_patch(&mut ours, &patch);
        // The oracle, one operation at a time (its own all-or-nothing undo of
        // several operations panicked in json-patch 5.0.0 on some patches):
        // on the first failure, the document as it was.
        let theirs_patch: json_patch::Patch = serde_json::from_value(patch.clone()).unwrap();
        let mut theirs = doc.clone();
        let theirs_result = theirs_patch.0.iter().try_for_each(|op| {
            json_patch::patch(&mut theirs, &json_patch::Patch(vec![op.clone()]))
        });
        if theirs_result.is_err() {
            theirs = doc.clone();
        }
        prop_assert_eq!(ours_result.is_ok(), theirs_result.is_ok(),
            "{} on {}: ours {:?}, theirs {:?}", patch, doc, ours_result, theirs_result);
        // Both leave the document as it was on an error, or agree on the result.
        prop_assert_eq!(&ours, &theirs, "{} on {}", patch, doc);
    }

    #[test]
    fn merge_patch_agrees_with_the_json_patch_crate(doc in value(), patch in value()) {
        let mut ours = doc.clone();
        apply_merge_patch(&mut ours, &patch);
        let mut theirs = doc.clone();
        json_patch::merge(&mut theirs, &patch);
        prop_assert_eq!(&ours, &theirs, "{} + {}", doc, patch);
    }
}
