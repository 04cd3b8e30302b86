//! clap's usage errors made useful: for a flag the subcommand does not take, which subcommands have it and what it does there, instead of clap's tip to pass it as a value.

use crate::args::Cli;

/// clap's message for an argument the subcommand does not take, made useful:
/// its tip "to pass '-u' as a value, use '-- -u'" misleads where the flag
/// simply does not exist here. Instead it says which subcommands have the
/// flag and what it does there, or — for `update` given its command without
/// `--` — to put `--` before the command. Other errors are left as they are.
pub fn explain_usage_error(err: &clap::Error, text: String) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() != ErrorKind::UnknownArgument {
        return text;
    }
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return text;
    };
    let cmd = <Cli as clap::CommandFactory>::command();
    // The subcommand: the first argument that names one.
    let sub_name = std::env::args_os()
        .skip(1)
        .filter_map(|a| a.into_string().ok())
        .find(|a| cmd.get_subcommands().any(|s| s.get_name() == a));
    let Some(sub_name) = sub_name else {
        return text;
    };
    let tip = if !arg.starts_with('-') {
        if sub_name == "update" {
            format!(
                "put `--` before the command: jlock update FILE -- {arg} ARGS… \
                 (everything after `--` is the command's)"
            )
        } else {
            return text;
        }
    } else {
        let flag = arg.split_once('=').map_or(arg.as_str(), |(f, _)| f);
        // Which subcommands have it, grouped by what it does there.
        let mut uses: Vec<(String, Vec<String>)> = Vec::new();
        for s in cmd
            .get_subcommands()
            .filter(|s| s.get_name() != sub_name && !s.is_hide_set())
        {
            let Some(a) = s.get_arguments().find(|a| flag_matches(a, flag)) else {
                continue;
            };
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            let help = help
                .lines()
                .next()
                .unwrap_or_default()
                .trim_end_matches('.');
            let name = format!("`jlock {}`", s.get_name());
            match uses.iter_mut().find(|(h, _)| h == help) {
                Some((_, names)) => names.push(name),
                None => uses.push((help.to_string(), vec![name])),
            }
        }
        if uses.is_empty() {
            format!("`jlock {sub_name} --help` lists its options")
        } else {
            let uses: Vec<String> = uses
                .into_iter()
                .map(|(help, names)| format!("{} ({help})", names.join(", ")))
                .collect();
            format!(
                "`jlock {sub_name}` has no {flag}; it is an option of {}",
                uses.join("; of ")
            )
        }
    };
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("tip: to pass") {
            out.push_str(&format!("  tip: {tip}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !out.contains(&tip) {
        // No tip of clap's to replace: put ours after the first line.
        if let Some((first, rest)) = out.split_once('\n') {
            out = format!("{first}\n\n  tip: {tip}\n{rest}");
        }
    }
    out
}

/// Whether the option `arg` is spelled `flag` (`-u`, `--unlock`, or an alias).
fn flag_matches(arg: &clap::Arg, flag: &str) -> bool {
    if let Some(long) = flag.strip_prefix("--") {
        arg.get_long_and_visible_aliases()
            .is_some_and(|names| names.contains(&long))
            || arg
                .get_all_aliases()
                .is_some_and(|names| names.contains(&long))
    } else if let Some(short) = flag.strip_prefix('-') {
        let mut chars = short.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => {
                arg.get_short() == Some(c)
                    || arg
                        .get_short_and_visible_aliases()
                        .is_some_and(|names| names.contains(&c))
                    || arg
                        .get_all_short_aliases()
                        .is_some_and(|names| names.contains(&c))
            }
            _ => false,
        }
    } else {
        false
    }
}
