//! `jlock push` and `jlock pop`: a work queue in the array at a path of a
//! target's document — jlock-core's [`WorkQueue`], each call one update
//! under the lock (or one compare-and-swap on etcd), waiting for an element
//! on the document's [`Document::changes`](jlock_core::Document::changes):
//! inotify on a file's directory, an etcd watch on the key — no polling.

use std::time::Instant;

use jlock_core::{Changes, FileWatch, Wait, WorkQueue};
use jlock_json::Spellings;
use serde_json::Value;

use crate::args::{PopArgs, PushArgs};
use crate::data::{parse_json_arg, parse_path, to_text};
use crate::document;
use crate::exit::{CliError, CONFLICT, OK};
use crate::output::{try_print_line, Ui};

/// `jlock push`.
pub fn push(args: &PushArgs, ui: &Ui) -> Result<u8, CliError> {
    let path = parse_path(Some(&args.path))?;
    let mut values = Vec::with_capacity(args.values.len());
    let mut spellings = Spellings::default();
    for text in &args.values {
        if args.string {
            values.push(Value::String(text.clone()));
            continue;
        }
        values.push(parse_json_arg(text).map_err(|e| {
            CliError::Usage(format!(
                "VALUE {text:?} is not JSON ({e}); quote a string as '\"text\"' or pass --string"
            ))
        })?);
        spellings = spellings.overlaid(&Spellings::of(text.as_bytes()));
    }
    let doc = document::open(&args.store, *ui)?;
    let name = std::path::PathBuf::from(args.store.file.display().to_string());
    WorkQueue::new(&*doc, &name, path).push::<CliError>(values, &spellings)?;
    Ok(OK)
}

/// Whether the data file `file` exists, or comes to exist by `deadline`
/// (`None`: for ever; `nonblock`: now), watched without creating anything.
fn document_appears(
    file: &std::path::Path,
    nonblock: bool,
    deadline: Option<Instant>,
) -> Result<bool, CliError> {
    let exists = || file.symlink_metadata().is_ok();
    if exists() || nonblock {
        return Ok(exists());
    }
    let mut watch = FileWatch::new(file)?;
    loop {
        if exists() {
            return Ok(true);
        }
        if !Changes::<CliError>::wait(&mut watch, deadline)? {
            return Ok(exists());
        }
    }
}

/// `jlock pop`.
pub fn pop(args: &PopArgs, ui: &Ui) -> Result<u8, CliError> {
    let path = parse_path(Some(&args.path))?;
    let to = match &args.to {
        Some(t) => {
            let to = parse_path(Some(t))?;
            if to == path {
                return Err(CliError::Usage(
                    "--to names the queue itself: give the in-progress list another path".into(),
                ));
            }
            Some(to)
        }
        None => None,
    };
    let nonblock = args.store.wait.nonblock || args.store.wait.wait.is_some_and(|d| d.is_zero());
    let deadline = args
        .store
        .wait
        .wait
        .filter(|_| !nonblock)
        .map(|d| Instant::now() + d);
    // -n and -w are about the queue's elements; the lock, held for one
    // short update at a time, is waited for within the same deadline.
    let lock_wait = match args.store.wait.wait {
        Some(d) if !nonblock => Wait::Timeout(d),
        _ => Wait::Block,
    };
    let name = std::path::PathBuf::from(args.store.file.display().to_string());
    // A missing file is an empty queue, waited on without creating anything
    // (opening the store would make FILE.lock).
    let local = match &args.store.file {
        crate::target::Target::File(file) => Some(file),
        #[cfg(feature = "etcd")]
        crate::target::Target::Etcd(_) => None,
    };
    if let Some(file) = local {
        if !document_appears(file, nonblock, deadline)? {
            ui.say(&format!(
                "{}: no such file: the queue is empty; nothing was taken",
                name.display()
            ));
            return Ok(CONFLICT);
        }
    }
    let doc = document::open_waiting(&args.store, *ui, lock_wait)?;
    let queue = WorkQueue::new(&*doc, &name, path);
    let found = if nonblock {
        queue.try_pop::<CliError>(to.as_ref())?
    } else {
        // The watch is opened before the first look, so that a push made
        // between that look and the wait still wakes this one.
        let mut changes = doc.changes()?;
        queue.pop::<CliError>(to.as_ref(), &mut *changes, deadline)?
    };
    let Some((value, spellings)) = found else {
        ui.say(&match args.store.wait.wait {
            Some(d) if !nonblock => format!(
                "{}: {}: still empty after {:.3} s; nothing was taken",
                name.display(),
                queue.path(),
                d.as_secs_f64()
            ),
            _ => format!(
                "{}: {}: empty; nothing was taken",
                name.display(),
                queue.path()
            ),
        });
        return Ok(CONFLICT);
    };
    // The element is taken: if it cannot be printed, say so (exit 3), as
    // incr does — popping again would take the next one.
    try_print_line(&to_text(&value, args.raw, !args.compact_output, &spellings)).map_err(
        |source| CliError::Unprinted {
            file: name.clone(),
            source,
        },
    )?;
    Ok(OK)
}
