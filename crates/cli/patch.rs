//! `jlock patch`: an RFC 6902 JSON Patch or RFC 7396 Merge Patch, from a file or stdin, applied to a target's document as one update (jlock-json's `patch` on the engine's `Document::update`).

use jlock_json::Spellings;

use crate::args::PatchArgs;
use crate::document;
use crate::exit::{CliError, OK};
use crate::output::Ui;

/// `jlock patch`: an RFC 6902 JSON Patch (or, with `--merge`, an RFC 7396
/// Merge Patch) read from PATCH or stdin, applied as one update — every
/// operation or none — and written back losslessly.
pub fn patch(args: &PatchArgs, ui: &Ui) -> Result<u8, CliError> {
    let (name, text) = match args.patch.as_deref() {
        None => ("-".to_string(), read_patch(std::io::stdin().lock(), "-")?),
        Some(p) if p.as_os_str() == "-" => ("-".into(), read_patch(std::io::stdin().lock(), "-")?),
        Some(p) => {
            let io = |source| CliError::Io {
                path: p.to_path_buf(),
                source,
            };
            let file = std::fs::File::open(p).map_err(io)?;
            (
                p.display().to_string(),
                read_patch(file, &p.display().to_string())?,
            )
        }
    };
    // Empty text is `null` to the parser: a merge patch of null would
    // replace the whole document. An empty patch is no patch.
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(CliError::Usage(format!(
            "{name}: the patch is empty (a JSON Patch is an array of operations; a merge patch, a JSON value)"
        )));
    }
    let patch = jlock_json::parse_value(&text)
        .map_err(|e| CliError::Usage(format!("{name}: the patch is not JSON: {e}")))?;
    let file = std::path::PathBuf::from(args.store.file.display().to_string());
    match &args.store.file {
        crate::target::Target::File(path) => refuse_before_creating(path, args, &patch, &file)?,
        #[cfg(feature = "etcd")]
        crate::target::Target::Etcd(_) => {}
    }
    let doc = document::open(&args.store, *ui)?;
    doc.update(&mut |doc| {
        if args.merge {
            jlock_json::patch::apply_merge_patch(doc, &patch);
        } else {
            jlock_json::patch::apply_patch(doc, &patch)
                .map_err(|e| jlock_core::Error::in_document(&file, e))?;
        }
        // New values are written as the patch spelled them.
        Ok(Spellings::of(&text))
    })?;
    Ok(OK)
}

/// A patch that fails on the empty document (a missing file's: `null`) is
/// refused before any file is made, when neither the data file nor its lock
/// file exists yet: a failed patch leaves no lock file behind. (The update
/// that follows still applies the patch under the lock, to whatever the
/// file holds by then.)
fn refuse_before_creating(
    path: &std::path::Path,
    args: &PatchArgs,
    patch: &serde_json::Value,
    file: &std::path::Path,
) -> Result<(), CliError> {
    let lock = args
        .store
        .lock_file
        .clone()
        .unwrap_or_else(|| jlock_core::Store::builder(path).default_lock_path());
    let missing = |p: &std::path::Path| matches!(p.symlink_metadata(), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
    if args.merge || !missing(path) || !missing(&lock) {
        return Ok(());
    }
    let mut empty = serde_json::Value::Null;
    jlock_json::patch::apply_patch(&mut empty, patch)
        .map_err(|e| jlock_core::Error::in_document(file, e))?;
    Ok(())
}

/// The largest patch read (as `update` bounds its command's output): no
/// input, `/dev/zero` included, makes jlock allocate without bound.
const MAX_PATCH: u64 = 256 << 20;

fn read_patch(from: impl std::io::Read, name: &str) -> Result<Vec<u8>, CliError> {
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(from, MAX_PATCH + 1), &mut text).map_err(
        |source| CliError::Io {
            path: name.into(),
            source,
        },
    )?;
    if text.len() as u64 > MAX_PATCH {
        return Err(CliError::Usage(format!(
            "{name}: the patch is larger than {} MiB",
            MAX_PATCH >> 20
        )));
    }
    Ok(text)
}
