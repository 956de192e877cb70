//! The figures an operator needs (the paper quotes them): registrations per day by channel
//! (remote, and each kind of registration point) and point, upgrades to plus, accounts, plus
//! accounts, suspended accounts and active devices. Aggregates only; `civpass stats --json`
//! prints them (charts come with the operator console).

use std::collections::BTreeMap;

use serde::Serialize;
use time::Date;

use crate::account::AccountService;
use crate::account::model::Totals;
use crate::kernel::Internal;

/// Seconds Hong Kong time is ahead of UTC: days are counted in Hong Kong.
const HONG_KONG: i64 = 8 * 3600;

/// Registrations and upgrades on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DayFigures {
    /// `YYYY-MM-DD`, Hong Kong date.
    pub date: String,
    pub remote_registrations: u64,
    pub remote_upgrades: u64,
    /// By kind of point (`counter`, `post_office`, `kiosk`, `mobile_team`).
    pub registrations_by_point_kind: BTreeMap<String, u64>,
    pub upgrades_by_point_kind: BTreeMap<String, u64>,
    /// By point id: `[registrations, upgrades]`.
    pub by_point: BTreeMap<String, [u64; 2]>,
}

/// The figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figures {
    pub generated_at: i64,
    #[serde(flatten)]
    pub totals: Totals,
    /// The last `days` days, oldest first, each listed even if nothing happened.
    pub days: Vec<DayFigures>,
}

fn date_of(day: i64) -> String {
    // Julian day 2440588 is 1970-01-01.
    Date::from_julian_day(i32::try_from(2_440_588 + day).unwrap_or(i32::MAX))
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
        .unwrap_or_default()
}

impl AccountService {
    /// The figures of the last `days` Hong Kong days, today included (1 to 366).
    pub async fn figures(&self, days: u32) -> Result<Figures, Internal> {
        let days = i64::from(days.clamp(1, 366));
        let now = self.ctx.now();
        let today = (now + HONG_KONG).div_euclid(86_400);
        let first = today - days + 1;
        let since = first * 86_400 - HONG_KONG;
        let mut by_day: BTreeMap<i64, DayFigures> = (first..=today)
            .map(|d| (d, DayFigures { date: date_of(d), ..DayFigures::default() }))
            .collect();
        for remote in self.store.remote_days(since).await? {
            if let Some(f) = by_day.get_mut(&remote.day) {
                f.remote_registrations += remote.registrations;
                f.remote_upgrades += remote.upgrades;
            }
        }
        for counter in self.store.counter_days(since).await? {
            if let Some(f) = by_day.get_mut(&counter.day) {
                *f.registrations_by_point_kind.entry(counter.point_kind.clone()).or_default() +=
                    counter.registrations;
                *f.upgrades_by_point_kind.entry(counter.point_kind).or_default() +=
                    counter.upgrades;
                let point = f.by_point.entry(counter.point_id).or_default();
                point[0] += counter.registrations;
                point[1] += counter.upgrades;
            }
        }
        Ok(Figures {
            generated_at: now,
            totals: self.store.totals().await?,
            days: by_day.into_values().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_named_by_their_date() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(20_787), "2026-11-30");
    }
}
