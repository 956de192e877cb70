//! The identity slice's ports: accounts (inserted with their first device and evidence) and
//! attempt counters.

use async_trait::async_trait;
use civpass_core::identity::evidence::EvidenceLevel;
use civpass_core::identity::evidence::EvidenceRecord;
use civpass_core::identity::model::{
    Account, AccountEvent, Device, DeviceKind, GuardianLink, OperatorAct, PendingRecovery, Tier,
};
use civpass_core::identity::store::AccountWrites;
use civpass_core::kernel::{AccountId, DeviceId};

use crate::tx::SqlTransaction;
use civpass_core::identity::store::{AccountStore, AttemptStore};
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::{StoreError, StoreResult};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::device::insert_device;
use crate::sql::{col, execute_on, op, params};
use crate::writer::Statements;
use crate::{SqlStore, rows};

fn pending_recovery(row: &AnyRow) -> StoreResult<PendingRecovery> {
    let kind: String = col(row, "kind")?;
    let level: String = col(row, "level")?;
    let account_id: AccountId = col::<String>(row, "account_id")?.into();
    let created_at = col(row, "created_at")?;
    Ok(PendingRecovery {
        device: Device {
            id: col::<String>(row, "device_id")?.into(),
            account_id: account_id.clone(),
            public_key: col(row, "public_key")?,
            kind: DeviceKind::parse(&kind)
                .ok_or_else(|| StoreError::backend("stored device kind is not valid"))?,
            credential_id: col(row, "credential_id")?,
            created_at,
            revoked_at: None,
        },
        evidence: EvidenceRecord {
            id: col(row, "evidence_id")?,
            account_id,
            purpose: "replace_device".into(),
            method: col(row, "method")?,
            level: EvidenceLevel::parse(&level)
                .ok_or_else(|| StoreError::backend("stored evidence level is not valid"))?,
            sealed_reference: col(row, "sealed_reference")?,
            verified_at: col(row, "verified_at")?,
        },
        created_at,
        activates_at: col(row, "activates_at")?,
        stopped_at: col(row, "stopped_at")?,
    })
}

