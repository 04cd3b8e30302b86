//! The operations every front end calls on a shared JSON document — get,
//! set, delete, incr, update — each written once, whatever holds the
//! document.
//!
//! [`Document`] is what a front end (the CLI, the Python package) calls.
//! Two kinds of backend implement it:
//!
//! * the file [`Store`], under its locks, which edits only the bytes a path
//!   reaches;
//! * any [`Backend`] that reads a document's bytes and replaces them by
//!   compare-and-swap (an etcd key, say: jlock-etcd implements it), through
//!   [`CasDocument`].
//!
//! Both run the same rules: [`edit_bytes`] is the one whole-document edit
//! (parse, change, render only what changed), and [`jlock_json::add_at`]
//! the one increment (a missing or `null` value counts as 0, anything but a
//! number is an error naming the path, exact arithmetic, overflow an error).
//! [`Document::changes`] is how a waiter (`wait`, `watch`, `pop -w`) blocks
//! until the document may have changed, whatever holds it: inotify for a
//! file ([`FileWatch`](crate::FileWatch)), whatever the backend offers for
//! the others ([`Backend::changes`]: an etcd watch).
//!
//! ```
//! use jlock_core::{Document, Error, JsonPath, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path().join("c.json"))?;
//! // A front end holds any backend as a `Document`.
//! let doc: &dyn Document<Error> = &store;
//! let n = doc.incr(&".hits".parse()?, 2.into())?;
//! assert_eq!(n, 2.into());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use serde_json::{Number, Value};

use jlock_json::{add_at, JsonPath, Spellings, Style, SyntaxTree};

use crate::error::{Error, JsonContext};
use crate::revision::Revision;
use crate::store::Store;
use crate::watch::{Changes, FileWatch, Poll};

/// A JSON document several processes share, whatever holds it: the
/// operations of `jlock get/set/del/incr/update`, with errors as `E`.
///
/// Every operation is atomic: it reads (under a lock, or linearizably) and,
/// if it changes anything, writes the whole change or nothing. A failed
/// operation changes nothing.
pub trait Document<E> {
    /// The value at `path` (`None` if missing), with how its numbers are spelled.
    fn get(&self, path: &JsonPath) -> std::result::Result<Option<(Value, Spellings)>, E>;
    /// Sets the value at `path`, creating missing objects and arrays on the
    /// way, writing its numbers as `spellings` says.
    fn set(
        &self,
        path: &JsonPath,
        value: Value,
        spellings: &Spellings,
    ) -> std::result::Result<(), E>;
    /// Removes the value at `path`; `false` (and nothing written) if there was none.
    fn delete(&self, path: &JsonPath) -> std::result::Result<bool, E>;
    /// Adds `by` to the number at `path` (see [`jlock_json::add_at`]) and returns the new value.
    fn incr(&self, path: &JsonPath, by: Number) -> std::result::Result<Number, E>;
    /// Changes the whole document with `edit`, which returns how the numbers
    /// of its new values are spelled; nothing is written if `edit` fails.
    /// On a compare-and-swap backend `edit` may run more than once.
    fn update(
        &self,
        edit: &mut dyn FnMut(&mut Value) -> std::result::Result<Spellings, E>,
    ) -> std::result::Result<(), E>;
    /// The document's [`Revision`] now (a current read): what a later
    /// conditional write ([`StoreBuilder::expect_revision`](crate::StoreBuilder::expect_revision),
    /// [`CasDocument::expect_revision`]) is told to expect.
    fn revision(&self) -> std::result::Result<Revision, E>;
    /// A source of "it may have changed" reports for this document, opened
    /// now: a waiter opens it, *then* reads, and reads again after each
    /// report, so that no change made after the open (or after the read)
    /// is missed. Inotify on a file's directory for the [`Store`]; the
    /// backend's own [`Backend::changes`] for a [`CasDocument`].
    fn changes(&self) -> std::result::Result<Box<dyn Changes<E>>, E>;
}

impl<E: From<Error>> Document<E> for Store {
    fn get(&self, path: &JsonPath) -> std::result::Result<Option<(Value, Spellings)>, E> {
        Ok(self.get_spelled(path)?)
    }

    fn set(
        &self,
        path: &JsonPath,
        value: Value,
        spellings: &Spellings,
    ) -> std::result::Result<(), E> {
        Ok(self.set_spelled(path, value, spellings)?)
    }

    fn delete(&self, path: &JsonPath) -> std::result::Result<bool, E> {
        Ok(Store::delete(self, path)?)
    }

