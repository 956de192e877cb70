//! The signing slice's port: certificate authorities and citizens' signing credentials.

use async_trait::async_trait;
use civpass_core::identity::model::Account;
use civpass_core::kernel::AccountId;
use civpass_core::kernel::store::StoreResult;
use civpass_core::signing::store::{
    SigningRequest, SigningStore, SigningWrites, StoredAuthority, StoredCredential,
};
use sqlx::any::AnyRow;

use crate::sql::{col, execute_on, op, params};
use crate::tx::SqlTransaction;
use crate::writer::Statements;
use crate::{SqlStore, rows};

fn authority(row: &AnyRow) -> StoreResult<StoredAuthority> {
    Ok(StoredAuthority {
        kind: col(row, "kind")?,
        certificate: col(row, "certificate")?,
        sealed_key: col(row, "sealed_key")?,
        created_at: col(row, "created_at")?,
    })
}

fn credential(row: &AnyRow) -> StoreResult<StoredCredential> {
    Ok(StoredCredential {
        serial: col(row, "serial")?,
        account_id: col::<String>(row, "account_id")?.into(),
        sealed_certificate: col(row, "sealed_certificate")?,
        sealed_key: col(row, "sealed_key")?,
        not_after: col(row, "not_after")?,
        created_at: col(row, "created_at")?,
        revoked_at: col(row, "revoked_at")?,
        revocation_reason: col(row, "revocation_reason")?,
    })
}

fn signing_request(row: &AnyRow) -> StoreResult<SigningRequest> {
    Ok(SigningRequest {
        id: col(row, "id")?,
        client_id: col::<String>(row, "client_id")?.into(),
        client_name: col(row, "client_name")?,
        sector: col(row, "sector")?,
        sealed_documents: col(row, "sealed_documents")?,
        expected_sub: col(row, "expected_sub")?,
        match_code: col(row, "match_code")?,
        status: col(row, "status")?,
        account_id: col::<Option<String>>(row, "account_id")?.map(Into::into),
        sealed_result: col(row, "sealed_result")?,
        failure: col(row, "failure")?,
        created_at: col(row, "created_at")?,
        expires_at: col(row, "expires_at")?,
        decided_at: col(row, "decided_at")?,
    })
}

