//! Backup and restore of a whole civpass database, online and engine-neutral: a backup taken
//! from SQLite restores into PostgreSQL and back.
//!
//! A backup is one consistent snapshot (a read transaction: SQLite's WAL snapshot, PostgreSQL's
//! `REPEATABLE READ READ ONLY`), so it holds every write acknowledged before it began and none
//! half-done, while the platform goes on serving. It is JSON Lines:
//!
//! ```text
//! {"format":"civpass-backup","version":1,"schema":25,"taken_at":1764500000,"engine":"sqlite"}
//! {"table":"clients","columns":["id","secret_hash",...]}
//! {"row":["c_1","...",1764400000,null,{"b":"base64url bytes"}]}
//! ...
//! {"end":{"tables":23,"rows":1234}}
//! ```
//!
//! Values are `null`, integers, text, or `{"b": base64url}` for bytes; tables come parents
//! first (foreign keys), so that a restore inserts in file order. The master key is not in it:
//! what is sealed stays sealed, and a restore needs the same master key to be read.
//! Hand-written because no crate copies between SQL engines; pg_dump and `.backup` each know
//! one engine.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use civpass_core::kernel::Internal;
use civpass_core::kernel::store::StoreError;
use futures_util::TryStreamExt;
use serde_json::{Value, json};
use sqlx::any::{AnyConnectOptions, AnyRow};
use sqlx::{AnyConnection, Connection, Executor, Row};

use crate::{Dialect, SqlStore, backend};

/// The backup format's version: a restore refuses any other.
pub const FORMAT_VERSION: i64 = 1;
const FORMAT: &str = "civpass-backup";

/// What a backup or restore moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The schema version (the last migration applied) of the data.
    pub schema: i64,
    pub tables: u64,
    pub rows: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Bytes,
    Text,
}

struct Table {
    name: String,
    columns: Vec<(String, Kind)>,
}

async fn connect(url: &str) -> Result<AnyConnection, StoreError> {
    sqlx::any::install_default_drivers();
    let options = AnyConnectOptions::from_str(url).map_err(backend)?;
    AnyConnection::connect_with(&options).await.map_err(backend)
}

fn invalid(what: impl Into<String>) -> StoreError {
    StoreError::backend(format!("not a civpass backup, or a damaged one: {}", what.into()))
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Backend(Box::new(Internal::caused("writing the backup", e)))
}

/// Writes a consistent backup of the database at `url` to `out`, while it stays in use.
///
/// Errors: `Backend` if the database is not a civpass one or cannot be read, or `out` cannot be
/// written; `Unavailable` if it cannot be reached.
pub async fn backup(url: &str, out: &mut impl Write) -> Result<Summary, StoreError> {
    let dialect = Dialect::of(url)?;
    let mut conn = match dialect {
        // Read-only: a mistyped path must not create an empty database to back up.
        Dialect::Sqlite => {
            let path = url.trim_start_matches("sqlite://").split('?').next().unwrap_or_default();
            if !std::path::Path::new(path).is_file() {
                return Err(StoreError::backend(format!("no database at {path}")));
            }
            connect(&format!("sqlite://{path}?mode=ro")).await?
        }
        Dialect::Postgres => connect(url).await?,
    };
    match dialect {
        Dialect::Sqlite => conn.execute("BEGIN").await.map_err(backend)?,
        Dialect::Postgres => conn
            .execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(backend)?,
    };
    // The snapshot starts at the first read, which is this one.
    let schema = schema_version(&mut conn).await?;
    let tables = tables(&mut conn, dialect).await?;
    let engine = match dialect {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgres",
    };
    let taken_at = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = json!({"format": FORMAT, "version": FORMAT_VERSION, "schema": schema, "taken_at": taken_at, "engine": engine});
    writeln!(out, "{header}").map_err(io)?;
    let mut rows = 0_u64;
    for table in &tables {
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
        writeln!(out, "{}", json!({"table": table.name, "columns": names})).map_err(io)?;
        let select = format!(
            "SELECT {} FROM {} ORDER BY 1",
            names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(", "),
            quote(&table.name)
        );
        let mut stream = conn.fetch(sqlx::AssertSqlSafe(select));
        while let Some(row) = stream.try_next().await.map_err(backend)? {
            let values = table
                .columns
                .iter()
                .enumerate()
                .map(|(i, (_, kind))| read_value(&row, i, *kind))
                .collect::<Result<Vec<Value>, StoreError>>()?;
            writeln!(out, "{}", json!({ "row": values })).map_err(io)?;
            rows += 1;
        }
    }
    conn.execute("COMMIT").await.map_err(backend)?;
    let _ = conn.close().await;
    let tables_n = tables.len() as u64;
    writeln!(out, "{}", json!({"end": {"tables": tables_n, "rows": rows}})).map_err(io)?;
    out.flush().map_err(io)?;
    Ok(Summary { schema, tables: tables_n, rows })
}

