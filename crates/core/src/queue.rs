//! A work queue in a JSON document: [`WorkQueue`] pushes onto and pops from
//! the array at one path, each call one atomic [`Document::update`], for
//! any backend (the file [`Store`](crate::Store), an etcd key through
//! [`CasDocument`](crate::CasDocument)).
//!
//! # What "exactly once" means here
//!
//! [`WorkQueue::pop`] reads the first element and removes it in the same
//! update: two consumers can never both take one, and an element pushed is
//! never lost by the queue — it is in the document until the update that
//! removes it commits, and that update hands it to exactly one caller.
//! What the caller then does with it is outside the document: a consumer
//! killed after the update committed and before it used (printed) the
//! element has taken it, and it is gone from the queue. For at-least-once
//! processing, pop `to` an in-progress array: the same update appends the
//! element there, the consumer removes it when done (an acknowledgement),
//! and whatever a crashed consumer left in progress can be pushed back.
//!
//! ```
//! use jlock_core::{Error, JsonPath, Spellings, Store, WorkQueue};
//! use serde_json::json;
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path().join("q.json"))?;
//! let q = WorkQueue::new(&store, store.path(), ".todo".parse()?);
//! q.push::<Error>(vec![json!("a"), json!("b")], &Spellings::default())?;
//! let doing: JsonPath = ".doing".parse()?;
//! let (first, _) = q.try_pop::<Error>(Some(&doing))?.expect("an element");
//! assert_eq!(first, json!("a"));
//! assert_eq!(store.read()?, json!({"todo": ["b"], "doing": ["a"]}));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use jlock_json::{JsonPath, Spellings};
use serde_json::Value;

use crate::engine::Document;
use crate::error::Error;
use crate::watch::Changes;

/// The array at `path` in a document, used as a first-in first-out queue.
#[derive(Debug)]
pub struct WorkQueue<'d, D: ?Sized> {
    doc: &'d D,
    name: PathBuf,
    path: JsonPath,
}

