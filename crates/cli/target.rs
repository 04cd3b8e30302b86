//! What a target argument names — a local path, or (with the `etcd` feature)
//! an `etcd://` name — and connecting to it: the one place the CLI parses a
//! target and starts etcd's client, for `run`, `status` and the data
//! commands alike.

use std::ffi::OsStr;
use std::path::PathBuf;

#[cfg(feature = "etcd")]
use crate::exit::CliError;

/// Where a document lives, as the FILE argument names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A JSON file on this machine's file system.
    File(PathBuf),
    /// A name on an etcd cluster: `etcd://HOST:PORT[,HOST:PORT…]/NAME`.
    #[cfg(feature = "etcd")]
    Etcd(jlock_etcd::Target),
}

impl Target {
    /// Parses a FILE argument: a path, or (with the `etcd` feature) an
    /// `etcd://` target. Any other URL scheme is refused, as is `etcd://` in
    /// a build without the feature.
    pub fn parse(arg: &OsStr) -> Result<Target, String> {
        if let Some(s) = arg.to_str() {
            #[cfg(feature = "etcd")]
            if jlock_etcd::is_etcd_target(s) {
                return jlock_etcd::Target::parse(s)
                    .map(Target::Etcd)
                    .map_err(|e| e.to_string());
            }
            if let Some((scheme, _)) = s.split_once("://") {
                if !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '+')
                {
                    let hint = if scheme == "etcd" && cfg!(not(feature = "etcd")) {
                        " (build jlock with `--features etcd`)"
                    } else {
                        ""
                    };
                    return Err(format!(
                        "{s:?}: {scheme}:// targets are not supported by this jlock build{hint}"
                    ));
                }
            }
        }
        Ok(Target::File(PathBuf::from(arg)))
    }

    /// The target as a user wrote it, for messages.
    pub fn display(&self) -> String {
        match self {
            Target::File(p) => p.display().to_string(),
            #[cfg(feature = "etcd")]
            Target::Etcd(t) => t.to_string(),
        }
    }
}

/// Connects to an etcd target with `options` (from the shared etcd options:
/// `EtcdArgs::connect_options`). The only place the CLI starts etcd's
/// client runtime, so local-file commands never do. Without a probe: the
/// command's first request is the reachability check (the same
/// "etcd unreachable" error, exit 69), so an `incr` is two round trips.
#[cfg(feature = "etcd")]
pub fn connect(
    target: &jlock_etcd::Target,
    options: &jlock_etcd::ConnectOptions,
) -> Result<jlock_etcd::Etcd, CliError> {
    let options = jlock_etcd::ConnectOptions {
        probe: false,
        ..options.clone()
    };
    Ok(jlock_etcd::Etcd::connect(target, &options)?)
}
