//! Applies the migrations of `ktra-schema` to a server: reads its version,
//! creates the database, renders each migration for that version and
//! deployment, applies what `schema_migrations` does not list, records it.
//! Idempotent: every statement is `IF NOT EXISTS` (or an added column that
//! already exists counts as added), and applied versions are skipped.
use crate::config::ClickHouseConfig;
use ktra_schema::migrations::{self, Deployment, ServerVersion, MIGRATIONS, MIGRATIONS_TABLE_SQL};

/// A migration failure.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The server answered with an error.
    #[error("{context}: {source}")]
    ClickHouse {
        /// What was being done.
        context: String,
        /// The error.
        source: clickhouse::error::Error,
    },
    /// The version string was not understood.
    #[error("cannot parse ClickHouse version {0:?}")]
    Version(String),
}

fn ch(context: impl Into<String>) -> impl FnOnce(clickhouse::error::Error) -> MigrateError {
    let context = context.into();
    move |source| MigrateError::ClickHouse { context, source }
}

/// Reads `SELECT version()`.
pub async fn server_version(client: &clickhouse::Client) -> Result<ServerVersion, MigrateError> {
    let v: String = client.query("SELECT version()").fetch_one().await.map_err(ch("SELECT version()"))?;
    ServerVersion::parse(&v).ok_or(MigrateError::Version(v))
}

/// Applies all pending migrations; returns the versions applied now.
pub async fn run(cfg: &ClickHouseConfig) -> Result<Vec<u32>, MigrateError> {
    let root = super::clickhouse::client_for_database(cfg, "default");
    let version = server_version(&root).await?;
    let deploy = Deployment {
        cluster: (!cfg.cluster.is_empty()).then(|| cfg.cluster.clone()),
        database: Some(cfg.database.clone()),
    };
    // The database name was validated as an identifier when the config was loaded.
    let on_cluster = deploy.cluster.as_ref().map(|c| format!(" ON CLUSTER {c}")).unwrap_or_default();
    root.query(&format!("CREATE DATABASE IF NOT EXISTS {}{on_cluster}", cfg.database))
        .execute()
        .await
        .map_err(ch("CREATE DATABASE"))?;

    let db = super::clickhouse::client(cfg);
    for stmt in migrations::render(MIGRATIONS_TABLE_SQL, version, &deploy) {
        db.query(&stmt).execute().await.map_err(ch("create schema_migrations"))?;
    }
    // On a cluster every shard keeps its own schema_migrations: a version
    // applied `ON CLUSTER` through any node counts (`cluster()` reads them all).
    let applied_sql = match &deploy.cluster {
        Some(c) => format!("SELECT DISTINCT version FROM cluster({c}, {}, schema_migrations)", cfg.database),
        None => "SELECT DISTINCT version FROM schema_migrations".to_string(),
    };
    let applied: Vec<u32> = db.query(&applied_sql).fetch_all().await.map_err(ch("read schema_migrations"))?;

    let mut now_applied = Vec::new();
    for m in MIGRATIONS {
        if applied.contains(&m.version) {
            continue;
        }
        for stmt in migrations::render(m.sql, version, &deploy) {
            match db.query(&stmt).execute().await {
                Ok(()) => {}
                // A column added by an earlier run that stopped before recording it
                // (servers without ADD COLUMN IF NOT EXISTS).
                Err(e) if stmt.contains("ADD COLUMN") && e.to_string().contains("already exists") => {}
                Err(e) => return Err(ch(format!("migration {}", m.name))(e)),
            }
        }
        db.query("INSERT INTO schema_migrations (version, name, applied_at) SELECT ?, ?, now()")
            .bind(m.version)
            .bind(m.name)
            .execute()
            .await
            .map_err(ch(format!("record migration {}", m.name)))?;
        tracing::info!(migration = m.name, "applied");
        now_applied.push(m.version);
    }
    Ok(now_applied)
}
