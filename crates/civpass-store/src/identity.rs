//! The identity slice's ports: accounts (inserted with their first device and evidence) and
//! attempt counters.

use async_trait::async_trait;
use civpass_core::identity::evidence::EvidenceRecord;
use civpass_core::identity::model::Account;
use civpass_core::identity::model::Device;
use civpass_core::identity::store::{AccountStore, AttemptStore};
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::StoreResult;
use sqlx::{AnyConnection, Row};

use crate::device::insert_device;
use crate::sql::op;
use crate::writer::Statements;
use crate::{SqlStore, backend, rows};

#[async_trait]
impl AccountStore for SqlStore {
    async fn insert_account(
        &self,
        account: &Account,
        device: &Device,
        evidence: &EvidenceRecord,
    ) -> StoreResult<()> {
        let (account, device, evidence) = (account.clone(), device.clone(), evidence.clone());
        self.writer
            .write(Statements::Several, op!(|conn| {
                sqlx::query("INSERT INTO accounts (id, hkid_hash, tier, vault, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&account.id)
                    .bind(&account.hkid_hash)
                    .bind(account.tier.as_str())
                    .bind(&account.vault)
                    .bind(account.created_at)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                insert_device(&mut *conn, &device).await?;
                sqlx::query(
                    "INSERT INTO identity_evidence (id, account_id, purpose, method, level, sealed_reference, verified_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&evidence.id)
                .bind(&evidence.account_id)
                .bind(&evidence.purpose)
                .bind(&evidence.method)
                .bind(evidence.level.as_str())
                .bind(&evidence.sealed_reference)
                .bind(evidence.verified_at)
                .execute(conn)
                .await
                .map_err(backend)?;
                Ok(())
            }))
            .await
    }

    async fn list_evidence(&self, account_id: &str) -> StoreResult<Vec<EvidenceRecord>> {
        let rows = sqlx::query(
            "SELECT id, account_id, purpose, method, level, sealed_reference, verified_at FROM identity_evidence \
             WHERE account_id = $1 ORDER BY verified_at, id",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter().map(rows::evidence).collect()
    }

    async fn find_account_by_hkid_hash(&self, hkid_hash: &str) -> StoreResult<Option<Account>> {
        let row = sqlx::query(
            "SELECT id, hkid_hash, tier, vault, created_at FROM accounts WHERE hkid_hash = $1",
        )
        .bind(hkid_hash)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        row.as_ref().map(rows::account).transpose()
    }

    async fn get_account(&self, id: &str) -> StoreResult<Account> {
        let row = sqlx::query(
            "SELECT id, hkid_hash, tier, vault, created_at FROM accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.reader)
        .await
        .map_err(backend)?;
        rows::account(&row)
    }
}

#[async_trait]
impl AttemptStore for SqlStore {
    async fn count_attempt(
        &self,
        key: &str,
        now: UnixTime,
        window_start_cutoff: UnixTime,
    ) -> StoreResult<i64> {
        let key = key.to_owned();
        self.writer
            .write(Statements::One, op!(|conn| {
                // Both CASEs see the row as it was: a window that is over starts again at one.
                let row = sqlx::query(
                    "INSERT INTO attempt_counters (key, window_start, count) VALUES ($1, $2, 1) \
                     ON CONFLICT (key) DO UPDATE SET \
                     count = CASE WHEN attempt_counters.window_start <= $3 THEN 1 ELSE attempt_counters.count + 1 END, \
                     window_start = CASE WHEN attempt_counters.window_start <= $3 THEN $2 ELSE attempt_counters.window_start END \
                     RETURNING count",
                )
                .bind(&key)
                .bind(now)
                .bind(window_start_cutoff)
                .fetch_one(conn)
                .await
                .map_err(backend)?;
                row.try_get::<i64, _>("count").map_err(backend)
            }))
            .await
    }

    async fn delete_attempts_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.writer
            .write(
                Statements::One,
                op!(|conn| {
                    let deleted =
                        sqlx::query("DELETE FROM attempt_counters WHERE window_start < $1")
                            .bind(cutoff)
                            .execute(conn)
                            .await
                            .map_err(backend)?;
                    Ok(deleted.rows_affected())
                }),
            )
            .await
    }
}
