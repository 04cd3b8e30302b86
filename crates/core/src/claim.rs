//! An exclusive holder's claim on its lock file's *name*, beside the
//! `flock(2)` lock on the file's inode.
//!
//! `flock(2)` locks an inode, not a name. If the name is deleted or replaced
//! while the lock is held (`rm *.lock`, a tmp cleaner, a user tidying a
//! shared directory), the next process to open the name creates a new inode,
//! locks it at once and excludes nobody. Checking, once the lock is got,
//! that the name still names the locked inode (see `LockFile::lock_with`)
//! protects the processes that were *waiting* on the old inode; it cannot
//! protect against a newcomer that opens the new one while the old holder
//! still works.
//!
//! So, on Linux, an exclusive holder also binds a socket in the abstract
//! namespace (which no file system operation can delete) at an address made
//! of the lock's directory (device and inode) and its file name. A process
//! that gets the `flock(2)` lock of a *new* inode finds the address taken,
//! and waits, still holding its new lock (so later comers queue behind it),
//! until the old holder's socket closes: it connects, and blocks reading a
//! connection nobody accepts until the listener goes, which resets it.
//! The kernel closes the socket with the last descriptor of it, so a holder
//! killed with `SIGKILL` frees its claim as it frees its lock, and a command
//! that inherited both keeps both.
//!
//! Limits, said in docs/design.md: the abstract namespace belongs to a
//! network namespace, so processes in two network namespaces sharing a file
//! system (two containers on one volume) do not see each other's claims and
//! are back to `flock(2)` alone; shared holders make no claim; `flock(1)`
//! makes none. Where sockets cannot be made (a sandbox forbidding them) the
//! lock works as `flock(2)` alone.

use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a claim may wait for the claim of another holder.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Until {
    /// Not at all: a claim held elsewhere is a conflict.
    Now,
    /// As long as it takes.
    Forever,
    /// Until this instant.
    Deadline(Instant),
}

/// A claim on a lock file's name, held until dropped; `None` inside where
/// no claim can be made on this system.
#[derive(Debug)]
pub(crate) struct Claim {
    #[cfg(target_os = "linux")]
    socket: Option<std::os::unix::net::UnixListener>,
}

impl Claim {
    /// The claim's descriptor, to hand on to a command with the lock's.
    pub fn into_fd(self) -> Option<std::os::fd::OwnedFd> {
        #[cfg(target_os = "linux")]
        {
            self.socket.map(std::os::fd::OwnedFd::from)
        }
        #[cfg(not(target_os = "linux"))]
        {
            None
        }
    }
}

/// The claim address of the lock file `path`: its directory's identity and
/// its file name (hashed when too long for a socket address).
pub(crate) fn address(path: &Path) -> io::Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let meta = std::fs::metadata(dir)?;
    let name = path.file_name().map_or(&b"."[..], |n| n.as_bytes());
    let mut addr = format!("jlock/1/{:x}:{:x}/", meta.dev(), meta.ino()).into_bytes();
    // An abstract address has at most 107 bytes after its leading NUL.
    if addr.len() + name.len() <= 107 {
        addr.extend_from_slice(name);
    } else {
        use crate::names::{fnv1a, FNV_BASIS};
        let (a, b) = (fnv1a(name, FNV_BASIS), fnv1a(name, 0x6c62_272e_07bb_0142));
        addr.extend_from_slice(format!("#{a:016x}{b:016x}").as_bytes());
    }
    Ok(addr)
}

/// Takes the claim at `address`, waiting as `until` says for another
/// holder's to go. `Ok(None)`: it is still held elsewhere when the wait ends.
#[cfg(target_os = "linux")]
pub(crate) fn take(address: &[u8], until: Until) -> io::Result<Option<Claim>> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
    let addr = SocketAddr::from_abstract_name(address)?;
    loop {
        match UnixListener::bind_addr(&addr) {
            Ok(socket) => {
                return Ok(Some(Claim {
                    socket: Some(socket),
                }))
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {}
            // No sockets here (a sandbox, say): the lock is flock(2) alone.
            Err(_) => return Ok(Some(Claim { socket: None })),
        }
        let left = match until {
            Until::Now => return Ok(None),
            Until::Forever => None,
            Until::Deadline(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return Ok(None),
            },
        };
        match UnixStream::connect_addr(&addr) {
            Ok(mut stream) => {
                // Nobody accepts or writes: the read ends when the holder's
                // socket closes (end of file or a reset), or at the deadline.
                stream.set_read_timeout(left)?;
                let mut byte = [0u8; 1];
                match stream.read(&mut byte) {
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::ConnectionReset
                                | io::ErrorKind::Interrupted
                                | io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => return Err(e),
                }
            }
            // Bound but not yet listening (the instant between the two
            // calls), or gone: look again after a moment.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                std::thread::sleep(left.map_or(RETRY, |l| l.min(RETRY)));
            }
            Err(e) => return Err(e),
        }
    }
}

/// No claims off Linux: the lock is `flock(2)` alone.
#[cfg(not(target_os = "linux"))]
pub(crate) fn take(_address: &[u8], _until: Until) -> io::Result<Option<Claim>> {
    Ok(Some(Claim {}))
}

/// The pause before looking again at a claim that was bound but refused a
/// connection.
#[cfg(target_os = "linux")]
const RETRY: Duration = Duration::from_millis(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_per_name_and_it_goes_with_its_socket() {
        let dir = tempfile::tempdir().unwrap();
        let a = address(&dir.path().join("x.lock")).unwrap();
        let b = address(&dir.path().join("y.lock")).unwrap();
        assert_ne!(a, b);
        let held = take(&a, Until::Now).unwrap().expect("free claim");
        if held.socket.is_none() {
            return; // no sockets in this sandbox: nothing to test
        }
        assert!(take(&a, Until::Now).unwrap().is_none());
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(take(&a, Until::Deadline(soon)).unwrap().is_none());
        assert!(take(&b, Until::Now).unwrap().is_some());
        let waiter = std::thread::spawn(move || take(&a, Until::Forever).map(|c| c.is_some()));
        drop(held);
        assert!(waiter.join().unwrap().unwrap());
    }

    #[test]
    fn a_long_name_is_hashed_to_fit() {
        let dir = tempfile::tempdir().unwrap();
        let long = "n".repeat(250);
        let a = address(&dir.path().join(&long)).unwrap();
        assert!(a.len() <= 107, "{}", a.len());
        let b = address(&dir.path().join(format!("{long}x"))).unwrap();
        assert_ne!(a, b);
    }
}
