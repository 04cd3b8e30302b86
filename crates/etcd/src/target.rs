//! Parsing of `etcd://HOST:PORT[,HOST:PORT…]/NAME` targets (`etcds://` for TLS), and the etcd keys a name maps to.

use crate::Error;
use std::fmt;

/// The scheme that marks an etcd target.
pub const SCHEME: &str = "etcd://";

/// The scheme of an etcd target reached over TLS (`https://` client URLs).
pub const TLS_SCHEME: &str = "etcds://";

/// Longest accepted NAME, in bytes.
pub const MAX_NAME_LEN: usize = 200;

/// A parsed etcd target: the endpoints of one etcd cluster and the name of a lock/document in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    endpoints: Vec<String>,
    name: String,
    tls: bool,
}

/// True when `arg` is meant as an etcd target (it starts with `etcd://` or `etcds://`), so
/// that the CLI can pick the backend before parsing; [`Target::parse`] then says what is
/// wrong with it.
pub fn is_etcd_target(arg: &str) -> bool {
    arg.starts_with(SCHEME) || arg.starts_with(TLS_SCHEME)
}

impl Target {
    /// Parses `etcd://HOST:PORT[,HOST:PORT…]/NAME`, or the same with `etcds://` for a
    /// cluster whose client URLs are `https://` (TLS).
    ///
    /// HOST is a DNS name, an IPv4 address or a bracketed IPv6 address; PORT is 1–65535.
    /// NAME is one or more `/`-separated segments of `A-Z a-z 0-9 . _ -`, none empty and none
    /// starting with `.` (names starting with `.` are jlock's own keys under the name).
    pub fn parse(arg: &str) -> Result<Target, Error> {
        let bad = |reason: String| Error::BadTarget {
            target: arg.to_string(),
            reason,
        };
        let (rest, tls) = match (arg.strip_prefix(SCHEME), arg.strip_prefix(TLS_SCHEME)) {
            (Some(rest), _) => (rest, false),
            (None, Some(rest)) => (rest, true),
            (None, None) => {
                return Err(bad(format!("does not start with {SCHEME} or {TLS_SCHEME}")))
            }
        };
        if let Some(c) = rest.chars().find(|c| matches!(c, '?' | '#' | '@' | ' ')) {
            return Err(bad(format!("'{c}' is not allowed in an etcd target")));
        }
        let (hosts, name) = rest
            .split_once('/')
            .ok_or_else(|| bad("no /NAME after the endpoints".into()))?;
        if hosts.is_empty() {
            return Err(bad("no HOST:PORT endpoint".into()));
        }
        let mut endpoints = Vec::new();
        for hp in hosts.split(',') {
            let url = parse_endpoint(hp).map_err(|r| bad(format!("endpoint '{hp}': {r}")))?;
            endpoints.push(format!("{}://{url}", if tls { "https" } else { "http" }));
        }
        check_name(name).map_err(|r| bad(format!("name '{name}': {r}")))?;
        Ok(Target {
            endpoints,
            name: name.to_string(),
            tls,
        })
    }

