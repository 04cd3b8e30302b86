//! The push/pop measurements of `jlock bench`: 4 producers push K
//! elements (the numbers 0..K, a quarter each), 4 consumers pop them, through
//! jlock's work queue on a file, a locked pipe, or a `flock(1)` + `jq` shell
//! queue; afterwards every number must have been taken exactly once and
//! nothing be left in the queue.
//!
//! A consumer of a file queue stops at a `"stop"` element, which each
//! producer pushes after its own: the last element pushed is a `"stop"`,
//! so every number is ahead of it, and with one consumer leaving per
//! `"stop"` the last one leaves with the queue empty. The pipe's consumers
//! stop at its end, once every producer has closed it.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use jlock_core::Store;
use serde_json::{json, Value};

use super::approach::{Carrier, PUSH_POP_SIDE};
use super::child::CONSUMER_PATIENCE;
use super::{io_err, Sample};
use crate::crew::Crew;
use crate::Error;

/// The shell producer: pushes `$FIRST` .. `$FIRST + $N - 1`, then a stop.
const SHELL_PRODUCER: &str = r#"echo "$I ready"; head -c 1 >/dev/null
i=$FIRST; end=$((FIRST + N))
while [ "$i" -lt "$end" ]; do
  flock q.lock sh push.sh "$i" || exit 1
  i=$((i + 1))
done
flock q.lock sh push.sh '"stop"' || exit 1
echo "$I done""#;

/// One push, run under the lock.
const SHELL_PUSH: &str = r#"jq -c --argjson v "$1" '.q += [$v]' q.json > q.tmp && mv q.tmp q.json"#;

/// The shell consumer: pops until it takes a stop, polling while empty.
const SHELL_CONSUMER: &str = r#"echo "$I ready"; head -c 1 >/dev/null
until=$(( $(date +%s) + PATIENCE ))
: > "taken-$I.tmp"
while :; do
  v=$(flock q.lock sh pop.sh); rc=$?
  if [ "$rc" -eq 3 ]; then
    [ "$(date +%s)" -lt "$until" ] || exit 1
    sleep 0.01; continue
  fi
  [ "$rc" -eq 0 ] || exit 1
  [ "$v" = '"stop"' ] && break
  echo "$v" >> "taken-$I.tmp"
done
echo "$I done"
mv "taken-$I.tmp" "taken-$C""#;

/// One pop, run under the lock: prints the first element, 3 if empty.
const SHELL_POP: &str = r#"v=$(jq -c '.q[0]' q.json) || exit 1
[ "$v" = null ] && exit 3
jq -c '.q |= .[1:]' q.json > q.tmp && mv q.tmp q.json && echo "$v""#;

