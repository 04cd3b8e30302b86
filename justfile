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

# What CI runs.
ci:
    bash .ci/run
