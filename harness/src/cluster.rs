//! A ClickHouse cluster on loopback: one ZooKeeper (Debian's `zookeeper`
//! package, run with the machine's Java) and two ClickHouse servers started
//! by the same launcher as a lone server ([`ClickHouse::start_node`]), in one
//! of two [`Layout`]s. The cluster is named [`CLUSTER`] in every node's
//! `<remote_servers>`; the `{shard}` and `{replica}` macros name each node's
//! place in it, as the collector's replicated engines expect.
//!
//! Everything lives under one directory: `zookeeper/` (its `zoo.cfg`, data
//! and log) and `node1/`, `node2/` (the servers' usual directories). Ports are
//! picked free once and kept, so a node or ZooKeeper stopped and restarted
//! comes back where its peers expect it.
use crate::clickhouse::{free_ports, Node};
use crate::{ClickHouse, Process};
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The cluster's name in `<remote_servers>` (`clickhouse.cluster` in the collector's config).
pub const CLUSTER: &str = "ktra_cluster";
/// Where Debian's package puts ZooKeeper (its dependencies are in its manifest's class path).
const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How the two servers share the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Two shards of one replica each: each server holds half of the rows.
    TwoShards,
    /// One shard with two replicas: each server holds every row.
    TwoReplicas,
}

impl Layout {
    /// A short name (`2x1`, `1x2`: shards × replicas) for directories and output.
    pub fn name(self) -> &'static str {
        match self {
            Layout::TwoShards => "2x1",
            Layout::TwoReplicas => "1x2",
        }
    }

    /// The `{shard}` macro of node `i` (0 or 1).
    fn shard(self, i: usize) -> usize {
        match self {
            Layout::TwoShards => i + 1,
            Layout::TwoReplicas => 1,
        }
    }

    /// The cluster's `<remote_servers>` entry for nodes on these native ports.
    fn clusters_xml(self, tcp: [u16; 2]) -> String {
        let replica = |port: u16| format!("<replica><host>127.0.0.1</host><port>{port}</port></replica>");
        // Replicated tables copy rows themselves: Distributed writes each row to one replica.
        let shard =
            |replicas: String| format!("<shard><internal_replication>true</internal_replication>{replicas}</shard>");
        let shards = match self {
            Layout::TwoShards => format!("{}{}", shard(replica(tcp[0])), shard(replica(tcp[1]))),
            Layout::TwoReplicas => shard(format!("{}{}", replica(tcp[0]), replica(tcp[1]))),
        };
        format!("        <{CLUSTER}>{shards}</{CLUSTER}>")
    }
}

type Spawn<P> = Box<dyn FnMut(&mut Command) -> Result<P> + Send + Sync>;

/// A private ZooKeeper (standalone) on loopback; stopped when dropped.
pub struct ZooKeeper<P: Process = Child> {
    /// Client port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    spawn: Spawn<P>,
    process: Option<P>,
}

