//! ClickHouse migrations, embedded from `schema/migrations/*.sql`, and the
//! renderer that adapts them to a server version and deployment.
//!
//! Statements are written for current ClickHouse, unqualified (the runner
//! selects the database), with these placeholders:
//! - `{{on_cluster}}` → empty, or `ON CLUSTER name` when deployed on a cluster;
//! - `{{sessions_view}}` → the `sessions` view's query ([`crate::sessions::view`]);
//! - `{{engine:Name(args)}}` → `Name(args)`, or its `Replicated` form with the
//!   usual `{shard}`/`{replica}` macros on a cluster;
//! - `LowCardinality(T)` is kept on 19.0 and later and becomes `T` on older
//!   servers (Debian's 18.16), where it is experimental;
//! - `ADD COLUMN IF NOT EXISTS` becomes `ADD COLUMN` on 18.16, which lacks it
//!   (the runner then takes "already exists" as applied).
//!
//! On a cluster each data table `T` is created as `T_local` on every node
//! (`ON CLUSTER`, Replicated engine) and `T` becomes a `Distributed` table over
//! it, sharded by the key its migration declares (`{{shard_key:expr}}`,
//! removed from the SQL itself) so that copies of one event (retries,
//! replays) land on the same shard, where `FINAL` folds them; the writer and every query keep using
//! `T`; `ALTER TABLE T` goes to `T_local` and `T` is made again over it. Cluster
//! DDL needs ZooKeeper: `tests/tests/cluster.rs` runs it on a real cluster.

/// One migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Increasing version number (the file's numeric prefix).
    pub version: u32,
    /// File name without extension.
    pub name: &'static str,
    /// Raw SQL with placeholders; statements end in `;` at the end of a line.
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "0001_events", sql: include_str!("../migrations/0001_events.sql") },
    Migration { version: 2, name: "0002_consent_log", sql: include_str!("../migrations/0002_consent_log.sql") },
    Migration { version: 3, name: "0003_email", sql: include_str!("../migrations/0003_email.sql") },
    Migration { version: 4, name: "0004_sessions", sql: include_str!("../migrations/0004_sessions.sql") },
    Migration { version: 5, name: "0005_consent_root", sql: include_str!("../migrations/0005_consent_root.sql") },
    Migration { version: 6, name: "0006_lead_consent", sql: include_str!("../migrations/0006_lead_consent.sql") },
    Migration {
        version: 7,
        name: "0007_webhook_deliveries",
        sql: include_str!("../migrations/0007_webhook_deliveries.sql"),
    },
    Migration {
        version: 8,
        name: "0008_webhook_subscriptions",
        sql: include_str!("../migrations/0008_webhook_subscriptions.sql"),
    },
    Migration { version: 9, name: "0009_orders", sql: include_str!("../migrations/0009_orders.sql") },
    Migration { version: 10, name: "0010_consent_region", sql: include_str!("../migrations/0010_consent_region.sql") },
    Migration { version: 11, name: "0011_shares", sql: include_str!("../migrations/0011_shares.sql") },
    Migration { version: 12, name: "0012_rollups", sql: include_str!("../migrations/0012_rollups.sql") },
    Migration {
        version: 13,
        name: "0013_views_without_final",
        sql: include_str!("../migrations/0013_views_without_final.sql"),
    },
    Migration { version: 14, name: "0014_session_facts", sql: include_str!("../migrations/0014_session_facts.sql") },
    Migration { version: 15, name: "0015_saved_funnels", sql: include_str!("../migrations/0015_saved_funnels.sql") },
];

/// The table recording applied migrations.
pub const MIGRATIONS_TABLE_SQL: &str = "CREATE TABLE IF NOT EXISTS schema_migrations {{on_cluster}} \
(version UInt32, name String, applied_at DateTime) ENGINE = {{engine:ReplacingMergeTree()}} ORDER BY version";

/// A ClickHouse server version, as `SELECT version()` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    /// Major (year-based since 18).
    pub major: u32,
    /// Minor.
    pub minor: u32,
}

impl ServerVersion {
    /// Parses `"18.16.1"` or `"26.3.1.1"`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.trim().split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next().unwrap_or("0").parse().ok()?;
        Some(Self { major, minor })
    }

    /// Whether `ALTER TABLE … ADD COLUMN IF NOT EXISTS` parses (not on 18.16).
    pub fn has_add_column_if_not_exists(self) -> bool {
        self.major >= 19
    }

    /// Whether `LowCardinality` is a regular (non-experimental) type.
    pub fn has_low_cardinality(self) -> bool {
        self.major >= 19
    }
}

/// How the schema is deployed.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// Cluster name for `ON CLUSTER`, replicated engines and distributed
    /// tables; `None` for one server.
    pub cluster: Option<String>,
    /// Database the tables live in (needed by `Distributed`); default `ktra`.
    pub database: Option<String>,
}

