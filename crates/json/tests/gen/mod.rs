//! Generators and helpers shared by the property tests of lossless documents: JSON values in random spellings and layouts, and serde_json as the oracle.
#![allow(dead_code)] // each test file uses a part

use jlock_json::{number::same_value, parse_value, Style, SyntaxTree};
use proptest::prelude::*;
use serde_json::{json, Value};

pub fn num(text: &str) -> Value {
    parse_value(text.as_bytes()).unwrap()
}

/// Value equality with numbers compared as exact decimals.
pub fn value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => same_value(&x.to_string(), &y.to_string()),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| value_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| value_eq(a, b)))
        }
        _ => a == b,
    }
}

/// A generated value, with the choices of how its text is spelled.
#[derive(Clone, Debug)]
pub enum G {
    Null,
    Bool(bool),
    /// Number text, any valid spelling.
    Num(String),
    /// Characters, each with an escape choice.
    Str(Vec<(char, u8)>),
    Arr(Vec<G>, bool),
    Obj(Vec<(Vec<(char, u8)>, G)>, bool),
}

#[derive(Clone, Debug)]
pub struct Layout {
    /// `None`: everything on one line.
    pub unit: Option<&'static str>,
    pub crlf: bool,
    pub colon: &'static str,
    pub comma: &'static str,
    pub final_newline: bool,
    pub bom: bool,
    /// Odd whitespace: before commas, blank lines, around the root.
    pub pad: bool,
}

pub fn number_text() -> impl Strategy<Value = String> {
    let int = prop_oneof![
        Just("0".to_string()),
        "[1-9][0-9]{0,3}".prop_map(|s| s),
        "[1-9][0-9]{18,42}".prop_map(|s| s),
    ];
    (
        any::<bool>(),
        int,
        proptest::option::of("[0-9]{1,20}"),
        proptest::option::of((
            prop_oneof![Just("e"), Just("E")],
            prop_oneof![Just(""), Just("+"), Just("-")],
            "[0-9]{1,3}",
        )),
    )
        .prop_map(|(neg, i, frac, exp)| {
            let mut s = String::new();
            if neg {
                s.push('-');
            }
            s.push_str(&i);
            if let Some(f) = frac {
                s.push('.');
                s.push_str(&f);
            }
            if let Some((e, sign, d)) = exp {
                s.push_str(e);
                s.push_str(sign);
                s.push_str(&d);
            }
            s
        })
}

pub fn chars() -> impl Strategy<Value = Vec<(char, u8)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                Just('a'),
                Just('b'),
                Just('é'),
                Just('"'),
                Just('\\'),
                Just('/'),
                Just('\n'),
                Just('\u{1}'),
                Just('😀'),
                Just(' '),
            ],
            0u8..4,
        ),
        0..4,
    )
}

pub fn key() -> impl Strategy<Value = Vec<(char, u8)>> {
    // Few distinct keys, so objects often repeat one.
    prop_oneof![
        Just(vec![('a', 0)]),
        Just(vec![('b', 0)]),
        Just(vec![('a', 1)]),
        Just(vec![('é', 1)]),
        Just(vec![('k', 0), ('/', 1)]),
        chars(),
    ]
}

pub fn gen() -> impl Strategy<Value = G> {
    let leaf = prop_oneof![
        Just(G::Null),
        any::<bool>().prop_map(G::Bool),
        number_text().prop_map(G::Num),
        chars().prop_map(G::Str),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            (
                proptest::collection::vec(inner.clone(), 0..5),
                any::<bool>()
            )
                .prop_map(|(v, one)| G::Arr(v, one)),
            (
                proptest::collection::vec((key(), inner), 0..5),
                any::<bool>()
            )
                .prop_map(|(v, one)| G::Obj(v, one)),
        ]
    })
}

/// A document whose root is an array or object (so an edit has a place).
pub fn gen_root() -> impl Strategy<Value = G> {
    (
        proptest::collection::vec(gen(), 0..6),
        proptest::collection::vec((key(), gen()), 0..6),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(items, members, array, one)| {
            if array {
                G::Arr(items, one)
            } else {
                G::Obj(members, one)
            }
        })
}

pub fn layout() -> impl Strategy<Value = Layout> {
    (
        prop_oneof![
            Just(None),
            Just(Some("  ")),
            Just(Some("    ")),
            Just(Some("\t")),
            Just(Some(" "))
        ],
        any::<bool>(),
        prop_oneof![Just(":"), Just(": "), Just(" : ")],
        prop_oneof![Just(","), Just(", ")],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(unit, crlf, colon, comma, final_newline, bom, pad)| Layout {
                unit,
                crlf,
                colon,
                comma,
                final_newline,
                bom,
                pad,
            },
        )
}

