//! Lossless documents: examples of what an edit rewrites, and property tests on documents in random layouts (serde_json as the oracle).

mod gen;

use gen::*;
use jlock_json::{check, parse_value, Error, Spellings, Style, SyntaxTree, MAX_DEPTH};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Parses `old`, lets `f` change the value, renders it back.
fn edit(old: &str, f: impl FnOnce(&mut Value)) -> String {
    let (doc, mut v) = SyntaxTree::parse(old.as_bytes()).unwrap();
    f(&mut v);
    let out = doc.render(old.as_bytes(), &v, Style::Preserve).unwrap();
    let out = String::from_utf8(out).unwrap();
    // Whatever we write, we read back as the value we were given.
    let back = parse_value(out.as_bytes()).unwrap();
    assert!(value_eq(&back, &v), "{out}\nreads back as {back}, not {v}");
    out
}

#[test]
fn numbers_keep_their_spelling() {
    let old = "{\"a\": 0.9999999999999999, \"b\": 12345678901234567890123, \"c\": 1E2, \"d\": -0,\n \"e\": 1e400, \"f\": 2.4e-324, \"g\": [99999999999999999999, 100000000000000000001]}";
    let out = edit(old, |v| v["x"] = json!(1));
    // Laid out like the last member: on its line, after ", ".
    assert_eq!(out, old.replace("]}", "], \"x\": 1}"));
    // An equal number in the new value keeps the old spelling.
    let out = edit(old, |v| v["c"] = json!(100));
    assert_eq!(out, old);
    let out = edit(old, |v| v["c"] = json!(101));
    assert_eq!(out, old.replace("1E2", "101"));
}

#[test]
fn layouts_stay_byte_for_byte() {
    let cases = [
        "{\n\t\"a\": 1,\n\t\"b\": [1, 2, 3]\n}",
        "{\n    \"a\": 1,\n    \"b\": {\n        \"c\": true\n    }\n}\n",
        "{\r\n  \"a\": 1,\r\n  \"b\": \"\\u00e9\\/\"\r\n}\r\n",
        "{\"a\":1,\"b\":[1,2]}",
        "\u{FEFF}{ \"a\" : 1 , \"b\" : 2 }\n",
    ];
    for old in cases {
        // set + del gives the original bytes back.
        let mid = edit(old, |v| v["new"] = json!({"k": [1, "x"]}));
        assert_ne!(mid, old);
        let (doc, mut v) = SyntaxTree::parse(mid.as_bytes()).unwrap();
        v.as_object_mut().unwrap().shift_remove("new");
        let back = doc.render(mid.as_bytes(), &v, Style::Preserve).unwrap();
        assert_eq!(String::from_utf8(back).unwrap(), old, "via {mid:?}");
        // An equal value gives the original bytes.
        assert_eq!(edit(old, |_| {}), old);
    }
}

#[test]
fn new_members_are_laid_out_like_their_siblings() {
    assert_eq!(
        edit("{\n\t\"a\": 1\n}", |v| v["b"] = json!({"c": [1]})),
        "{\n\t\"a\": 1,\n\t\"b\": {\n\t\t\"c\": [\n\t\t\t1\n\t\t]\n\t}\n}"
    );
    assert_eq!(
        edit("{\"a\": 1, \"b\": 2}\n", |v| v["c"] = json!({"d": [1, 2]})),
        "{\"a\": 1, \"b\": 2, \"c\": {\"d\": [1, 2]}}\n"
    );
    assert_eq!(
        edit("{\r\n  \"a\": 1\r\n}\r\n", |v| v["b"] = json!([true])),
        "{\r\n  \"a\": 1,\r\n  \"b\": [\r\n    true\r\n  ]\r\n}\r\n"
    );
    // A one-line array inside a pretty document stays on one line.
    assert_eq!(
        edit("{\n  \"t\": [\"a\", \"b\"]\n}", |v| v["t"]
            .as_array_mut()
            .unwrap()
            .push(json!({"x": 1}))),
        "{\n  \"t\": [\"a\", \"b\", {\"x\": 1}]\n}"
    );
    // Empty containers get pretty-printed members (inline in a one-line document).
    assert_eq!(
        edit("{\n  \"a\": {}\n}\n", |v| v["a"]["x"] = json!(1)),
        "{\n  \"a\": {\n    \"x\": 1\n  }\n}\n"
    );
    assert_eq!(
        edit("{\"a\":{}}", |v| v["a"]["x"] = json!(1)),
        "{\"a\":{\"x\":1}}"
    );
    assert_eq!(edit("{}\n", |v| v["x"] = json!(1)), "{\n  \"x\": 1\n}\n");
    assert_eq!(edit("[]", |v| *v = json!([1, 2])), "[\n  1,\n  2\n]");
}

