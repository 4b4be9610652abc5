//! The dev harness shared by `cargo xtask` and `ktra-tests`: one launcher for
//! a private ClickHouse server on loopback ([`ClickHouse`]).
//!
//! What it owns: the server's config (Debian's clickhouse-server 18.16
//! format), its directory, free loopback ports, start, wait-until-ready,
//! stop, kill and restart, and plain HTTP queries (the `ureq` client). What it
//! does not: supervising processes beyond one server (xtask's process groups
//! and Ctrl-C handling plug in through [`Process`]), the schema (the
//! collector's migrations), or any product behaviour.
//!
//! Why the launcher is ours: the crates that exist either connect to a
//! server someone else runs (`clickhouse-testing`) or start one in Docker
//! (`testcontainers`), and ktra's machines run Debian's `clickhouse-server`
//! binary with no container runtime. What it does need from outside, an HTTP
//! client, is a kept library.
//!
//! Errors are `anyhow`, as in xtask: they end up in front of a developer,
//! printed by xtask or in a failing test's panic.

mod balancer;
mod clickhouse;
mod cluster;
mod process;

pub use balancer::Balancer;
pub use clickhouse::{free_ports, ClickHouse, Node};
pub use cluster::{Cluster, Layout, ZooKeeper, CLUSTER};
pub use process::{terminate, Process};
