//! A document's revision: an opaque token derived from its bytes alone, so that a writer can say "only if nobody changed it since I read it" with no state kept beside the document.

use std::fmt;
use std::str::FromStr;

use crate::names::{fnv1a, FNV_BASIS};

/// The revision of a document: its length and a 128-bit hash of its bytes
/// (two 64-bit FNV-1a passes). It changes whenever the bytes change (a
/// false match needs a 128-bit hash collision between two versions of one
/// document), is the same for the same bytes on every backend and every
/// run, and needs nothing stored. A missing document has the revision of
/// an empty one (both read as `null`), so "only if it does not exist yet"
/// is a revision too.
///
/// ```
/// use jlock_core::Revision;
///
/// let r = Revision::of(b"{\"n\": 1}\n");
/// assert_eq!(r.to_string().parse::<Revision>()?, r);
/// assert_ne!(Revision::of(b"{\"n\": 2}\n"), r);
/// # Ok::<(), jlock_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Revision(String);

impl Revision {
    /// The revision of a document whose bytes are `bytes`.
    pub fn of(bytes: &[u8]) -> Revision {
        let (a, b) = (fnv1a(bytes, FNV_BASIS), fnv1a(bytes, 0x6c62_272e_07bb_0142));
        Revision(format!("{:x}-{a:016x}{b:016x}", bytes.len()))
    }
}

/// A conditional write's check, the one place it is written (for the store
/// and for a compare-and-swap document): `Ok` if nothing is `expected` or
/// `bytes` are at it, else [`crate::Error::RevisionChanged`] naming `name`.
pub(crate) fn check(
    expected: Option<&Revision>,
    bytes: &[u8],
    name: &std::path::Path,
) -> crate::Result<()> {
    let Some(want) = expected else {
        return Ok(());
    };
    match Revision::of(bytes) {
        found if found == *want => Ok(()),
        found => Err(crate::Error::RevisionChanged {
            path: name.to_path_buf(),
            expected: want.clone(),
            found,
        }),
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Revision {
    type Err = crate::Error;

    /// A token [`Revision`]'s `Display` printed; anything else is
    /// [`crate::Error::BadRevision`].
    fn from_str(s: &str) -> crate::Result<Revision> {
        let well_formed = s.split_once('-').is_some_and(|(len, hash)| {
            !len.is_empty()
                && len.len() <= 16
                && len
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                && hash.len() == 32
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        });
        match well_formed {
            true => Ok(Revision(s.to_string())),
            false => Err(crate::Error::BadRevision {
                token: s.chars().take(80).collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_others_are_refused() {
        let r = Revision::of(b"");
        assert_eq!(r.to_string().parse::<Revision>().unwrap(), r);
        for bad in [
            "",
            "x",
            "0-",
            "0-abc",
            "G-00000000000000000000000000000000",
            " 0-00000000000000000000000000000000",
        ] {
            assert!(bad.parse::<Revision>().is_err(), "{bad:?}");
        }
        // One byte changed, or one byte more: another revision.
        assert_ne!(Revision::of(b"[1]"), Revision::of(b"[2]"));
        assert_ne!(Revision::of(b"[1]"), Revision::of(b"[1] "));
    }
}
