//! A crew of child processes for the demos and benchmarks — usually the
//! running binary re-executed with a hidden subcommand — all writing one-line
//! messages (`<index> <word> <text>`) into one shared pipe, and started
//! together through a real barrier: each says `ready`, then waits for a byte
//! on its stdin.
//!
//! Every message is a single `write(2)` of less than `PIPE_BUF` bytes, which
//! the kernel delivers whole; so the pipe is, in the tutorial's words, a queue.

use std::io::{self, BufRead, BufReader, PipeReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// One message from a child: its index, a word, and the rest of the line.
pub struct Message {
    /// The child's index in the crew.
    pub index: usize,
    /// What kind of message: `ready`, `tick`, `inc`, `split`, `done`, …
    pub word: String,
    /// The rest of the line.
    pub text: String,
}

/// Running children and the reading end of their shared pipe.
pub struct Crew {
    children: Vec<Child>,
    messages: BufReader<PipeReader>,
    line: String,
}

impl Crew {
    /// Spawns `procs` children, child `i` from `command(i)`, and waits until
    /// every one has said `ready`.
    pub fn spawn(procs: usize, command: impl Fn(usize) -> Command) -> io::Result<Crew> {
        let (reader, writer) = io::pipe()?;
        let mut children = Vec::with_capacity(procs);
        for index in 0..procs {
            let child = command(index)
                .stdin(Stdio::piped())
                .stdout(writer.try_clone()?)
                .spawn()?;
            children.push(child);
        }
        // Only the children hold the writing end now: EOF means all are done.
        drop(writer);
        let mut crew = Crew {
            children,
            messages: BufReader::new(reader),
            line: String::new(),
        };
        crew.await_all("ready")?;
        Ok(crew)
    }

    /// Reads messages until every child has sent `word`; other messages
    /// arriving meanwhile are an error (the protocol is lock-step here).
    pub fn await_all(&mut self, word: &str) -> io::Result<()> {
        let mut seen = vec![false; self.children.len()];
        while seen.iter().any(|s| !s) {
            let msg = self.next()?.ok_or_else(|| {
                io::Error::other(format!("a demo child exited before saying {word:?}"))
            })?;
            if msg.word != word {
                return Err(io::Error::other(format!(
                    "child {} said {:?} while waiting for {word:?}",
                    msg.index, msg.word
                )));
            }
            seen[msg.index] = true;
        }
        Ok(())
    }

    /// Releases every child waiting at the barrier; returns the time of release.
    pub fn go(&mut self) -> io::Result<Instant> {
        let start = Instant::now();
        for child in &mut self.children {
            if let Some(stdin) = child.stdin.as_mut() {
                stdin.write_all(b"g")?;
            }
        }
        Ok(start)
    }

    /// The next message, or `None` once every child has closed the pipe.
    pub fn next(&mut self) -> io::Result<Option<Message>> {
        self.line.clear();
        if self.messages.read_line(&mut self.line)? == 0 {
            return Ok(None);
        }
        let line = self.line.trim_end_matches('\n');
        let mut parts = line.splitn(3, ' ');
        let index = parts.next().and_then(|i| i.parse().ok());
        let word = parts.next();
        match (index, word) {
            (Some(index), Some(word)) if index < self.children.len() => Ok(Some(Message {
                index,
                word: word.to_string(),
                text: parts.next().unwrap_or("").to_string(),
            })),
            _ => Err(io::Error::other(format!(
                "garbled message from a child: {line:?}"
            ))),
        }
    }

    /// Waits for every child; fails if any failed.
    pub fn finish(mut self) -> io::Result<()> {
        for (i, child) in self.children.iter_mut().enumerate() {
            drop(child.stdin.take());
            let status = child.wait()?;
            if !status.success() {
                return Err(io::Error::other(format!(
                    "child process {i} failed: {status}"
                )));
            }
        }
        Ok(())
    }
}

impl Drop for Crew {
    fn drop(&mut self) {
        // On an early return, leave no child behind.
        for child in &mut self.children {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
