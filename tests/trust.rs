//! Trust: journal records that never undo or inject data, files planted by
//! another user in a shared directory refused along the whole path, and no
//! exit code that lies about what was applied. Cases that need a second user
//! run as root with a throwaway user this test creates; without root they
//! are skipped with a printed reason.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use jlock_core::{Durability, Store};
use predicates::str::contains;
use serde_json::json;

use crate::util::{jlock, jlock_bin};

/// A throwaway user's (uid, gid), created once; `None` (with the reason
/// printed) when this process is not root or cannot create one.
pub(crate) fn other_user() -> Option<(u32, u32)> {
    static USER: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *USER.get_or_init(|| {
        if my_uid() != 0 {
            eprintln!("skipped: a second user's tests need root (CI runs them as root)");
            return None;
        }
        let name = "jlock-tester";
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, name]).output().ok()?;
            String::from_utf8(out.stdout).ok()?.trim().parse().ok()
        };
        if id("-u").is_none() {
            let _ = Command::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/bin/false",
                    name,
                ])
                .status();
        }
        match (id("-u"), id("-g")) {
            (Some(u), Some(g)) => Some((u, g)),
            _ => {
                eprintln!("skipped: could not create the throwaway user {name}");
                None
            }
        }
    })
}

fn my_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// A world-writable sticky directory (like /tmp) inside a directory anyone
/// may traverse.
fn shared_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let shared = dir.path().join("tmp");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    (dir, shared)
}

/// `jlock ARGS` run as `user`.
pub(crate) fn jlock_as(user: (u32, u32), dir: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = Command::new(jlock_bin());
    cmd.current_dir(dir).args(args).uid(user.0).gid(user.1);
    cmd.env_remove("HOME");
    assert_cmd::Command::from_std(cmd)
}

fn chown(path: &Path, user: (u32, u32)) {
    std::os::unix::fs::lchown(path, Some(user.0), Some(user.1)).unwrap();
}

/// A journal record a killed writer would leave, made by root, then
/// "planted": handed to another user, as if that user had written it.
#[test]
fn another_users_journal_record_is_never_replayed() {
    let Some(user) = other_user() else { return };
    let (_dir, shared) = shared_dir();
    let file = shared.join("c.json");
    fs::write(&file, "{\"n\": 1}\n").unwrap();
    let store = Store::builder(&file)
        .durability(Durability::Journal)
        .open()
        .unwrap();
    store.write_killed_after(&json!({"n": 6666}), 2).unwrap();
    let torn = fs::read(&file).unwrap();
    let journal = shared.join(".c.json.jlock-journal");
    chown(&journal, user);
    for args in [
        &["get", "c.json"][..],
        &["incr", "c.json", ".n"],
        &["status", "c.json"],
    ] {
        let assert = jlock(&shared, args).assert();
        if args[0] == "status" {
            assert.code(77);
        } else {
            assert
                .code(77)
                .stderr(contains(".c.json.jlock-journal"))
                .stderr(contains(format!("uid {}", user.0)));
        }
        assert_eq!(fs::read(&file).unwrap(), torn, "{args:?} changed the file");
    }
}

#[test]
fn a_journal_gets_the_data_files_owner_and_mode() {
    let Some(user) = other_user() else { return };
    let (_dir, shared) = shared_dir();
    let file = shared.join("c.json");
    fs::write(&file, "{\"n\": 1}\n").unwrap();
    chown(&file, user);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    // Root writes the user's file in journal mode...
    jlock(
        &shared,
        &["incr", "--durability", "journal", "c.json", ".n"],
    )
    .assert()
    .success()
    .stdout("2\n");
    let meta = fs::metadata(shared.join(".c.json.jlock-journal")).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (user.0, 0o640));
    // ...and the user's own commands still work on it.
    jlock_as(user, &shared, &["get", "c.json", ".n"])
        .assert()
        .success()
        .stdout("2\n");
    jlock_as(
        user,
        &shared,
        &["incr", "--durability", "journal", "c.json", ".n"],
    )
    .assert()
    .success()
    .stdout("3\n");
}

