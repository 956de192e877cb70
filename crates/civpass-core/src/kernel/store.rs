//! The storage error every port returns, and the transaction seam: a use case that changes
//! several aggregates together writes through one transaction (`transact`), so that the rules
//! stay in core and the store only runs the SQL.
//!
//! Each slice declares its storage ports (`<slice>/store.rs`), one trait per aggregate, each
//! method atomic on its own; a slice whose use cases write together also declares the writes a
//! transaction offers it (`oidc::store::OidcTransaction`), built on the lower slices' writes.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

use crate::kernel::error::BoxError;

/// What a storage port fails with. `Unavailable` and `Backend` keep their cause (`source()`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict with existing data ({0})")]
    Conflict(String),
    /// The database could not be reached, was too busy, or had no free connection: retrying
    /// later may succeed.
    #[error("storage unavailable")]
    Unavailable(#[source] BoxError),
    /// Any other failure of the store, or a stored value it cannot read: retrying will not help.
    #[error("storage failed")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// A permanent failure described by `message` (no underlying error).
    pub fn backend(message: impl Into<String>) -> StoreError {
        StoreError::Backend(message.into().into())
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Whether the store answers at all, for readiness probes, and how busy its pool is.
#[async_trait]
pub trait HealthStore: Send + Sync {
    /// Reads a small table; an error if the database cannot be reached or read.
    async fn ping(&self) -> StoreResult<()>;

    /// The connection pool that serves reads (on PostgreSQL, every query) now.
    fn pool_use(&self) -> PoolUse;
}

/// A connection pool's use at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUse {
    /// Connections open, idle or in use.
    pub open: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most it may open.
    pub max: u32,
}

/// What a transaction's work returns: a future that may borrow the transaction.
pub type TxFuture<'t, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 't>>;

/// A set of writes a transaction offers (a slice's transaction trait): `Tx<'t>` is that trait
/// as an object borrowing the transaction's connection for `'t`. Implemented by an uninhabited
/// marker type per set (`oidc::store::OidcWrites`).
pub trait TxScope: Send + Sync + 'static {
    type Tx<'t>: ?Sized + Send + 't;
}

/// Work for one transaction offering the writes of `S`. It may do nothing but its writes
/// through the transaction: no other I/O (on SQLite it runs inside a group commit that other
/// writes wait on), and no call to the store itself (which would wait on the transaction it
/// runs in; the store refuses it). It must pass every error on (`?`): PostgreSQL refuses the
/// rest of a transaction after a failed statement, where SQLite would carry on.
pub type Work<S, T> =
    Box<dyn for<'t> FnOnce(&'t mut <S as TxScope>::Tx<'t>) -> TxFuture<'t, T> + Send>;

/// The transaction seam: a store runs work in one transaction (a savepoint of the SQLite group
/// commit, a transaction of its own on PostgreSQL), answering once it is durable; an error from
/// the work rolls all of it back. `S` names the slice's set of writes (`OidcWrites`); a store
/// implements the seam once per such set. Type-erased so that ports stay trait objects;
/// use `transact`.
#[async_trait]
pub trait TransactionStore<S: TxScope> {
    async fn transact_erased(
        &self,
        work: Work<S, Box<dyn Any + Send>>,
    ) -> StoreResult<Box<dyn Any + Send>>;
}

/// Runs `work` in one transaction of `store` and returns what it returned.
///
/// Errors: the work's own, or `Backend` if the transaction could not commit.
pub async fn transact<S, Store, T, F>(store: &Store, work: F) -> StoreResult<T>
where
    S: TxScope,
    Store: TransactionStore<S> + ?Sized,
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut S::Tx<'t>) -> TxFuture<'t, T> + Send + 'static,
{
    let erased: Work<S, Box<dyn Any + Send>> = Box::new(move |tx| {
        Box::pin(async move { work(tx).await.map(|value| Box::new(value) as Box<dyn Any + Send>) })
    });
    let value = store.transact_erased(erased).await?;
    value
        .downcast::<T>()
        .map(|boxed| *boxed)
        .map_err(|_| StoreError::backend("a transaction returned another type"))
}