/// Runs one push/pop measurement of `elements` elements in `dir`.
pub fn measure(carrier: Carrier, elements: u64, dir: &Path) -> Result<Sample, Error> {
    let per_producer = elements / PUSH_POP_SIDE as u64;
    let exe = std::env::current_exe().map_err(io_err("jlock"))?;
    let data = dir.join("q.json");
    let fifo = dir.join("q.fifo");
    // The pipe's fifo is held open both ways by this process until every
    // child has opened its end, so that no child blocks in open(2) and the
    // consumers see its end only once the producers have closed it.
    let mut hold = None;
    match carrier {
        Carrier::Jlock | Carrier::FlockJq => {
            fs::write(&data, "{\"q\": []}\n").map_err(io_err("bench queue file"))?;
        }
        Carrier::Pipe => {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &fifo,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o600),
                0,
            )
            .map_err(|e| Error::io(fifo.display(), e.into()))?;
            hold = Some(
                fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&fifo)
                    .map_err(|e| Error::io(fifo.display(), e))?,
            );
        }
    }
    if carrier == Carrier::FlockJq {
        for (name, text) in [("push.sh", SHELL_PUSH), ("pop.sh", SHELL_POP)] {
            fs::write(dir.join(name), text).map_err(io_err("bench script"))?;
        }
    }
    let taken_path = |i: usize| dir.join(format!("taken-{i}"));
    let mut crew = Crew::spawn(2 * PUSH_POP_SIDE, |index| {
        let producer = index < PUSH_POP_SIDE;
        let consumer = index - if producer { 0 } else { PUSH_POP_SIDE };
        let first = index as u64 * per_producer;
        match carrier {
            Carrier::FlockJq => {
                let mut c = Command::new("sh");
                c.current_dir(dir)
                    .env("I", index.to_string())
                    .env("C", consumer.to_string())
                    .env("FIRST", first.to_string())
                    .env("N", per_producer.to_string())
                    .env("PATIENCE", CONSUMER_PATIENCE.as_secs().to_string())
                    .arg("-c")
                    .arg(if producer {
                        SHELL_PRODUCER
                    } else {
                        SHELL_CONSUMER
                    });
                c
            }
            Carrier::Jlock | Carrier::Pipe => {
                let mut c = Command::new(&exe);
                c.arg("bench-child").arg(index.to_string());
                let (push, pop) = if carrier == Carrier::Jlock {
                    c.arg(&data).args(["--path", ".q"]);
                    ("push", "pop")
                } else {
                    let side = if producer { "w.lock" } else { "r.lock" };
                    c.arg(&fifo).arg("--lock").arg(dir.join(side));
                    ("pipe-push", "pipe-pop")
                };
                if producer {
                    c.args(["--role", push])
                        .args(["--first", &first.to_string()])
                        .args(["--ops", &per_producer.to_string()]);
                } else {
                    c.args(["--role", pop])
                        .arg("--out")
                        .arg(taken_path(consumer));
                }
                c
            }
        }
    })
    .map_err(io_err("bench child"))?;
    drop(hold);
    let start = crew.go().map_err(io_err("bench child"))?;
    let mut done = 0;
    let mut end = None;
    while let Some(msg) = crew.next().map_err(io_err("bench child"))? {
        if msg.word == "done" {
            done += 1;
            if done == 2 * PUSH_POP_SIDE {
                end = Some(Instant::now());
            }
        }
    }
    let seconds = end
        .unwrap_or_else(Instant::now)
        .duration_since(start)
        .as_secs_f64();
    crew.finish().map_err(io_err("bench child"))?;

    let mut taken = Vec::new();
    for i in 0..PUSH_POP_SIDE {
        let path = taken_path(i);
        let text = fs::read_to_string(&path).map_err(|e| Error::io(path.display(), e))?;
        taken.extend(text.lines().map(str::to_string));
    }
    let left = match carrier {
        Carrier::Pipe => Vec::new(),
        Carrier::Jlock | Carrier::FlockJq => {
            let doc = Store::open(&data)?.read()?;
            match doc.get("q") {
                Some(Value::Array(items)) => items.clone(),
                other => vec![json!({"not an array": other})],
            }
        }
    };
    let problem = check_exactly_once(elements, &taken, &left);
    Ok(Sample { seconds, problem })
}

/// Checks that `taken` (the consumers' elements, one JSON text each) holds
/// every number of `0..elements` exactly once and nothing else, and that
/// nothing is `left` in the queue; says what is wrong otherwise.
pub fn check_exactly_once(elements: u64, taken: &[String], left: &[Value]) -> Option<String> {
    let mut seen = vec![0u32; usize::try_from(elements).unwrap_or(0)];
    let mut foreign = Vec::new();
    for text in taken {
        let slot = text
            .trim()
            .parse::<usize>()
            .ok()
            .and_then(|n| seen.get_mut(n));
        match slot {
            Some(count) => *count += 1,
            None => foreign.push(text.as_str()),
        }
    }
    let lost = seen.iter().filter(|&&c| c == 0).count();
    let twice = seen.iter().filter(|&&c| c > 1).count();
    let mut wrong = Vec::new();
    if lost > 0 {
        let first = seen.iter().position(|&c| c == 0).unwrap_or(0);
        wrong.push(format!(
            "{lost} element(s) never taken (the first: {first})"
        ));
    }
    if twice > 0 {
        wrong.push(format!("{twice} element(s) taken more than once"));
    }
    if !foreign.is_empty() {
        wrong.push(format!(
            "{} element(s) taken that were never pushed (the first: {})",
            foreign.len(),
            foreign[0]
        ));
    }
    if !left.is_empty() {
        wrong.push(format!("{} element(s) left in the queue", left.len()));
    }
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_element_once_passes() {
        assert_eq!(check_exactly_once(3, &texts(&["2", "0", "1"]), &[]), None);
    }

    #[test]
    fn a_lost_a_doubled_a_foreign_and_a_left_element_are_each_reported() {
        let lost = check_exactly_once(3, &texts(&["0", "2"]), &[]).unwrap();
        assert!(
            lost.contains("1 element(s) never taken (the first: 1)"),
            "{lost}"
        );
        let twice = check_exactly_once(2, &texts(&["0", "1", "1"]), &[]).unwrap();
        assert!(twice.contains("taken more than once"), "{twice}");
        let foreign = check_exactly_once(1, &texts(&["0", "\"stop\""]), &[]).unwrap();
        assert!(foreign.contains("never pushed"), "{foreign}");
        let left = check_exactly_once(1, &texts(&["0"]), &[json!("stop")]).unwrap();
        assert!(left.contains("left in the queue"), "{left}");
    }
}