/// The sharding key of data table `table` on a cluster, as its migration
/// declares it (`{{shard_key:expr}}` in the `CREATE TABLE`); `None` for
/// tables that are not distributed.
pub fn shard_key(table: &str) -> Option<String> {
    MIGRATIONS.iter().flat_map(|m| split_statements(m.sql)).find_map(|stmt| {
        let rest = stmt.strip_prefix("CREATE TABLE IF NOT EXISTS ")?;
        (rest.split_whitespace().next() == Some(table)).then(|| take_shard_key(&stmt).1).flatten()
    })
}

/// The statement without its `{{shard_key:…}}` placeholder, and the key.
fn take_shard_key(stmt: &str) -> (String, Option<String>) {
    const OPEN: &str = "{{shard_key:";
    let Some(start) = stmt.find(OPEN) else { return (stmt.to_string(), None) };
    let Some(len) = stmt[start..].find("}}") else { return (stmt.to_string(), None) };
    let key = stmt[start + OPEN.len()..start + len].trim().to_string();
    let mut out = stmt.to_string();
    out.replace_range(start..start + len + 2, "");
    (out.trim().to_string(), Some(key))
}

/// Whether `s` is a safe ClickHouse identifier (database, table, cluster).
pub fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && s.len() <= 64
}

/// Renders migration SQL for a server and deployment, split into statements.
pub fn render(sql: &str, version: ServerVersion, deploy: &Deployment) -> Vec<String> {
    let on_cluster = match &deploy.cluster {
        Some(c) if is_identifier(c) => format!("ON CLUSTER {c}"),
        _ => String::new(),
    };
    let mut text = sql.replace("{{sessions_view}}", &crate::sessions::view()).replace("{{on_cluster}}", &on_cluster);
    while let Some(start) = text.find("{{engine:") {
        let Some(len) = text[start..].find("}}") else { break };
        let engine = &text[start + 9..start + len];
        let rendered = match &deploy.cluster {
            Some(_) => replicated(engine),
            None => engine.to_string(),
        };
        text.replace_range(start..start + len + 2, &rendered);
    }
    if !version.has_low_cardinality() {
        text = strip_low_cardinality(&text);
    }
    if !version.has_add_column_if_not_exists() {
        // The runner treats "column already exists" as applied on these servers.
        text = text.replace("ADD COLUMN IF NOT EXISTS", "ADD COLUMN");
    }
    let stmts: Vec<String> = split_statements(&text).iter().map(|s| take_shard_key(s).0).collect();
    match &deploy.cluster {
        Some(c) if is_identifier(c) => distribute(stmts, c, deploy.database.as_deref().unwrap_or("ktra")),
        _ => stmts,
    }
}

/// On a cluster: `CREATE TABLE IF NOT EXISTS T …` of a data table becomes
/// `T_local`, followed by the `Distributed` table `T` over it; `ALTER TABLE T …`
/// is applied to `T_local`, and `T` is dropped and created again over the
/// altered `T_local`: 18.16 refuses `ALTER … ON CLUSTER` of a table that is
/// not replicated when the cluster's shards replicate internally (seen on the
/// test cluster). `T` holds no rows of its own: the collector inserts through
/// it synchronously on a cluster (`insert_distributed_sync`).
fn distribute(stmts: Vec<String>, cluster: &str, database: &str) -> Vec<String> {
    const PREFIX: &str = "CREATE TABLE IF NOT EXISTS ";
    const ALTER: &str = "ALTER TABLE ";
    let mut out = Vec::with_capacity(stmts.len() * 2);
    for stmt in stmts {
        if let Some(rest) = stmt.strip_prefix(ALTER) {
            let table = rest.split_whitespace().next().unwrap_or("");
            match shard_key(table) {
                Some(key) if is_identifier(database) => {
                    out.push(format!("{ALTER}{table}_local{}", &rest[table.len()..]));
                    out.push(format!("DROP TABLE IF EXISTS {table} ON CLUSTER {cluster}"));
                    out.push(distributed_table(table, cluster, database, &key));
                }
                _ => out.push(stmt),
            }
            continue;
        }
        if stmt.starts_with("CREATE VIEW ") && is_identifier(database) {
            out.push(qualify_reads(&stmt, database));
            continue;
        }
        if stmt.starts_with("CREATE MATERIALIZED VIEW ") && is_identifier(database) {
            // Fires on this node's inserts into the Distributed table and
            // writes through the target's Distributed table.
            out.push(qualify_reads(&qualify_target(&stmt, database), database));
            continue;
        }
        let table = stmt.strip_prefix(PREFIX).and_then(|rest| rest.split_whitespace().next()).unwrap_or("");
        let Some(key) = shard_key(table) else {
            out.push(stmt);
            continue;
        };
        let local = format!("{table}_local");
        out.push(format!("{PREFIX}{local}{}", &stmt[PREFIX.len() + table.len()..]));
        if is_identifier(database) {
            out.push(distributed_table(table, cluster, database, &key));
        }
    }
    out
}