#[async_trait]
impl SigningStore for SqlStore {
    async fn insert_signing_request(&self, r: &SigningRequest) -> StoreResult<()> {
        self.execute(
            "INSERT INTO signing_requests (id, client_id, client_name, sector, sealed_documents, \
             expected_sub, match_code, status, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            params![
                &r.id,
                &r.client_id,
                &r.client_name,
                &r.sector,
                &r.sealed_documents,
                &r.expected_sub,
                &r.match_code,
                &r.status,
                r.created_at,
                r.expires_at
            ],
        )
        .await?;
        Ok(())
    }

    async fn find_signing_request(&self, id: &str) -> StoreResult<Option<SigningRequest>> {
        self.fetch_optional(
            "SELECT id, client_id, client_name, sector, sealed_documents, expected_sub, match_code, \
             status, account_id, sealed_result, failure, created_at, expires_at, decided_at \
             FROM signing_requests WHERE id = $1",
            params![id],
            signing_request,
        )
        .await
    }

    async fn delete_signing_requests_before(
        &self,
        cutoff: civpass_core::kernel::UnixTime,
    ) -> StoreResult<u64> {
        self.execute("DELETE FROM signing_requests WHERE expires_at < $1", params![cutoff]).await
    }

    async fn finish_signing_request(&self, r: &SigningRequest) -> StoreResult<bool> {
        let decided_at = r.decided_at.unwrap_or_default();
        let changed = self
            .execute(
                "UPDATE signing_requests SET status = $1, account_id = $2, sealed_result = $3, \
                 failure = $4, decided_at = $5 \
                 WHERE id = $6 AND status = 'pending' AND expires_at > $5",
                params![&r.status, &r.account_id, &r.sealed_result, &r.failure, decided_at, &r.id],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn find_authority(&self, kind: &str) -> StoreResult<Option<StoredAuthority>> {
        self.fetch_optional(
            "SELECT kind, certificate, sealed_key, created_at FROM pki_authorities WHERE kind = $1",
            params![kind],
            authority,
        )
        .await
    }

    async fn insert_authorities(
        &self,
        root: &StoredAuthority,
        issuing: &StoredAuthority,
    ) -> StoreResult<bool> {
        let (root, issuing) = (root.clone(), issuing.clone());
        self.writer
            .write(
                Statements::Several,
                op!(|conn| {
                    let mut inserted = 0;
                    for a in [&root, &issuing] {
                        inserted += execute_on(
                            &mut *conn,
                            "INSERT INTO pki_authorities (kind, certificate, sealed_key, created_at) \
                             VALUES ($1, $2, $3, $4) ON CONFLICT (kind) DO NOTHING",
                            &params![&a.kind, &a.certificate, &a.sealed_key, a.created_at],
                        )
                        .await?;
                    }
                    Ok(inserted == 2)
                }),
            )
            .await
    }

    async fn remove_authority_key(&self, kind: &str) -> StoreResult<bool> {
        Ok(self
            .execute(
                "UPDATE pki_authorities SET sealed_key = NULL WHERE kind = $1 AND sealed_key IS NOT NULL",
                params![kind],
            )
            .await?
            == 1)
    }

    async fn insert_credential(&self, c: &StoredCredential) -> StoreResult<()> {
        let c = c.clone();
        self.execute(
            "INSERT INTO signing_credentials (serial, account_id, sealed_certificate, sealed_key, \
             not_after, created_at, revoked_at, revocation_reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            params![
                &c.serial,
                &c.account_id,
                &c.sealed_certificate,
                &c.sealed_key,
                c.not_after,
                c.created_at,
                c.revoked_at,
                &c.revocation_reason
            ],
        )
        .await?;
        Ok(())
    }

    async fn revoke_credentials_of(
        &self,
        account_id: &AccountId,
        now: civpass_core::kernel::UnixTime,
        reason: &str,
    ) -> StoreResult<u64> {
        self.execute(
            "UPDATE signing_credentials SET revoked_at = $1, revocation_reason = $2 \
             WHERE account_id = $3 AND revoked_at IS NULL",
            params![now, reason, account_id],
        )
        .await
    }

    async fn credentials_of(&self, account_id: &AccountId) -> StoreResult<Vec<StoredCredential>> {
        self.fetch_all(
            "SELECT serial, account_id, sealed_certificate, sealed_key, not_after, created_at, \
             revoked_at, revocation_reason FROM signing_credentials WHERE account_id = $1 \
             ORDER BY created_at DESC, serial",
            params![account_id],
            credential,
        )
        .await
    }

    async fn plus_accounts(
        &self,
        after: Option<&AccountId>,
        limit: u32,
    ) -> StoreResult<Vec<Account>> {
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        self.fetch_all(
            "SELECT id, hkid_hash, tier, vault, created_at, suspended_at, awaiting_guardian_since \
             FROM accounts WHERE tier = 'plus' AND id > $1 ORDER BY id LIMIT $2",
            params![after, i64::from(limit)],
            rows::account,
        )
        .await
    }
}

#[async_trait]
impl SigningWrites for SqlTransaction<'_> {
    async fn revoke_signing_credentials(
        &mut self,
        account_id: &AccountId,
        now: civpass_core::kernel::UnixTime,
        reason: &str,
    ) -> StoreResult<u64> {
        execute_on(
            self.conn,
            "UPDATE signing_credentials SET revoked_at = $1, revocation_reason = $2 \
             WHERE account_id = $3 AND revoked_at IS NULL",
            &params![now, reason, account_id],
        )
        .await
    }
}
