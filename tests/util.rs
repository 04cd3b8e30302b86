//! Helpers shared by the end-to-end tests.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The path of the built `jlock` binary.
pub fn jlock_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_jlock"))
}

/// An assert_cmd command for `jlock` with the given arguments, run in `dir`.
pub fn jlock(dir: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(jlock_bin());
    cmd.current_dir(dir).args(args);
    cmd
}

/// script(1) running `jlock ARGS` on a terminal of its own, in `dir`. The
/// line starts with `exec` and SHELL is pinned: script(1) runs it with
/// `$SHELL -c`, and a shell left as jlock's parent would be in the
/// terminal's foreground group too (and dash, CI's /bin/sh, dies of a ^C).
pub fn on_a_terminal(dir: &Path, args: &str) -> Command {
    let line = format!("exec {} {args}", jlock_bin().display());
    let mut cmd = Command::new("script");
    cmd.current_dir(dir)
        .env("SHELL", "/bin/sh")
        .args(["-qfec", &line, "/dev/null"]);
    cmd
}

/// The longest any one test process may live: past it, a watchdog kills its
/// process group, so a test that would wait for it forever fails instead
/// (its pipes close, its `wait` returns).
pub const PROCESS_LIMIT: Duration = Duration::from_secs(300);

/// Prepares `cmd` to be spawned by a test: in a process group of its own
/// (which a [`Watchdog`] can kill whole), and with the signals the tests
/// send at their default disposition and unblocked — under `nohup`, say,
/// SIGHUP arrives ignored, a shell started so cannot trap it, and a test
/// waiting for the trap to answer would wait forever.
pub fn test_process(cmd: &mut Command) -> &mut Command {
    cmd.process_group(0);
    // SAFETY: between fork and exec only async-signal-safe calls are made
    // (signal, sigemptyset, sigprocmask).
    unsafe {
        cmd.pre_exec(|| {
            for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGQUIT] {
                libc::signal(sig, libc::SIG_DFL);
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
    }
    cmd
}

/// Kills the process group of a test process (see [`test_process`]) once
/// [`PROCESS_LIMIT`] has passed, unless dropped first.
pub struct Watchdog {
    stop: Option<mpsc::Sender<()>>,
}

impl Watchdog {
    /// Watches the process group `pgid` (a [`test_process`]'s pid).
    pub fn new(pgid: u32) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(PROCESS_LIMIT) {
                eprintln!("watchdog: process group {pgid} ran past {PROCESS_LIMIT:?}; killed");
                // SAFETY: kill(2) of a process group this test started.
                unsafe { libc::kill(-(pgid as i32), libc::SIGKILL) };
            }
        });
        Watchdog { stop: Some(tx) }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A process that holds a lock until told to let go.
pub struct Holder {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
    _watchdog: Watchdog,
}

impl Holder {
    /// Starts `program args`, whose command must print `held` once it holds
    /// the lock and then wait for a line on stdin; returns once `held` has
    /// been read — so the lock is certainly held, with no sleep involved.
    pub fn start(dir: &Path, program: &Path, args: &[&str]) -> Holder {
        let mut child = test_process(Command::new(program).current_dir(dir).args(args))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn holder");
        let watchdog = Watchdog::new(child.id());
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read holder");
        assert_eq!(line.trim(), "held", "holder did not report the lock");
        Holder {
            child,
            stdout,
            _watchdog: watchdog,
        }
    }

    /// `jlock run ARGS -c 'echo held; read x'`.
    pub fn jlock_run(dir: &Path, run_args: &[&str]) -> Holder {
        let mut args = vec!["run"];
        args.extend_from_slice(run_args);
        args.extend_from_slice(&["-c", "echo held; read x"]);
        Holder::start(dir, &jlock_bin(), &args)
    }

    /// Lets the holder's command finish and waits for it.
    pub fn release(mut self) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"\n").expect("release");
        assert!(self.child.wait().expect("wait").success());
    }
}

/// Starts `n` shell loops at once. Each runs `script` (with `$J` the jlock
/// binary and `$I` its index) only after every loop has been started: a
/// barrier on stdin, not a guess at timing. Returns when all have ended, and
/// fails if any loop failed.
pub fn run_loops_together(dir: &Path, n: usize, script: impl Fn(usize) -> String) {
    let mut children: Vec<Child> = (0..n)
        .map(|i| {
            test_process(Command::new("/bin/sh").current_dir(dir))
                .arg("-c")
                .arg(format!("read go; {}", script(i)))
                .env("J", jlock_bin())
                .env("I", i.to_string())
                .stdin(Stdio::piped())
                .spawn()
                .expect("spawn loop")
        })
        .collect();
    let _watchdogs: Vec<Watchdog> = children.iter().map(|c| Watchdog::new(c.id())).collect();
    for c in &mut children {
        c.stdin
            .take()
            .expect("stdin")
            .write_all(b"go\n")
            .expect("go");
    }
    for (i, mut c) in children.into_iter().enumerate() {
        let status = c.wait().expect("wait loop");
        assert!(status.success(), "loop {i} failed: {status}");
    }
}

/// Names of the entries of `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
