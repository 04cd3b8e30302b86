//! The data subcommands — `get`, `set`, `del`, `incr`, `update` — on a
//! [`jlock_core::Store`].

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

use jlock_core::{JsonPath, Lookup};
use jlock_json::Spellings;
use serde_json::Value;

use crate::args::{DelArgs, GetArgs, IncrArgs, RevArgs, SetArgs, UpdateArgs};
use crate::document;
use crate::exit::{status_code, CliError, CONFLICT, OK};
use crate::output::{print_line, try_print_line, Ui};
use crate::target::Target;

pub(crate) fn parse_path(path: Option<&str>) -> Result<JsonPath, CliError> {
    Ok(JsonPath::parse(path.unwrap_or("."))?)
}

pub(crate) fn to_text(value: &Value, raw: bool, pretty: bool, spellings: &Spellings) -> String {
    match value {
        Value::String(s) if raw => s.clone(),
        // Numbers as the file spelled them (`1E2`, not `1e+2`).
        v => jlock_json::value_text(v, pretty, spellings),
    }
}

/// `jlock rev`: the document's revision, for a later `--if-rev`.
pub fn rev(args: &RevArgs, ui: &Ui) -> Result<u8, CliError> {
    if args.store.if_rev.is_some() {
        return Err(CliError::Usage(
            "--if-rev applies to writes (set, del, incr, update, patch), not to rev".into(),
        ));
    }
    let rev = match &args.store.file {
        Target::File(file) => document::revision(file, &args.store, *ui)?,
        #[cfg(feature = "etcd")]
        Target::Etcd(_) => document::open(&args.store, *ui)?.revision()?,
    };
    print_line(&rev.to_string());
    Ok(OK)
}

/// `jlock get`.
pub fn get(args: &GetArgs, ui: &Ui) -> Result<u8, CliError> {
    let path = parse_path(args.path.as_deref())?;
    let default = match &args.default {
        Some(text) => Some(parse_json_arg(text).map_err(|e| {
            CliError::Usage(format!(
                "--default {text:?} is not JSON ({e}); quote a string as '\"text\"'"
            ))
        })?),
        None => None,
    };
    let found = match &args.file {
        Target::File(file) => match document::lookup(file, &path, args, *ui)? {
            Lookup::Found(v) => v,
            Lookup::NoFile if default.is_some() => None,
            Lookup::NoFile => {
                return Err(CliError::NoSuchFile {
                    path: file.clone(),
                    noun: "file",
                })
            }
        },
        // One read of the key, so that a missing one is told from a null
        // value (CasDocument::get, which reads for every other command, is
        // not told), then the value as CasDocument::get finds it.
        #[cfg(feature = "etcd")]
        Target::Etcd(target) => {
            let backend = document::etcd_backend(target, args)?;
            match jlock_core::Backend::read(&backend)? {
                Some(bytes) => {
                    let name = jlock_core::Backend::name(&backend);
                    let in_doc = |e| jlock_core::Error::in_document(name, e);
                    let doc = jlock_json::parse_value(&bytes).map_err(in_doc)?;
                    let found = path.get(&doc).map_err(in_doc)?.cloned();
                    found.map(|v| (v, Spellings::of(&bytes)))
                }
                None if default.is_some() => None,
                None => {
                    return Err(CliError::NoSuchFile {
                        path: target.to_string().into(),
                        noun: "key",
                    })
                }
            }
        }
    };
    // A null value counts as missing, as `get` prints both as null.
    let found = found.filter(|(v, _)| !v.is_null());
    let (value, spellings) = match (found, default) {
        (Some(found), _) => found,
        (None, Some(default)) => {
            let spellings = Spellings::of(args.default.as_deref().unwrap_or_default().as_bytes());
            (default, spellings)
        }
        (None, None) => (Value::Null, Spellings::default()),
    };
    print_line(&to_text(&value, args.raw, !args.compact, &spellings));
    let falsy = matches!(value, Value::Null | Value::Bool(false));
    Ok(if args.exit_status && falsy {
        CONFLICT
    } else {
        OK
    })
}

/// `jlock set`.
pub fn set(args: &SetArgs, ui: &Ui) -> Result<u8, CliError> {
    let path = parse_path(Some(&args.path))?;
    let (value, spellings) = if args.string {
        (Value::String(args.value.clone()), Spellings::default())
    } else {
        let value = parse_json_arg(&args.value).map_err(|e| {
            CliError::Usage(format!(
                "VALUE {:?} is not JSON ({e}); quote a string as '\"text\"' or pass --string",
                args.value
            ))
        })?;
        // Its numbers are written as spelled here (`1E2` stays `1E2`).
        (value, Spellings::of(args.value.as_bytes()))
    };
    document::open(&args.store, *ui)?.set(&path, value, &spellings)?;
    Ok(OK)
}

/// `jlock del`.
pub fn del(args: &DelArgs, ui: &Ui) -> Result<u8, CliError> {
    let path = parse_path(Some(&args.path))?;
    document::open(&args.store, *ui)?.delete(&path)?;
    Ok(OK)
}

