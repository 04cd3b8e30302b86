//! Measures a one-key edit of a 1 MB pretty-printed document with the lossless engine (parse + change + render), next to serde_json's parse + re-serialize.
//!
//! Run: `cargo run --release -p jlock-json --example lossless_edit` (a
//! measurement to read, not a test: nothing here asserts a time). With
//! `ONE_SHOT=1` it does one edit, as one `jlock set` process does (run it a
//! few times); `PARSE_ONLY=1` / `RENDER_ONLY=1` loop one part, for a profiler.

use std::hint::black_box;
use std::time::{Duration, Instant};

use jlock_json::{Style, SyntaxTree};
use serde_json::{json, Value};

fn document(size: usize) -> Vec<u8> {
    let mut items = Vec::new();
    let mut doc = json!({"counter": 0, "items": []});
    let mut i = 0u64;
    loop {
        items.push(json!({
            "id": 12345678901234567890u64 + i,
            "name": format!("item number {i}"),
            "price": 19.99,
            "ratio": 0.9999999999999999,
            "tags": ["alpha", "beta", "gamma"],
            "nested": {"x": i, "y": [1, 2, 3], "ok": true, "none": null}
        }));
        i += 1;
        if i.is_multiple_of(256) {
            doc["items"] = Value::Array(items.clone());
            if serde_json::to_vec_pretty(&doc).map_or(0, |v| v.len()) >= size {
                break;
            }
        }
    }
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn stats(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<42} min {:>7.3} ms   median {:>7.3} ms   p90 {:>7.3} ms",
        at(0.0).as_secs_f64() * 1e3,
        at(0.5).as_secs_f64() * 1e3,
        at(0.9).as_secs_f64() * 1e3
    );
}

/// CPU time of this thread: unlike wall time, not inflated by other
/// processes competing for the cores.
fn cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn main() {
    let bytes = document(1 << 20);
    if std::env::var_os("ONE_SHOT").is_some() {
        // What one `jlock set` process does: one parse, edit, render.
        let (t, c) = (Instant::now(), cpu_now());
        let (doc, mut v) = SyntaxTree::parse(&bytes).expect("parses");
        v["counter"] = json!(1);
        let out = doc.render(&bytes, &v, Style::Preserve).expect("renders");
        let (wall, cpu) = (t.elapsed(), cpu_now() - c);
        let (t2, c2) = (Instant::now(), cpu_now());
        let mut v: Value = serde_json::from_slice(&bytes).expect("parses");
        v["counter"] = json!(1);
        let old = serde_json::to_vec_pretty(&v).expect("serializes");
        println!(
            "one shot: lossless {:.3} ms wall {:.3} ms CPU; serde_json {:.3} ms wall {:.3} ms CPU",
            wall.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e3,
            t2.elapsed().as_secs_f64() * 1e3,
            (cpu_now() - c2).as_secs_f64() * 1e3
        );
        black_box((out, old, doc));
        return;
    }
    if std::env::var_os("PARSE_ONLY").is_some() {
        // For profiling the parser alone.
        for _ in 0..200 {
            black_box(SyntaxTree::parse(&bytes).expect("parses"));
        }
        return;
    }
    if std::env::var_os("RENDER_ONLY").is_some() {
        // For profiling the renderer alone.
        let (doc, mut v) = SyntaxTree::parse(&bytes).expect("parses");
        for n in 0..1000 {
            v["counter"] = json!(n + 1);
            black_box(doc.render(&bytes, &v, Style::Preserve).expect("renders"));
        }
        return;
    }
    println!(
        "document: {} bytes, pretty-printed; {RUNS} runs each",
        bytes.len()
    );
    let (mut wall, mut cpu, mut parse_cpu, mut render_cpu) = (vec![], vec![], vec![], vec![]);
    let mut changed = 0;
    for n in 0..RUNS {
        let (t, c) = (Instant::now(), cpu_now());
        let (doc, mut v) = SyntaxTree::parse(&bytes).expect("parses");
        let parsed = cpu_now();
        v["counter"] = json!(n + 1);
        let out = doc.render(&bytes, &v, Style::Preserve).expect("renders");
        let done = cpu_now();
        wall.push(t.elapsed());
        cpu.push(done - c);
        parse_cpu.push(parsed - c);
        render_cpu.push(done - parsed);
        let prefix = out.iter().zip(&bytes).take_while(|(a, b)| a == b).count();
        let suffix = out
            .iter()
            .rev()
            .zip(bytes.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        changed = out.len().saturating_sub(prefix + suffix);
        black_box(out);
    }
    let (mut serde_wall, mut serde_cpu) = (vec![], vec![]);
    for n in 0..RUNS {
        let (t, c) = (Instant::now(), cpu_now());
        let mut v: Value = serde_json::from_slice(&bytes).expect("parses");
        v["counter"] = json!(n + 1);
        let out = serde_json::to_vec_pretty(&v).expect("serializes");
        serde_wall.push(t.elapsed());
        serde_cpu.push(cpu_now() - c);
        black_box(out);
    }
    let (mut read_cpu, mut serde_read_cpu) = (vec![], vec![]);
    for _ in 0..RUNS {
        let c = cpu_now();
        black_box(jlock_json::parse_value(&bytes).expect("parses"));
        read_cpu.push(cpu_now() - c);
        let c = cpu_now();
        black_box(serde_json::from_slice::<Value>(&bytes).expect("parses"));
        serde_read_cpu.push(cpu_now() - c);
    }
    // Render alone, on one parsed document (no parse, no freeing of trees).
    let (doc, mut v) = SyntaxTree::parse(&bytes).expect("parses");
    let mut render_only = vec![];
    for n in 0..RUNS {
        v["counter"] = json!(n + 1);
        let c = cpu_now();
        black_box(doc.render(&bytes, &v, Style::Preserve).expect("renders"));
        render_only.push(cpu_now() - c);
    }
    stats("render alone (same parsed document), CPU", render_only);
    stats("lossless parse + edit + render, wall", wall);
    stats("lossless parse + edit + render, CPU", cpu);
    stats("  parse (tree + Value), CPU", parse_cpu);
    stats("  edit + render, CPU", render_cpu);
    stats("serde_json parse + to_vec_pretty, wall", serde_wall);
    stats("serde_json parse + to_vec_pretty, CPU", serde_cpu);
    stats("read only: jlock_json::parse_value, CPU", read_cpu);
    stats("read only: serde_json::from_slice, CPU", serde_read_cpu);
    println!("bytes rewritten by the edit: {changed}");
}

const RUNS: usize = 100;
