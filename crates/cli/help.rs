//! The examples and notes `--help` shows after each subcommand's options (clap's `after_help`); the man pages and README carry the same.

/// `rev --help`'s examples and notes.
pub const REV_HELP: &str = "\
Examples:
  rev=$(jlock rev db.json)
  n=$(jlock get db.json .n)                          # read, think ...
  jlock set --if-rev \"$rev\" db.json .n $((n * 2))    # ... write back, only if unchanged
  [ $? -eq 4 ] && echo 'someone changed db.json meanwhile; nothing was written'

The revision is an opaque token derived from the document's bytes: it changes whenever
they change, and a missing document has the revision of an empty one (so --if-rev with
it means \"only if it does not exist yet\"). Every write command (set, del, incr, update,
patch) takes --if-rev TOKEN: applied only if the document is still at TOKEN when the
write takes the lock, else nothing is written and jlock exits 4. The same on etcd://.";

/// `patch --help`'s examples and notes.
pub const PATCH_HELP: &str = "\
Examples:
  jlock patch db.json ops.json
  echo '[{\"op\": \"test\", \"path\": \"/v\", \"value\": 3},
        {\"op\": \"replace\", \"path\": \"/v\", \"value\": 4}]' | jlock patch db.json
  echo '{\"owner\": \"ci\", \"tmp\": null}' | jlock patch --merge db.json

Every operation applies, in order, under the lock, or none does: a failed test
exits 4, an operation whose path does not exist 65, a patch that is not one 64 —
each naming the operation's index — and the file is left as it was. As with set,
only the values the patch changes are rewritten; the rest of the file keeps its bytes,
and new numbers keep the patch's spelling.";

/// `run --help`'s examples and notes.
pub const RUN_HELP: &str = "\
Examples:
  # A cron job that must never overlap with itself: skip this run if the last still runs.
  jlock run -n /tmp/backup.lock -- rsync -a /srv/ /backup/

  # Wait up to 30 s for the build lock, then give up with exit code 75.
  jlock run -w 30 -E 75 build.lock -c 'make && make install'

  # At most 2 heavy builds at once on this machine.
  jlock run --slots 2 /tmp/heavy-build -- make -j8

  # Two locks at once, all or none, in one order whatever order they are named in.
  jlock run -w 60 db.lock cache.lock -- ./migrate.sh

  # First come, first served: deploys run in the order they started waiting.
  jlock run --fair deploy.lock -- ./deploy.sh

  # One host at a time, cluster-wide (built with --features etcd).
  jlock run -n etcd://10.0.0.1:2379,10.0.0.2:2379/nightly -- ./backup.sh

The command inherits the lock, so it stays held until the command (and anything it
started that kept the descriptor) exits, even if jlock itself is killed (-o: not so).
SIGINT, SIGTERM and SIGHUP sent to jlock are passed on to the command, and the lock
is held until the command has exited. With --slots, the command gets JLOCK_SLOT=i.
An exclusive holder gets JLOCK_FENCE, a number that grows with each exclusive
`jlock run` of that lock file (kept in the file, if it is empty or holds only that).

On an etcd:// lock the command gets JLOCK_FENCE and JLOCK_LOCK_KEY and runs in a
process group of its own: if the lock is lost (its lease of --ttl SECS expired or was
revoked, its key deleted), the group gets SIGTERM, SIGKILL 5 s later, and jlock exits 75;
if jlock dies, the kernel kills the command. An unreachable cluster: exit 69, within
--connect-timeout, the command never started. -F is refused there.

--fair: waiters get the lock (or, with --slots, a slot) in the order they started
waiting, through a queue of one small file per waiter in LOCKFILE.queue/ (made
beside the lock, sticky, open to whoever may read the lock file; a symlink there is
refused, exit 77). A waiter killed while
queued leaves the queue; one that times out (-w) or gives up (-n) leaves it too.
Fairness is among --fair waiters: flock(1) and jlock without --fair are still
excluded by the lock, but may take it ahead of the queue. Refused (64) with several
locks; on etcd:// a no-op (etcd's lock queue is already first come, first served).
`jlock status LOCKFILE` lists the queue.

The descriptor form of flock(1): a number and no command locks that descriptor,
inherited from the shell, and returns (0; 1 or -E CODE if held or timed out; 74 if
FD is not open); -u FD unlocks it. With a command (or `--`), the number is a file name.
  ( jlock run -n 9 || exit 1; critical work ) 9>/var/lock/mylock
  exec 9>mylock; jlock run 9; critical work; jlock run -u 9

flock(1)'s spellings work too: -e, --nb, --nonblocking, --timeout, and the
self-locking idiom of its man page:
  [ \"${FLOCKER}\" != \"$0\" ] && exec env FLOCKER=\"$0\" jlock run -en \"$0\" \"$0\" \"$@\" || :";

/// `get --help`'s examples and notes.
pub const GET_HELP: &str = "\
Examples:
  jlock get db.json                 # the whole document
  jlock get db.json .jobs[0].name   # jq-style path
  jlock get -r db.json /owner       # JSON Pointer; a string printed without quotes

  jlock get -c db.json .jobs        # on one line (like jq -c)
  jlock get -e db.json .ready && deploy     # exit 1 if null or false (like jq -e)
  jlock get --default 0 db.json .count      # 0 if db.json or .count is missing (or null)

A missing value prints null, as in jq. A missing FILE is an error (exit 66) and creates
nothing; --default VALUE prints VALUE instead. get creates no file: with no lock file
beside FILE it reads under a lock on FILE itself, which every jlock writer also takes.";

/// `set --help`'s examples and notes.
pub const SET_HELP: &str = "\
Examples:
  jlock set db.json .owner '\"ann\"'           # VALUE is JSON ...
  jlock set db.json .owner ann --string      # ... or, with --string, taken verbatim
  jlock set db.json .limits.cpu 2            # creates .limits if missing";

/// `del --help`'s examples and notes.
pub const DEL_HELP: &str = "\
Examples:
  jlock del db.json .limits.cpu
  jlock del db.json /jobs/0";

/// `incr --help`'s examples and notes.
pub const INCR_HELP: &str = "\
Examples:
  # Eight background jobs, one counter, no lost update:
  for i in $(seq 8); do (for j in $(seq 100); do jlock incr hits.json >/dev/null; done) & done; wait
  cat hits.json        # 800

  jlock incr db.json .deploys             # a counter inside a document
  jlock incr db.json .budget --by -2.5   # exact decimals: ten --by 0.1 from 0 give 1

Numbers add exactly, in base 10, never through floating point: integers of any size
stay integers, and decimals need no rounding (0.1 + 0.2 gives 0.3).

With -q the new value is not printed. If it cannot be printed (stdout closed or full),
jlock exits 3: the update was applied, and running the command again would apply it twice.";

/// `update --help`'s examples and notes.
pub const UPDATE_HELP: &str = "\
Examples:
  jlock update db.json -- jq '.n += 1'
  jlock update db.json -- jq --arg u \"$USER\" '.owners += [$u] | .owners |= unique'

CMD reads the document on stdin while jlock holds the exclusive lock. If CMD exits 0
and prints one JSON document, it replaces the file atomically; otherwise the file is
left as it was and jlock exits non-zero (with CMD's own code if CMD failed).

On an etcd:// target there is no lock: the new document is written only if nobody
changed it meanwhile (compare-and-swap), and otherwise CMD runs again on the newer
document. CMD MAY THEREFORE RUN MORE THAN ONCE: it must only compute the new document,
with no other side effects.";

/// `demo --help`'s examples and notes.
pub const DEMO_HELP: &str = "\
Examples:
  jlock demo                          # the whole lesson, with a summary table
  jlock demo tickets --no-lock        # watch one ticket being sold ten times
  jlock demo counter -p 8 --ops 1000  # lost updates, then exact counting
  jlock demo --json | jq '.demos[] | {demo, lock, correct}'

Each demo runs real child processes (this binary, re-executed), released together
by a barrier, in a temporary directory that is removed afterwards (--keep DIR keeps it).";

/// `bench --help`'s examples and notes.
pub const BENCH_HELP: &str = "\
Examples:
  jlock bench                                  # the full matrix, on this directory's file system
  jlock bench --procs 1,4 --sizes counter,1m   # a smaller matrix
  jlock bench --dir /mnt/nfs --svg bench.svg   # another file system, and a chart
  jlock bench --json | jq '.results[] | select(.procs == 1)'
  jlock bench --approaches push-pop:jlock,push-pop:pipe,push-pop:flock-jq --rounds 5
                                               # the work queue against a pipe and a shell queue

One op = take the lock, read the JSON counter, add 1, write it back, unlock. A push/pop
row moves elements from 4 producers to 4 consumers. Every measurement is checked: the
final count is exact, every element was taken exactly once (exit 65 if one is not).
Each row is the median of --rounds rounds; the progress bar says the time left.";

/// `status --help`'s examples and notes.
pub const STATUS_HELP: &str = "\
Examples:
  jlock status build.lock        # free, or held by whom (pid, command, since when)
  jlock status db.json           # a data file: size, last change, journal, and its lock
  jlock status --json build.lock
  if jlock -q status build.lock; then echo free; fi

Exit 0 if the lock is free (a --slots lock: a slot is free), 1 if it is held; -q prints
nothing. A lock file that does not exist is free (\"no lock file yet\"; \"exists\": false
in the JSON) and is not created. Read from the kernel's lock table (/proc/locks), as
lslocks does; for etcd://NAME, from its queue keys.";

/// `completions --help`'s examples and notes.
pub const COMPLETIONS_HELP: &str = "\
Examples:
  jlock completions bash > ~/.local/share/bash-completion/completions/jlock
  jlock completions zsh > ~/.zfunc/_jlock
  jlock completions fish > ~/.config/fish/completions/jlock.fish";

/// `push --help`'s examples and notes.
pub const PUSH_HELP: &str = "\
Examples:
  jlock push q.json .todo '{\"url\": \"https://example.com\"}' '{\"url\": \"https://example.org\"}'
  jlock push --string q.json .todo \"$file\"        # a string, verbatim
  jlock push q.json .todo 1 2 3                    # three elements, in this order

Every VALUE is appended in one update under the lock: a consumer sees all of them or
none. A missing or null value at PATH becomes [] first; anything else but an array is
bad data (exit 65) and the file is left byte for byte as it was. `jlock pop` takes them.";

/// `pop --help`'s examples and notes.
pub const POP_HELP: &str = "\
Examples:
  item=$(jlock pop -r q.json .todo) && work \"$item\"       # wait for one, for ever
  jlock pop -w 10 q.json .todo || echo 'nothing to do for 10 s'
  jlock pop -n q.json .todo || echo empty                 # exit 1 at once if empty

  # At-least-once: take the item into an in-progress list, remove it when done.
  item=$(jlock pop -c --to .doing q.json .todo)
  work \"$item\" && jlock update q.json -- jq --argjson i \"$item\" '.doing -= [$i]'

pop removes the array's first element and prints it (as get does: -r for a raw string,
-c on one line) in one update: however many consumers run, each element is taken by
exactly one. While the array is empty (or missing) pop waits without polling (inotify
on the file's directory) — for ever, or -w SECS (then exit 1, nothing taken); -n exits
1 at once. A non-array at PATH: exit 65, the file untouched.
A consumer killed after its update and before it printed has taken the element: it is
no longer in the queue. With --to OTHER_PATH the same update appends it to the array
at OTHER_PATH, so a crashed worker's element stays there to be pushed back
(`jlock pop --to .todo q.json .doing` moves one back). If printing fails after the
element was taken, pop exits 3. On etcd:// targets pop -w waits on an etcd watch of the
key (no polling); exit 69 if the server goes away.";

/// `wait --help`'s examples and notes.
pub const WAIT_HELP: &str = "\
Examples:
  jlock wait state.json .db --until '\"ready\"' -w 60 && start-app
  jlock wait jobs.json .left --until 0                 # 0, 0.0 and 0e0 are equal
  jlock wait config.json --change                      # any change of the document

Returns 0 as soon as the value at PATH equals VALUE (JSON equality: numbers by value,
objects regardless of member order; a missing value is null), or with --change as soon
as it differs from what it was when wait started; -w SECS gives up with exit 1. No
polling: wait sleeps on inotify (the file's directory) and reads the value again,
under the lock, after each change, so it uses no CPU while nothing changes. Creates no
file. On etcd:// targets: an etcd watch of the key from the revision read (no change
missed); exit 69 if the server goes away.";

/// `watch --help`'s examples and notes.
pub const WATCH_HELP: &str = "\
Examples:
  jlock watch state.json .progress                     # one compact JSON line per change
  jlock watch --json-seq state.json | jq --seq -c .    # RFC 7464 for tools

Prints the value at PATH (null if missing) now, then again after every change, until
killed (or its reader goes away). Changes that come faster than it reads may be
coalesced — it prints the value it finds after each burst, never a torn one, and the
last value written is always printed. No polling (inotify on the file's directory; on
etcd:// an etcd watch of the key). If an etcd server goes away, watch exits 69.";
