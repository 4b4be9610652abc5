//! ktra on a real ClickHouse cluster, in both layouts (two shards × one
//! replica, one shard × two replicas): ZooKeeper, two ClickHouse 18.16
//! servers, the schema applied `ON CLUSTER` by `ktra-collector migrate`, two
//! collectors behind haproxy (`ktra_tests::topology`). Under a load of known
//! event ids (with retries through the balancer and deliberate replays), one
//! server is SIGKILLed and restarted, then ZooKeeper is stopped and restarted.
//! Afterwards: every acknowledged event is stored exactly once through the
//! `Distributed` tables with `FINAL`, replicas hold the same rows, every
//! analyst query and dashboard endpoint answers as one server does for the
//! same rows, an erasure reaches every node's `_local` tables, and a REST
//! hook made through one collector is delivered by both.
//!
//! `#[ignore]`: each test starts its own cluster (about a minute); the
//! `cluster` stage of `cargo xtask test` runs them with `--ignored`.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "cluster/checks.rs"]
mod checks;
#[path = "cluster/load.rs"]
mod load;

use ktra_harness::Layout;
use ktra_tests::topology::{count, Topology};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "starts ZooKeeper and two ClickHouse servers: the cluster stage of `cargo xtask test`"]
async fn two_shards_one_replica() {
    run(Layout::TwoShards).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "starts ZooKeeper and two ClickHouse servers: the cluster stage of `cargo xtask test`"]
async fn one_shard_two_replicas() {
    run(Layout::TwoReplicas).await;
}

async fn run(layout: Layout) {
    let started = Instant::now();
    let name = layout.name();
    let mut topo = tokio::task::block_in_place(|| Topology::start(layout));
    eprintln!("[{name}] cluster, migrations, collectors and haproxy up in {:.1} s", started.elapsed().as_secs_f64());

    let load = load::Load::start(&topo.url(), 8).await;
    let faults = load::faults(&mut topo, &load).await;
    let sent = load.finish().await;
    let acked = load.acked();

    let stored = checks::wait_stored(&topo, acked.len() as u64, Duration::from_secs(120)).await;
    let tally = checks::tally(&topo, &acked, &sent).await;
    eprintln!(
        "[{name}] sent {} events ({} replayed batches), acknowledged {}, stored {stored} distinct through \
         Distributed FINAL, {} rows FINAL ({} before FINAL), duplicates {}, missing {}, unknown {}; per node \
         (events_local FINAL): {:?}",
        sent.len(),
        load.replays(),
        acked.len(),
        tally.final_rows,
        tally.physical,
        tally.final_rows.saturating_sub(tally.distinct),
        tally.missing,
        tally.unknown,
        tally.per_node
    );
    eprintln!("[{name}] faults: {faults}");
    assert_eq!(tally.missing, 0, "every acknowledged event is stored");
    assert_eq!(tally.unknown, 0, "nothing is stored that was not sent");
    assert_eq!(tally.distinct, acked.len() as u64);
    assert_eq!(tally.final_rows, tally.distinct, "FINAL through the Distributed table counts each event once");
    match layout {
        Layout::TwoShards => {
            assert_eq!(tally.per_node.iter().sum::<u64>(), tally.final_rows, "each row on exactly one shard");
            assert!(tally.per_node.iter().all(|&n| n > 0), "the sharding key splits the rows: {:?}", tally.per_node);
        }
        Layout::TwoReplicas => {
            assert!(tally.per_node.iter().all(|&n| n == tally.final_rows), "each replica holds every row");
            checks::replicas_agree(&topo).await;
        }
    }
    assert!(faults.node_down_acked > 0, "the collectors kept acknowledging while a server was down");
    assert!(faults.zookeeper_down_acked > 0, "the collectors kept acknowledging while ZooKeeper was down");
    assert!(faults.readonly_seen, "the replicated tables turned read-only without ZooKeeper");

    let same = checks::same_answers_as_one_server(&topo).await;
    eprintln!("[{name}] {same} analyst queries and dashboard endpoints answer as on one server");

    let erased = checks::erasure_reaches_every_node(&topo).await;
    eprintln!("[{name}] erasure: {erased}");

    let hooks = checks::hooks_are_shared(&topo).await;
    eprintln!("[{name}] REST hooks: {hooks}");

    let funnels = checks::saved_funnels_are_shared(&topo).await;
    eprintln!("[{name}] funnels from the dashboard: {funnels}");

    let events = count(&topo.node_url(0), "SELECT count() FROM events").await;
    eprintln!("[{name}] done in {:.1} s ({events} event rows)", started.elapsed().as_secs_f64());
}