    /// The client URLs (`http://HOST:PORT`, or `https://` for `etcds://`), in the order given.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// True for an `etcds://` target: the cluster is reached over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The endpoints as the user wrote them, comma-separated (for messages).
    pub fn endpoints_display(&self) -> String {
        self.endpoints
            .iter()
            .map(|e| e.split_once("://").map_or(e.as_str(), |(_, hp)| hp))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The NAME part.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Prefix of every key jlock keeps for this name: `jlock/NAME/`.
    pub(crate) fn base(&self) -> String {
        format!("jlock/{}/", self.name)
    }

    /// Queue of the lock (`run`): `jlock/NAME/.lock/`.
    pub fn lock_prefix(&self) -> String {
        format!("{}.lock/", self.base())
    }

    /// Queue of the semaphore (`run --slots N`): `jlock/NAME/.slots/q/`.
    pub fn slots_prefix(&self) -> String {
        format!("{}.slots/q/", self.base())
    }

    /// Slot numbers claimed by semaphore holders: `jlock/NAME/.slots/n/`.
    pub(crate) fn slot_numbers_prefix(&self) -> String {
        format!("{}.slots/n/", self.base())
    }

    /// The receipt of the document's last update: `jlock/NAME/.receipt`, written in the
    /// same transaction as the document with a value no other write has, so that an update
    /// whose answer was lost can be told applied or not.
    pub(crate) fn receipt_key(&self) -> String {
        format!("{}.receipt", self.base())
    }

    /// The document's key: `jlock/NAME/.doc`.
    pub fn document_key(&self) -> String {
        format!("{}.doc", self.base())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { TLS_SCHEME } else { SCHEME };
        write!(f, "{scheme}{}/{}", self.endpoints_display(), self.name)
    }
}

impl std::str::FromStr for Target {
    type Err = Error;
    fn from_str(s: &str) -> Result<Target, Error> {
        Target::parse(s)
    }
}

fn parse_endpoint(hp: &str) -> Result<String, String> {
    let (host, port) = if let Some(v6) = hp.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or("unclosed '['")?;
        if addr.is_empty()
            || !addr
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err("bad IPv6 address".into());
        }
        let port = after.strip_prefix(':').ok_or("no :PORT")?;
        (format!("[{addr}]"), port)
    } else {
        let (host, port) = hp.rsplit_once(':').ok_or("no :PORT")?;
        if host.is_empty() {
            return Err("empty HOST".into());
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        {
            return Err(format!("bad HOST '{host}'"));
        }
        (host.to_string(), port)
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("bad PORT '{port}' (1-65535)"))?;
    Ok(format!("{host}:{port}"))
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("longer than {MAX_NAME_LEN} bytes"));
    }
    for seg in name.split('/') {
        if seg.is_empty() {
            return Err("empty segment (a leading, trailing or double '/')".into());
        }
        if seg.starts_with('.') {
            return Err(format!("segment '{seg}' starts with '.'"));
        }
        if let Some(c) = seg
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(format!(
                "'{c}' is not allowed (use A-Z a-z 0-9 . _ - and /)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_targets() {
        let t = Target::parse("etcd://127.0.0.1:2379/deploy").unwrap();
        assert_eq!(t.endpoints(), ["http://127.0.0.1:2379"]);
        assert_eq!(t.name(), "deploy");
        assert_eq!(t.lock_prefix(), "jlock/deploy/.lock/");
        assert_eq!(t.document_key(), "jlock/deploy/.doc");
        let t = Target::parse("etcd://a.example:1,b-2:2,[::1]:3/ci/cache.v2").unwrap();
        assert_eq!(
            t.endpoints(),
            ["http://a.example:1", "http://b-2:2", "http://[::1]:3"]
        );
        assert_eq!(t.name(), "ci/cache.v2");
        assert_eq!(
            t.to_string(),
            "etcd://a.example:1,b-2:2,[::1]:3/ci/cache.v2"
        );
        assert!(is_etcd_target("etcd://x"));
        assert!(!is_etcd_target("/tmp/etcd://x"));
        assert!(!t.is_tls());
        let t = Target::parse("etcds://127.0.0.1:2379,[::1]:3/deploy").unwrap();
        assert!(t.is_tls() && is_etcd_target("etcds://x"));
        assert_eq!(t.endpoints(), ["https://127.0.0.1:2379", "https://[::1]:3"]);
        assert_eq!(t.to_string(), "etcds://127.0.0.1:2379,[::1]:3/deploy");
    }

    #[test]
    fn bad_targets_say_why() {
        for (arg, why) in [
            ("http://h:1/x", "does not start with etcd://"),
            ("etcd://h:1", "no /NAME"),
            ("etcd:///x", "no HOST:PORT"),
            ("etcd://h/x", "no :PORT"),
            ("etcd://h:0/x", "bad PORT '0'"),
            ("etcd://h:70000/x", "bad PORT"),
            ("etcd://h:1,/x", "endpoint '': no :PORT"),
            ("etcd://:1/x", "empty HOST"),
            ("etcd://h:1/", "empty"),
            ("etcd://h:1/a//b", "empty segment"),
            ("etcd://h:1/a/", "empty segment"),
            ("etcd://h:1/.lock", "starts with '.'"),
            ("etcd://h:1/a/..", "starts with '.'"),
            ("etcd://h:1/a b", "' ' is not allowed"),
            ("etcd://u@h:1/a", "'@' is not allowed"),
            ("etcd://h:1/a?x=1", "'?' is not allowed"),
            ("etcd://h:1/é", "'é' is not allowed"),
            ("etcd://[::1:1/a", "unclosed '['"),
        ] {
            let err = Target::parse(arg).unwrap_err().to_string();
            assert!(err.contains(why), "{arg}: {err}");
            assert!(err.contains(arg), "{arg}: {err}");
        }
        let long = format!("etcd://h:1/{}", "a".repeat(MAX_NAME_LEN + 1));
        assert!(Target::parse(&long).is_err());
    }
}