    fn incr(&self, path: &JsonPath, by: Number) -> std::result::Result<Number, E> {
        Ok(Store::incr(self, path, by)?)
    }

    fn update(
        &self,
        edit: &mut dyn FnMut(&mut Value) -> std::result::Result<Spellings, E>,
    ) -> std::result::Result<(), E> {
        self.update_spelled(|doc| edit(doc).map(|sp| ((), sp)))
    }

    fn revision(&self) -> std::result::Result<Revision, E> {
        Ok(Store::revision(self)?)
    }

    fn changes(&self) -> std::result::Result<Box<dyn Changes<E>>, E> {
        Ok(Box::new(FileWatch::new(self.path())?))
    }
}

/// The whole-document edit, the one place it is written: parses `bytes`
/// (empty or white space: `null`; invalid JSON: an error naming `file`),
/// runs `f` on the value, and — if `f` says it changed it — renders the new
/// document losslessly in `style` (untouched bytes stay as they were, new
/// numbers spelled as `f`'s [`Spellings`] say). Returns `f`'s result and
/// the new bytes, `None` if there is nothing to write.
pub fn edit_bytes<T, E>(
    bytes: &[u8],
    file: &Path,
    style: Style,
    f: impl FnOnce(&mut Value) -> std::result::Result<(T, bool, Spellings), E>,
) -> std::result::Result<(T, Option<Vec<u8>>), E>
where
    E: From<Error>,
{
    let (tree, mut doc) = SyntaxTree::parse(bytes).in_document(file)?;
    let (out, changed, spellings) = f(&mut doc)?;
    if !changed {
        return Ok((out, None));
    }
    let mut new = Vec::new();
    if tree
        .render_into(bytes, &doc, style, &spellings, &mut new)
        .in_document(file)?
    {
        Ok((out, Some(new)))
    } else {
        Ok((out, None))
    }
}

/// What a backend's compare-and-swap is told when the edit itself failed:
/// stop, write nothing. (The edit's own error is kept by [`CasDocument`],
/// so it need not be `Send` or `Sync`.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the edit failed; nothing was written")
    }
}

impl std::error::Error for Aborted {}

/// What a [`Backend`]'s compare-and-swap runs: the current bytes (`None`:
/// no document) to the new ones (`None`: leave it), or [`Aborted`].
pub type BytesEdit<'a> =
    dyn FnMut(Option<&[u8]>) -> std::result::Result<Option<Vec<u8>>, Aborted> + 'a;

/// A document's bytes, held somewhere that reads them whole and replaces
/// them by compare-and-swap: the interface a new backend implements to get
/// every [`Document`] operation through [`CasDocument`].
pub trait Backend {
    /// The backend's own errors.
    type Error;
    /// The document's name, as errors about its content show it (a path, or
    /// `etcd://…/NAME`).
    fn name(&self) -> &Path;
    /// The document's bytes now (`None` if there is none): a current read.
    fn read(&self) -> std::result::Result<Option<Vec<u8>>, Self::Error>;
    /// Replaces the bytes with what `edit` makes of the current ones
    /// (`None` given: no document yet; `None` returned: leave it as it is),
    /// only if nobody changed them meanwhile; after a conflict `edit` runs
    /// again on the newer bytes. An edit that returns [`Aborted`] stops it,
    /// with nothing written; the backend then returns an error of its own,
    /// which [`CasDocument`] replaces with the edit's.
    fn transact(&self, edit: &mut BytesEdit<'_>) -> std::result::Result<(), Self::Error>;
    /// Reports of possible changes of the document (see
    /// [`Document::changes`]): a report may be spurious, a change must
    /// never go unreported — one made after the backend's last
    /// [`Backend::read`] included. By default a report every 100 ms, which
    /// is polling: a backend that can be watched (etcd) overrides it.
    fn changes(&self) -> std::result::Result<Box<dyn Changes<Self::Error>>, Self::Error> {
        Ok(Box::new(Poll {
            interval: std::time::Duration::from_millis(100),
        }))
    }
}

/// A backend's [`Changes`] with its errors turned into the caller's.
struct ChangesInto<F>(Box<dyn Changes<F>>);

impl<F, E: From<F>> Changes<E> for ChangesInto<F> {
    fn wait(&mut self, deadline: Option<std::time::Instant>) -> std::result::Result<bool, E> {
        Ok(self.0.wait(deadline)?)
    }
}

/// Every [`Document`] operation over a compare-and-swap [`Backend`], with
/// the same rules as the file store ([`edit_bytes`], [`jlock_json::add_at`]).
#[derive(Debug)]
pub struct CasDocument<B> {
    backend: B,
    style: Style,
    expect: Option<Revision>,
}

impl<B: Backend> CasDocument<B> {
    /// The document held by `backend`, written back in `style`.
    pub fn new(backend: B, style: Style) -> CasDocument<B> {
        CasDocument {
            backend,
            style,
            expect: None,
        }
    }

