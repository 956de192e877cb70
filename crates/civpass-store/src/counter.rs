//! The counter slice's ports: staff and their assignments, registration points, registration
//! codes, counter acts, and the confirmation's transaction writes.

use async_trait::async_trait;
use civpass_core::counter::hours::Hours;
use civpass_core::counter::model::{
    ActKind, ActOutcome, CounterAct, PendingPasskey, PointKind, RegistrationCode,
    RegistrationPoint, Staff, StaffCredentials, StaffEnrolment, StaffRole, StaffSession,
};
use civpass_core::counter::store::{
    CounterActStore, CounterTransaction, PendingPasskeyStore, PointStore, RegistrationCodeStore,
    StaffSignInStore, StaffStore,
};
use civpass_core::identity::evidence::EvidenceRecord;
use civpass_core::identity::model::{Account, Device};
use civpass_core::kernel::AccountId;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::{StoreError, StoreResult};
use sqlx::any::AnyRow;

use crate::SqlStore;
use crate::sql::{col, execute_on, params};
use crate::tx::SqlTransaction;

fn corrupt(what: &str) -> StoreError {
    StoreError::backend(format!("stored {what} is not valid"))
}

fn staff(row: &AnyRow) -> StoreResult<Staff> {
    let role: String = col(row, "role")?;
    Ok(Staff {
        id: col(row, "id")?,
        name: col(row, "name")?,
        role: StaffRole::parse(&role).ok_or_else(|| corrupt("staff role"))?,
        created_at: col(row, "created_at")?,
        disabled_at: col(row, "disabled_at")?,
        public_key: col(row, "public_key")?,
    })
}

fn point(row: &AnyRow) -> StoreResult<RegistrationPoint> {
    let kind: String = col(row, "kind")?;
    let hours: String = col(row, "hours")?;
    Ok(RegistrationPoint {
        id: col(row, "id")?,
        kind: PointKind::parse(&kind).ok_or_else(|| corrupt("point kind"))?,
        name_en: col(row, "name_en")?,
        name_zh_hant: col(row, "name_zh_hant")?,
        name_zh_hans: col(row, "name_zh_hans")?,
        district: col(row, "district")?,
        hours: serde_json::from_str::<Hours>(&hours).map_err(|_| corrupt("point hours"))?,
        created_at: col(row, "created_at")?,
    })
}

fn code(row: &AnyRow) -> StoreResult<RegistrationCode> {
    Ok(RegistrationCode {
        code_hash: col(row, "code_hash")?,
        public_key: col(row, "public_key")?,
        device_id: col::<Option<String>>(row, "device_id")?.map(Into::into),
        expires_at: col(row, "expires_at")?,
    })
}

macro_rules! act_columns {
    () => {
        "id, kind, staff_id, point_id, at, outcome, account_id, public_key, device_id, hkid_hash, \
         sealed_details, expires_at, decided_at"
    };
}

fn act(row: &AnyRow) -> StoreResult<CounterAct> {
    let kind: String = col(row, "kind")?;
    let outcome: String = col(row, "outcome")?;
    Ok(CounterAct {
        id: col(row, "id")?,
        kind: ActKind::parse(&kind).ok_or_else(|| corrupt("counter act kind"))?,
        staff_id: col(row, "staff_id")?,
        point_id: col(row, "point_id")?,
        at: col(row, "at")?,
        outcome: ActOutcome::parse(&outcome).ok_or_else(|| corrupt("counter act outcome"))?,
        account_id: col::<Option<String>>(row, "account_id")?.map(Into::into),
        public_key: col(row, "public_key")?,
        device_id: col::<Option<String>>(row, "device_id")?.map(Into::into),
        hkid_hash: col(row, "hkid_hash")?,
        sealed_details: col(row, "sealed_details")?,
        expires_at: col(row, "expires_at")?,
        decided_at: col(row, "decided_at")?,
    })
}

#[async_trait]
impl StaffStore for SqlStore {
    async fn insert_staff(&self, s: &Staff) -> StoreResult<()> {
        self.execute(
            "INSERT INTO staff (id, name, role, created_at, disabled_at, public_key) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            params![&s.id, &s.name, s.role.as_str(), s.created_at, s.disabled_at, &s.public_key],
        )
        .await?;
        Ok(())
    }

