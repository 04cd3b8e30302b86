//! `jlock status`: whether a lock is free, held shared or exclusive, by whom and since
//! when, who waits, a semaphore's slots, and the document beside it — one rendering (text
//! or JSON) of the [`Status`] every backend gives: the kernel's lock table for files,
//! the queue keys for `etcd://`.

use jlock_core::{Holder, Queue, Slots, Status};
use serde_json::{json, Map, Value};

use crate::args::StatusArgs;
use crate::exit::{CliError, HELD, OK};
use crate::output::{describe, print_line, timestamp, Ui};
use crate::target::Target;

/// `jlock status`: exits [`OK`] if the lock is free (a new holder would get
/// it now; a semaphore: a slot is free), [`HELD`] if it is held; `-q` prints
/// nothing.
pub fn status(args: &StatusArgs, ui: &Ui) -> Result<u8, CliError> {
    let st = match &args.path {
        Target::File(path) => {
            #[cfg(feature = "etcd")]
            args.etcd.refuse_for_files()?;
            Status::of_file(path, args.lock_file.as_deref())?
        }
        #[cfg(feature = "etcd")]
        Target::Etcd(t) => {
            if args.lock_file.is_some() {
                return Err(CliError::Usage(format!(
                    "--lock-file applies to files, not to {t}"
                )));
            }
            crate::target::connect(t, &args.etcd.connect_options())?.status()?
        }
    };
    if !ui.quiet {
        print_line(&if args.json {
            as_json(&st)
        } else {
            as_text(&st)
        });
    }
    Ok(if st.is_free() { OK } else { HELD })
}

/// What a status line calls one part of a target: its file where it is one,
/// else `TARGET (lock)`, `TARGET (slots)`, `TARGET (document)`.
fn name_of(st: &Status, what: &str, file: Option<&std::path::Path>) -> String {
    match file {
        Some(f) => f.display().to_string(),
        None => format!("{} ({what})", st.target),
    }
}

fn as_text(st: &Status) -> String {
    let mut out = String::new();
    if let Some(d) = st.document.as_ref().filter(|d| d.path.is_some()) {
        document_line(&mut out, &name_of(st, "document", d.path.as_deref()), d);
    }
    // A semaphore of slot files is all there is to say of its name.
    if st.slots.as_ref().is_none_or(|s| s.files.is_empty()) {
        let name = name_of(st, "lock", st.lock_file.as_deref());
        let no_file = st.lock_file.is_some() && !st.exists;
        queue_lines(&mut out, &name, &st.lock, no_file);
    }
    if let Some(s) = &st.slots {
        if !s.files.is_empty() || !s.queue.holders.is_empty() || !s.queue.waiters.is_empty() {
            slots_lines(&mut out, st, s);
        }
    }
    if !st.fair.is_empty() {
        out.push_str("fair queue (first come, first served):\n");
        for (i, w) in st.fair.iter().enumerate() {
            out.push_str(&format!("  {}. pid {} [{}]\n", i + 1, w.pid, w.mode.name()));
        }
    }
    if let Some(d) = st.document.as_ref().filter(|d| d.path.is_none()) {
        document_line(&mut out, &name_of(st, "document", None), d);
    }
    out.trim_end().to_string()
}

/// `NAME: free`, or `NAME: held MODE by` and a line per holder; then who waits.
fn queue_lines(out: &mut String, name: &str, q: &Queue, no_file: bool) {
    match q.holders.as_slice() {
        [] if no_file => out.push_str(&format!("{name}: free (no lock file yet)\n")),
        [] => out.push_str(&format!("{name}: free\n")),
        hs => {
            out.push_str(&format!("{name}: held {} by\n", q.state().name()));
            for h in hs {
                out.push_str(&format!("  {}\n", describe(h)));
            }
        }
    }
    waiter_lines(out, &q.waiters);
}

fn waiter_lines(out: &mut String, waiters: &[Holder]) {
    if !waiters.is_empty() {
        out.push_str("waiting for it:\n");
        for h in waiters {
            out.push_str(&format!("  {} [{}]\n", describe(h), h.mode.name()));
        }
    }
}

/// `NAME: K of N slots held`, and each slot: free, or its holder.
fn slots_lines(out: &mut String, st: &Status, s: &Slots) {
    let name = match s.files.is_empty() {
        true => name_of(st, "slots", None),
        false => st.target.clone(),
    };
    out.push_str(&format!("{name}: {} of {} slots held\n", s.held(), s.count));
    if s.files.is_empty() {
        // Which slot each holder has is not recorded (etcd): the holders.
        for h in &s.queue.holders {
            out.push_str(&format!("  {}\n", describe(h)));
        }
    } else {
        for i in 0..s.count {
            let hs: Vec<&Holder> = s
                .queue
                .holders
                .iter()
                .filter(|h| h.slot == Some(i))
                .collect();
            if hs.is_empty() {
                out.push_str(&format!("  slot {i}: free\n"));
            }
            for h in hs {
                out.push_str(&format!("  slot {i}: {}\n", describe(h)));
            }
        }
    }
    waiter_lines(out, &s.queue.waiters);
}