/// Restores a backup from `input` into the database at `url`, which must hold no civpass data
/// (a new data directory, or a new PostgreSQL database): the schema of the backup's version is
/// created, every row inserted in one transaction, and then the migrations since applied.
/// Nothing is written unless the whole backup, to its end line, reads and inserts.
///
/// Errors: `Conflict` if the database already holds civpass data; `Backend` for a file that is
/// not a whole backup, one from a newer civpass, or a database that refuses a row.
pub async fn restore(url: &str, input: impl BufRead) -> Result<Summary, StoreError> {
    let dialect = Dialect::of(url)?;
    let mut lines = input.lines().enumerate();
    let mut next = || -> Result<Option<Value>, StoreError> {
        match lines.next() {
            None => Ok(None),
            Some((n, line)) => {
                let line = line.map_err(|e| {
                    StoreError::Backend(Box::new(Internal::caused("reading the backup", e)))
                })?;
                serde_json::from_str(&line)
                    .map(Some)
                    .map_err(|e| invalid(format!("line {}: {e}", n + 1)))
            }
        }
    };
    let header = next()?.ok_or_else(|| invalid("it is empty"))?;
    if header["format"] != FORMAT {
        return Err(invalid("no civpass-backup header"));
    }
    if header["version"] != FORMAT_VERSION {
        return Err(invalid(format!(
            "format version {} is not {FORMAT_VERSION}",
            header["version"]
        )));
    }
    let schema = header["schema"].as_i64().ok_or_else(|| invalid("no schema version"))?;
    let latest = crate::migrator(dialect).iter().map(|m| m.version).max().unwrap_or(0);
    if schema > latest {
        return Err(StoreError::backend(format!(
            "the backup is of schema {schema}, newer than this civpass knows ({latest}): restore it with a newer civpass"
        )));
    }

    let mut conn = connect(url).await?;
    if holds_data(&mut conn, dialect).await? {
        return Err(StoreError::Conflict(
            "the database already holds civpass data; restore into a new one".into(),
        ));
    }
    let _ = conn.close().await;
    SqlStore::migrate_to(url, schema).await?;

    let mut conn = connect(url).await?;
    conn.execute("BEGIN").await.map_err(backend)?;
    let known: BTreeMap<String, Table> =
        tables(&mut conn, dialect).await?.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut current: Option<(String, Vec<Kind>, String)> = None;
    let (mut tables_n, mut rows) = (0_u64, 0_u64);
    let ended = loop {
        let Some(line) = next()? else { break None };
        if let Some(name) = line["table"].as_str() {
            let table = known
                .get(name)
                .ok_or_else(|| invalid(format!("table {name} is not in schema {schema}")))?;
            let columns: Vec<&str> = line["columns"]
                .as_array()
                .ok_or_else(|| invalid("a table without columns"))?
                .iter()
                .map(|c| c.as_str().ok_or_else(|| invalid("a column name that is not text")))
                .collect::<Result<_, _>>()?;
            let kinds = columns
                .iter()
                .map(|c| {
                    table.columns.iter().find(|(n, _)| n == c).map(|(_, k)| *k).ok_or_else(|| {
                        invalid(format!("column {name}.{c} is not in schema {schema}"))
                    })
                })
                .collect::<Result<Vec<Kind>, _>>()?;
            let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
            let insert = format!(
                "INSERT INTO {} ({}) VALUES ({})",
                quote(name),
                columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
                placeholders.join(", ")
            );
            current = Some((name.to_owned(), kinds, insert));
            tables_n += 1;
        } else if let Some(values) = line["row"].as_array() {
            let (name, kinds, insert) =
                current.as_ref().ok_or_else(|| invalid("a row before its table"))?;
            if values.len() != kinds.len() {
                return Err(invalid(format!("a row of {name} with the wrong number of values")));
            }
            let mut query = sqlx::query(sqlx::AssertSqlSafe(insert.as_str()));
            for (value, kind) in values.iter().zip(kinds) {
                query = bind(query, value, *kind).ok_or_else(|| {
                    invalid(format!("a value of {name} that is not of its column's type"))
                })?;
            }
            query.execute(&mut conn).await.map_err(backend)?;
            rows += 1;
        } else if line.get("end").is_some() {
            break Some(line["end"].clone());
        } else {
            return Err(invalid("a line that is neither a table, a row nor the end"));
        }
    };
    let end = ended.ok_or_else(|| invalid("it ends before its end line (cut short?)"))?;
    if end["tables"] != tables_n || end["rows"] != rows {
        return Err(invalid("its end line does not count what it holds"));
    }
    if next()?.is_some() {
        return Err(invalid("there is more after its end line (two backups in one file?)"));
    }
    conn.execute("COMMIT").await.map_err(backend)?;
    let _ = conn.close().await;
    // The migrations since the backup's schema, as an upgrade would apply them.
    SqlStore::connect(url).await?;
    Ok(Summary { schema, tables: tables_n, rows })
}