fn guardian_link(row: &AnyRow) -> StoreResult<GuardianLink> {
    Ok(GuardianLink {
        id: col(row, "id")?,
        minor_account_id: col::<String>(row, "minor_account_id")?.into(),
        guardian_account_id: col::<String>(row, "guardian_account_id")?.into(),
        requested_at: col(row, "requested_at")?,
        expires_at: col(row, "expires_at")?,
        approved_at: col(row, "approved_at")?,
    })
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn insert_account(
        &self,
        account: &Account,
        device: &Device,
        evidence: &EvidenceRecord,
    ) -> StoreResult<()> {
        let (a, d, e) = (account.clone(), device.clone(), evidence.clone());
        self.writer
            .write(Statements::Several, op!(|conn| insert_account(conn, &a, &d, &e).await))
            .await
    }

    async fn recover_account(
        &self,
        device: &Device,
        evidence: &EvidenceRecord,
        now: UnixTime,
    ) -> StoreResult<u64> {
        let (d, e) = (device.clone(), evidence.clone());
        self.writer
            .write(
                Statements::Several,
                op!(|conn| {
                    let revoked = execute_on(
                        &mut *conn,
                        "UPDATE devices SET revoked_at = $1 \
                         WHERE account_id = $2 AND revoked_at IS NULL",
                        &params![now, &d.account_id],
                    )
                    .await?;
                    insert_device(&mut *conn, &d).await?;
                    insert_evidence(conn, &e).await?;
                    Ok(revoked)
                }),
            )
            .await
    }

    async fn insert_pending_recovery(&self, r: &PendingRecovery) -> StoreResult<()> {
        let (d, e) = (&r.device, &r.evidence);
        self.execute(
            "INSERT INTO pending_recoveries (account_id, device_id, kind, public_key, \
             credential_id, evidence_id, method, level, sealed_reference, verified_at, \
             created_at, activates_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            params![
                &d.account_id,
                &d.id,
                d.kind.as_str(),
                &d.public_key,
                &d.credential_id,
                &e.id,
                &e.method,
                e.level.as_str(),
                &e.sealed_reference,
                e.verified_at,
                r.created_at,
                r.activates_at
            ],
        )
        .await?;
        Ok(())
    }

    async fn pending_recovery(
        &self,
        account_id: &AccountId,
    ) -> StoreResult<Option<PendingRecovery>> {
        self.fetch_optional(
            "SELECT * FROM pending_recoveries WHERE account_id = $1",
            params![account_id],
            pending_recovery,
        )
        .await
    }

    async fn pending_recovery_of_device(
        &self,
        device_id: &DeviceId,
    ) -> StoreResult<Option<PendingRecovery>> {
        self.fetch_optional(
            "SELECT * FROM pending_recoveries WHERE device_id = $1",
            params![device_id],
            pending_recovery,
        )
        .await
    }

    async fn stop_pending_recovery(
        &self,
        device_id: &DeviceId,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let stopped = self
            .execute(
                "UPDATE pending_recoveries SET stopped_at = $1 \
                 WHERE device_id = $2 AND stopped_at IS NULL",
                params![now, device_id],
            )
            .await?;
        Ok(stopped == 1)
    }

    async fn delete_stopped_recoveries_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.execute("DELETE FROM pending_recoveries WHERE stopped_at < $1", params![cutoff]).await
    }

    async fn activate_recovery(
        &self,
        r: &PendingRecovery,
        device: &Device,
        evidence: &EvidenceRecord,
        now: UnixTime,
    ) -> StoreResult<Option<u64>> {
        let (d, e, since) = (device.clone(), evidence.clone(), r.created_at);
        self.writer
            .write(
                Statements::Several,
                op!(|conn| {
                    let taken = execute_on(
                        &mut *conn,
                        "DELETE FROM pending_recoveries \
                         WHERE account_id = $1 AND device_id = $2 AND stopped_at IS NULL",
                        &params![&d.account_id, &d.id],
                    )
                    .await?;
                    if taken != 1 {
                        return Ok(None);
                    }
                    // No-op updates as checks that lock what they read, in both engines: the
                    // account is not suspended, and no device came to it since the move began.
                    let active = execute_on(
                        &mut *conn,
                        "UPDATE accounts SET suspended_at = suspended_at \
                         WHERE id = $1 AND suspended_at IS NULL",
                        &params![&d.account_id],
                    )
                    .await?;
                    let newer = execute_on(
                        &mut *conn,
                        "UPDATE devices SET revoked_at = revoked_at \
                         WHERE account_id = $1 AND revoked_at IS NULL AND created_at >= $2",
                        &params![&d.account_id, since],
                    )
                    .await?;
                    if active != 1 || newer != 0 {
                        return Ok(None);
                    }
                    let revoked = execute_on(
                        &mut *conn,
                        "UPDATE devices SET revoked_at = $1 \
                         WHERE account_id = $2 AND revoked_at IS NULL",
                        &params![now, &d.account_id],
                    )
                    .await?;
                    insert_device(&mut *conn, &d).await?;
                    insert_evidence(conn, &e).await?;
                    Ok(Some(revoked))
                }),
            )
            .await
    }

    async fn delete_pending_recovery(&self, account_id: &AccountId) -> StoreResult<bool> {
        let deleted = self
            .execute("DELETE FROM pending_recoveries WHERE account_id = $1", params![account_id])
            .await?;
        Ok(deleted == 1)
    }

    async fn due_recoveries(&self, now: UnixTime) -> StoreResult<Vec<PendingRecovery>> {
        self.fetch_all(
            "SELECT * FROM pending_recoveries WHERE activates_at <= $1 AND stopped_at IS NULL \
             ORDER BY activates_at",
            params![now],
            pending_recovery,
        )
        .await
    }

    async fn insert_guardian_link(&self, l: &GuardianLink) -> StoreResult<()> {
        self.execute(
            "INSERT INTO guardian_links \
             (id, minor_account_id, guardian_account_id, requested_at, expires_at, approved_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            params![
                &l.id,
                &l.minor_account_id,
                &l.guardian_account_id,
                l.requested_at,
                l.expires_at,
                l.approved_at
            ],
        )
        .await?;
        Ok(())
    }

    async fn find_guardian_link(&self, id: &str) -> StoreResult<Option<GuardianLink>> {
        self.fetch_optional(
            "SELECT l.* FROM guardian_links l \
             JOIN accounts a ON a.id = l.minor_account_id WHERE l.id = $1",
            params![id],
            guardian_link,
        )
        .await
    }

    async fn guardian_links_awaiting(
        &self,
        guardian_account_id: &AccountId,
        now: UnixTime,
    ) -> StoreResult<Vec<GuardianLink>> {
        self.fetch_all(
            "SELECT l.* FROM guardian_links l JOIN accounts a ON a.id = l.minor_account_id \
             WHERE l.guardian_account_id = $1 AND l.approved_at IS NULL AND l.expires_at > $2 \
             ORDER BY l.requested_at, l.id",
            params![guardian_account_id, now],
            guardian_link,
        )
        .await
    }

    async fn guardian_links_of(&self, account_id: &AccountId) -> StoreResult<Vec<GuardianLink>> {
        self.fetch_all(
            "SELECT l.* FROM guardian_links l JOIN accounts a ON a.id = l.minor_account_id \
             WHERE l.minor_account_id = $1 OR l.guardian_account_id = $1 \
             ORDER BY l.requested_at, l.id",
            params![account_id],
            guardian_link,
        )
        .await
    }

    async fn list_evidence(
        &self,
        account_id: &civpass_core::kernel::AccountId,
    ) -> StoreResult<Vec<EvidenceRecord>> {
        self.fetch_all(
            "SELECT id, account_id, purpose, method, level, sealed_reference, verified_at \
             FROM identity_evidence WHERE account_id = $1 ORDER BY verified_at, id",
            params![account_id],
            rows::evidence,
        )
        .await
    }

    async fn find_account_by_hkid_hash(&self, hkid_hash: &str) -> StoreResult<Option<Account>> {
        self.fetch_optional(
            "SELECT id, hkid_hash, tier, vault, created_at, suspended_at, awaiting_guardian_since FROM accounts WHERE hkid_hash = $1",
            params![hkid_hash],
            rows::account,
        )
        .await
    }

    async fn list_account_events(
        &self,
        account_id: &civpass_core::kernel::AccountId,
    ) -> StoreResult<Vec<AccountEvent>> {
        self.fetch_all(
            "SELECT id, account_id, at, kind, sealed_reason FROM account_events \
             WHERE account_id = $1 ORDER BY seq, at, id",
            params![account_id],
            |row| {
                let kind: String = col(row, "kind")?;
                Ok(AccountEvent {
                    id: col(row, "id")?,
                    account_id: col::<String>(row, "account_id")?.into(),
                    at: col(row, "at")?,
                    kind: OperatorAct::parse(&kind).ok_or_else(|| {
                        StoreError::backend("stored account event kind is not valid")
                    })?,
                    sealed_reason: col(row, "sealed_reason")?,
                })
            },
        )
        .await
    }

    async fn list_devices(
        &self,
        account_id: &civpass_core::kernel::AccountId,
    ) -> StoreResult<Vec<Device>> {
        self.fetch_all(
            "SELECT id, account_id, public_key, kind, credential_id, created_at, revoked_at \
             FROM devices WHERE account_id = $1 ORDER BY created_at, id",
            params![account_id],
            rows::device,
        )
        .await
    }

    async fn registry_cursor(&self) -> StoreResult<Option<String>> {
        self.fetch_optional(
            "SELECT cursor FROM registry_cursor WHERE name = 'feed'",
            params![],
            |row| col(row, "cursor"),
        )
        .await
    }

    async fn set_registry_cursor(&self, cursor: &str) -> StoreResult<()> {
        self.execute(
            "INSERT INTO registry_cursor (name, cursor) VALUES ('feed', $1) \
             ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor",
            params![cursor],
        )
        .await?;
        Ok(())
    }

    async fn get_account(&self, id: &civpass_core::kernel::AccountId) -> StoreResult<Account> {
        self.fetch_optional(
            "SELECT id, hkid_hash, tier, vault, created_at, suspended_at, awaiting_guardian_since FROM accounts WHERE id = $1",
            params![id],
            rows::account,
        )
        .await?
        .ok_or(StoreError::NotFound)
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
        // Both CASEs see the row as it was: a window that is over starts again at one.
        let counted = self
            .write_returning(
                "INSERT INTO attempt_counters (key, window_start, count) VALUES ($1, $2, 1) \
                 ON CONFLICT (key) DO UPDATE SET \
                 count = CASE WHEN attempt_counters.window_start <= $3 THEN 1 ELSE attempt_counters.count + 1 END, \
                 window_start = CASE WHEN attempt_counters.window_start <= $3 THEN $2 ELSE attempt_counters.window_start END \
                 RETURNING count",
                params![key, now, window_start_cutoff],
                |row| col::<i64>(row, "count"),
            )
            .await?;
        counted.into_iter().next().ok_or(StoreError::NotFound)
    }

    async fn delete_attempts_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.execute("DELETE FROM attempt_counters WHERE window_start < $1", params![cutoff]).await
    }
}

