//! The floor of one `jlock run etcd://…` and one `jlock incr etcd://…` per process, for
//! docs/bench/etcd_run.py: a process that does only the requests the operation needs,
//! with etcd's client library straight, and nothing else — no target parsing, no JSON, no
//! guard, no signal handling.
//!
//! `floor run HOST:PORT KEY` grants a lease, queues `KEY/LEASE` on it and reads the queue's
//! head in one Txn, runs `true` (as `jlock run … -- true` does), and revokes the lease.
//! `floor incr HOST:PORT KEY` reads KEY (a Txn of two gets, as jlock's read of the
//! document and its receipt) and writes it plus one by a compare-and-swap Txn.

use etcd_client::{Client, Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: floor run|incr HOST:PORT KEY");
        std::process::exit(64);
    }
    let (mode, endpoint, key) = (args[1].as_str(), args[2].as_str(), args[3].as_str());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let done: Result<(), etcd_client::Error> = rt.block_on(async {
        let mut c = Client::connect([endpoint], None).await?;
        match mode {
            "run" => {
                let lease = c.lease_grant(10, None).await?.id();
                let mine = format!("{key}/{lease:016x}");
                let head = TxnOp::get(
                    format!("{key}/"),
                    Some(
                        GetOptions::new()
                            .with_prefix()
                            .with_limit(1)
                            .with_keys_only(),
                    ),
                );
                let txn = Txn::new()
                    .when([Compare::create_revision(mine.as_str(), CompareOp::Equal, 0)])
                    .and_then([
                        TxnOp::put(
                            mine.as_str(),
                            "floor",
                            Some(PutOptions::new().with_lease(lease)),
                        ),
                        head,
                    ]);
                c.txn(txn).await?;
                let status = std::process::Command::new("true").status().expect("true");
                assert!(status.success());
                c.lease_revoke(lease).await?;
            }
            "incr" => {
                let receipt = format!("{key}.receipt");
                let read = Txn::new()
                    .and_then([TxnOp::get(key, None), TxnOp::get(receipt.as_str(), None)]);
                let r = c.txn(read).await?;
                let (n, rev) = match r.op_responses().first() {
                    Some(TxnOpResponse::Get(g)) => g.kvs().first().map_or((0, 0), |kv| {
                        let n = std::str::from_utf8(kv.value())
                            .ok()
                            .and_then(|s| s.trim().parse::<u64>().ok())
                            .unwrap_or(0);
                        (n, kv.mod_revision())
                    }),
                    _ => (0, 0),
                };
                let cas = Txn::new()
                    .when([Compare::mod_revision(key, CompareOp::Equal, rev)])
                    .and_then([
                        TxnOp::put(key, (n + 1).to_string(), None),
                        TxnOp::put(receipt.as_str(), "floor", None),
                    ]);
                if !c.txn(cas).await?.succeeded() {
                    eprintln!("floor incr: conflict (the floor does not retry)");
                    std::process::exit(1);
                }
            }
            _ => {
                eprintln!("floor: run or incr, not {mode}");
                std::process::exit(64);
            }
        }
        Ok(())
    });
    if let Err(e) = done {
        eprintln!("floor: {e}");
        std::process::exit(69);
    }
}