pub fn write_str(out: &mut String, s: &[(char, u8)]) {
    out.push('"');
    for &(c, how) in s {
        match (c, how) {
            ('"', _) => out.push_str("\\\""),
            ('\\', _) => out.push_str("\\\\"),
            ('\n', 0 | 1) => out.push_str("\\n"),
            ('/', 1) => out.push_str("\\/"),
            (c, _) if (c as u32) < 0x20 || how == 2 => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            (c, 3) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
            (c, _) => out.push(c),
        }
    }
    out.push('"');
}

pub fn write_g(out: &mut String, g: &G, l: &Layout, indent: &str) {
    let nl = if l.crlf { "\r\n" } else { "\n" };
    match g {
        G::Null => out.push_str("null"),
        G::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        G::Num(t) => out.push_str(t),
        G::Str(s) => write_str(out, s),
        G::Arr(items, one) => {
            out.push('[');
            write_items(out, items.iter().map(|g| (None, g)), *one, l, indent, nl);
            out.push(']');
        }
        G::Obj(members, one) => {
            out.push('{');
            write_items(
                out,
                members.iter().map(|(k, g)| (Some(k), g)),
                *one,
                l,
                indent,
                nl,
            );
            out.push('}');
        }
    }
}

pub fn write_items<'a>(
    out: &mut String,
    items: impl ExactSizeIterator<Item = (Option<&'a Vec<(char, u8)>>, &'a G)>,
    one_line: bool,
    l: &Layout,
    indent: &str,
    nl: &str,
) {
    let n = items.len();
    let multi = l.unit.filter(|_| !one_line && n > 0);
    let inner = format!("{indent}{}", multi.unwrap_or(""));
    for (i, (k, g)) in items.enumerate() {
        if i > 0 {
            if l.pad {
                out.push(' ');
            }
            out.push_str(if multi.is_some() { "," } else { l.comma });
        }
        if multi.is_some() {
            if l.pad && i % 2 == 1 {
                out.push_str(nl);
            }
            out.push_str(nl);
            out.push_str(&inner);
        }
        if let Some(k) = k {
            write_str(out, k);
            out.push_str(l.colon);
        }
        write_g(out, g, l, if multi.is_some() { &inner } else { indent });
    }
    if multi.is_some() {
        out.push_str(nl);
        out.push_str(indent);
    }
}

pub fn text_of(g: &G, l: &Layout) -> String {
    let mut s = String::new();
    if l.bom {
        s.push('\u{FEFF}');
    }
    if l.pad {
        s.push_str(" \t");
    }
    write_g(&mut s, g, l, "");
    if l.pad {
        s.push(' ');
    }
    if l.final_newline {
        s.push_str(if l.crlf { "\r\n" } else { "\n" });
    }
    s
}

pub fn oracle(text: &str) -> Value {
    serde_json::from_str(text.trim_start_matches('\u{FEFF}')).unwrap()
}

/// The paths of all objects and arrays in `v` (as index lists).
pub fn containers(v: &Value, at: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    match v {
        Value::Array(items) => {
            out.push(at.clone());
            for (i, x) in items.iter().enumerate() {
                at.push(i);
                containers(x, at, out);
                at.pop();
            }
        }
        Value::Object(map) => {
            out.push(at.clone());
            for (i, x) in map.values().enumerate() {
                at.push(i);
                containers(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

pub fn at_mut<'v>(v: &'v mut Value, path: &[usize]) -> &'v mut Value {
    path.iter().fold(v, |v, &i| match v {
        Value::Array(items) => &mut items[i],
        Value::Object(map) => map.values_mut().nth(i).unwrap(),
        _ => unreachable!(),
    })
}

pub fn small_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(1)),
        Just(json!("new")),
        Just(json!({"k": [1, {"z": null}]})),
        Just(json!([])),
        Just(json!({})),
        number_text().prop_map(|t| num(&t)),
    ]
}

pub fn render_ok(old: &str, v: &Value) -> String {
    let (doc, _) = SyntaxTree::parse(old.as_bytes()).unwrap();
    String::from_utf8(doc.render(old.as_bytes(), v, Style::Preserve).unwrap()).unwrap()
}

/// A JSON Pointer to the container at `spot` of `v` (as [`containers`] lists it).
pub fn pointer_to(v: &Value, spot: &[usize]) -> String {
    let mut out = String::new();
    let mut cur = v;
    for &i in spot {
        out.push('/');
        cur = match cur {
            Value::Array(items) => {
                out.push_str(&i.to_string());
                &items[i]
            }
            Value::Object(map) => {
                let (k, x) = map.iter().nth(i).unwrap();
                out.push_str(&k.replace('~', "~0").replace('/', "~1"));
                x
            }
            _ => unreachable!(),
        };
    }
    out
}
