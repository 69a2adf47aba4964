//! One database handle for SQLite and PostgreSQL. Queries are written once, with `$1`
//! placeholders that both backends accept; timestamps are Unix milliseconds (BIGINT) and flags are
//! integers so the same row types decode on both. Backend-specific code lives only where the
//! backend is the point (LISTEN/NOTIFY, row locks).

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    /// Connections only Calendly's deliveries use ([`Db::for_ingest`]): pages, streams and
    /// jobs holding every connection of `pool` never make a delivery wait for one.
    ingest: AnyPool,
    kind: DbKind,
    url: String,
}

/// Connections for pages, live streams and background jobs.
const SHARED_CONNECTIONS: (u32, u32) = (8, 12); // (SQLite, PostgreSQL)
/// Connections reserved for storing Calendly's deliveries (SQLite, PostgreSQL). SQLite has one
/// writer at a time whatever the count. On PostgreSQL a delivery's cost is mostly waiting for its
/// commit to reach the disk, and commits that wait together share one flush: enough connections
/// to keep many commits in flight is what lets ingest approach the database's own insert rate.
const INGEST_CONNECTIONS: (u32, u32) = (4, 16);
/// How long a request waits for a free connection before it is answered 503: well inside the
/// 15 s Calendly waits for a delivery's answer, and short enough that a page fails fast.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The URL may carry a password: only the kind is printed.
impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Db {
    /// Connects (creating a SQLite file and its directory if needed) and applies migrations.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else {
            DbKind::Postgres
        };
        if kind == DbKind::Sqlite {
            if let Some(dir) = sqlite_dir(url) {
                std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
            }
        }
        let options = AnyConnectOptions::from_str(url)?;
        let shared = match kind {
            DbKind::Sqlite => SHARED_CONNECTIONS.0,
            DbKind::Postgres => SHARED_CONNECTIONS.1,
        };
        let pool = pool_options(kind, shared)
            .connect_with(options.clone())
            .await?;
        // An in-memory SQLite database exists once per connection: it cannot be shared.
        let ingest = if url.contains(":memory:") {
            pool.clone()
        } else {
            let ingest = match kind {
                DbKind::Sqlite => INGEST_CONNECTIONS.0,
                DbKind::Postgres => INGEST_CONNECTIONS.1,
            };
            pool_options(kind, ingest).connect_lazy_with(options)
        };
        let migrator = match kind {
            DbKind::Sqlite => &SQLITE_MIGRATIONS,
            DbKind::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await?;
        Ok(Self {
            pool,
            ingest,
            kind,
            url: url.to_owned(),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The same database through the connections reserved for Calendly's deliveries.
    pub fn for_ingest(&self) -> Db {
        Db {
            pool: self.ingest.clone(),
            ..self.clone()
        }
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// The connection URL (PostgreSQL's LISTEN needs its own connection).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that read first and then wants to write after
    /// another writer committed fails at once with SQLITE_BUSY instead of waiting.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        self.pool.begin_with(self.begin_for_writing()).await
    }

    /// [`Db::begin_write`] on a connection the caller already holds (a delivery looks up its
    /// route and stores itself on one connection: one acquire, not two).
    pub async fn begin_write_on<'c>(
        &self,
        conn: &'c mut sqlx::AnyConnection,
    ) -> Result<sqlx::Transaction<'c, sqlx::Any>, sqlx::Error> {
        sqlx::Connection::begin_with(conn, self.begin_for_writing()).await
    }

    fn begin_for_writing(&self) -> &'static str {
        match self.kind {
            DbKind::Sqlite => "BEGIN IMMEDIATE",
            DbKind::Postgres => "BEGIN",
        }
    }

    /// A cheap round trip for `/healthz`.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.ingest.close().await;
    }
}

fn pool_options(kind: DbKind, max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                // SQLite: `synchronous = FULL` syncs the WAL at every commit, so a delivery we
                // acknowledged survives a power cut or OS crash too, not only a killed process
                // (NORMAL would lose the last commits then). It costs one fsync per commit;
                // deliveries are a handful per second per adviser, well inside it.
                if kind == DbKind::Sqlite {
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
                        .await?;
                }
                Ok(())
            })
        })
}

fn sqlite_dir(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_path_buf())
}
