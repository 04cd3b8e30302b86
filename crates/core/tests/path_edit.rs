//! A path edit of the store (`set`, `delete`, `incr`, reading only the part they change) writes what the same edit of the whole document writes: a property test over documents in random layouts.

#[path = "../../json/tests/gen/mod.rs"]
mod gen;

use gen::*;
use jlock_core::{Error, JsonPath, Store};
use jlock_json::parse_value;
use proptest::prelude::*;
use serde_json::Value;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// `set`, `delete` and `incr` of one path read only the value they change
    /// (the rest of the document is checked, not built), yet write exactly
    /// the bytes — and give exactly the result or error — of the same edit
    /// made on the whole document.
    #[test]
    fn a_path_edit_writes_what_a_whole_document_edit_writes(
        g in gen_root(), l in layout(), pick in any::<prop::sample::Index>(),
        which in any::<prop::sample::Index>(), fresh in any::<bool>(), deeper in any::<bool>(),
        op in prop_oneof![small_value().prop_map(PathOp::Set), Just(PathOp::Delete), Just(PathOp::Incr)],
    ) {
        let text = text_of(&g, &l);
        let v = oracle(&text);
        let mut spots = Vec::new();
        containers(&v, &mut Vec::new(), &mut spots);
        let spot = pick.get(&spots).clone();
        let mut path = pointer_to(&v, &spot);
        let len = match at_mut(&mut v.clone(), &spot) {
            Value::Array(items) => items.len(),
            Value::Object(map) => map.len(),
            _ => unreachable!(),
        };
        if fresh || len == 0 {
            let array = v.pointer(&pointer_to(&v, &spot)).is_some_and(Value::is_array);
            // A new key; or past an array's end: `-`, its length, or a gap.
            path.push_str(&match (array, which.index(3)) {
                (false, _) => "/fresh".to_string(),
                (true, 0) => "/-".to_string(),
                (true, 1) => format!("/{len}"),
                (true, _) => format!("/{}", len + 2),
            });
        } else {
            let child = pointer_to(&v, &[spot.clone(), vec![which.index(len)]].concat());
            path = child;
        }
        if deeper {
            path.push_str("/x");
        }
        let path: JsonPath = path.parse().unwrap();
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let stores: Vec<Store> = dirs.iter().map(|d| {
            let file = d.path().join("d.json");
            std::fs::write(&file, &text).unwrap();
            Store::open(file).unwrap()
        }).collect();
        // A read of one path, likewise.
        let whole_get = path.get(&parse_value(text.as_bytes()).unwrap()).map(|v| v.cloned());
        prop_assert_eq!(stores[0].get(&path).ok(), whole_get.ok());
        let part = path_edit(&stores[0], &path, &op, false);
        let whole = path_edit(&stores[1], &path, &op, true);
        prop_assert_eq!(&part, &whole, "{} {:?} on {:?}", path, op, text);
        let a = std::fs::read(stores[0].target()).unwrap();
        let b = std::fs::read(stores[1].target()).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b), "{} {:?}", path, op);
    }
}

/// One path edit, as the store makes it (`Store::set`, `delete`, `incr`,
/// which read only the part they change) or as a whole-document update.
#[derive(Clone, Debug)]
enum PathOp {
    Set(Value),
    Delete,
    Incr,
}

fn path_edit(store: &Store, path: &JsonPath, op: &PathOp, whole: bool) -> Result<String, String> {
    let file = store.target().to_path_buf();
    // A closure's own JSON errors name the file as the store's do.
    let in_file = |e| Error::in_document(&file, e);
    let out = match (op, whole) {
        (PathOp::Set(v), false) => store.set(path, v.clone()).map(|()| String::new()),
        (PathOp::Set(v), true) => store.update(|doc| {
            *path.slot_mut(doc).map_err(in_file)? = v.clone();
            Ok::<_, Error>(String::new())
        }),
        (PathOp::Delete, false) => store.delete(path).map(|gone| gone.to_string()),
        (PathOp::Delete, true) => store.update(|doc| {
            path.remove(doc)
                .map(|gone| gone.to_string())
                .map_err(in_file)
        }),
        (PathOp::Incr, false) => store.incr(path, 1).map(|n| n.to_string()),
        (PathOp::Incr, true) => store.update(|doc| {
            let slot = path.slot_mut(doc).map_err(in_file)?;
            let cur = match slot {
                Value::Null => 0.into(),
                Value::Number(n) => n.clone(),
                other => return Err(in_file(path.wrong_type("a number", other))),
            };
            let sum = jlock_json::number::add_numbers(&cur, &1.into()).unwrap();
            *slot = Value::Number(sum.clone());
            Ok(sum.to_string())
        }),
    };
    out.map_err(|e| e.to_string().replace(&file.display().to_string(), "FILE"))
}