#[test]
fn journal_mode_on_another_users_file_leaves_no_journal_of_its_own() {
    let Some(user) = other_user() else { return };
    let (_dir, shared) = shared_dir();
    let file = shared.join("c.json");
    fs::write(&file, "{\"n\": 1}\n").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
    fs::write(shared.join("c.json.lock"), "").unwrap();
    fs::set_permissions(
        shared.join("c.json.lock"),
        fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    jlock_as(
        user,
        &shared,
        &["incr", "--durability", "journal", "c.json", ".n"],
    )
    .assert()
    .code(77)
    .stderr(contains("journal"));
    assert!(!shared.join(".c.json.jlock-journal").exists());
    assert_eq!(fs::read_to_string(&file).unwrap(), "{\"n\": 1}\n");
    jlock(&shared, &["get", "c.json", ".n"])
        .assert()
        .success()
        .stdout("1\n");
}

#[test]
fn a_planted_directory_symlink_is_refused() {
    let Some(user) = other_user() else { return };
    let (dir, shared) = shared_dir();
    let private = dir.path().join("private");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(private.join("c.json"), "{\"secret\": 1}\n").unwrap();
    let link = shared.join("sub");
    std::os::unix::fs::symlink(&private, &link).unwrap();
    chown(&link, user);
    for args in [
        &["incr", "tmp/sub/c.json", ".secret"][..],
        &["set", "tmp/sub/c.json", ".x", "1"],
        &["run", "tmp/sub/c.json", "true"],
    ] {
        jlock(dir.path(), args)
            .assert()
            .code(77)
            .stderr(contains("tmp/sub"))
            .stderr(contains(format!("uid {}", user.0)));
    }
    assert_eq!(
        fs::read_to_string(private.join("c.json")).unwrap(),
        "{\"secret\": 1}\n"
    );
    assert!(!private.join("c.json.lock").exists());
    // The same link made by this user (or the directory's owner) is followed.
    chown(&link, (0, 0));
    jlock(dir.path(), &["incr", "tmp/sub/c.json", ".secret"])
        .assert()
        .success()
        .stdout("2\n");
}

#[test]
fn a_planted_temporary_file_is_refused_with_its_owner() {
    let Some(user) = other_user() else { return };
    let (_dir, shared) = shared_dir();
    fs::write(shared.join("c.json"), "1\n").unwrap();
    let temp = shared.join(".c.json.jlock-tmp");
    fs::write(&temp, "").unwrap();
    chown(&temp, user);
    jlock(&shared, &["incr", "c.json"])
        .assert()
        .code(77)
        .stderr(contains(".c.json.jlock-tmp"))
        .stderr(contains(format!("uid {}", user.0)))
        .stderr(contains("jlock: hint:"));
    assert_eq!(fs::read_to_string(shared.join("c.json")).unwrap(), "1\n");
    // One left by this user's own crashed writer is cleaned up.
    chown(&temp, (0, 0));
    jlock(&shared, &["incr", "c.json"])
        .assert()
        .success()
        .stdout("2\n");
}

/// A small tmpfs, unmounted on drop; `None` (reason printed) if this
/// process may not mount one.
struct SmallFs(tempfile::TempDir);

impl SmallFs {
    fn mount(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(SmallFs(dir))
    }

    /// Fills the file system with a file until it has no space left but
    /// `pages` 4 KiB pages.
    fn fill(&self, pages: u64) {
        let path = self.0.path().join("filler");
        let mut f = fs::File::create(&path).unwrap();
        let block = vec![b'f'; 4096];
        while std::io::Write::write_all(&mut f, &block).is_ok() {}
        let len = f.metadata().unwrap().len();
        f.set_len((len / 4096).saturating_sub(pages) * 4096)
            .unwrap();
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn out_of_space_means_nothing_applied() {
    let Some(small) = SmallFs::mount("256k") else {
        return;
    };
    let d = small.0.path();
    // A document of exactly one 4 KiB page whose counter is about to gain
    // a digit: the update needs a new block, and there is none. Written by a
    // first journal-mode update, which creates the journal and lock file.
    let (head, tail) = ("{\"pad\":\"", "\",\"n\":99}\n");
    let pad = "x".repeat(4096 - head.len() - tail.len());
    let doc = format!("{head}{pad}{tail}");
    jlock(
        d,
        &[
            "set",
            "--durability",
            "journal",
            "--compact",
            "c.json",
            ".",
            doc.trim_end(),
        ],
    )
    .assert()
    .success();
    assert_eq!(fs::read_to_string(d.join("c.json")).unwrap(), doc);
    let before = fs::read(d.join("c.json")).unwrap();
    // A large value makes the journal large once, then goes again: the
    // journal keeps its size, so only the data file will need new space.
    let big = format!("\"{}\"", "b".repeat(6000));
    let set_big = |mode: &str| {
        jlock(
            d,
            &[
                "set",
                "--durability",
                mode,
                "--compact",
                "c.json",
                ".big",
                &big,
            ],
        )
        .assert()
    };
    set_big("journal").success();
    jlock(
        d,
        &[
            "del",
            "--durability",
            "journal",
            "--compact",
            "c.json",
            ".big",
        ],
    )
    .assert()
    .success();
    assert_eq!(fs::read(d.join("c.json")).unwrap(), before);
    // No free page: the counter's new digit needs one.
    small.fill(0);
    for mode in ["journal", "rename"] {
        for _ in 0..2 {
            jlock(
                d,
                &["incr", "--durability", mode, "--compact", "c.json", ".n"],
            )
            .assert()
            .code(74)
            .stderr(contains("No space left on device"));
            assert!(
                fs::read(d.join("c.json")).unwrap() == before,
                "{mode}: the file changed"
            );
        }
    }
    // One free page: a write of the large value (two more pages) would get
    // half-way before running out, were its space not reserved first.
    small.fill(1);
    for mode in ["journal", "rename"] {
        for _ in 0..2 {
            set_big(mode)
                .code(74)
                .stderr(contains("No space left on device"));
            assert!(
                fs::read(d.join("c.json")).unwrap() == before,
                "{mode}: the file changed"
            );
        }
    }
    fs::remove_file(d.join("filler")).unwrap();
    jlock(d, &["get", "c.json", ".n"])
        .assert()
        .success()
        .stdout("99\n");
    jlock(d, &["incr", "--durability", "journal", "c.json", ".n"])
        .assert()
        .success()
        .stdout("100\n");
}

#[test]
fn an_increment_that_cannot_be_printed_says_it_was_applied() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("c.json"), "41\n").unwrap();
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(jlock_bin())
        .current_dir(dir.path())
        .args(["incr", "c.json"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("applied, but could not print the new value"),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("c.json")).unwrap(),
        "42\n"
    );
}

#[test]
fn a_fifo_or_device_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(Command::new("mkfifo")
        .arg(d.join("f.json"))
        .status()
        .unwrap()
        .success());
    std::os::unix::fs::symlink("/dev/zero", d.join("z.json")).unwrap();
    for file in ["f.json", "z.json"] {
        for args in [
            &["get", file][..],
            &["incr", file],
            &["incr", "--durability", "journal", file],
        ] {
            jlock(d, args)
                .timeout(Duration::from_secs(20))
                .assert()
                .code(74)
                .stderr(contains("not a regular file"));
        }
    }
}

