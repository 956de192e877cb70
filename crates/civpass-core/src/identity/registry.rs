//! The population registry port: where identity data is checked at enrolment.
//!
//! The sandbox registry of synthetic people implements it, and an HTTP adapter for an
//! authoritative registry (the Immigration Department in the paper) can replace it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::identity::hkid::HkId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Female,
    Male,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
        }
    }
}

/// One person as the registry knows them.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryRecord {
    pub hkid: HkId,
    /// English name as on the identity card, surname first: `CHAN Tai Man`.
    pub name_en: String,
    /// Chinese name in Traditional characters: `陳大文`.
    pub name_zh: String,
    pub date_of_birth: Date,
    pub gender: Gender,
    /// The parents or guardians the registry names for this person (a minor's registration
    /// needs one of them to approve it).
    pub guardians: Vec<HkId>,
}

/// Redacted: registry records are personal data.
impl std::fmt::Debug for RegistryRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistryRecord(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the population registry is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait RegistrySource: Send + Sync {
    /// The person with this HKID, or `None` if the registry has no such person.
    async fn find_person(&self, hkid: &HkId) -> Result<Option<RegistryRecord>, RegistryError>;

    /// Change events after `cursor` (an event id; `None`: from the start), oldest first, at
    /// most a page of them. A registry that publishes none (the sandbox: its events come from
    /// files, `civpass registry events`) has none.
    async fn events_after(
        &self,
        _cursor: Option<&str>,
    ) -> Result<Vec<RegistryEvent>, RegistryError> {
        Ok(Vec::new())
    }
}

/// A change the population registry reports (one JSON line of its event feed:
/// `{"id": "ev-1", "type": "deceased", "hkid": "A123456(3)"}`, `name_changed` with `name_en`
/// and `name_zh`, `card_replaced`). Ids are unique and ordered: the feed's cursor.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct RegistryEvent {
    pub id: String,
    #[serde(flatten)]
    pub change: RegistryChange,
    pub hkid: HkId,
}

/// Redacted: an event names a person.
impl std::fmt::Debug for RegistryEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryEvent")
            .field("id", &self.id)
            .field("type", &self.change.as_str())
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RegistryChange {
    /// The holder has died: the account is suspended and its services told.
    Deceased,
    /// The holder's names changed: the vault holds the new ones.
    NameChanged { name_en: String, name_zh: String },
    /// A new card was issued for the same number: recorded.
    CardReplaced,
}

impl RegistryChange {
    pub fn as_str(&self) -> &'static str {
        match self {
            RegistryChange::Deceased => "deceased",
            RegistryChange::NameChanged { .. } => "name_changed",
            RegistryChange::CardReplaced => "card_replaced",
        }
    }
}

impl RegistryEvent {
    /// One line of an event feed.
    ///
    /// Errors: what is wrong with it, naming no personal data.
    pub fn parse(line: &str) -> Result<RegistryEvent, String> {
        // Each field is checked by name first: serde's own messages quote values, which here
        // are personal data, so they are never shown.
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("not JSON (column {})", e.column()))?;
        let text = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
        if text("id").is_none() {
            return Err("no \"id\" (a string)".into());
        }
        match text("type") {
            Some("deceased" | "card_replaced") => {}
            Some("name_changed") if text("name_en").is_some() && text("name_zh").is_some() => {}
            Some("name_changed") => {
                return Err("a name_changed event needs \"name_en\" and \"name_zh\"".into());
            }
            Some(_) => {
                return Err("\"type\" must be deceased, name_changed or card_replaced".into());
            }
            None => return Err("no \"type\" (a string)".into()),
        }
        match text("hkid") {
            Some(hkid) if HkId::parse(hkid).is_ok() => {}
            Some(_) => return Err("\"hkid\" is not a valid identity card number".into()),
            None => return Err("no \"hkid\" (a string)".into()),
        }
        let event: RegistryEvent = serde_json::from_value(value)
            .map_err(|e| format!("not a registry event ({:?} error)", e.classify()))?;
        if event.id.is_empty() || event.id.len() > 200 {
            return Err("an event id must be 1 to 200 characters".into());
        }
        if let RegistryChange::NameChanged { name_en, name_zh } = &event.change {
            use crate::kernel::text::{is_deceptive, too_many_marks};
            let fit = |n: &str| {
                !n.trim().is_empty()
                    && n.len() <= 200
                    && !n.chars().any(is_deceptive)
                    && !too_many_marks(n)
            };
            if !fit(name_en) || !fit(name_zh) {
                return Err("a name_changed event needs name_en and name_zh (1 to 200 bytes, no control characters)".into());
            }
        }
        Ok(event)
    }
}

#[cfg(test)]
mod event_tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn events_of_each_kind_are_read() {
        let death =
            RegistryEvent::parse(r#"{"id":"ev-1","type":"deceased","hkid":"A123456(3)"}"#).unwrap();
        assert_eq!((death.id.as_str(), death.change.as_str()), ("ev-1", "deceased"));
        let renamed = RegistryEvent::parse(
            r#"{"id":"ev-2","type":"name_changed","hkid":"A1234563","name_en":"CHAN, Tai Man","name_zh":"陳大文"}"#,
        )
        .unwrap();
        assert!(matches!(renamed.change, RegistryChange::NameChanged { .. }));
    }

    proptest! {
        /// A feed is outside input: any line is read or refused, never a panic, and a refusal
        /// quotes nothing of the line.
        #[test]
        fn any_line_is_read_or_refused_without_quoting_it(
            line in "\\PC{0,120}",
            field in "[a-z_]{1,12}",
            value in "[A-Za-z0-9()]{0,12}",
        ) {
            let _ = RegistryEvent::parse(&line);
            let shaped = format!(r#"{{"id":"x","type":"deceased","hkid":"A123456(3)","{field}":"{value}Q7Z"}}"#);
            if let Err(why) = RegistryEvent::parse(&shaped) {
                prop_assert!(!why.contains("Q7Z"), "{}", why);
            }
        }
    }
}
