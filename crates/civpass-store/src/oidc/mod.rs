//! The OpenID provider's ports, one file per aggregate, and its transaction's writes.

mod clients;
mod grants;
mod login;
mod replay;

use async_trait::async_trait;
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::StoreResult;
use civpass_core::kernel::{AccountId, ClientId, GrantId};
use civpass_core::oidc::model::{Decision, Grant};
use civpass_core::oidc::store::{OidcTransaction, Redemption};

use crate::backend;
use crate::sql::{bind_all, col, execute_on, params};
use crate::tx::SqlTransaction;
use grants::{insert_grant, revoke_grant};
use login::{decide_login_request, redeem_code};

#[async_trait]
impl OidcTransaction for SqlTransaction<'_> {
    async fn revoke_account_grants(
        &mut self,
        account_id: &AccountId,
        now: UnixTime,
    ) -> StoreResult<Vec<(GrantId, ClientId)>> {
        let revoked = bind_all(
            sqlx::query(
                "UPDATE grants SET revoked_at = $1 WHERE account_id = $2 \
                 AND revoked_at IS NULL RETURNING id, client_id",
            ),
            &params![now, account_id],
        )
        .fetch_all(&mut *self.conn)
        .await
        .map_err(backend)?;
        revoked
            .iter()
            .map(|row| {
                Ok((
                    col::<String>(row, "id").map(GrantId::from)?,
                    col::<String>(row, "client_id").map(ClientId::from)?,
                ))
            })
            .collect()
    }

    async fn revoke_live_grants(
        &mut self,
        account_id: &AccountId,
        client_id: &ClientId,
        now: UnixTime,
    ) -> StoreResult<Vec<GrantId>> {
        let revoked = bind_all(
            sqlx::query(
                "UPDATE grants SET revoked_at = $1 WHERE account_id = $2 AND client_id = $3 \
                 AND revoked_at IS NULL RETURNING id",
            ),
            &params![now, account_id, client_id],
        )
        .fetch_all(&mut *self.conn)
        .await
        .map_err(backend)?;
        revoked.iter().map(|row| col::<String>(row, "id").map(GrantId::from)).collect()
    }

    async fn revoke_grant(
        &mut self,
        id: &civpass_core::kernel::GrantId,
        now: UnixTime,
    ) -> StoreResult<bool> {
        revoke_grant(self.conn, id, now).await
    }

    async fn delete_client(
        &mut self,
        id: &civpass_core::kernel::ClientId,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let deleted = execute_on(
            self.conn,
            "UPDATE clients SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL",
            &params![now, id],
        )
        .await?;
        Ok(deleted == 1)
    }

    async fn revoke_client_grants(
        &mut self,
        client_id: &civpass_core::kernel::ClientId,
        now: UnixTime,
    ) -> StoreResult<u64> {
        execute_on(
            self.conn,
            "UPDATE grants SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL",
            &params![now, client_id],
        )
        .await
    }

    async fn decide_login_request(
        &mut self,
        id: &civpass_core::kernel::LoginRequestId,
        decision: &Decision,
        now: UnixTime,
    ) -> StoreResult<bool> {
        decide_login_request(self.conn, id, decision, now).await
    }

    async fn redeem_code(
        &mut self,
        code_hash: &str,
        grant_id: &civpass_core::kernel::GrantId,
    ) -> StoreResult<Redemption> {
        redeem_code(self.conn, code_hash, grant_id).await
    }

    async fn forget_login_account(&mut self, code_hash: &str) -> StoreResult<()> {
        execute_on(
            self.conn,
            "UPDATE login_requests SET account_id = NULL, device_id = NULL, browser_hash = '', \
             origin_hash = NULL, expected_sub = NULL, sealed_context = NULL, amr = '' \
             WHERE code_hash = $1",
            &params![code_hash],
        )
        .await?;
        Ok(())
    }

    async fn insert_grant(&mut self, grant: &Grant) -> StoreResult<()> {
        insert_grant(self.conn, grant).await
    }

    async fn replace_refresh_token(
        &mut self,
        grant_id: &civpass_core::kernel::GrantId,
        old_hash: &str,
        new_hash: &str,
        new_expires_at: UnixTime,
    ) -> StoreResult<bool> {
        let updated = execute_on(
            self.conn,
            "UPDATE grants SET refresh_hash = $1, refresh_expires_at = $2 \
             WHERE id = $3 AND refresh_hash = $4 AND revoked_at IS NULL",
            &params![new_hash, new_expires_at, grant_id, old_hash],
        )
        .await?;
        Ok(updated == 1)
    }

    async fn retire_refresh_token(
        &mut self,
        refresh_hash: &str,
        grant_id: &civpass_core::kernel::GrantId,
        now: UnixTime,
    ) -> StoreResult<()> {
        execute_on(
            self.conn,
            "INSERT INTO retired_refresh_tokens (refresh_hash, grant_id, retired_at) \
             VALUES ($1, $2, $3)",
            &params![refresh_hash, grant_id, now],
        )
        .await?;
        Ok(())
    }
}
