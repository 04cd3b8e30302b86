//! Waiting for a document to change without polling: [`Changes`], what a
//! waiter blocks on between two reads, and [`FileWatch`], its inotify(7)
//! implementation for a data file.
//!
//! A data file is replaced by `rename(2)` in the default durability (and
//! written in place by the journal mode), so a watch on the file itself
//! would follow an inode that is gone after the first update. [`FileWatch`]
//! watches the file's *directory* instead, for the events that can change
//! what the file's name holds (`IN_MOVED_TO`, `IN_CLOSE_WRITE`,
//! `IN_MODIFY`, `IN_CREATE`, `IN_DELETE`, `IN_MOVED_FROM`), and reports only
//! those on that name. The protocol a waiter follows is: open the watch,
//! *then* read the document, and after each reported change read it again —
//! a change made between the read and the wait is then still reported, so
//! the final value is never missed; several changes in a burst may be
//! reported as one (the events are drained before returning).
//!
//! A data file reached through a symlink is written where the link points
//! (the store resolves links), so the watch is on the target's directory
//! for the target's name, and also on the link's own directory for the
//! link's name (retargeting the link changes what the path holds).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use jlock_core::{Changes, Error, FileWatch, JsonPath, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path().join("d.json"))?;
//! let mut watch = FileWatch::new(store.path())?;
//! store.incr(&JsonPath::root(), 1)?;
//! // The write above is reported; nothing else happens within 10 ms.
//! let soon = Some(Instant::now() + Duration::from_millis(10));
//! assert!(Changes::<Error>::wait(&mut watch, soon)?);
//! assert!(!Changes::<Error>::wait(&mut watch, soon)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! On systems without inotify (not Linux) [`FileWatch`] falls back to
//! reporting a possible change every 50 ms, which is polling.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Operation};

/// What a waiter blocks on between two reads of a document: a source of
/// "it may have changed" reports.
pub trait Changes<E> {
    /// Blocks until the document may have changed (`true`: read it again)
    /// or `deadline` passes (`false`); `None` waits for ever.
    fn wait(&mut self, deadline: Option<Instant>) -> std::result::Result<bool, E>;
}

/// Reports a possible change every `interval`: for backends that cannot be
/// watched (the default of [`Backend::changes`](crate::Backend::changes)),
/// this is polling, said so.
#[derive(Clone, Copy, Debug)]
pub struct Poll {
    /// How long to sleep between two reads.
    pub interval: Duration,
}

impl<E> Changes<E> for Poll {
    fn wait(&mut self, deadline: Option<Instant>) -> std::result::Result<bool, E> {
        let mut nap = self.interval;
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            nap = nap.min(left);
        }
        std::thread::sleep(nap);
        Ok(true)
    }
}

/// An inotify(7) watch on a data file's directory, reporting the changes of
/// that one name (see the module's documentation).
#[derive(Debug)]
pub struct FileWatch {
    file: PathBuf,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fd: rustix::fd::OwnedFd,
    /// The names watched, each with the watch descriptor of its directory;
    /// none: every name in the one directory watched (a fair lock's queue,
    /// see `fair`).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    names: Vec<(i32, std::ffi::OsString)>,
}