/// An account with its first device and the evidence it rests on, on `conn` (a write's own
/// transaction, or a slice's: the counter's confirmation).
pub(crate) async fn insert_account(
    conn: &mut AnyConnection,
    a: &Account,
    d: &Device,
    e: &EvidenceRecord,
) -> StoreResult<()> {
    execute_on(
        &mut *conn,
        "INSERT INTO accounts (id, hkid_hash, tier, vault, created_at, awaiting_guardian_since) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &params![
            &a.id,
            &a.hkid_hash,
            a.tier.as_str(),
            &a.vault,
            a.created_at,
            a.awaiting_guardian_since
        ],
    )
    .await?;
    insert_device(&mut *conn, d).await?;
    insert_evidence(conn, e).await
}

/// An evidence record, on `conn`.
pub(crate) async fn insert_evidence(
    conn: &mut AnyConnection,
    e: &EvidenceRecord,
) -> StoreResult<()> {
    execute_on(
        conn,
        "INSERT INTO identity_evidence \
         (id, account_id, purpose, method, level, sealed_reference, verified_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &params![
            &e.id,
            &e.account_id,
            &e.purpose,
            &e.method,
            e.level.as_str(),
            &e.sealed_reference,
            e.verified_at
        ],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl AccountWrites for SqlTransaction<'_> {
    async fn approve_guardian_link(
        &mut self,
        l: &GuardianLink,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let approved = execute_on(
            &mut *self.conn,
            "UPDATE guardian_links SET approved_at = $1 \
             WHERE id = $2 AND approved_at IS NULL AND expires_at > $1",
            &params![now, &l.id],
        )
        .await?;
        if approved != 1 {
            return Ok(false);
        }
        execute_on(
            &mut *self.conn,
            "UPDATE accounts SET awaiting_guardian_since = NULL WHERE id = $1",
            &params![&l.minor_account_id],
        )
        .await?;
        Ok(true)
    }

    async fn change_tier(&mut self, id: &AccountId, from: Tier, to: Tier) -> StoreResult<bool> {
        let changed = execute_on(
            self.conn,
            "UPDATE accounts SET tier = $1 WHERE id = $2 AND tier = $3",
            &params![to.as_str(), id, from.as_str()],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn set_suspended(&mut self, id: &AccountId, at: Option<UnixTime>) -> StoreResult<bool> {
        let changed = match at {
            Some(at) => {
                execute_on(
                    self.conn,
                    "UPDATE accounts SET suspended_at = $1 WHERE id = $2 AND suspended_at IS NULL",
                    &params![at, id],
                )
                .await?
            }
            None => {
                execute_on(
                    self.conn,
                    "UPDATE accounts SET suspended_at = NULL WHERE id = $1 AND suspended_at IS NOT NULL",
                    &params![id],
                )
                .await?
            }
        };
        Ok(changed == 1)
    }

    async fn insert_account_event(&mut self, e: &AccountEvent) -> StoreResult<()> {
        execute_on(
            self.conn,
            // Numbered after the account's last event, in the same statement.
            "INSERT INTO account_events (id, account_id, at, kind, sealed_reason, seq) \
             SELECT $1, $2, $3, $4, $5, COALESCE(MAX(seq), 0) + 1 FROM account_events \
             WHERE account_id = $2",
            &params![&e.id, &e.account_id, e.at, e.kind.as_str(), &e.sealed_reason],
        )
        .await?;
        Ok(())
    }

    async fn insert_evidence(&mut self, evidence: &EvidenceRecord) -> StoreResult<()> {
        insert_evidence(self.conn, evidence).await
    }

    async fn record_registry_event(&mut self, id: &str, now: UnixTime) -> StoreResult<bool> {
        let added = execute_on(
            self.conn,
            "INSERT INTO registry_events (id, applied_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            &params![id, now],
        )
        .await?;
        Ok(added == 1)
    }

    async fn replace_vault(&mut self, id: &AccountId, vault: &[u8]) -> StoreResult<()> {
        execute_on(
            self.conn,
            "UPDATE accounts SET vault = $1 WHERE id = $2",
            &params![&vault.to_vec(), id],
        )
        .await?;
        Ok(())
    }

    async fn revoke_all_devices(
        &mut self,
        account_id: &AccountId,
        now: UnixTime,
    ) -> StoreResult<u64> {
        execute_on(
            self.conn,
            "UPDATE devices SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
            &params![now, account_id],
        )
        .await
    }

    async fn insert_device(&mut self, device: &Device) -> StoreResult<()> {
        insert_device(self.conn, device).await
    }

    async fn revoke_device(
        &mut self,
        account_id: &AccountId,
        device_id: &DeviceId,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let changed = execute_on(
            self.conn,
            "UPDATE devices SET revoked_at = $1 \
             WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL",
            &params![now, device_id, account_id],
        )
        .await?;
        Ok(changed == 1)
    }
}
