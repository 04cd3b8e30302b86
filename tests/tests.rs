//! End-to-end tests of the `jlock` binary, run as real, concurrent processes.

mod util;

#[cfg(feature = "lab")]
mod bench;
mod cli;
mod contention;
mod crash;
mod data;
mod deleted_lock;
#[cfg(feature = "lab")]
mod demo;
mod descriptor;
mod errors;
#[cfg(feature = "etcd")]
mod etcd;
#[cfg(feature = "etcd")]
mod etcd_queue;
#[cfg(feature = "etcd")]
mod etcd_requests;
mod examples;
mod fair;
mod flock_compat;
mod get;
mod lock;
mod lock_set;
mod lossless;
mod operators;
mod patch;
mod queue;
mod revision;
mod trust;
mod unwritable;
mod watch;