    /// Makes every update conditional: made only if the document is still
    /// at revision `rev` when the compare-and-swap reads it, else nothing is
    /// written and the update fails with [`Error::RevisionChanged`] (as
    /// [`StoreBuilder::expect_revision`](crate::StoreBuilder::expect_revision)).
    pub fn expect_revision(mut self, rev: Revision) -> CasDocument<B> {
        self.expect = Some(rev);
        self
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The update protocol: `f` gets the document (`null` if there is none)
    /// and returns its result, whether it changed the value, and how new
    /// numbers are spelled; what changed is written by compare-and-swap,
    /// `f` running again after a conflict.
    fn transact<T, E>(
        &self,
        mut f: impl FnMut(&mut Value) -> std::result::Result<(T, bool, Spellings), E>,
    ) -> std::result::Result<T, E>
    where
        E: From<Error> + From<B::Error>,
    {
        let mut out = None;
        let mut failed: Option<E> = None;
        let (name, style) = (self.backend.name(), self.style);
        let r = self.backend.transact(&mut |old: Option<&[u8]>| {
            let old = old.unwrap_or_default();
            let edited = match crate::revision::check(self.expect.as_ref(), old, name) {
                Ok(()) => edit_bytes(old, name, style, &mut f),
                Err(e) => Err(e.into()),
            };
            match edited {
                Ok((t, new)) => {
                    out = Some(t);
                    Ok(new)
                }
                Err(e) => {
                    failed = Some(e);
                    Err(Aborted)
                }
            }
        });
        match (r, failed, out) {
            // The edit's own error (the backend's only says it aborted).
            (_, Some(e), _) => Err(e),
            (Err(e), None, _) => Err(e.into()),
            (Ok(()), None, Some(t)) => Ok(t),
            (Ok(()), None, None) => Err(Error::Io {
                op: crate::Operation::Write,
                path: name.to_path_buf(),
                source: std::io::Error::other("the backend ran no edit"),
            }
            .into()),
        }
    }
}

impl<B, E> Document<E> for CasDocument<B>
where
    B: Backend,
    B::Error: 'static,
    E: From<Error> + From<B::Error> + 'static,
{
    fn get(&self, path: &JsonPath) -> std::result::Result<Option<(Value, Spellings)>, E> {
        let Some(bytes) = self.backend.read()? else {
            return Ok(None);
        };
        let name = self.backend.name();
        let doc = jlock_json::parse_value(&bytes).in_document(name)?;
        let found = path.get(&doc).in_document(name)?.cloned();
        Ok(found.map(|v| (v, Spellings::of(&bytes))))
    }

    fn set(
        &self,
        path: &JsonPath,
        value: Value,
        spellings: &Spellings,
    ) -> std::result::Result<(), E> {
        let name = self.backend.name();
        self.transact(|doc| {
            *path.slot_mut(doc).in_document(name)? = value.clone();
            Ok(((), true, spellings.clone()))
        })
    }

    fn delete(&self, path: &JsonPath) -> std::result::Result<bool, E> {
        let name = self.backend.name();
        self.transact(|doc| {
            let gone = path.remove(doc).in_document(name)?;
            Ok((gone, gone, Spellings::default()))
        })
    }

    fn incr(&self, path: &JsonPath, by: Number) -> std::result::Result<Number, E> {
        let name = self.backend.name();
        self.transact(|doc| {
            let slot = path.slot_mut(doc).in_document(name)?;
            let sum = add_at(slot, path, &by).in_document(name)?;
            Ok((sum, true, Spellings::default()))
        })
    }

    fn update(
        &self,
        edit: &mut dyn FnMut(&mut Value) -> std::result::Result<Spellings, E>,
    ) -> std::result::Result<(), E> {
        self.transact(|doc| edit(doc).map(|sp| ((), true, sp)))
    }

    fn revision(&self) -> std::result::Result<Revision, E> {
        let bytes = self.backend.read()?;
        Ok(Revision::of(bytes.as_deref().unwrap_or_default()))
    }

    fn changes(&self) -> std::result::Result<Box<dyn Changes<E>>, E> {
        Ok(Box::new(ChangesInto(self.backend.changes()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Result;
    use std::cell::RefCell;
    use std::path::PathBuf;

    /// A compare-and-swap backend in memory that makes the first attempt of
    /// every transaction lose a race (another writer's +100 lands first).
    struct Racy {
        bytes: RefCell<Option<Vec<u8>>>,
        name: PathBuf,
    }

    impl Backend for Racy {
        type Error = Error;
        fn name(&self) -> &Path {
            &self.name
        }
        fn read(&self) -> Result<Option<Vec<u8>>> {
            Ok(self.bytes.borrow().clone())
        }
        fn transact(&self, edit: &mut BytesEdit<'_>) -> Result<()> {
            let seen = self.bytes.borrow().clone();
            let first = edit(seen.as_deref());
            // Meanwhile another writer changes the document: the first
            // attempt's compare fails, and the edit runs again.
            let theirs = CasDocument::new(Plain(&self.bytes, &self.name), Style::Preserve);
            Document::<Error>::incr(&theirs, &".other".parse().unwrap(), 100.into())?;
            if first.is_err() {
                return Err(Error::Io {
                    op: crate::Operation::Write,
                    path: self.name.clone(),
                    source: std::io::Error::other("aborted"),
                });
            }
            let now = self.bytes.borrow().clone();
            if let Some(new) = edit(now.as_deref()).map_err(|_| Error::Io {
                op: crate::Operation::Write,
                path: self.name.clone(),
                source: std::io::Error::other("aborted"),
            })? {
                *self.bytes.borrow_mut() = Some(new);
            }
            Ok(())
        }
    }

    /// The same memory, without races.
    struct Plain<'a>(&'a RefCell<Option<Vec<u8>>>, &'a Path);

    impl Backend for Plain<'_> {
        type Error = Error;
        fn name(&self) -> &Path {
            self.1
        }
        fn read(&self) -> Result<Option<Vec<u8>>> {
            Ok(self.0.borrow().clone())
        }
        fn transact(&self, edit: &mut BytesEdit<'_>) -> Result<()> {
            let seen = self.0.borrow().clone();
            if let Some(new) = edit(seen.as_deref()).map_err(|_| Error::Io {
                op: crate::Operation::Write,
                path: self.1.to_path_buf(),
                source: std::io::Error::other("aborted"),
            })? {
                *self.0.borrow_mut() = Some(new);
            }
            Ok(())
        }
    }

    #[test]
    fn a_cas_document_runs_the_store_rules_and_retries_on_a_conflict() {
        let racy = Racy {
            bytes: RefCell::new(Some(b"{\"n\": 1, \"s\": \"x\"}\n".to_vec())),
            name: PathBuf::from("mem://doc"),
        };
        let doc = CasDocument::new(racy, Style::Preserve);
        let n = Document::<Error>::incr(&doc, &".n".parse().unwrap(), 2.into()).unwrap();
        assert_eq!(n, 3.into());
        // Both writes are there, and the layout is the file store's.
        let bytes = doc.backend().bytes.borrow().clone().unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "{\"n\": 3, \"s\": \"x\", \"other\": 100}\n"
        );
        // The same errors as the file store, naming the document and path.
        let err = Document::<Error>::incr(&doc, &".s".parse().unwrap(), 1.into()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Json {
                    error: jlock_json::Error::WrongType { .. },
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("mem://doc"), "{err}");
        let (v, _) = Document::<Error>::get(&doc, &".n".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(v, serde_json::json!(3));
    }

    #[test]
    fn store_and_cas_document_write_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"{\n    \"a\": [1, 2],\n    \"b\": {\"c\": 1.50}\n}\n";
        let file = dir.path().join("d.json");
        std::fs::write(&file, text).unwrap();
        let store = Store::open(&file).unwrap();
        let mem = RefCell::new(Some(text.to_vec()));
        let cas = CasDocument::new(Plain(&mem, &file), Style::Preserve);
        let both: [&dyn Document<Error>; 2] = [&store, &cas];
        for d in both {
            d.incr(&".b.c".parse().unwrap(), 1.into()).unwrap();
            d.set(&".a[2]".parse().unwrap(), 3.into(), &Spellings::default())
                .unwrap();
            d.delete(&".a[0]".parse().unwrap()).unwrap();
        }
        assert_eq!(std::fs::read(&file).unwrap(), mem.borrow().clone().unwrap());
    }
}
