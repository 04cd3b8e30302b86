//! `jlock wait` and `jlock watch`: a value at a path of a data file, read
//! again after each change inotify reports on the file's directory
//! (jlock-core's [`FileWatch`]) — no polling, no CPU while nothing changes.
//! Each read is a locked read that creates no file. Not offered on
//! `etcd://` targets (a usage error).

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

/// The local file a target names; `etcd://` is refused.
fn local_file<'a>(target: &'a Target, _command: &str) -> Result<&'a Path, CliError> {
    match target {
        Target::File(p) => Ok(p),
        #[cfg(feature = "etcd")]
        Target::Etcd(t) => Err(CliError::Usage(format!(
            "`jlock {command}` watches local files only (inotify), not {t}: \
             for etcd, use `etcdctl watch`, or `jlock pop -w` for a queue",
            command = _command
        ))),
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
    let file = local_file(&args.file, "wait")?;
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
    let mut watch = FileWatch::new(file)?;
    let first = read(file, args.lock_file.as_ref(), &path)?;
    let first = first.map(|(v, _)| v).unwrap_or(Value::Null);
    let done = |now: &Value| match &until {
        Some(want) => jlock_json::patch::equal(now, want),
        None => !jlock_json::patch::equal(now, &first),
    };
    if until.is_some() && done(&first) {
        return Ok(OK);
    }
    loop {
        let more = Changes::<CliError>::wait(&mut watch, deadline)?;
        let now = read(file, args.lock_file.as_ref(), &path)?;
        if done(&now.map(|(v, _)| v).unwrap_or(Value::Null)) {
            return Ok(OK);
        }
        if !more {
            ui.say(&format!(
                "{}: {path}: timed out after {:.3} s",
                file.display(),
                args.wait.unwrap_or_default().as_secs_f64()
            ));
            return Ok(CONFLICT);
        }
    }
}

/// `jlock watch`.
pub fn watch(args: &WatchArgs, _ui: &Ui) -> Result<u8, CliError> {
    let file = local_file(&args.file, "watch")?;
    let path = parse_path(args.path.as_deref())?;
    let mut watch = FileWatch::new(file)?;
    let mut last: Option<String> = None;
    loop {
        let (value, spellings) = read(file, args.lock_file.as_ref(), &path)?
            .unwrap_or((Value::Null, Spellings::default()));
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
        Changes::<CliError>::wait(&mut watch, None)?;
    }
}