/// A world-writable directory that is not sticky: anyone may rename over
/// anything in it, which is why jlock itself must refuse (issue 15 E).
fn open_dir() -> (tempfile::TempDir, PathBuf) {
    let (dir, shared) = shared_dir();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    (dir, shared)
}

#[test]
fn an_edit_needs_write_permission_on_the_file_itself() {
    let Some(user) = other_user() else { return };
    for (dir_of, mode) in [(open_dir as fn() -> _, 0o644), (shared_dir, 0o644)] {
        let (_dir, d) = dir_of();
        let file = d.join("r.json");
        fs::write(&file, "{\"n\": 1}\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
        for durability in ["rename", "fsync", "journal"] {
            for args in [
                &["incr", "--durability", durability, "r.json", ".n"][..],
                &["set", "--durability", durability, "r.json", ".n", "7"],
                &["update", "--durability", durability, "r.json", "--", "cat"],
            ] {
                jlock_as(user, &d, args)
                    .assert()
                    .code(77)
                    .stderr(contains("r.json: this user may not write the file"));
            }
        }
        let meta = fs::metadata(&file).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "{\"n\": 1}\n");
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, mode));
        // Reading is still allowed.
        jlock_as(user, &d, &["get", "r.json", ".n"])
            .assert()
            .success()
            .stdout("1\n");
    }
}

