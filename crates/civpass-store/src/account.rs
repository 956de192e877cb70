//! The account slice's ports: the app's sessions, and the platform's figures (aggregates).

use async_trait::async_trait;
use civpass_core::account::model::{AppSession, CounterDay, RemoteDay, Totals};
use civpass_core::account::store::{AppSessionStore, StatsStore};
use civpass_core::kernel::clock::UnixTime;
use civpass_core::kernel::store::StoreResult;

use crate::sql::{col, params};
use crate::{SqlStore, rows};

#[async_trait]
impl AppSessionStore for SqlStore {
    async fn insert_app_session(&self, s: &AppSession) -> StoreResult<()> {
        self.execute(
            "INSERT INTO app_sessions (token_hash, account_id, device_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            params![&s.token_hash, &s.account_id, &s.device_id, s.created_at, s.expires_at],
        )
        .await?;
        Ok(())
    }

    async fn find_app_session(&self, token_hash: &str) -> StoreResult<Option<AppSession>> {
        self.fetch_optional(
            "SELECT token_hash, account_id, device_id, created_at, expires_at FROM app_sessions \
             WHERE token_hash = $1",
            params![token_hash],
            rows::app_session,
        )
        .await
    }

    async fn delete_app_sessions_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64> {
        self.execute("DELETE FROM app_sessions WHERE expires_at < $1", params![cutoff]).await
    }
}

fn count(row: &sqlx::any::AnyRow, name: &str) -> StoreResult<u64> {
    Ok(u64::try_from(col::<Option<i64>>(row, name)?.unwrap_or(0)).unwrap_or(0))
}

/// Hong Kong days, numbered from 1970-01-01, in SQL both engines read alike (integer division).
macro_rules! hk_day {
    ($column:literal) => {
        concat!("((", $column, " + 28800) / 86400)")
    };
}

#[async_trait]
impl StatsStore for SqlStore {
    async fn totals(&self) -> StoreResult<Totals> {
        let accounts = self
            .fetch_optional(
                "SELECT COUNT(*) AS accounts, \
                 SUM(CASE WHEN tier = 'plus' THEN 1 ELSE 0 END) AS plus, \
                 SUM(CASE WHEN suspended_at IS NOT NULL THEN 1 ELSE 0 END) AS suspended \
                 FROM accounts",
                params![],
                |row| Ok((count(row, "accounts")?, count(row, "plus")?, count(row, "suspended")?)),
            )
            .await?
            .unwrap_or_default();
        let devices = self
            .fetch_optional(
                "SELECT COUNT(*) AS n FROM devices WHERE revoked_at IS NULL",
                params![],
                |row| count(row, "n"),
            )
            .await?
            .unwrap_or_default();
        Ok(Totals {
            accounts: accounts.0,
            plus: accounts.1,
            suspended: accounts.2,
            active_devices: devices,
        })
    }

    async fn remote_days(&self, since: UnixTime) -> StoreResult<Vec<RemoteDay>> {
        let rows = self
            .fetch_all(
                concat!(
                    "SELECT ",
                    hk_day!("verified_at"),
                    " AS day, purpose, COUNT(*) AS n FROM identity_evidence \
                     WHERE method NOT IN ('in_person_card', 'kiosk_card_reader_face_match') AND verified_at >= $1 \
                     GROUP BY ",
                    hk_day!("verified_at"),
                    ", purpose"
                ),
                params![since],
                |row| {
                    Ok((col::<i64>(row, "day")?, col::<String>(row, "purpose")?, count(row, "n")?))
                },
            )
            .await?;
        let mut days: Vec<RemoteDay> = Vec::new();
        for (day, purpose, n) in rows {
            let at = match days.iter().position(|d| d.day == day) {
                Some(i) => i,
                None => {
                    days.push(RemoteDay { day, registrations: 0, upgrades: 0 });
                    days.len() - 1
                }
            };
            // A phone replaced remotely (`replace_device`) is neither a registration nor an
            // upgrade.
            match purpose.as_str() {
                "upgrade" => days[at].upgrades += n,
                "registration" => days[at].registrations += n,
                _ => {}
            }
        }
        Ok(days)
    }

    async fn counter_days(&self, since: UnixTime) -> StoreResult<Vec<CounterDay>> {
        self.fetch_all(
            concat!(
                "SELECT ",
                hk_day!("a.decided_at"),
                " AS day, a.point_id AS point_id, p.kind AS point_kind, \
                 SUM(CASE WHEN a.kind = 'register' THEN 1 ELSE 0 END) AS registrations, \
                 SUM(CASE WHEN a.kind = 'upgrade' THEN 1 ELSE 0 END) AS upgrades \
                 FROM counter_acts a JOIN registration_points p ON p.id = a.point_id \
                 WHERE a.outcome = 'confirmed' AND a.decided_at >= $1 \
                 GROUP BY ",
                hk_day!("a.decided_at"),
                ", a.point_id, p.kind"
            ),
            params![since],
            |row| {
                Ok(CounterDay {
                    day: col(row, "day")?,
                    point_id: col(row, "point_id")?,
                    point_kind: col(row, "point_kind")?,
                    registrations: count(row, "registrations")?,
                    upgrades: count(row, "upgrades")?,
                })
            },
        )
        .await
    }
}