/// Double-quoted, as both engines quote identifiers; names come from the schema itself.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn schema_version(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| match backend(e) {
            StoreError::Backend(cause) => StoreError::Backend(Box::new(Internal::caused(
                "not a civpass database (no migrations table)",
                cause,
            ))),
            other => other,
        })?;
    row.try_get::<Option<i64>, _>("v")
        .map_err(backend)?
        .ok_or_else(|| StoreError::backend("not a civpass database (no migration applied)"))
}

/// Whether any civpass table holds a row.
async fn holds_data(conn: &mut AnyConnection, dialect: Dialect) -> Result<bool, StoreError> {
    for table in tables(conn, dialect).await? {
        let any = format!("SELECT 1 AS one FROM {} LIMIT 1", quote(&table.name));
        if sqlx::query(sqlx::AssertSqlSafe(any))
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?
            .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The civpass tables, each after the tables its foreign keys name.
async fn tables(conn: &mut AnyConnection, dialect: Dialect) -> Result<Vec<Table>, StoreError> {
    let (names_sql, references_sql) = match dialect {
        Dialect::Sqlite => (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> '_sqlx_migrations' ORDER BY name",
            "SELECT m.name AS child, p.\"table\" AS parent FROM sqlite_master m \
             JOIN pragma_foreign_key_list(m.name) p WHERE m.type = 'table'",
        ),
        Dialect::Postgres => (
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             AND table_name <> '_sqlx_migrations' ORDER BY table_name",
            // pg_constraint, not information_schema, which hides constraints from a role that
            // may only read the tables (a backup role).
            "SELECT ch.relname::text AS child, pa.relname::text AS parent FROM pg_constraint c \
             JOIN pg_class ch ON ch.oid = c.conrelid JOIN pg_class pa ON pa.oid = c.confrelid \
             JOIN pg_namespace n ON n.oid = ch.relnamespace \
             WHERE c.contype = 'f' AND n.nspname = current_schema()",
        ),
    };
    let names: Vec<String> = sqlx::query(names_sql)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in sqlx::query(references_sql).fetch_all(&mut *conn).await.map_err(backend)? {
        let child: String = row.try_get("child").map_err(backend)?;
        let parent: String = row.try_get("parent").map_err(backend)?;
        if child != parent {
            parents.entry(child).or_default().insert(parent);
        }
    }
    // Parents first: repeatedly take the tables whose parents are all placed.
    let mut ordered: Vec<String> = Vec::with_capacity(names.len());
    let mut left: Vec<String> = names;
    while !left.is_empty() {
        let (ready, waiting): (Vec<String>, Vec<String>) = left.into_iter().partition(|t| {
            parents.get(t).is_none_or(|ps| ps.iter().all(|p| ordered.contains(p) || p == t))
        });
        if ready.is_empty() {
            return Err(StoreError::backend("the tables' foreign keys form a cycle"));
        }
        ordered.extend(ready);
        left = waiting;
    }
    let mut tables = Vec::with_capacity(ordered.len());
    for name in ordered {
        let columns_sql = match dialect {
            Dialect::Sqlite => format!(
                "SELECT name, type FROM pragma_table_info('{}') ORDER BY cid",
                name.replace('\'', "''")
            ),
            Dialect::Postgres => format!(
                "SELECT column_name::text AS name, data_type::text AS type FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = '{}' ORDER BY ordinal_position",
                name.replace('\'', "''")
            ),
        };
        let columns = sqlx::query(sqlx::AssertSqlSafe(columns_sql))
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?
            .iter()
            .map(|r| {
                let column: String = r.try_get("name").map_err(backend)?;
                let declared: String = r.try_get("type").map_err(backend)?;
                let kind = kind(&declared).ok_or_else(|| {
                    StoreError::backend(format!(
                        "column {name}.{column} is of type {declared}, which a backup does not carry"
                    ))
                })?;
                Ok((column, kind))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        tables.push(Table { name, columns });
    }
    Ok(tables)
}

/// A column's kind from its declared type: the types civpass's schema uses, as SQLite declares
/// them and PostgreSQL names them. Any other is refused rather than copied wrongly.
fn kind(declared: &str) -> Option<Kind> {
    match declared.to_ascii_uppercase().as_str() {
        "INTEGER" | "BIGINT" => Some(Kind::Integer),
        "BLOB" | "BYTEA" => Some(Kind::Bytes),
        "TEXT" => Some(Kind::Text),
        _ => None,
    }
}

fn read_value(row: &AnyRow, i: usize, kind: Kind) -> Result<Value, StoreError> {
    Ok(match kind {
        Kind::Integer => {
            row.try_get::<Option<i64>, _>(i).map_err(backend)?.map_or(Value::Null, Value::from)
        }
        Kind::Text => {
            row.try_get::<Option<String>, _>(i).map_err(backend)?.map_or(Value::Null, Value::from)
        }
        Kind::Bytes => row
            .try_get::<Option<Vec<u8>>, _>(i)
            .map_err(backend)?
            .map_or(Value::Null, |b| json!({ "b": URL_SAFE_NO_PAD.encode(b) })),
    })
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn bind<'q>(query: AnyQuery<'q>, value: &Value, kind: Kind) -> Option<AnyQuery<'q>> {
    Some(match (kind, value) {
        (Kind::Integer, Value::Null) => query.bind(None::<i64>),
        (Kind::Text, Value::Null) => query.bind(None::<String>),
        (Kind::Bytes, Value::Null) => query.bind(None::<Vec<u8>>),
        (Kind::Integer, Value::Number(n)) => query.bind(n.as_i64()?),
        (Kind::Text, Value::String(s)) => query.bind(s.clone()),
        (Kind::Bytes, Value::Object(o)) => {
            query.bind(URL_SAFE_NO_PAD.decode(o.get("b")?.as_str()?).ok()?)
        }
        _ => return None,
    })
}