#[test]
fn new_and_empty_documents() {
    for empty in ["", "\n", " \t\r\n"] {
        assert_eq!(
            edit(empty, |v| *v = json!({"a": [1]})),
            "{\n  \"a\": [\n    1\n  ]\n}\n"
        );
        assert_eq!(edit(empty, |_| {}), empty);
    }
    assert_eq!(edit("\u{FEFF}", |v| *v = json!(1)), "\u{FEFF}1\n");
    assert_eq!(
        edit("null\n", |v| *v = json!({"a": 1})),
        "{\n  \"a\": 1\n}\n"
    );
    assert_eq!(edit("3", |v| *v = json!(4)), "4");
    // A form feed is not whitespace: not an empty file but invalid JSON.
    assert!(SyntaxTree::parse(b"\x0c").is_err());
}

#[test]
fn removals_take_their_separator_and_line() {
    let old = "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}\n";
    let del = |k: &'static str| {
        edit(old, move |v| {
            v.as_object_mut().unwrap().shift_remove(k);
        })
    };
    assert_eq!(del("a"), "{\n  \"b\": 2,\n  \"c\": 3\n}\n");
    assert_eq!(del("b"), "{\n  \"a\": 1,\n  \"c\": 3\n}\n");
    assert_eq!(del("c"), "{\n  \"a\": 1,\n  \"b\": 2\n}\n");
    assert_eq!(edit(old, |v| *v = json!({})), "{}\n");
    assert_eq!(
        edit("[1, 2, 3, 4]", |v| {
            v.as_array_mut().unwrap().remove(1);
        }),
        "[1, 3, 4]"
    );
    assert_eq!(
        edit("[\n  1,\n  2,\n  3\n]", |v| {
            v.as_array_mut().unwrap().pop();
        }),
        "[\n  1,\n  2\n]"
    );
    assert_eq!(
        edit("[\n  1,\n  2,\n  3\n]", |v| {
            v.as_array_mut().unwrap().insert(1, json!("x"));
        }),
        "[\n  1,\n  \"x\",\n  2,\n  3\n]"
    );
    assert_eq!(edit("[1,2]", |v| *v = json!([])), "[]");
}

#[test]
fn duplicate_keys() {
    let old = "{\"a\": 1, \"b\": 2, \"a\": 3}";
    assert_eq!(
        SyntaxTree::parse(old.as_bytes()).unwrap().1,
        json!({"a": 3, "b": 2})
    );
    // Untouched duplicates stay.
    assert_eq!(
        edit(old, |v| v["b"] = json!(5)),
        "{\"a\": 1, \"b\": 5, \"a\": 3}"
    );
    // An edit of the key changes the member that counts, the last.
    assert_eq!(
        edit(old, |v| v["a"] = json!(4)),
        "{\"a\": 1, \"b\": 2, \"a\": 4}"
    );
    // Removing the key removes every occurrence, or the first would come back.
    assert_eq!(
        edit(old, |v| {
            v.as_object_mut().unwrap().shift_remove("a");
        }),
        "{\"b\": 2}"
    );
}

#[test]
fn strings_keep_their_escapes() {
    let old = r#"{"e": "\u00e9", "s": "a\/b", "t": "é"}"#;
    assert_eq!(edit(old, |v| v["t"] = json!("\u{e9}")), old);
    assert_eq!(
        edit(old, |v| v["t"] = json!("x")),
        r#"{"e": "\u00e9", "s": "a\/b", "t": "x"}"#
    );
}

#[test]
fn restyle_on_request() {
    let old = "{\"a\":[1,\n2],   \"b\": 1E2}";
    let (doc, v) = SyntaxTree::parse(old.as_bytes()).unwrap();
    let pretty = doc.render(old.as_bytes(), &v, Style::Pretty).unwrap();
    assert_eq!(
        String::from_utf8(pretty).unwrap(),
        "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": 1E2\n}\n"
    );
    let compact = doc.render(old.as_bytes(), &v, Style::Compact).unwrap();
    assert_eq!(
        String::from_utf8(compact).unwrap(),
        "{\"a\":[1,2],\"b\":1E2}\n"
    );
    // A number of a new value, spelled as its text spelled it.
    let text = b"[3E1, 5e-1, 7e2]";
    let mut v2 = v.clone();
    v2["c"] = parse_value(text).unwrap();
    let sp = Spellings::of(text);
    let out = doc
        .render_spelled(old.as_bytes(), &v2, Style::Compact, &sp)
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"a\":[1,2],\"b\":1E2,\"c\":[3E1,5e-1,7e2]}\n"
    );
}

