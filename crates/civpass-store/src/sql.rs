//! Helpers every port's SQL shares: one-statement writes and reads with their parameters
//! (`SqlStore::execute`, `write_returning`, `fetch_optional`, `fetch_all`; `execute_on` inside
//! a transaction; `params!`), and column reads (`col`), so that a port method is its SQL and
//! little else.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use civpass_core::kernel::store::StoreResult;

use crate::writer::Statements;
use crate::{SqlStore, backend};

/// A query with its parameters bound, over either dialect.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Wraps an async block over the writer's connection as a boxed operation.
macro_rules! op {
    (|$conn:ident| $body:expr) => {
        Box::new(move |$conn: &mut sqlx::AnyConnection| Box::pin(async move { $body }))
    };
}

pub(crate) use op;

/// A query parameter, owned, so that a write handed to the writer task outlives the caller's
/// borrows.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(Option<String>),
    Int(Option<i64>),
    Bytes(Option<Vec<u8>>),
}

impl From<&str> for Param {
    fn from(v: &str) -> Param {
        Param::Text(Some(v.to_owned()))
    }
}

impl From<&String> for Param {
    fn from(v: &String) -> Param {
        Param::Text(Some(v.clone()))
    }
}

impl From<String> for Param {
    fn from(v: String) -> Param {
        Param::Text(Some(v))
    }
}

impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Param {
        Param::Text(v.map(str::to_owned))
    }
}

impl From<&Option<String>> for Param {
    fn from(v: &Option<String>) -> Param {
        Param::Text(v.clone())
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Param {
        Param::Int(Some(v))
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Param {
        Param::Int(v)
    }
}

impl From<&Option<Vec<u8>>> for Param {
    fn from(v: &Option<Vec<u8>>) -> Param {
        Param::Bytes(v.clone())
    }
}

impl From<&Vec<u8>> for Param {
    fn from(v: &Vec<u8>) -> Param {
        Param::Bytes(Some(v.clone()))
    }
}

/// Typed ids bind as their text.
macro_rules! id_params {
    ($($id:ty),*) => {$(
        impl From<&$id> for Param {
            fn from(v: &$id) -> Param {
                Param::Text(Some(v.to_string()))
            }
        }

        impl From<&Option<$id>> for Param {
            fn from(v: &Option<$id>) -> Param {
                Param::Text(v.as_ref().map(|id| id.to_string()))
            }
        }
    )*};
}

id_params!(
    civpass_core::kernel::AccountId,
    civpass_core::kernel::ClientId,
    civpass_core::kernel::DeviceId,
    civpass_core::kernel::GrantId,
    civpass_core::kernel::LoginRequestId
);

/// The parameters `$1`, `$2`, … of a statement, in order: an array (a slice for `execute_on`,
/// `Into<Vec<Param>>` for the `SqlStore` helpers).
macro_rules! params {
    () => { Vec::<crate::sql::Param>::new() };
    ($($value:expr),+ $(,)?) => { [$(crate::sql::Param::from($value)),+] };
}

pub(crate) use params;

pub(crate) fn bind_all<'q>(mut query: AnyQuery<'q>, params: &'q [Param]) -> AnyQuery<'q> {
    for param in params {
        query = match param {
            Param::Text(v) => query.bind(v.as_deref()),
            Param::Int(v) => query.bind(*v),
            Param::Bytes(v) => query.bind(v.as_deref()),
        };
    }
    query
}

/// A column of a row, read as `T`.
///
/// Errors: `Backend` if the column is missing or of another type.
pub(crate) fn col<'r, T>(row: &'r AnyRow, name: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name).map_err(backend)
}

/// Runs one statement on `conn` (a transaction's, or a write's own) and returns how many rows
/// it changed.
pub(crate) async fn execute_on(
    conn: &mut AnyConnection,
    sql: &'static str,
    params: &[Param],
) -> StoreResult<u64> {
    let done = bind_all(sqlx::query(sql), params).execute(conn).await.map_err(backend)?;
    Ok(done.rows_affected())
}

impl SqlStore {
    /// Runs one statement as a write (in the SQLite group commit, or a transaction of its own
    /// on PostgreSQL) and returns how many rows it changed.
    pub(crate) async fn execute(
        &self,
        sql: &'static str,
        params: impl Into<Vec<Param>>,
    ) -> StoreResult<u64> {
        let params = params.into();
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    let done =
                        bind_all(sqlx::query(sql), &params).execute(conn).await.map_err(backend)?;
                    Ok(done.rows_affected())
                }),
            )
            .await
    }

    /// Runs one statement that returns rows (`… RETURNING`) as a write, and maps them.
    pub(crate) async fn write_returning<T: Send + 'static>(
        &self,
        sql: &'static str,
        params: impl Into<Vec<Param>>,
        map: fn(&AnyRow) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let params = params.into();
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    let rows = bind_all(sqlx::query(sql), &params)
                        .fetch_all(conn)
                        .await
                        .map_err(backend)?;
                    rows.iter().map(map).collect()
                }),
            )
            .await
    }

    /// The row one read finds, if any, mapped by `map`.
    pub(crate) async fn fetch_optional<T>(
        &self,
        sql: impl sqlx::SqlSafeStr,
        params: impl Into<Vec<Param>>,
        map: fn(&AnyRow) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let params = params.into();
        let row = bind_all(sqlx::query(sql), &params)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.as_ref().map(map).transpose()
    }

    /// Every row one read finds, mapped by `map`.
    pub(crate) async fn fetch_all<T>(
        &self,
        sql: impl sqlx::SqlSafeStr,
        params: impl Into<Vec<Param>>,
        map: fn(&AnyRow) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let params = params.into();
        let rows =
            bind_all(sqlx::query(sql), &params).fetch_all(&self.reader).await.map_err(backend)?;
        rows.iter().map(map).collect()
    }
}