    async fn find_staff(&self, id: &str) -> StoreResult<Option<Staff>> {
        self.fetch_optional(
            "SELECT id, name, role, created_at, disabled_at, public_key FROM staff WHERE id = $1",
            params![id],
            staff,
        )
        .await
    }

    async fn list_staff(&self) -> StoreResult<Vec<Staff>> {
        self.fetch_all(
            "SELECT id, name, role, created_at, disabled_at, public_key FROM staff ORDER BY created_at, id",
            params![],
            staff,
        )
        .await
    }

    async fn disable_staff(&self, id: &str, now: UnixTime) -> StoreResult<bool> {
        let changed = self
            .execute(
                "UPDATE staff SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL",
                params![now, id],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn assign_staff(
        &self,
        staff_id: &str,
        point_id: &str,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let added = self
            .execute(
                "INSERT INTO staff_assignments (staff_id, point_id, assigned_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (staff_id, point_id) DO NOTHING",
                params![staff_id, point_id, now],
            )
            .await?;
        Ok(added == 1)
    }

    async fn assignments(&self, staff_id: &str) -> StoreResult<Vec<String>> {
        self.fetch_all(
            "SELECT point_id FROM staff_assignments WHERE staff_id = $1 ORDER BY assigned_at, point_id",
            params![staff_id],
            |row| col(row, "point_id"),
        )
        .await
    }
}

fn staff_session(row: &AnyRow) -> StoreResult<StaffSession> {
    Ok(StaffSession {
        token_hash: col(row, "token_hash")?,
        staff_id: col(row, "staff_id")?,
        created_at: col(row, "created_at")?,
        expires_at: col(row, "expires_at")?,
    })
}

#[async_trait]
impl StaffSignInStore for SqlStore {
    async fn set_staff_enrolment(
        &self,
        staff_id: &str,
        enrolment_hash: &str,
        expires_at: UnixTime,
    ) -> StoreResult<bool> {
        let changed = self
            .execute(
                "UPDATE staff SET enrolment_hash = $1, enrolment_expires_at = $2, passkey = NULL, \
                 credential_id = NULL, totp_sealed = NULL, totp_last_step = NULL WHERE id = $3",
                params![enrolment_hash, expires_at, staff_id],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn staff_by_enrolment(
        &self,
        enrolment_hash: &str,
        now: UnixTime,
    ) -> StoreResult<Option<Staff>> {
        self.fetch_optional(
            "SELECT id, name, role, created_at, disabled_at, public_key FROM staff \
             WHERE enrolment_hash = $1 AND enrolment_expires_at > $2",
            params![enrolment_hash, now],
            staff,
        )
        .await
    }

    async fn enrol_staff_passkey(
        &self,
        e: &StaffEnrolment<'_>,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let totp_sealed = e.totp_sealed.map(<[u8]>::to_vec);
        let changed = self
            .execute(
                "UPDATE staff SET passkey = $1, credential_id = $2, totp_sealed = $3, \
                 totp_last_step = NULL, enrolment_hash = NULL, enrolment_expires_at = NULL \
                 WHERE id = $4 AND enrolment_hash = $5 AND enrolment_expires_at > $6 \
                 AND disabled_at IS NULL",
                params![
                    e.passkey,
                    e.credential_id,
                    &totp_sealed,
                    e.staff_id,
                    e.enrolment_hash,
                    now
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn staff_credentials(&self, staff_id: &str) -> StoreResult<Option<StaffCredentials>> {
        self.fetch_optional(
            "SELECT passkey, totp_sealed, totp_last_step FROM staff WHERE id = $1",
            params![staff_id],
            |row| {
                Ok(StaffCredentials {
                    passkey: col(row, "passkey")?,
                    totp_sealed: col(row, "totp_sealed")?,
                    totp_last_step: col(row, "totp_last_step")?,
                })
            },
        )
        .await
    }

    async fn update_staff_passkey(
        &self,
        staff_id: &str,
        old: &str,
        new: &str,
    ) -> StoreResult<bool> {
        let changed = self
            .execute(
                "UPDATE staff SET passkey = $1 WHERE id = $2 AND passkey = $3",
                params![new, staff_id, old],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn use_totp_step(&self, staff_id: &str, step: i64) -> StoreResult<bool> {
        let changed = self
            .execute(
                "UPDATE staff SET totp_last_step = $1 \
                 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
                params![step, staff_id],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn insert_staff_session(&self, s: &StaffSession) -> StoreResult<()> {
        self.execute(
            "INSERT INTO staff_sessions (token_hash, staff_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
            params![&s.token_hash, &s.staff_id, s.created_at, s.expires_at],
        )
        .await?;
        Ok(())
    }

    async fn find_staff_session(&self, token_hash: &str) -> StoreResult<Option<StaffSession>> {
        self.fetch_optional(
            "SELECT token_hash, staff_id, created_at, expires_at FROM staff_sessions \
             WHERE token_hash = $1",
            params![token_hash],
            staff_session,
        )
        .await
    }

    async fn delete_staff_session(&self, token_hash: &str) -> StoreResult<()> {
        self.execute("DELETE FROM staff_sessions WHERE token_hash = $1", params![token_hash])
            .await?;
        Ok(())
    }

    async fn delete_staff_sessions_of(&self, staff_id: &str) -> StoreResult<u64> {
        self.execute("DELETE FROM staff_sessions WHERE staff_id = $1", params![staff_id]).await
    }

    async fn delete_staff_sessions_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.execute("DELETE FROM staff_sessions WHERE expires_at < $1", params![cutoff]).await
    }
}

#[async_trait]
impl PendingPasskeyStore for SqlStore {
    async fn insert_pending_passkey(&self, p: &PendingPasskey) -> StoreResult<()> {
        self.execute(
            "INSERT INTO pending_passkeys (credential_id, record, token_hash, expires_at) \
             VALUES ($1, $2, $3, $4)",
            params![&p.credential_id, &p.record, &p.token_hash, p.expires_at],
        )
        .await?;
        Ok(())
    }

    async fn pending_passkey(
        &self,
        token_hash: &str,
        now: UnixTime,
    ) -> StoreResult<Option<PendingPasskey>> {
        self.fetch_optional(
            "SELECT credential_id, record, token_hash, expires_at FROM pending_passkeys \
             WHERE token_hash = $1 AND expires_at > $2",
            params![token_hash, now],
            |row| {
                Ok(PendingPasskey {
                    credential_id: col(row, "credential_id")?,
                    record: col(row, "record")?,
                    token_hash: col(row, "token_hash")?,
                    expires_at: col(row, "expires_at")?,
                })
            },
        )
        .await
    }

    async fn update_pending_passkey(
        &self,
        credential_id: &str,
        old: &str,
        new: &str,
    ) -> StoreResult<bool> {
        let changed = self
            .execute(
                "UPDATE pending_passkeys SET record = $1 WHERE credential_id = $2 AND record = $3",
                params![new, credential_id, old],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn delete_pending_passkey(&self, credential_id: &str) -> StoreResult<()> {
        self.execute(
            "DELETE FROM pending_passkeys WHERE credential_id = $1",
            params![credential_id],
        )
        .await?;
        Ok(())
    }

    async fn delete_pending_passkeys_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.execute("DELETE FROM pending_passkeys WHERE expires_at < $1", params![cutoff]).await
    }
}

#[async_trait]
impl PointStore for SqlStore {
    async fn insert_point(&self, p: &RegistrationPoint) -> StoreResult<()> {
        let hours = serde_json::to_string(&p.hours).map_err(|_| corrupt("point hours"))?;
        self.execute(
            "INSERT INTO registration_points \
             (id, kind, name_en, name_zh_hant, name_zh_hans, district, hours, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            params![
                &p.id,
                p.kind.as_str(),
                &p.name_en,
                &p.name_zh_hant,
                &p.name_zh_hans,
                &p.district,
                hours,
                p.created_at
            ],
        )
        .await?;
        Ok(())
    }

    async fn find_point(&self, id: &str) -> StoreResult<Option<RegistrationPoint>> {
        self.fetch_optional(
            "SELECT id, kind, name_en, name_zh_hant, name_zh_hans, district, hours, created_at \
             FROM registration_points WHERE id = $1",
            params![id],
            point,
        )
        .await
    }

    async fn set_point_hours(&self, id: &str, hours: &Hours) -> StoreResult<bool> {
        let hours = serde_json::to_string(hours).map_err(|_| corrupt("point hours"))?;
        let changed = self
            .execute("UPDATE registration_points SET hours = $1 WHERE id = $2", params![hours, id])
            .await?;
        Ok(changed == 1)
    }

    async fn list_points(&self) -> StoreResult<Vec<RegistrationPoint>> {
        self.fetch_all(
            "SELECT id, kind, name_en, name_zh_hant, name_zh_hans, district, hours, created_at \
             FROM registration_points ORDER BY created_at, id",
            params![],
            point,
        )
        .await
    }
}

#[async_trait]
impl RegistrationCodeStore for SqlStore {
    async fn insert_registration_code(&self, c: &RegistrationCode) -> StoreResult<()> {
        self.execute(
            "INSERT INTO registration_codes (code_hash, public_key, device_id, expires_at) \
             VALUES ($1, $2, $3, $4)",
            params![&c.code_hash, &c.public_key, &c.device_id, c.expires_at],
        )
        .await?;
        Ok(())
    }

    async fn take_registration_code(
        &self,
        code_hash: &str,
        now: UnixTime,
    ) -> StoreResult<Option<RegistrationCode>> {
        // One conditional UPDATE ... RETURNING: of two officers typing the same code, one gets it.
        let taken = self
            .write_returning(
                "UPDATE registration_codes SET used_at = $1 \
                 WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1 \
                 RETURNING code_hash, public_key, device_id, expires_at",
                params![now, code_hash],
                code,
            )
            .await?;
        Ok(taken.into_iter().next())
    }

    async fn delete_registration_codes_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.execute("DELETE FROM registration_codes WHERE expires_at < $1", params![cutoff]).await
    }
}

#[async_trait]
impl CounterActStore for SqlStore {
    async fn insert_counter_act(&self, a: &CounterAct) -> StoreResult<()> {
        self.execute(
            concat!(
                "INSERT INTO counter_acts (",
                act_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ),
            params![
                &a.id,
                a.kind.as_str(),
                &a.staff_id,
                &a.point_id,
                a.at,
                a.outcome.as_str(),
                &a.account_id,
                &a.public_key,
                &a.device_id,
                &a.hkid_hash,
                &a.sealed_details,
                a.expires_at,
                a.decided_at
            ],
        )
        .await?;
        Ok(())
    }

    async fn find_counter_act(&self, id: &str) -> StoreResult<Option<CounterAct>> {
        self.fetch_optional(
            concat!("SELECT ", act_columns!(), " FROM counter_acts WHERE id = $1"),
            params![id],
            act,
        )
        .await
    }

    async fn acts_awaiting(&self, public_key: &str, now: UnixTime) -> StoreResult<Vec<CounterAct>> {
        self.fetch_all(
            concat!(
                "SELECT ",
                act_columns!(),
                " FROM counter_acts WHERE public_key = $1 AND outcome = 'awaiting_citizen' \
                 AND expires_at > $2 ORDER BY at, id"
            ),
            params![public_key, now],
            act,
        )
        .await
    }

    async fn count_counter_acts_since(
        &self,
        since: UnixTime,
    ) -> StoreResult<Vec<(String, String, u64)>> {
        self.fetch_all(
            "SELECT kind, outcome, COUNT(*) AS n FROM counter_acts WHERE at >= $1 \
             GROUP BY kind, outcome",
            params![since],
            |row| {
                let n = col::<i64>(row, "n")?;
                Ok((col(row, "kind")?, col(row, "outcome")?, u64::try_from(n).unwrap_or(0)))
            },
        )
        .await
    }

    async fn list_counter_acts(&self, since: UnixTime) -> StoreResult<Vec<CounterAct>> {
        self.fetch_all(
            concat!("SELECT ", act_columns!(), " FROM counter_acts WHERE at >= $1 ORDER BY at, id"),
            params![since],
            act,
        )
        .await
    }
}

#[async_trait]
impl CounterTransaction for SqlTransaction<'_> {
    async fn decide_counter_act(
        &mut self,
        id: &str,
        outcome: ActOutcome,
        account_id: Option<&AccountId>,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let changed = execute_on(
            self.conn,
            "UPDATE counter_acts SET outcome = $1, account_id = COALESCE($2, account_id), decided_at = $3 \
             WHERE id = $4 AND outcome = 'awaiting_citizen' AND expires_at > $3",
            &params![outcome.as_str(), account_id.map(|a| a.as_str()), now, id],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn insert_account(
        &mut self,
        account: &Account,
        device: &Device,
        evidence: &EvidenceRecord,
    ) -> StoreResult<()> {
        crate::identity::insert_account(self.conn, account, device, evidence).await
    }
}
