//! `jlock wait` and `jlock watch`: a value at a path of a target's
//! document, read again after each report of the document's changes —
//! inotify on a data file's directory (jlock-core's [`FileWatch`]), an etcd
//! watch on an `etcd://` key (jlock-etcd's `DocumentWatch`): no polling, no
//! CPU while nothing changes. A file's reads are locked reads that create no
//! file. One loop for both: only [`watched`] knows which target it is.

use std::path::{Path, PathBuf};
use std::time::Instant;

use jlock_core::{Changes, FileWatch, JsonPath, Lookup, Store, Wait};
use jlock_json::Spellings;
use serde_json::Value;

use crate::args::{WaitForArgs, WatchArgs};
use crate::data::{parse_json_arg, parse_path};
use crate::exit::{CliError, CONFLICT, OK};
use crate::output::{try_print_line, Ui};
use crate::target::Target;

/// Reads the value at a path now (`None`: missing, or no document).
type Reader = Box<dyn Fn(&JsonPath) -> Result<Option<(Value, Spellings)>, CliError>>;

/// What `wait` and `watch` follow: a way to read the value, and the
/// document's change reports, opened before the first read so that no
/// change after it is missed.
fn watched(
    target: &Target,
    lock_file: Option<&PathBuf>,
    #[cfg(feature = "etcd")] etcd: &crate::args::EtcdArgs,
) -> Result<(Reader, Box<dyn Changes<CliError>>), CliError> {
    match target {
        Target::File(file) => {
            #[cfg(feature = "etcd")]
            etcd.refuse_for_files()?;
            let changes = Box::new(FileWatch::new(file)?);
            let (file, lock_file) = (file.clone(), lock_file.cloned());
            let reader: Reader = Box::new(move |path| read(&file, lock_file.as_ref(), path));
            Ok((reader, changes))
        }
        #[cfg(feature = "etcd")]
        Target::Etcd(t) => {
            if lock_file.is_some() {
                return Err(CliError::Usage(format!(
                    "--lock-file applies to files, not to {t}"
                )));
            }
            let etcd = crate::target::connect(t, &etcd.connect_options())?;
            let doc = jlock_core::CasDocument::new(
                jlock_etcd::EtcdDocument::new(etcd),
                jlock_json::Style::Preserve,
            );
            // The watch starts after the document's latest read: opened now, it
            // misses nothing either.
            let changes = jlock_core::Document::<CliError>::changes(&doc)?;
            let reader: Reader =
                Box::new(move |path| jlock_core::Document::<CliError>::get(&doc, path));
            Ok((reader, changes))
        }
    }
}

/// The value at `path` now (`None`: missing, or no file), read under the
/// shared lock without creating any file.
fn read(
    file: &Path,
    lock_file: Option<&PathBuf>,
    path: &JsonPath,
) -> Result<Option<(Value, Spellings)>, CliError> {
    let mut builder = Store::builder(file);
    builder.wait(Wait::Block);
    if let Some(lock) = lock_file {
        builder.lock_path(lock);
    }
    Ok(match builder.lookup(path)? {
        Lookup::Found(v) => v,
        Lookup::NoFile => None,
    })
}

/// `jlock wait`.
pub fn wait(args: &WaitForArgs, ui: &Ui) -> Result<u8, CliError> {
    let path = parse_path(args.path.as_deref())?;
    let until = match &args.until {
        Some(text) => Some(parse_json_arg(text).map_err(|e| {
            CliError::Usage(format!(
                "--until {text:?} is not JSON ({e}); quote a string as '\"text\"'"
            ))
        })?),
        None => None,
    };
    let deadline = args.wait.map(|d| Instant::now() + d);
    // The watch first, then the first read: no change can fall between.
    let (read, mut watch) = watched(
        &args.file,
        args.lock_file.as_ref(),
        #[cfg(feature = "etcd")]
        &args.etcd,
    )?;
    let first = read(&path)?;
    let first = first.map(|(v, _)| v).unwrap_or(Value::Null);
    let done = |now: &Value| match &until {
        Some(want) => jlock_json::patch::equal(now, want),
        None => !jlock_json::patch::equal(now, &first),
    };
    if until.is_some() && done(&first) {
        return Ok(OK);
    }
    loop {
        let more = watch.wait(deadline)?;
        let now = read(&path)?;
        if done(&now.map(|(v, _)| v).unwrap_or(Value::Null)) {
            return Ok(OK);
        }
        if !more {
            ui.say(&format!(
                "{}: {path}: timed out after {:.3} s",
                args.file.display(),
                args.wait.unwrap_or_default().as_secs_f64()
            ));
            return Ok(CONFLICT);
        }
    }
}

/// `jlock watch`.
pub fn watch(args: &WatchArgs, _ui: &Ui) -> Result<u8, CliError> {
    let path = parse_path(args.path.as_deref())?;
    let (read, mut watch) = watched(
        &args.file,
        args.lock_file.as_ref(),
        #[cfg(feature = "etcd")]
        &args.etcd,
    )?;
    let mut last: Option<String> = None;
    loop {
        let (value, spellings) = read(&path)?.unwrap_or((Value::Null, Spellings::default()));
        let text = jlock_json::value_text(&value, false, &spellings);
        if last.as_deref() != Some(&text) {
            let line = if args.json_seq {
                format!("\u{1e}{text}")
            } else {
                text.clone()
            };
            if let Err(e) = try_print_line(&line) {
                // A reader that went away (`| head -1`) ends the watch.
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(OK);
                }
                return Err(CliError::Io {
                    path: "stdout".into(),
                    source: e,
                });
            }
            last = Some(text);
        }
        watch.wait(None)?;
    }
}