impl FileWatch {
    /// Watches `file` (which need not exist; its directory must).
    pub fn new(file: &Path) -> crate::Result<FileWatch> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
            let err = |source: rustix::io::Errno| Error::Io {
                op: Operation::Stat,
                path: file.to_path_buf(),
                source: source.into(),
            };
            let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).map_err(err)?;
            let mut names = Vec::new();
            let mut watch = |path: &Path| -> crate::Result<()> {
                let name = path
                    .file_name()
                    .ok_or_else(|| Error::Io {
                        op: Operation::Stat,
                        path: file.to_path_buf(),
                        source: std::io::Error::other("not a file name"),
                    })?
                    .to_os_string();
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                let wd = inotify::add_watch(
                    &fd,
                    dir,
                    WatchFlags::MOVED_TO
                        | WatchFlags::CLOSE_WRITE
                        | WatchFlags::MODIFY
                        | WatchFlags::CREATE
                        | WatchFlags::DELETE
                        | WatchFlags::MOVED_FROM
                        | WatchFlags::ONLYDIR,
                )
                .map_err(|e| Error::Io {
                    op: Operation::Stat,
                    path: dir.to_path_buf(),
                    source: e.into(),
                })?;
                names.push((wd, name));
                Ok(())
            };
            watch(file)?;
            // Where the store writes: the file the links lead to. A link
            // the store would refuse is refused by the read that follows.
            if let Ok(target) = crate::shared_dir::resolve_links(file) {
                if target != file {
                    watch(&target)?;
                }
            }
            Ok(FileWatch {
                file: file.to_path_buf(),
                fd,
                names,
            })
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        Ok(FileWatch {
            file: file.to_path_buf(),
        })
    }

    /// Watches every name in the directory `dir` for a file deleted or
    /// closed after writing (`IN_DELETE`, `IN_CLOSE_WRITE`): a fair queue's
    /// waiters leaving (see `fair`).
    pub(crate) fn directory(dir: &Path) -> crate::Result<FileWatch> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
            let err = |source: rustix::io::Errno| Error::Io {
                op: Operation::Stat,
                path: dir.to_path_buf(),
                source: source.into(),
            };
            let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).map_err(err)?;
            inotify::add_watch(
                &fd,
                dir,
                WatchFlags::CLOSE_WRITE
                    | WatchFlags::DELETE
                    | WatchFlags::ONLYDIR
                    | WatchFlags::DONT_FOLLOW,
            )
            .map_err(err)?;
            Ok(FileWatch {
                file: dir.to_path_buf(),
                fd,
                names: Vec::new(),
            })
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        Ok(FileWatch {
            file: dir.to_path_buf(),
        })
    }

    /// The file watched.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Reads every pending event; `true` if one was about the file (or the
    /// kernel's queue overflowed, which may have hidden one).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn drain(&mut self) -> crate::Result<bool> {
        use rustix::fs::inotify::{ReadFlags, Reader};
        use std::os::unix::ffi::OsStrExt;
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = Reader::new(&self.fd, &mut buf);
        let mut hit = false;
        loop {
            match reader.next() {
                Ok(ev) => {
                    let ours = self.names.is_empty()
                        || ev.file_name().is_some_and(|n| {
                            self.names
                                .iter()
                                .any(|(wd, name)| *wd == ev.wd() && n.to_bytes() == name.as_bytes())
                        });
                    if ours || ev.events().contains(ReadFlags::QUEUE_OVERFLOW) {
                        hit = true;
                    }
                }
                Err(rustix::io::Errno::AGAIN) => return Ok(hit),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    return Err(Error::Io {
                        op: Operation::Read,
                        path: self.file.clone(),
                        source: e.into(),
                    })
                }
            }
        }
    }
}

impl<E: From<Error>> Changes<E> for FileWatch {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn wait(&mut self, deadline: Option<Instant>) -> std::result::Result<bool, E> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        loop {
            let timeout = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        // A last look: a change already queued still counts.
                        return Ok(self.drain()?);
                    }
                    Some(Timespec::try_from(left).unwrap_or(Timespec {
                        tv_sec: i64::MAX,
                        tv_nsec: 0,
                    }))
                }
                None => None,
            };
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            match poll(&mut fds, timeout.as_ref()) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    return Err(Error::Io {
                        op: Operation::Read,
                        path: self.file.clone(),
                        source: e.into(),
                    }
                    .into())
                }
            }
            if self.drain()? {
                return Ok(true);
            }
        }
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn wait(&mut self, deadline: Option<Instant>) -> std::result::Result<bool, E> {
        Changes::<E>::wait(
            &mut Poll {
                interval: Duration::from_millis(50),
            },
            deadline,
        )
    }
}
