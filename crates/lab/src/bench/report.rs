//! The text report of `jlock bench`: the table of medians, the ratios that
//! matter, and a footnote saying what each approach is.

use std::fmt::Write as _;
use std::path::Path;

use jlock_core::Durability;

use super::approach::{Approach, PUSH_POP_SIDE};
use super::Row;

/// A duration for people: `45 s`, `2 min 05 s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

/// The human-readable report.
pub fn table(
    rows: &[Row],
    fs_dir: &Path,
    rounds: usize,
    approaches: &[Approach],
    skipped: &[(Approach, &str)],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "jlock bench — file system of {}; medians of {rounds} round(s)",
        fs_dir.display()
    );
    let _ = writeln!(
        out,
        "{:<18} {:>5} {:>10} {:>6} {:>9} {:>11} {:>10} {:>8}",
        "approach", "procs", "doc bytes", "ops", "seconds", "ops/s", "µs/op", "correct"
    );
    for r in rows.iter().filter(|r| !r.push_pop) {
        line(&mut out, r);
    }
    if rows.iter().any(|r| r.push_pop) {
        let _ = writeln!(
            out,
            "\npush/pop: {PUSH_POP_SIDE} producers and {PUSH_POP_SIDE} consumers (procs), \
             ops = elements moved, each checked taken exactly once"
        );
        let _ = writeln!(
            out,
            "{:<18} {:>5} {:>10} {:>6} {:>9} {:>11} {:>10} {:>8}",
            "approach", "procs", "", "elems", "seconds", "elements/s", "µs/elem", "correct"
        );
        for r in rows.iter().filter(|r| r.push_pop) {
            line(&mut out, r);
        }
    }
    let mut said = String::new();
    ratios(&mut said, rows);
    if !said.is_empty() {
        let _ = write!(out, "\n{said}");
    }
    let _ = writeln!(out, "\nwhat each approach is:");
    for a in approaches {
        let _ = writeln!(out, "  {:<18} {}", a.name(), a.explain());
    }
    for (a, why) in skipped {
        let _ = writeln!(out, "  {:<18} skipped: {why}", a.name());
    }
    for r in rows {
        if let Some(p) = &r.problem {
            let _ = writeln!(out, "WRONG: {} ×{}: {p}", r.approach, r.procs);
        }
    }
    out.truncate(out.trim_end().len());
    out
}

fn line(out: &mut String, r: &Row) {
    let _ = writeln!(
        out,
        "{:<18} {:>5} {:>10} {:>6} {:>9.3} {:>11.0} {:>10.1} {:>8}",
        r.approach,
        r.procs,
        if r.push_pop {
            String::new()
        } else {
            r.doc_bytes.to_string()
        },
        r.ops,
        r.seconds,
        r.ops_per_sec(),
        1e6 / r.ops_per_sec().max(1e-9),
        if r.correct() { "yes" } else { "NO" }
    );
}

/// The ratios that matter, where their rows were measured.
fn ratios(out: &mut String, rows: &[Row]) {
    let find = |a: &str, procs: usize| {
        rows.iter()
            .filter(|r| r.approach == a && r.procs == procs)
            .min_by_key(|r| r.doc_bytes)
    };
    let rate = |r: &Row| r.ops_per_sec().max(1e-9);
    let max_procs = rows
        .iter()
        .filter(|r| !r.push_pop)
        .map(|r| r.procs)
        .max()
        .unwrap_or(1);
    for mode in Durability::ALL {
        let name = format!("store:{mode}");
        if let (Some(one), Some(many)) = (find(&name, 1), find(&name, max_procs)) {
            if max_procs > 1 && one.doc_bytes == many.doc_bytes {
                let _ = writeln!(
                    out,
                    "{name}: {max_procs} processes keep {:.0}% of 1 process's ops/s ({} B document)",
                    100.0 * rate(many) / rate(one),
                    one.doc_bytes
                );
            }
        }
    }
    if let (Some(q), Some(s)) = (find("queue", 1), find("store:rename", 1)) {
        let _ = writeln!(
            out,
            "queue: {:.0}× store:rename with 1 process",
            rate(q) / rate(s)
        );
    }
    // The modes that survive power loss, against the peer that does.
    for mode in Durability::ALL {
        if matches!(mode, Durability::Journal | Durability::Rename) {
            continue;
        }
        let name = format!("store:{mode}");
        for procs in [1, 4, 16] {
            if let (Some(f), Some(s)) = (find(&name, procs), find("sqlite:wal-full", procs)) {
                let _ = writeln!(
                    out,
                    "{name}: {:.2}× sqlite:wal-full's ops/s with {procs} process(es) \
                     (both survive power loss)",
                    rate(f) / rate(s)
                );
            }
        }
    }
    let pp = 2 * PUSH_POP_SIDE;
    if let Some(j) = find("push-pop:jlock", pp) {
        for peer in ["push-pop:pipe", "push-pop:flock-jq"] {
            if let Some(p) = find(peer, pp) {
                let x = rate(j) / rate(p);
                let said = if x >= 1.0 {
                    format!("{x:.1}× {peer}'s elements/s")
                } else {
                    format!("1/{:.0} of {peer}'s elements/s", 1.0 / x)
                };
                let _ = writeln!(out, "push-pop:jlock: {said}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(4.4), "4 s");
        assert_eq!(duration(125.0), "2 min 05 s");
    }
}