impl<'d, D: ?Sized> WorkQueue<'d, D> {
    /// The queue at `path` of `doc`, whose name (`name`: a file, an
    /// `etcd://` target) errors show.
    pub fn new(doc: &'d D, name: &Path, path: JsonPath) -> WorkQueue<'d, D> {
        WorkQueue {
            doc,
            name: name.to_path_buf(),
            path,
        }
    }

    /// The queue's path.
    pub fn path(&self) -> &JsonPath {
        &self.path
    }

    fn bad<E: From<Error>>(&self, path: &JsonPath, found: &Value) -> E {
        Error::in_document(&self.name, path.wrong_type("an array", found)).into()
    }

    /// Appends `values` (their numbers spelled as `spellings` says) to the
    /// array, in one update; a missing or `null` value at the path becomes
    /// `[]` first, anything else but an array is an error and nothing is
    /// written. Returns the array's new length.
    pub fn push<E>(&self, values: Vec<Value>, spellings: &Spellings) -> Result<usize, E>
    where
        D: Document<E>,
        E: From<Error>,
    {
        let mut len = 0;
        self.doc.update(&mut |doc| {
            let slot = self.path.slot_mut(doc).map_err(|e| self.json(e))?;
            if slot.is_null() {
                *slot = Value::Array(Vec::new());
            }
            match slot {
                Value::Array(items) => {
                    items.extend(values.iter().cloned());
                    len = items.len();
                    Ok(spellings.clone())
                }
                other => Err(self.bad(&self.path, other)),
            }
        })?;
        Ok(len)
    }

    fn json<E: From<Error>>(&self, e: jlock_json::Error) -> E {
        Error::in_document(&self.name, e).into()
    }

    /// Removes the array's first element and returns it (with the
    /// spellings of the document's numbers), in one update; `None`, with
    /// nothing written, if the array is empty, missing or `null`. With
    /// `to`, the same update appends the element to the array at `to` (a
    /// missing or `null` one becomes `[]`): an in-progress list from which
    /// a crashed consumer's element can be recovered. A non-array at either
    /// path is an error, and nothing is written.
    pub fn try_pop<E>(&self, to: Option<&JsonPath>) -> Result<Option<(Value, Spellings)>, E>
    where
        D: Document<E>,
        E: From<Error>,
    {
        // A read first (a shared lock on a file): an empty queue is told
        // without the exclusive lock, and the numbers' spellings are known.
        let spellings = match self.doc.get(&self.path)? {
            None => return Ok(None),
            Some((Value::Null, _)) => return Ok(None),
            Some((Value::Array(a), _)) if a.is_empty() => return Ok(None),
            Some((Value::Array(_), sp)) => sp,
            Some((other, _)) => return Err(self.bad(&self.path, &other)),
        };
        let mut taken = None;
        self.doc.update(&mut |doc| {
            // A compare-and-swap backend may run this more than once.
            taken = None;
            match self.path.get(doc).map_err(|e| self.json(e))? {
                None | Some(Value::Null) => return Ok(Spellings::default()),
                Some(Value::Array(a)) if a.is_empty() => return Ok(Spellings::default()),
                Some(Value::Array(_)) => {}
                Some(other) => return Err(self.bad(&self.path, other)),
            }
            let first = match self.path.slot_mut(doc).map_err(|e| self.json(e))? {
                Value::Array(items) => items.remove(0),
                other => return Err(self.bad(&self.path, other)),
            };
            if let Some(to) = to {
                let dest = to.slot_mut(doc).map_err(|e| self.json(e))?;
                if dest.is_null() {
                    *dest = Value::Array(Vec::new());
                }
                match dest {
                    Value::Array(items) => items.push(first.clone()),
                    other => return Err(self.bad(to, other)),
                }
            }
            taken = Some(first);
            Ok(spellings.clone())
        })?;
        Ok(taken.map(|v| (v, spellings)))
    }

    /// [`WorkQueue::try_pop`], waiting for an element while the queue is
    /// empty: after each report of `changes` (opened before the first look,
    /// so that no push is missed) it looks again, until `deadline` (`None`:
    /// for ever); `None` if the deadline passed with the queue still empty.
    pub fn pop<E>(
        &self,
        to: Option<&JsonPath>,
        changes: &mut dyn Changes<E>,
        deadline: Option<Instant>,
    ) -> Result<Option<(Value, Spellings)>, E>
    where
        D: Document<E>,
        E: From<Error>,
    {
        loop {
            if let Some(found) = self.try_pop(to)? {
                return Ok(Some(found));
            }
            if !changes.wait(deadline)? {
                // One last look: a push that landed just at the deadline.
                return self.try_pop(to);
            }
        }
    }
}

/// Waits until `done` says yes to the value at `path` (`None`: missing),
/// looking again after each report of `changes` (opened before this call,
/// so that no change is missed), until `deadline`; returns the value that
/// satisfied it (`Some(None)`: a missing value did), `None` on time-out.
pub fn wait_for<E, D>(
    doc: &D,
    path: &JsonPath,
    changes: &mut dyn Changes<E>,
    deadline: Option<Instant>,
    done: &mut dyn FnMut(Option<&Value>) -> bool,
) -> Result<Option<Option<(Value, Spellings)>>, E>
where
    D: Document<E> + ?Sized,
    E: From<Error>,
{
    loop {
        let now = doc.get(path)?;
        if done(now.as_ref().map(|(v, _)| v)) {
            return Ok(Some(now));
        }
        if !changes.wait(deadline)? {
            let now = doc.get(path)?;
            return Ok(done(now.as_ref().map(|(v, _)| v)).then_some(now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Backend, BytesEdit, CasDocument};
    use jlock_json::Style;
    use serde_json::json;
    use std::cell::{Cell, RefCell};

    /// A compare-and-swap backend in memory whose first transaction loses
    /// a race: another consumer pops the queue's first element meanwhile.
    struct Racy {
        bytes: RefCell<Vec<u8>>,
        raced: Cell<bool>,
    }

    fn aborted() -> Error {
        Error::Io {
            op: crate::Operation::Write,
            path: "mem://q".into(),
            source: std::io::Error::other("aborted"),
        }
    }

    impl Backend for Racy {
        type Error = Error;
        fn name(&self) -> &Path {
            Path::new("mem://q")
        }
        fn read(&self) -> crate::Result<Option<Vec<u8>>> {
            Ok(Some(self.bytes.borrow().clone()))
        }
        fn transact(&self, edit: &mut BytesEdit<'_>) -> crate::Result<()> {
            let seen = self.bytes.borrow().clone();
            let first = edit(Some(&seen)).map_err(|_| aborted())?;
            if !self.raced.replace(true) {
                // The other consumer's pop lands first: this compare fails.
                let mut doc: Value = serde_json::from_slice(&seen).map_err(|_| aborted())?;
                if let Some(items) = doc["todo"].as_array_mut() {
                    items.remove(0);
                }
                *self.bytes.borrow_mut() = serde_json::to_vec(&doc).map_err(|_| aborted())?;
                let now = self.bytes.borrow().clone();
                if let Some(new) = edit(Some(&now)).map_err(|_| aborted())? {
                    *self.bytes.borrow_mut() = new;
                }
                return Ok(());
            }
            if let Some(new) = first {
                *self.bytes.borrow_mut() = new;
            }
            Ok(())
        }
    }

    #[test]
    fn a_retried_pop_takes_the_element_it_finally_removed_and_only_that() {
        let racy = Racy {
            bytes: RefCell::new(br#"{"todo": ["a", "b", "c"]}"#.to_vec()),
            raced: Cell::new(false),
        };
        let doc = CasDocument::new(racy, Style::Compact);
        let q = WorkQueue::new(&doc, Path::new("mem://q"), ".todo".parse().unwrap());
        let doing: JsonPath = ".doing".parse().unwrap();
        let (got, _) = q.try_pop::<Error>(Some(&doing)).unwrap().unwrap();
        // "a" went to the other consumer; this one's retry took "b".
        assert_eq!(got, json!("b"));
        let now: Value = serde_json::from_slice(&doc.backend().bytes.borrow()).unwrap();
        assert_eq!(now, json!({"todo": ["c"], "doing": ["b"]}));
    }

    #[test]
    fn push_and_pop_keep_order_and_refuse_non_arrays_on_any_document() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path().join("q.json")).unwrap();
        let q = WorkQueue::new(&store, store.path(), ".q".parse().unwrap());
        assert!(q.try_pop::<Error>(None).unwrap().is_none());
        assert_eq!(
            q.push::<Error>(vec![json!(1), json!(2)], &Spellings::default())
                .unwrap(),
            2
        );
        assert_eq!(
            q.push::<Error>(vec![json!(3)], &Spellings::default())
                .unwrap(),
            3
        );
        for want in 1..=3 {
            let (v, _) = q.try_pop::<Error>(None).unwrap().unwrap();
            assert_eq!(v, json!(want));
        }
        assert!(q.try_pop::<Error>(None).unwrap().is_none());
        store.set(&".n".parse().unwrap(), json!(5)).unwrap();
        let before = std::fs::read(store.path()).unwrap();
        let n = WorkQueue::new(&store, store.path(), ".n".parse().unwrap());
        let err = n
            .push::<Error>(vec![json!(1)], &Spellings::default())
            .unwrap_err();
        assert!(err.is_bad_data(), "{err}");
        assert!(n.try_pop::<Error>(None).unwrap_err().is_bad_data());
        let to: JsonPath = ".n".parse().unwrap();
        q.push::<Error>(vec![json!(9)], &Spellings::default())
            .unwrap();
        let before_to = std::fs::read(store.path()).unwrap();
        assert!(q.try_pop::<Error>(Some(&to)).unwrap_err().is_bad_data());
        assert_eq!(std::fs::read(store.path()).unwrap(), before_to);
        assert_ne!(before, before_to);
    }
}