impl<P: Process> ZooKeeper<P> {
    /// Writes `zoo.cfg` into `dir` (wiped first), starts ZooKeeper on `port`
    /// with `spawn` and waits until it serves.
    pub fn start_with(
        dir: impl Into<PathBuf>,
        port: u16,
        spawn: impl FnMut(&mut Command) -> Result<P> + Send + Sync + 'static,
    ) -> Result<Self> {
        let dir = dir.into();
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("wiping {}", dir.display()))?;
        }
        std::fs::create_dir_all(dir.join("data")).with_context(|| format!("creating {}", dir.display()))?;
        if !Path::new(ZOOKEEPER_JAR).exists() {
            bail!("{ZOOKEEPER_JAR} not found: install Debian's `zookeeper` package (`cargo xtask setup`)");
        }
        let cfg = format!(
            "# Written by ktra-harness for a private standalone ZooKeeper.\n\
             tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
             clientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
             4lw.commands.whitelist=ruok,srvr\nmaxClientCnxns=200\nmaxSessionTimeout=60000\n",
            dir.join("data").display()
        );
        std::fs::write(dir.join("zoo.cfg"), cfg).context("writing zoo.cfg")?;
        let mut zk = ZooKeeper { port, dir, spawn: Box::new(spawn), process: None };
        zk.start()?;
        Ok(zk)
    }

    fn command(&self) -> Result<Command> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("zookeeper.log"))?;
        let mut cmd = Command::new("java");
        cmd.args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg(format!("-Dzookeeper.log.dir={}", self.dir.display()))
            .args(["-cp", ZOOKEEPER_JAR, "org.apache.zookeeper.server.quorum.QuorumPeerMain"])
            .arg(self.dir.join("zoo.cfg"))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        Ok(cmd)
    }

    fn start(&mut self) -> Result<()> {
        let mut cmd = self.command()?;
        self.process = Some((self.spawn)(&mut cmd)?);
        let start = Instant::now();
        loop {
            if let Some(status) = self.process.as_mut().map(P::try_wait).transpose()?.flatten() {
                bail!("ZooKeeper exited during start ({status})\n{}", self.log_tail());
            }
            if self.serving() {
                return Ok(());
            }
            if start.elapsed() > START_TIMEOUT {
                bail!("ZooKeeper did not serve within {}s\n{}", START_TIMEOUT.as_secs(), self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The four-letter `srvr` names the server's mode: it serves sessions
    /// (`ruok` answers `imok` earlier, and a ClickHouse 18.16 that connects
    /// then fails its handshake and crashes).
    fn serving(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut answer = String::new();
        s.write_all(b"srvr").is_ok() && s.read_to_string(&mut answer).is_ok() && answer.contains("Mode: standalone")
    }

    /// Stops ZooKeeper (SIGTERM, then SIGKILL); its data is kept for [`ZooKeeper::restart`].
    pub fn stop(&mut self) {
        if let Some(p) = self.process.as_mut() {
            p.stop();
        }
        self.process = None;
    }

    /// Starts it again on the same data and port.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.start()
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("zookeeper.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl<P: Process> Drop for ZooKeeper<P> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// ZooKeeper and two ClickHouse servers forming [`CLUSTER`]. Dropping it
/// stops the servers, then ZooKeeper.
pub struct Cluster<P: Process = Child> {
    /// The two servers, `node1` and `node2`.
    pub nodes: Vec<ClickHouse<P>>,
    /// The coordination service of the replicated tables and of `ON CLUSTER` DDL.
    pub zookeeper: ZooKeeper<P>,
    /// How the servers share the data.
    pub layout: Layout,
}

impl Cluster<Child> {
    /// Starts the cluster in `dir` (wiped first) with plain child processes.
    pub fn start(dir: impl Into<PathBuf>, layout: Layout) -> Result<Self> {
        Self::start_with(dir, layout, |_| |cmd: &mut Command| Ok(cmd.spawn()?))
    }
}

impl<P: Process> Cluster<P> {
    /// Starts ZooKeeper, then both servers, each process through the spawner
    /// that `spawner(label)` returns; waits until every one answers.
    pub fn start_with<S>(dir: impl Into<PathBuf>, layout: Layout, spawner: impl Fn(&str) -> S) -> Result<Self>
    where
        S: FnMut(&mut Command) -> Result<P> + Send + Sync + 'static,
    {
        let dir = dir.into();
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("wiping {}", dir.display()))?;
        }
        let ports = free_ports(7)?;
        let zookeeper = ZooKeeper::start_with(dir.join("zookeeper"), ports[6], spawner("ZooKeeper"))?;
        let node_ports = [[ports[0], ports[1], ports[2]], [ports[3], ports[4], ports[5]]];
        let clusters_xml = layout.clusters_xml([node_ports[0][1], node_ports[1][1]]);
        let mut nodes = Vec::with_capacity(2);
        for (i, node_ports) in node_ports.into_iter().enumerate() {
            let node = Node {
                ports: Some(node_ports),
                extra_xml: node_xml(zookeeper.port, layout.shard(i), i + 1),
                clusters_xml: clusters_xml.clone(),
            };
            let name = format!("node{}", i + 1);
            let label = format!("ClickHouse ({} {name})", layout.name());
            nodes.push(ClickHouse::start_node(dir.join(&name), true, &node, spawner(&label))?);
        }
        ensure_ddl(&mut nodes)?;
        Ok(Cluster { nodes, zookeeper, layout })
    }

    /// Runs `sql` on every node; fails on the first error.
    pub fn query_all(&self, sql: &str) -> Result<Vec<String>> {
        self.nodes.iter().map(|n| n.query(sql)).collect()
    }
}

/// Waits until `node` reads ZooKeeper.
fn wait_zookeeper<P: Process>(node: &ClickHouse<P>) -> Result<()> {
    let start = Instant::now();
    while node.query("SELECT count() FROM system.zookeeper WHERE path = '/'").is_err() {
        if start.elapsed() > START_TIMEOUT {
            bail!("ClickHouse did not reach ZooKeeper within {}s\n{}", START_TIMEOUT.as_secs(), node.log_tail());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// Runs a no-op `ON CLUSTER` statement from each node until one round
/// passes, restarting nodes that died meanwhile (up to three rounds). An
/// 18.16 server whose DDL worker has not reached ZooKeeper yet crashes on
/// its first `ON CLUSTER` query (seen on a busy machine with ZooKeeper slow
/// to answer); the cluster is handed out only once the DDL path works.
fn ensure_ddl<P: Process>(nodes: &mut [ClickHouse<P>]) -> Result<()> {
    let probe = format!("CREATE DATABASE IF NOT EXISTS default ON CLUSTER {CLUSTER}");
    let mut last = String::new();
    for _ in 0..3 {
        for node in nodes.iter() {
            wait_zookeeper(node)?;
        }
        match nodes.iter().try_for_each(|n| n.query(&probe).map(drop)) {
            Ok(()) => return Ok(()),
            Err(e) => last = format!("{e:#}"),
        }
        for node in nodes.iter_mut() {
            if node.exited()?.is_some() {
                node.restart()?;
            }
        }
    }
    bail!("ON CLUSTER DDL does not work on the cluster: {last}")
}

impl<P: Process> Drop for Cluster<P> {
    fn drop(&mut self) {
        // The servers first: they would otherwise wait on ZooKeeper while stopping.
        for node in &mut self.nodes {
            node.stop();
        }
        self.zookeeper.stop();
    }
}

/// A node's ZooKeeper, macros and DDL queue. A short session timeout and
/// session check make a replica notice a lost and returned ZooKeeper within
/// seconds (defaults: 30 s and 60 s).
fn node_xml(zookeeper_port: u16, shard: usize, replica: usize) -> String {
    format!(
        r#"    <zookeeper>
        <node><host>127.0.0.1</host><port>{zookeeper_port}</port></node>
        <session_timeout_ms>6000</session_timeout_ms>
    </zookeeper>
    <macros>
        <shard>{shard}</shard>
        <replica>node{replica}</replica>
    </macros>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>
    <merge_tree>
        <zookeeper_session_expiration_check_period>2</zookeeper_session_expiration_check_period>
    </merge_tree>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_name_their_shards_and_replicas() {
        let two_shards = Layout::TwoShards.clusters_xml([9001, 9002]);
        assert_eq!(two_shards.matches("<shard>").count(), 2, "{two_shards}");
        assert_eq!(two_shards.matches("<replica>").count(), 2);
        let two_replicas = Layout::TwoReplicas.clusters_xml([9001, 9002]);
        assert_eq!(two_replicas.matches("<shard>").count(), 1, "{two_replicas}");
        assert!(two_replicas.contains("<port>9001</port>") && two_replicas.contains("<port>9002</port>"));
        assert_eq!((Layout::TwoShards.shard(1), Layout::TwoReplicas.shard(1)), (2, 1));
    }
}
