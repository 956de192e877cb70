//! The transaction seam over the writer: a slice's transaction writes on the connection of one
//! transaction (the writer's savepoint on SQLite, a pooled transaction on PostgreSQL).

use async_trait::async_trait;
use civpass_core::kernel::store::{StoreResult, TransactionStore, Work};
use civpass_core::oidc::store::OidcWrites;
use sqlx::AnyConnection;

use crate::SqlStore;
use crate::writer::Statements;

use std::any::Any;

/// A transaction's writes (`civpass_core::oidc::store::OidcTransaction` and the writes beneath
/// it) on the connection of one transaction: the writer's savepoint on SQLite, a pooled
/// transaction on PostgreSQL.
pub(crate) struct SqlTransaction<'c> {
    pub(crate) conn: &'c mut AnyConnection,
}

#[async_trait]
impl TransactionStore<OidcWrites> for SqlStore {
    async fn transact_erased(
        &self,
        work: Work<OidcWrites, Box<dyn Any + Send>>,
    ) -> StoreResult<Box<dyn Any + Send>> {
        self.writer
            .write(
                Statements::Several,
                Box::new(move |conn: &mut AnyConnection| {
                    Box::pin(async move { work(&mut SqlTransaction { conn }).await })
                }),
            )
            .await
    }
}