/// `jlock incr`.
pub fn incr(args: &IncrArgs, ui: &Ui) -> Result<u8, CliError> {
    let path = parse_path(args.path.as_deref())?;
    let by = match parse_json_arg(&args.by) {
        Ok(Value::Number(n)) => n,
        _ => {
            return Err(CliError::Usage(format!(
                "--by {:?} is not a number",
                args.by
            )))
        }
    };
    let value = document::open(&args.store, *ui)?.incr(&path, by)?;
    if !ui.quiet {
        try_print_line(&value.to_string()).map_err(|source| CliError::Unprinted {
            file: args.store.file.display().to_string().into(),
            source,
        })?;
    }
    Ok(OK)
}

/// `jlock update`.
pub fn update(args: &UpdateArgs, ui: &Ui) -> Result<u8, CliError> {
    let doc = document::open(&args.store, *ui)?;
    let pretty = !args.store.compact;
    doc.update(&mut |doc| {
        // The command reads the document indented (or, with --compact, on
        // one line); what it prints is compared value by value, and only
        // what changed is written back.
        let mut input = if pretty {
            serde_json::to_vec_pretty(doc)
        } else {
            serde_json::to_vec(doc)
        }
        .unwrap_or_default();
        input.push(b'\n');
        let output = filter(
            &args.argv,
            &input,
            std::path::Path::new(&args.store.file.display().to_string()),
        )?;
        *doc = parse_one_document(&output).map_err(|reason| CliError::BadOutput {
            file: args.store.file.display().to_string().into(),
            program: args.argv[0].clone(),
            reason,
        })?;
        // What changed is written as the command spelled it.
        Ok(Spellings::of(&output))
    })?;
    Ok(OK)
}

/// The most an `update` command may print: a bound on what jlock reads
/// into memory, far above any JSON file meant to be edited this way.
const MAX_OUTPUT: u64 = 256 << 20;

/// Runs `argv` with `input` on its stdin and returns its stdout, or an error
/// if it cannot run or exits non-zero.
fn filter(argv: &[OsString], input: &[u8], file: &std::path::Path) -> Result<Vec<u8>, CliError> {
    let program = argv[0].clone();
    let child_io = |source| CliError::ChildIo {
        program: program.clone(),
        source,
    };
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|source| CliError::Spawn {
            program: program.clone(),
            source,
        })?;
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut output = Vec::new();
    // Feed stdin from a second thread while reading stdout here, so neither
    // side can fill a pipe and deadlock on a large document. The output is
    // read up to a bound; past it, or on a read error, the command is killed
    // (so neither side waits for the other) and nothing is written.
    let read = std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(mut w) = stdin.take() {
                // A filter may exit without reading all of its input: fine.
                let _ = w.write_all(input);
            }
        });
        let read = match stdout.take() {
            Some(r) => r.take(MAX_OUTPUT + 1).read_to_end(&mut output).map(|_| ()),
            None => Ok(()),
        };
        if read.is_err() || output.len() as u64 > MAX_OUTPUT {
            let _ = child.kill();
        }
        read
    });
    let status = child.wait().map_err(child_io)?;
    read.map_err(child_io)?;
    if output.len() as u64 > MAX_OUTPUT {
        return Err(CliError::BadOutput {
            file: file.to_path_buf(),
            program,
            reason: format!(
                "printed more than {} MiB; nothing was written",
                MAX_OUTPUT >> 20
            ),
        });
    }
    if !status.success() {
        return Err(CliError::ChildFailed {
            program,
            code: status_code(status),
        });
    }
    Ok(output)
}

/// True if `bytes` hold nothing but JSON whitespace.
fn is_blank(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// A JSON argument (VALUE, `--by`), read with the data file's own grammar
/// and limits — numbers exactly as written; empty is not JSON here.
pub(crate) fn parse_json_arg(text: &str) -> Result<Value, String> {
    if is_blank(text.as_bytes()) {
        return Err("it is empty".into());
    }
    jlock_json::parse_value(text.as_bytes()).map_err(|e| e.to_string())
}

/// Parses exactly one JSON document (surrounding white space allowed),
/// with the data file's own grammar and limits.
fn parse_one_document(bytes: &[u8]) -> Result<Value, String> {
    if is_blank(bytes) {
        return Err("printed nothing".into());
    }
    jlock_json::parse_value(bytes).map_err(|e| {
        let text = e.to_string();
        if text.contains("trailing") || text.contains("after the") {
            format!("printed more than one JSON document ({text})")
        } else {
            format!("printed invalid JSON: {text}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_document_exactly() {
        assert_eq!(
            parse_one_document(b" {\"a\":1}\n").unwrap(),
            serde_json::json!({"a": 1})
        );
        assert!(parse_one_document(b"").unwrap_err().contains("nothing"));
        assert!(parse_one_document(b"1 2")
            .unwrap_err()
            .contains("more than one"));
        assert!(parse_one_document(b"{oops")
            .unwrap_err()
            .contains("invalid JSON"));
    }
}