#[test]
fn in_a_sticky_directory_another_users_file_is_refused_before_any_work() {
    let Some(user) = other_user() else { return };
    let (_dir, shared) = shared_dir();
    let file = shared.join("w.json");
    fs::write(&file, "{\"n\": 1}\n").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
    // The rename mode could not replace it (only its owner may, here):
    // refused before any work, not `rename: Operation not permitted` after.
    jlock_as(user, &shared, &["incr", "w.json", ".n"])
        .assert()
        .code(77)
        .stderr(contains(
            "w.json: the file belongs to another user in a sticky directory",
        ));
    assert_eq!(fs::read_to_string(&file).unwrap(), "{\"n\": 1}\n");
    let temps: Vec<String> = crate::util::entries(&shared)
        .into_iter()
        .filter(|n| n.contains("jlock-tmp"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
}

#[test]
fn a_fence_is_never_written_into_a_lock_file_another_user_planted() {
    let Some(user) = other_user() else { return };
    let (_dir, shared) = shared_dir();
    let lock = shared.join("L");
    fs::write(&lock, "").unwrap();
    chown(&lock, user);
    jlock(&shared, &["run", "L", "-c", "echo ${JLOCK_FENCE:-none}"])
        .assert()
        .success()
        .stdout("none\n");
    assert_eq!(fs::read(&lock).unwrap(), b"");
    // Its own lock file counts as before.
    jlock(&shared, &["run", "M", "-c", "echo $JLOCK_FENCE"])
        .assert()
        .success()
        .stdout("1\n");
}

#[test]
fn a_reader_reads_on_a_read_only_mount_even_with_a_journal() {
    let Some(fs_) = SmallFs::mount("1m") else {
        return;
    };
    let d = fs_.0.path();
    jlock(d, &["set", "--durability", "journal", "d.json", ".n", "5"])
        .assert()
        .success();
    assert!(d.join(".d.json.jlock-journal").exists());
    let ro = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(d)
        .status()
        .unwrap();
    assert!(ro.success(), "remount read-only");
    jlock(d, &["get", "d.json", ".n"])
        .assert()
        .success()
        .stdout("5\n");
    // A writer fails, saying why, and changes nothing.
    jlock(d, &["incr", "--durability", "journal", "d.json", ".n"])
        .assert()
        .code(74)
        .stderr(contains("Read-only file system"));
    jlock(d, &["get", "d.json", ".n"]).assert().stdout("5\n");
}

#[test]
fn names_up_to_the_longest_a_directory_allows_work_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for len in [241, 245, 250] {
        let name = "n".repeat(len);
        fs::write(d.join(&name), "{\"n\": 0}\n").unwrap();
        for durability in ["rename", "fsync", "journal"] {
            jlock(d, &["incr", "--durability", durability, &name, ".n"])
                .assert()
                .success();
            jlock(d, &["get", &name, ".n"]).assert().success();
        }
        jlock(d, &["get", &name, ".n"]).assert().stdout("3\n");
    }
    // Past 250 bytes the lock file's own name would not fit: said at once,
    // naming it, and nothing is created.
    let name = "m".repeat(251);
    jlock(d, &["incr", &name])
        .assert()
        .code(74)
        .stderr(contains(format!(
            "{name}.lock: open lock file: File name too long"
        )))
        .stderr(contains("--lock-file"));
    assert!(!d.join(&name).exists());
}

#[test]
fn a_world_writable_directory_without_the_sticky_bit_is_shared_too() {
    let Some(user) = other_user() else { return };
    let (dir, open) = open_dir();
    let private = dir.path().join("private");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    let victim = private.join("empty");
    fs::write(&victim, "").unwrap();
    // Another user's links: to root's empty file, and dangling into root's
    // private directory.
    let lock = open.join("L");
    std::os::unix::fs::symlink(&victim, &lock).unwrap();
    chown(&lock, user);
    let sidecar = open.join("r.json.lock");
    std::os::unix::fs::symlink(private.join("created"), &sidecar).unwrap();
    chown(&sidecar, user);
    fs::write(open.join("r.json"), "{\"n\": 1}\n").unwrap();
    jlock(&open, &["run", "L", "true"])
        .assert()
        .code(77)
        .stderr(contains(format!("uid {}", user.0)));
    jlock(&open, &["incr", "r.json", ".n"]).assert().code(77);
    assert_eq!(
        fs::read(&victim).unwrap(),
        b"",
        "a fence was written through the link"
    );
    assert!(
        !private.join("created").exists(),
        "a file was created through the link"
    );
    assert_eq!(
        fs::read_to_string(open.join("r.json")).unwrap(),
        "{\"n\": 1}\n"
    );
}

#[test]
fn status_of_another_users_private_lock_still_lists_its_holder() {
    let Some(user) = other_user() else { return };
    let (_dir, d) = open_dir();
    fs::write(d.join("c.json"), "{\"n\": 1}\n").unwrap();
    jlock(&d, &["incr", "c.json", ".n"]).assert().success();
    for f in ["c.json", "c.json.lock"] {
        fs::set_permissions(d.join(f), fs::Permissions::from_mode(0o600)).unwrap();
    }
    // Free: exit 0, the journal's state unknown to this user, not an error.
    jlock_as(user, &d, &["status", "c.json"])
        .assert()
        .code(0)
        .stdout(contains("this user may not open the lock file"));
    // Held by root: the kernel's table still says so (exit 1).
    let holder = crate::util::Holder::jlock_run(&d, &["c.json.lock"]);
    jlock_as(user, &d, &["status", "c.json"])
        .assert()
        .code(1)
        .stdout(contains("held exclusive by"));
    holder.release();
}
