//! The transaction seam over the writer: a slice's transaction writes on the connection of one
//! transaction (the writer's savepoint on SQLite, a pooled transaction on PostgreSQL).

use sqlx::AnyConnection;

/// A transaction's writes (`civpass_core::oidc::store::OidcTransaction`,
/// `civpass_core::counter::store::CounterTransaction` and the writes beneath them) on the connection of one transaction: the writer's savepoint on SQLite, a pooled
/// transaction on PostgreSQL.
pub(crate) struct SqlTransaction<'c> {
    pub(crate) conn: &'c mut AnyConnection,
}

/// The seam for one slice's set of writes: its work runs on the connection of one transaction,
/// as a `SqlTransaction` (which implements that slice's transaction trait).
macro_rules! transaction_store {
    ($scope:ty) => {
        #[async_trait::async_trait]
        impl civpass_core::kernel::store::TransactionStore<$scope> for crate::SqlStore {
            async fn transact_erased(
                &self,
                work: civpass_core::kernel::store::Work<$scope, Box<dyn std::any::Any + Send>>,
            ) -> civpass_core::kernel::store::StoreResult<Box<dyn std::any::Any + Send>> {
                self.writer
                    .write(
                        crate::writer::Statements::Several,
                        Box::new(move |conn: &mut sqlx::AnyConnection| {
                            Box::pin(
                                async move { work(&mut crate::tx::SqlTransaction { conn }).await },
                            )
                        }),
                    )
                    .await
            }
        }
    };
}

transaction_store!(civpass_core::oidc::store::OidcWrites);
transaction_store!(civpass_core::counter::store::CounterWrites);