fn document_line(out: &mut String, name: &str, d: &jlock_core::DocumentInfo) {
    if !d.exists {
        out.push_str(&format!("{name}: does not exist yet (reads as null)\n"));
        return;
    }
    let mut line = format!("{name}: {} bytes", d.bytes);
    if let Some(t) = d.modified {
        line.push_str(&format!(", changed {}", timestamp(t)));
    }
    if let Some(r) = d.revision {
        // etcd's own revision of the key, not a `jlock rev` token.
        line.push_str(&format!(", etcd mod revision {r}"));
    }
    if let Some(j) = d.journal {
        line.push_str(&format!("; journal: {j}"));
    }
    out.push_str(&line);
    out.push('\n');
}

/// Paths in the JSON are text: a name that is not UTF-8 is shown with
/// U+FFFD in place of its bad bytes (serde_json refuses such a path).
///
/// One holder or waiter as JSON: what every backend knows, then what this
/// one adds (host, when it queued, fence, slot, lease).
fn holder_json(h: &Holder) -> Value {
    let mut v = Map::new();
    v.insert("pid".into(), json!(h.pid));
    v.insert("mode".into(), json!(h.mode.name()));
    v.insert("command".into(), json!(h.command));
    v.insert("started".into(), json!(h.started.map(timestamp)));
    if let Some(host) = &h.host {
        v.insert("host".into(), json!(host));
        v.insert("since".into(), json!(h.queued.map(timestamp)));
    }
    if let Some(f) = h.fence {
        v.insert("fence".into(), json!(f));
    }
    if let Some(i) = h.slot {
        v.insert("slot".into(), json!(i));
    }
    if let Some(l) = &h.lease {
        v.insert("key".into(), json!(l.key));
        v.insert("lease".into(), json!(format!("{:x}", l.id)));
        v.insert("ttl_left".into(), json!(l.ttl_left));
    }
    Value::Object(v)
}

fn list(hs: &[Holder]) -> Vec<Value> {
    hs.iter().map(holder_json).collect()
}

fn as_json(st: &Status) -> String {
    let mut v = Map::new();
    v.insert("target".into(), json!(st.target));
    if let Some(l) = &st.lock_file {
        v.insert("lock_file".into(), json!(l.to_string_lossy()));
    }
    v.insert("exists".into(), json!(st.exists));
    let slots_only =
        st.lock_file.is_none() && st.slots.as_ref().is_some_and(|s| !s.files.is_empty());
    match (&st.slots, slots_only) {
        (Some(s), true) => {
            let state = if s.is_full() { "full" } else { "free" };
            v.insert("state".into(), json!(state));
            v.insert("held".into(), json!(s.held()));
        }
        _ => {
            v.insert("state".into(), json!(st.lock.state().name()));
            v.insert("holders".into(), json!(list(&st.lock.holders)));
            v.insert("waiters".into(), json!(list(&st.lock.waiters)));
        }
    }
    if let Some(s) = &st.slots {
        let mut slots = json!({
            "count": s.count,
            "held": s.held(),
            "holders": list(&s.queue.holders),
            "waiters": list(&s.queue.waiters),
        });
        if !s.files.is_empty() {
            let files: Vec<_> = s.files.iter().map(|f| f.to_string_lossy()).collect();
            slots["files"] = json!(files);
        }
        v.insert("slots".into(), slots);
    }
    match &st.document {
        // A data file: always described, under "data".
        Some(d) if d.path.is_some() => {
            let path = d.path.as_ref().map(|p| p.to_string_lossy());
            let mut data = json!({"path": path, "exists": d.exists, "journal": d.journal});
            if d.exists {
                data["bytes"] = json!(d.bytes);
                data["modified"] = json!(d.modified.map(timestamp));
            }
            v.insert("data".into(), data);
        }
        // Another backend's document: null if there is none yet.
        Some(d) => {
            let doc = match d.exists {
                true => json!({"bytes": d.bytes, "revision": d.revision}),
                false => Value::Null,
            };
            v.insert("document".into(), doc);
        }
        None => {}
    }
    if st.lock_file.is_some() || st.slots.as_ref().is_some_and(|s| !s.files.is_empty()) {
        let fair: Vec<Value> = st
            .fair
            .iter()
            .map(|w| json!({"ticket": w.ticket, "pid": w.pid, "mode": w.mode.name()}))
            .collect();
        v.insert("fair_queue".into(), json!(fair));
    }
    Value::Object(v).to_string()
}
