//! The typed outbox: messages of every kind in one table, claimed under a lease.

use async_trait::async_trait;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::outbox::{OutboxMessage, OutboxStats, OutboxStore, OutboxWrites};
use civpass_core::kernel::store::StoreResult;
use sqlx::AnyConnection;

use crate::sql::{col, execute_on, op, params};
use crate::tx::SqlTransaction;
use crate::writer::Statements;
use crate::{SqlStore, rows};

async fn insert_message(conn: &mut AnyConnection, m: &OutboxMessage) -> StoreResult<()> {
    let params = params![&m.id, &m.kind, &m.payload, m.attempts, m.next_attempt_at, m.created_at];
    execute_on(
        conn,
        "INSERT INTO outbox (id, kind, payload, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &params,
    )
    .await?;
    Ok(())
}

#[async_trait]
impl OutboxWrites for SqlTransaction<'_> {
    async fn insert_message(&mut self, message: &OutboxMessage) -> StoreResult<()> {
        insert_message(self.conn, message).await
    }
}

#[async_trait]
impl OutboxStore for SqlStore {
    async fn insert_message(&self, message: &OutboxMessage) -> StoreResult<()> {
        let m = message.clone();
        self.writer.write(Statements::One, op!(|conn| insert_message(conn, &m).await)).await
    }

    async fn claim_messages(
        &self,
        kind: &str,
        now: UnixTime,
        lease_until: UnixTime,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>> {
        // One UPDATE ... RETURNING: the outer condition is checked again on the row itself, so
        // of two nodes claiming at once only one gets each message.
        self.write_returning(
            "UPDATE outbox SET next_attempt_at = $1 \
             WHERE kind = $2 AND next_attempt_at <= $3 AND id IN \
             (SELECT id FROM outbox WHERE kind = $2 AND next_attempt_at <= $3 \
              ORDER BY next_attempt_at, id LIMIT $4) \
             RETURNING id, kind, payload, attempts, next_attempt_at, created_at",
            params![lease_until, kind, now, i64::from(limit)],
            rows::outbox_message,
        )
        .await
    }

    async fn reschedule_message(
        &self,
        id: &str,
        leased_until: UnixTime,
        attempts: i64,
        next_attempt_at: UnixTime,
    ) -> StoreResult<()> {
        self.execute(
            "UPDATE outbox SET attempts = $1, next_attempt_at = $2 \
             WHERE id = $3 AND next_attempt_at = $4",
            params![attempts, next_attempt_at, id, leased_until],
        )
        .await?;
        Ok(())
    }

    async fn delete_message(&self, id: &str, leased_until: UnixTime) -> StoreResult<()> {
        self.execute(
            "DELETE FROM outbox WHERE id = $1 AND next_attempt_at = $2",
            params![id, leased_until],
        )
        .await?;
        Ok(())
    }

    async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
        let stats = self
            .fetch_optional(
                "SELECT COUNT(*) AS depth, MIN(created_at) AS oldest FROM outbox",
                params![],
                |row| {
                    Ok(OutboxStats {
                        depth: u64::try_from(col::<i64>(row, "depth")?).unwrap_or(0),
                        oldest_created_at: col::<Option<i64>>(row, "oldest")?,
                    })
                },
            )
            .await?;
        Ok(stats.unwrap_or_default())
    }
}