#[test]
fn depth_is_bounded_both_ways() {
    // Bytes that are not the ones the tree was parsed from: no panic, the
    // whole document is written.
    let (doc, _) = SyntaxTree::parse(b"{\"a\": [1, 2, 3]}").unwrap();
    assert_eq!(
        doc.render(b"[]", &json!([1]), Style::Preserve).unwrap(),
        b"[\n  1\n]\n"
    );

    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(SyntaxTree::parse(deep(MAX_DEPTH).as_bytes()).is_ok());
    assert!(SyntaxTree::parse(deep(MAX_DEPTH + 1).as_bytes()).is_err());
    // serde_json refuses 128 levels: whatever it reads, we read.
    assert!(serde_json::from_str::<Value>(&deep(MAX_DEPTH - 1)).is_ok());
    assert!(serde_json::from_str::<Value>(&deep(MAX_DEPTH)).is_err());
    let (doc, _) = SyntaxTree::parse(b"[]").unwrap();
    let mut v = json!(1);
    for _ in 0..MAX_DEPTH {
        v = json!([v]);
    }
    assert!(doc.render(b"[]", &v, Style::Preserve).is_ok());
    let too = json!([v]);
    let e = doc.render(b"[]", &too, Style::Preserve).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TooDeep {
                limit: MAX_DEPTH,
                ..
            }
        ),
        "{e}"
    );
    assert!(doc.render(b"[]", &too, Style::Pretty).is_err());
    assert!(jlock_json::deeper_than(&too, MAX_DEPTH));
    // Inside a document, what counts is where the new value lands.
    let old = b"{\"a\": {\"b\": [0]}}";
    let (doc, base) = SyntaxTree::parse(old).unwrap();
    let nest = |n: usize| (0..n).fold(json!(1), |v, _| json!([v]));
    for (n, ok) in [(MAX_DEPTH - 3, true), (MAX_DEPTH - 2, false)] {
        for place in 0..4 {
            let mut v = base.clone();
            match place {
                0 => v["a"]["b"][0] = nest(n), // replace an element
                1 => v["a"]["b"].as_array_mut().unwrap().push(nest(n)), // append
                2 => v["a"]["b"] = json!([]),  // (an emptied array, then:)
                _ => v["a"]["c"] = json!([nest(n)]), // a new member
            }
            if place == 2 {
                v["a"]["b"] = json!([nest(n)]);
            }
            let r = doc.render(old, &v, Style::Preserve);
            assert_eq!(r.is_ok(), ok, "depth {n} at place {place}");
        }
    }
    // The error says what would be too deep.
    assert!(
        e.to_string().starts_with("the new document would nest"),
        "{e}"
    );
}

#[test]
fn numbers_from_the_issue_read_back_exactly() {
    // A new number is written as serde_json holds it: the digits exactly,
    // an exponent with a lowercase `e` and a sign.
    for (n, written) in [
        ("1e400", "1e+400"),
        ("1E400", "1e+400"),
        ("2.4e-324", "2.4e-324"),
        (
            "1234567890123456789012345678901234567890",
            "1234567890123456789012345678901234567890",
        ),
        ("-0", "-0"),
        ("0.10", "0.10"),
    ] {
        let v = num(n);
        let (doc, _) = SyntaxTree::parse(b"null").unwrap();
        let out = doc.render(b"null", &v, Style::Preserve).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), written);
    }
}

#[derive(Clone, Debug)]
enum Op {
    Replace(Value),
    Add(Value),
    Remove,
    Insert(Value),
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Our parser reads what serde_json reads, to the same value; an equal
    /// value renders to the same bytes.
    #[test]
    fn parse_agrees_and_equal_renders_identical(g in gen(), l in layout()) {
        let text = text_of(&g, &l);
        let (doc, v) = SyntaxTree::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(&v, &oracle(&text));
        prop_assert_eq!(&parse_value(text.as_bytes()).unwrap(), &v);
        let out = doc.render(text.as_bytes(), &oracle(&text), Style::Preserve).unwrap();
        prop_assert_eq!(String::from_utf8(out).unwrap(), text.clone());
        // The store learns there is nothing to write.
        let mut record = b"header".to_vec();
        prop_assert!(!doc.render_into(text.as_bytes(), &v, Style::Preserve, &Spellings::default(), &mut record).unwrap());
        prop_assert_eq!(&record, b"header");
    }

    /// Adding a member or element and removing it again gives back the same bytes.
    #[test]
    fn set_then_del_is_identity(g in gen_root(), l in layout(), pick in any::<prop::sample::Index>(), new in small_value()) {
        let text = text_of(&g, &l);
        let v0 = oracle(&text);
        let mut spots = Vec::new();
        containers(&v0, &mut Vec::new(), &mut spots);
        let spot = pick.get(&spots).clone();
        let mut v1 = v0.clone();
        match at_mut(&mut v1, &spot) {
            Value::Array(items) => items.push(new),
            Value::Object(map) => { map.insert("fresh key".into(), new); }
            _ => unreachable!(),
        }
        let mid = render_ok(&text, &v1);
        prop_assert!(value_eq(&oracle(&mid), &v1), "{}", mid);
        match at_mut(&mut v1, &spot) {
            Value::Array(items) => { items.pop(); }
            Value::Object(map) => { map.shift_remove("fresh key"); }
            _ => unreachable!(),
        }
        let back = render_ok(&mid, &v1);
        prop_assert_eq!(back, text, "via {:?}", mid);
    }