/// The `Distributed` table `table` over `table_local` on every node.
fn distributed_table(table: &str, cluster: &str, database: &str, key: &str) -> String {
    // `AS` names the database: 18.16 runs `ON CLUSTER` DDL on the other
    // nodes in their default database, where an unqualified table is missing.
    format!(
        "CREATE TABLE IF NOT EXISTS {table} ON CLUSTER {cluster} AS {database}.{table}_local \
         ENGINE = Distributed({cluster}, {database}, {table}_local, {key})"
    )
}

/// A view's `FROM T` of a distributed table becomes `FROM database.T`: 18.16
/// runs `ON CLUSTER` DDL on the other nodes in their default database, where
/// an unqualified table is missing.
fn qualify_reads(stmt: &str, database: &str) -> String {
    let mut out = String::with_capacity(stmt.len() + 32);
    let mut rest = stmt;
    while let Some(i) = rest.find("FROM ") {
        let (head, tail) = rest.split_at(i + "FROM ".len());
        out.push_str(head);
        let name_len = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        if name_len > 0 && (shard_key(&tail[..name_len]).is_some() || is_view(&tail[..name_len])) {
            out.push_str(database);
            out.push('.');
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// A materialized view's `TO T` of a distributed table becomes `TO database.T`.
fn qualify_target(stmt: &str, database: &str) -> String {
    match stmt.split_once(" TO ") {
        Some((head, tail)) => {
            let name = tail.split_whitespace().next().unwrap_or("");
            if shard_key(name).is_some() {
                format!("{head} TO {database}.{tail}")
            } else {
                stmt.to_string()
            }
        }
        None => stmt.to_string(),
    }
}

/// Whether a migration creates view `name` (a view may read another view).
fn is_view(name: &str) -> bool {
    MIGRATIONS.iter().flat_map(|m| split_statements(m.sql)).any(|stmt| {
        stmt.strip_prefix("CREATE VIEW IF NOT EXISTS ").and_then(|rest| rest.split_whitespace().next()) == Some(name)
    })
}

fn replicated(engine: &str) -> String {
    let (name, args) = match engine.find('(') {
        Some(i) => (&engine[..i], engine[i + 1..].trim_end_matches(')')),
        None => (engine, ""),
    };
    let path = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'";
    if args.trim().is_empty() {
        format!("Replicated{name}({path})")
    } else {
        format!("Replicated{name}({path}, {args})")
    }
}

fn strip_low_cardinality(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(i) = rest.find("LowCardinality(") {
        out.push_str(&rest[..i]);
        let inner = &rest[i + "LowCardinality(".len()..];
        let close = inner.find(')').unwrap_or(inner.len());
        out.push_str(&inner[..close]);
        rest = inner.get(close + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// Splits SQL into statements at `;` ending a line, dropping comment-only lines.
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in sql.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        let trimmed = line.trim_end();
        if let Some(stmt) = trimmed.strip_suffix(';') {
            cur.push_str(stmt);
            if !cur.trim().is_empty() {
                out.push(cur.trim().to_string());
            }
            cur.clear();
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: ServerVersion = ServerVersion { major: 18, minor: 16 };
    const NEW: ServerVersion = ServerVersion { major: 26, minor: 1 };

    #[test]
    fn low_cardinality_is_gated_on_version() {
        let sql = "CREATE TABLE t (a LowCardinality(String), b UInt8) ENGINE = {{engine:MergeTree()}} ORDER BY b;";
        let old = render(sql, OLD, &Deployment::default());
        assert_eq!(old, vec!["CREATE TABLE t (a String, b UInt8) ENGINE = MergeTree() ORDER BY b"]);
        let new = render(sql, NEW, &Deployment::default());
        assert!(new[0].contains("LowCardinality(String)"));
    }

    #[test]
    fn cluster_puts_a_distributed_table_in_front_of_each_data_table() {
        let d = Deployment { cluster: Some("main".into()), database: Some("ktra".into()) };
        let stmts: Vec<String> = MIGRATIONS.iter().flat_map(|m| render(m.sql, NEW, &d)).collect();
        let events_local = stmts
            .iter()
            .find(|s| s.starts_with("CREATE TABLE IF NOT EXISTS events_local ON CLUSTER main"))
            .expect("events_local");
        assert!(events_local.contains("ReplicatedReplacingMergeTree("), "{events_local}");
        assert!(stmts.iter().any(|s| s
            == "CREATE TABLE IF NOT EXISTS events ON CLUSTER main AS ktra.events_local ENGINE = Distributed(main, ktra, events_local, cityHash64(site_id, session_id))"));
        for t in [
            "events",
            "consent_log",
            "email_clicks",
            "email_opens",
            "lead_consent",
            "webhook_deliveries",
            "webhook_subscriptions",
        ] {
            assert!(shard_key(t).is_some(), "{t} declares its shard key");
            assert!(
                stmts.iter().any(|s| s.starts_with(&format!("CREATE TABLE IF NOT EXISTS {t}_local "))),
                "{t}_local"
            );
            assert!(
                stmts.iter().any(|s| s.starts_with(&format!(
                    "CREATE TABLE IF NOT EXISTS {t} ON CLUSTER main AS ktra.{t}_local ENGINE = Distributed("
                ))),
                "{t}"
            );
        }
        // A column added to a data table reaches the local tables, then the
        // distributed one is made again over them (never altered: 18.16 refuses).
        let add = |t: &str| format!("ALTER TABLE {t} ON CLUSTER main ADD COLUMN IF NOT EXISTS consent_root");
        let i_local = stmts.iter().position(|s| s.starts_with(&add("events_local"))).expect("events_local alter");
        assert_eq!(stmts[i_local + 1], "DROP TABLE IF EXISTS events ON CLUSTER main");
        assert!(
            stmts[i_local + 2].starts_with("CREATE TABLE IF NOT EXISTS events ON CLUSTER main AS ktra.events_local")
        );
        assert!(!stmts.iter().any(|s| s.starts_with(&add("events"))), "no ALTER of a Distributed table");
        // The rollup marks fire on inserts into the distributed events table
        // and write through the distributed marks table.
        assert!(
            stmts.iter().any(|s| s.starts_with(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_marks_mv ON CLUSTER main TO ktra.rollup_marks AS"
            ) && s.contains("FROM ktra.events\n")),
            "{:?}",
            stmts.iter().find(|s| s.contains("rollup_marks_mv"))
        );
        // The view reads the distributed table.
        assert!(stmts.iter().any(|s| s.starts_with("CREATE VIEW IF NOT EXISTS sessions ON CLUSTER main")
            && s.contains("FROM ktra.events FINAL")));
        // A view reading another view names its database too.
        assert!(stmts
            .iter()
            .any(|s| s.starts_with("CREATE VIEW IF NOT EXISTS sessions ON CLUSTER main")
                && s.contains("FROM ktra.orders")));
        // One server: nothing of this.
        let single: Vec<String> = MIGRATIONS.iter().flat_map(|m| render(m.sql, NEW, &Deployment::default())).collect();
        assert!(!single.iter().any(|s| s.contains("_local") || s.contains("Distributed")));
    }

    #[test]
    fn cluster_makes_engines_replicated() {
        let d = Deployment { cluster: Some("main".into()), database: None };
        let sql = "CREATE TABLE t {{on_cluster}} (v DateTime) ENGINE = {{engine:ReplacingMergeTree(v)}} ORDER BY v;";
        let s = &render(sql, NEW, &d)[0];
        assert!(s.contains("ON CLUSTER main"), "{s}");
        assert!(
            s.contains("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', v)"),
            "{s}"
        );
        let bad = Deployment { cluster: Some("x; DROP".into()), database: None };
        assert!(!render(sql, NEW, &bad)[0].contains("DROP"));
    }

    #[test]
    fn every_migration_renders_to_statements_without_placeholders() {
        for m in MIGRATIONS {
            for v in [OLD, NEW] {
                let stmts = render(m.sql, v, &Deployment::default());
                assert!(!stmts.is_empty(), "{}", m.name);
                for s in &stmts {
                    assert!(!s.contains("{{"), "{}: {s}", m.name);
                    let first = s.split_whitespace().next().unwrap_or("");
                    assert!(["CREATE", "DROP", "ALTER", "INSERT"].contains(&first), "{}: {s}", m.name);
                    assert!(!s.contains('?'), "{}: '?' would be taken as a bind placeholder", m.name);
                    if v == OLD {
                        assert!(!s.contains("LowCardinality"), "{}", m.name);
                        assert!(!s.contains("ADD COLUMN IF NOT EXISTS"), "{}: 18.16 cannot parse it", m.name);
                    }
                }
            }
        }
    }

    #[test]
    fn versions_parse() {
        assert_eq!(ServerVersion::parse("18.16.1"), Some(OLD));
        assert_eq!(ServerVersion::parse("26.1.2.3"), Some(NEW));
        assert_eq!(ServerVersion::parse("x"), None);
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("ktra_test_1"));
        assert!(!is_identifier("1abc"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("a`b"));
    }
}
