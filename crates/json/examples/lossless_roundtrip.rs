//! Checks real JSON files: for each file named on the command line, `set .k 1` then `del .k` through the lossless engine must give back the original bytes.
//!
//! Run: `find / -name '*.json' -size -2M 2>/dev/null | xargs cargo run -p jlock-json --example lossless_roundtrip`

use jlock_json::{Style, SyntaxTree};
use serde_json::{json, Value};

fn main() {
    let (mut same, mut differ, mut skipped) = (0, 0, 0);
    for path in std::env::args().skip(1) {
        let Ok(bytes) = std::fs::read(&path) else {
            skipped += 1;
            continue;
        };
        let Ok((doc, v0)) = SyntaxTree::parse(&bytes) else {
            skipped += 1;
            continue;
        };
        let mut v1 = v0.clone();
        let key = "jlock roundtrip key";
        match &mut v1 {
            Value::Object(map) if !map.contains_key(key) => {
                map.insert(key.into(), json!(1));
            }
            Value::Array(items) => items.push(json!(1)),
            _ => {
                skipped += 1;
                continue;
            }
        }
        let Ok(mid) = doc.render(&bytes, &v1, Style::Preserve) else {
            skipped += 1;
            continue;
        };
        let (doc2, mut v2) = SyntaxTree::parse(&mid).expect("our output parses");
        match &mut v2 {
            Value::Object(map) => {
                map.shift_remove(key);
            }
            Value::Array(items) => {
                items.pop();
            }
            _ => unreachable!(),
        }
        let back = doc2.render(&mid, &v2, Style::Preserve).expect("renders");
        if back == bytes {
            same += 1;
        } else {
            differ += 1;
            println!("DIFFERS: {path}");
        }
    }
    println!(
        "{same} byte-identical, {differ} differ, {skipped} skipped (unreadable, invalid or scalar)"
    );
}