    /// A random edit gives the value the same edit gives on a serde_json::Value,
    /// and the result is read back by serde_json.
    #[test]
    fn random_edit_matches_value_edit(g in prop_oneof![gen(), gen_root()], l in layout(), pick in any::<prop::sample::Index>(),
                                      which in any::<prop::sample::Index>(), op in prop_oneof![
        small_value().prop_map(Op::Replace),
        small_value().prop_map(Op::Add),
        Just(Op::Remove),
        small_value().prop_map(Op::Insert),
    ]) {
        let text = text_of(&g, &l);
        let mut v = oracle(&text);
        let mut spots = Vec::new();
        containers(&v, &mut Vec::new(), &mut spots);
        if spots.is_empty() {
            if let Op::Replace(x) = &op { v = x.clone(); }
        } else {
            let spot = pick.get(&spots).clone();
            match (at_mut(&mut v, &spot), op) {
                (Value::Array(items), Op::Replace(x)) if !items.is_empty() => { let i = which.index(items.len()); items[i] = x; }
                (Value::Array(items), Op::Add(x)) => items.push(x),
                (Value::Array(items), Op::Remove) if !items.is_empty() => { let i = which.index(items.len()); items.remove(i); }
                (Value::Array(items), Op::Insert(x)) => { let i = which.index(items.len() + 1); items.insert(i, x); }
                (Value::Object(map), Op::Replace(x)) if !map.is_empty() => { let i = which.index(map.len()); *map.values_mut().nth(i).unwrap() = x; }
                (Value::Object(map), Op::Add(x) | Op::Insert(x)) => { map.insert(format!("k{}", which.index(3)), x); }
                (Value::Object(map), Op::Remove) if !map.is_empty() => { let i = which.index(map.len()); let k = map.keys().nth(i).unwrap().clone(); map.shift_remove(&k); }
                (slot, Op::Replace(x)) => *slot = x,
                _ => {}
            }
        }
        let out = render_ok(&text, &v);
        prop_assert!(value_eq(&oracle(&out), &v), "{}\n-> {}", text, out);
        // And it is stable: rendering the same value again changes nothing.
        prop_assert_eq!(render_ok(&out, &v), out.clone());
    }

    /// Mutated documents: we accept exactly what serde_json accepts.
    #[test]
    fn parser_conformance_on_mutations(g in gen(), l in layout(),
        muts in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop_oneof![
            Just(b'{'), Just(b'}'), Just(b'['), Just(b']'), Just(b','), Just(b':'), Just(b'"'),
            Just(b'\\'), Just(b'0'), Just(b'1'), Just(b'-'), Just(b'.'), Just(b'e'), Just(b'+'),
            Just(b' '), Just(b'\n'), Just(0x0c), Just(b'u'), Just(b'n'), Just(0xff), Just(0x01),
        ]), 1..4)) {
        let mut bytes = text_of(&g, &l).into_bytes();
        if l.bom { bytes.drain(..3); }
        for (at, kind, b) in muts {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 => bytes.insert(i, b),
                1 if i < bytes.len() => { bytes.remove(i); }
                _ if i < bytes.len() => bytes[i] = b,
                _ => bytes.push(b),
            }
        }
        let ours = SyntaxTree::parse(&bytes).map(|(_, v)| v);
        prop_assert_eq!(&ours, &parse_value(&bytes));
        let _ = Spellings::of(&bytes); // any bytes, no panic
        // The check that builds nothing accepts and refuses the same, with the same error.
        prop_assert_eq!(check(&bytes), ours.clone().map(|_| ()));
        let all_ws = bytes.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        let theirs = serde_json::from_slice::<Value>(&bytes);
        if all_ws {
            prop_assert_eq!(ours.unwrap(), Value::Null);
        } else {
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}: ours {:?} theirs {:?}",
                String::from_utf8_lossy(&bytes), ours, theirs);
            if let (Ok(a), Ok(b)) = (ours, theirs) {
                prop_assert_eq!(a, b);
            }
        }
    }

}

#[test]
fn value_eq_helper_is_exact() {
    assert!(value_eq(&num("1E2"), &num("100")));
    assert!(!value_eq(&num("1"), &num("1.0000000000000000000001")));
    let _ = Map::new();
}
