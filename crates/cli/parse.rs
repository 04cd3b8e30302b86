//! Reading the command line: a data or lock command is parsed with clap's
//! definitions of that one subcommand only, instead of the whole tree.
//!
//! `Cli::try_parse` builds every subcommand's definition — `demo` and
//! `bench` included — before it looks at the arguments: on a one-op-per-exec
//! shell loop that is most of jlock's own work before the lock. So when the
//! first word that is not `-q`/`-v` names one of the commands below, a
//! command line is first parsed against a tree of jlock's global options and
//! that subcommand alone, built from the same `Args` definitions (nothing
//! is restated here but the list of names). Whatever that parse does not
//! accept — an error, `--help`, `--version`, an unknown word — is parsed
//! again against the whole tree, so every message and help text is the one
//! the full definition gives; a test holds both parses to the same result.

use std::ffi::OsString;

use clap::{Args, FromArgMatches};

use crate::args::*;

/// Parses `argv` (program name first) as [`Cli::try_parse_from`] does.
pub fn command_line(argv: Vec<OsString>) -> Result<Cli, clap::Error> {
    match one_subcommand(&argv) {
        Some(cli) => Ok(cli),
        None => <Cli as clap::Parser>::try_parse_from(argv),
    }
}

/// The subcommands parsed on their own: those a script runs once per
/// operation (the rest are run by hand, and parse as a whole).
fn subcommand(name: &str) -> Option<clap::Command> {
    let cmd = clap::Command::new(name.to_string());
    Some(match name {
        "run" => RunArgs::augment_args(cmd),
        "get" => GetArgs::augment_args(cmd),
        "set" => SetArgs::augment_args(cmd),
        "del" => DelArgs::augment_args(cmd),
        "incr" => IncrArgs::augment_args(cmd),
        "update" => UpdateArgs::augment_args(cmd),
        "patch" => PatchArgs::augment_args(cmd),
        "rev" => RevArgs::augment_args(cmd),
        "push" => PushArgs::augment_args(cmd),
        "pop" => PopArgs::augment_args(cmd),
        "status" => StatusArgs::augment_args(cmd),
        _ => return None,
    })
}

/// `argv` parsed against jlock's global options and the one subcommand it
/// names, or `None` if that does not give a command line to run.
fn one_subcommand(argv: &[OsString]) -> Option<Cli> {
    let name = argv
        .iter()
        .skip(1)
        .find(|a| !matches!(a.to_str(), Some("-q" | "--quiet" | "-v" | "--verbose")))?
        .to_str()?;
    let tree = Globals::augment_args(clap::Command::new("jlock"))
        .subcommand(subcommand(name)?)
        .subcommand_required(true);
    let matches = tree.try_get_matches_from(argv).ok()?;
    Cli::from_arg_matches(&matches).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<OsString> {
        std::iter::once("jlock")
            .chain(line.split(' '))
            .map(OsString::from)
            .collect()
    }

    /// Both parses of `line`: the one-subcommand tree's (if it accepts it)
    /// and the whole tree's.
    fn both(line: &str) -> (Option<String>, Result<String, String>) {
        let fast = one_subcommand(&argv(line)).map(|c| format!("{c:?}"));
        let full = <Cli as clap::Parser>::try_parse_from(argv(line))
            .map(|c| format!("{c:?}"))
            .map_err(|e| e.kind().to_string());
        (fast, full)
    }

    #[test]
    fn one_subcommand_parses_as_the_whole_tree_does() {
        let accepted = [
            "incr c.json",
            "incr c.json .n",
            "incr -q c.json .n --by -3",
            "-q incr c.json",
            "-v incr --durable c.json .n",
            "incr --durability journal -w 2.5 c.json /n",
            "incr -n --lock-file x.lock c.json",
            "get c.json .a[0] -r",
            "get -e -c --default 3 c.json .x",
            "set c.json .x -1",
            "set --if-rev 8-49211944f5c975c184f7f3c8d9b03d0a c.json .x {\"a\":1}",
            "del c.json .x",
            "update db.json -- jq .n+=1",
            "update --compact db.json -- sh -c cat",
            "patch db.json ops.json",
            "patch --merge db.json -",
            "rev c.json",
            "push q.json .todo 1 2 {\"j\":3}",
            "push --string q.json .todo -x",
            "pop -w 10 q.json .todo",
            "pop -n -r --to .doing q.json .todo",
            "run build.lock -- make -j4",
            "run -s -w 3 a.lock b.lock -- sh -c true",
            "run -x -n -E 75 9",
            "run -u 9",
            "run build.lock -c echo",
            "run --slots 2 heavy -- true",
            "run -q build.lock -- -v",
            "status c.json",
            "status --json -q build.lock",
        ];
        for line in accepted {
            let (fast, full) = both(line);
            let full =
                full.unwrap_or_else(|e| panic!("{line:?} is refused by the whole tree: {e}"));
            assert_eq!(fast.as_ref(), Some(&full), "{line:?}");
        }
        // Refused or answered with a text (help, version): the whole tree
        // has the say, as one_subcommand leaves them to it.
        for line in [
            "incr --help",
            "incr",
            "incr c.json .n --by",
            "-q -v incr c.json",
            "pop q.json",
            "get --durable c.json",
            "run",
            "--version",
            "demo --help",
            "bench",
            "nonsense c.json",
        ] {
            let (fast, full) = both(line);
            assert!(
                fast.is_none() || full.as_ref().ok() == fast.as_ref(),
                "{line:?}: one subcommand gave {fast:?}, the whole tree {full:?}"
            );
        }
    }
}
