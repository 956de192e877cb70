//! Group commit for SQLite.
//!
//! SQLite makes every commit durable with its own fsync, and fsync is the slowest thing the
//! platform does (about a millisecond here), so one commit per write caps throughput at the
//! disk's fsync rate. Instead, writes queue for a single writer task, which runs everything
//! queued in one transaction, each operation inside its own savepoint (a failed operation rolls
//! back alone), commits once, and only then answers each caller. Nobody is acknowledged before
//! the fsync that makes their write durable.
//!
//! PostgreSQL needs none of this: concurrent commits from a pool already share WAL flushes.
//!
//! Either way a write is cancellation-safe: it runs in a task the caller does not own (the
//! writer task, or one spawned per write on PostgreSQL), so dropping the caller's future never
//! stops a transaction half-way.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Connection, Executor};
use tokio::sync::{mpsc, oneshot};

use civpass_core::kernel::store::{StoreError, StoreResult};

use crate::backend;

tokio::task_local! {
    /// Set while a write runs: a write started from inside one is refused (see `write`).
    static INSIDE_A_WRITE: ();
}

/// Most operations committed together; bounds the time one batch holds the write lock.
const MAX_BATCH: usize = 256;

pub(crate) type Op<T> =
    Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, StoreResult<T>> + Send>;

/// Whether an operation runs one statement (atomic by itself: SQLite rolls a failed statement
/// back alone) or several (which need a savepoint to fail alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Statements {
    One,
    Several,
}

pub(crate) trait Job: Send {
    fn statements(&self) -> Statements;
    /// Runs the operation; false if it failed (its savepoint is then rolled back).
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> BoxFuture<'c, bool>;
    /// Answers the caller: its result if the batch committed, else the commit's error.
    fn finish(self: Box<Self>, committed: Result<(), Arc<sqlx::Error>>);
}

/// A queued operation whose result is held until the batch commits.
struct TypedJob<T> {
    op: Option<Op<T>>,
    statements: Statements,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T: Send + 'static> Job for TypedJob<T> {
    fn statements(&self) -> Statements {
        self.statements
    }

    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> BoxFuture<'c, bool> {
        Box::pin(async move {
            let Some(op) = self.op.take() else { return false };
            // A panic in one operation (core's transaction work runs here) must fail that
            // operation alone, not end the writer task every later write waits on.
            let result =
                std::panic::AssertUnwindSafe(op(conn)).catch_unwind().await.unwrap_or_else(|_| {
                    Err(StoreError::backend("a write panicked; it was rolled back"))
                });
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
    }

    fn finish(self: Box<Self>, committed: Result<(), Arc<sqlx::Error>>) {
        let answer = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::backend("operation did not run")),
            (Err(e), _) if crate::is_transient(&e) => Err(StoreError::Unavailable(Box::new(e))),
            (Err(e), _) => Err(StoreError::Backend(Box::new(e))),
        };
        // The caller may have gone away (its request was cancelled); the write stands.
        let _ = self.reply.send(answer);
    }
}

/// Where writes go.
#[derive(Clone)]
pub(crate) enum Writer {
    /// PostgreSQL: a transaction per operation from the pool.
    Pool(AnyPool),
    /// SQLite: the group-commit queue.
    Batched(mpsc::Sender<Box<dyn Job>>),
}

impl Writer {
    /// Starts the writer task on its own connection.
    pub(crate) fn batched(conn: AnyConnection) -> Writer {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>(4 * MAX_BATCH);
        tokio::spawn(INSIDE_A_WRITE.scope((), run_batches(conn, rx)));
        Writer::Batched(tx)
    }

    /// Runs `op` in a transaction and returns its result once it is durable.
    ///
    /// Errors: `Backend` if called from inside another write (a transaction's work that calls
    /// the store instead of its transaction), which would otherwise wait on itself forever.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        statements: Statements,
        op: Op<T>,
    ) -> StoreResult<T> {
        if INSIDE_A_WRITE.try_with(|_| ()).is_ok() {
            return Err(StoreError::backend(
                "a transaction's work wrote through the store instead of its transaction",
            ));
        }
        match self {
            Writer::Pool(pool) => {
                // In a task of its own, so that the write finishes (commits or rolls back)
                // whatever happens to the caller: a client that hangs up cancels its request's
                // future, and a transaction dropped half-way would leave its pooled connection
                // "idle in transaction" until sqlx next touches it.
                let pool = pool.clone();
                let task = tokio::spawn(INSIDE_A_WRITE.scope((), async move {
                    let mut tx = pool.begin().await.map_err(backend)?;
                    let result = op(&mut tx).await;
                    if result.is_ok() {
                        tx.commit().await.map_err(backend)?;
                    } else {
                        tx.rollback().await.map_err(backend)?;
                    }
                    result
                }));
                task.await.map_err(|e| StoreError::Backend(Box::new(e)))?
            }
            Writer::Batched(queue) => {
                let (reply, answer) = oneshot::channel();
                let job = Box::new(TypedJob { op: Some(op), statements, result: None, reply });
                queue.send(job).await.map_err(|_| StoreError::backend("the writer has stopped"))?;
                answer.await.map_err(|_| StoreError::backend("the writer has stopped"))?
            }
        }
    }
}

async fn run_batches(mut conn: AnyConnection, mut queue: mpsc::Receiver<Box<dyn Job>>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // A failure is logged by each caller, with its request.
        let committed = commit_batch(&mut conn, &mut batch).await.map_err(Arc::new);
        for job in batch.drain(..) {
            job.finish(committed.clone());
        }
    }
    let _ = conn.close().await;
}

async fn commit_batch(
    conn: &mut AnyConnection,
    batch: &mut [Box<dyn Job>],
) -> Result<(), sqlx::Error> {
    // IMMEDIATE takes the write lock now, so another process's writer cannot make this
    // transaction fail half-way; busy_timeout makes it wait instead.
    conn.execute("BEGIN IMMEDIATE").await?;
    for job in batch.iter_mut() {
        // Each call is a round trip to the connection's worker thread, the main cost here, so
        // only jobs of several statements get a savepoint.
        let step = async {
            if job.statements() == Statements::One {
                job.run(conn).await;
                return Ok(());
            }
            conn.execute("SAVEPOINT job").await?;
            if job.run(conn).await {
                conn.execute("RELEASE job").await?;
            } else {
                conn.execute("ROLLBACK TO job; RELEASE job").await?;
            }
            Ok::<(), sqlx::Error>(())
        };
        if let Err(e) = step.await {
            let _ = conn.execute("ROLLBACK").await;
            return Err(e);
        }
    }
    if let Err(e) = conn.execute("COMMIT").await {
        let _ = conn.execute("ROLLBACK").await;
        return Err(e);
    }
    Ok(())
}
