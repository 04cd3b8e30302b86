# jlock's everyday commands. `just --list` shows them.
# Get just: `cargo install just` (or your package manager's `just`).

# Build the jlock binary (release).
build:
    cargo build --release

# Run every test: unit, library, end-to-end, doc tests.
test:
    cargo test

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings

# The whole lesson: all four demos and the summary table.
demo:
    cargo run --release -- demo

# The file-sharing demos, each without and with the lock.
demo-file:
    cargo run --release -- demo tickets
    cargo run --release -- demo counter

# Message passing through a pipe, against the locked file.
demo-queue:
    cargo run --release -- demo counter --lock
    cargo run --release -- demo queue

# The shell examples: jlock incr, flock(1) + sh, and no lock at all.
examples: build
    JLOCK=target/release/jlock examples/counter.sh
    examples/counter-flock.sh
    examples/counter-nolock.sh

# The benchmark matrix on this directory's file system, with a chart.
bench:
    cargo run --release -- bench --svg bench.svg

# The side-by-side numbers of docs/BENCHMARKS.md: C floors, Python, shell loops.
compare:
    python3 docs/bench/compare.py

# A static, position-dependent jlock (fastest start-up), in target/<host>/release/jlock.
build-static:
    RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" cargo build --release --target "$(rustc -vV | sed -n 's/^host: //p')"

# Install jlock (static), its shell completions and every man page, for this user.
install:
    RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" cargo install --path . --target "$(rustc -vV | sed -n 's/^host: //p')"
    mkdir -p ~/.local/share/bash-completion/completions ~/.local/share/zsh/site-functions ~/.config/fish/completions ~/.local/share/man/man1
    jlock completions bash > ~/.local/share/bash-completion/completions/jlock
    jlock completions zsh > ~/.local/share/zsh/site-functions/_jlock
    jlock completions fish > ~/.config/fish/completions/jlock.fish
    jlock man > ~/.local/share/man/man1/jlock.1
    for c in run get set del incr update patch rev push pop wait watch status demo bench completions man; do jlock man "$c" > ~/.local/share/man/man1/jlock-"$c".1; done

# The Python package: a fresh venv, `pip install ./crates/py`, its pytest suite.
py-test:
    bash .ci/py-test

# The Python package built with etcd: a fresh venv, its whole pytest suite against a real etcd (needs .ci/etcd-setup.sh).
py-etcd-test:
    bash .ci/py-etcd-test

# What CI runs.
ci:
    bash .ci/run
