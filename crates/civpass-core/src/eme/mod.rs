//! e-ME: the citizen's data vault. The registry-verified identity (read from the account's own
//! vault) and the fields the citizen stores (`model::FIELDS`), each with its source and when it
//! last changed; the fields are released to services as claims of the same names.

pub mod documents;
pub mod model;
pub mod store;
pub mod verification;

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::eme::model::{
    Entry, FieldKind, FieldProblem, Source, StoredVault, Vault, VaultEntry, checked_value, field,
    set_address_part,
};
use crate::eme::store::{EmeStore, SealedVault};
use crate::identity::IdentityService;
use crate::identity::model::{Identity, OperatorAct};
use crate::kernel::{AccountId, Ctx, Internal};

/// Why a change to the vault was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum EmeError {
    /// Each refused value, with why.
    #[error("{}", .0.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldProblem>),
    /// Too many writes at once to the same vault.
    #[error("the data changed meanwhile; try again")]
    Busy,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// A change the citizen asks for: a field (or `field.part` of an address) and its new value,
/// or `None` to delete it.
pub type Change = (String, Option<String>);

/// How many times a change is read and written again when another write to the same vault
/// came first.
const WRITE_ATTEMPTS: usize = 32;

/// At most this many changes in one request.
pub const MAX_CHANGES: usize = 64;

/// The e-ME slice's use cases.
#[derive(Clone)]
pub struct EmeService {
    pub(crate) ctx: Ctx,
    pub(crate) identity: IdentityService,
    pub(crate) store: Arc<dyn EmeStore>,
    pub(crate) blobs: Arc<dyn store::BlobStore>,
    pub(crate) ceremonies: crate::kernel::ceremony::Ceremonies,
    /// Sends verification links; `None` where no mail relay is configured.
    pub(crate) mailer: Option<Arc<dyn verification::Mailer>>,
    /// Sends verification codes; `None` where no SMS gateway is configured.
    pub(crate) sms: Option<Arc<dyn verification::SmsGateway>>,
}

/// A registry field's value from the verified identity (OIDC Core section 5.1, `hkid` ours).
/// The English name is surname first (`CHAN Tai Man`), so the family name is its first word.
pub fn registry_value(identity: &Identity, name: &str) -> Option<Value> {
    let (family, given) = identity.name_en.split_once(' ').unwrap_or((&identity.name_en, ""));
    Some(match name {
        "name" => json!(identity.name_en),
        "family_name" => json!(family),
        "given_name" => json!(given),
        "name#zh-Hant-HK" => json!(identity.name_zh),
        "hkid" => json!(identity.hkid),
        "birthdate" => json!(identity.date_of_birth),
        "gender" => json!(identity.gender.as_str()),
        _ => return None,
    })
}

impl EmeService {
    /// The vault: registry fields (changed when the account was made or the registry last
    /// reported a name change) and the stored ones, in the catalogue's order.
    pub async fn vault(&self, account_id: &AccountId) -> Result<Vault, Internal> {
        let account = self.identity.account(account_id).await?;
        let identity = self.identity.open_identity(&account).await?;
        let renamed = self
            .identity
            .account_events(account_id)
            .await?
            .iter()
            .filter(|e| e.kind == OperatorAct::NameChanged)
            .map(|e| e.at)
            .max();
        let (stored, _) = self.stored(account_id).await?;
        let entries = model::FIELDS
            .iter()
            .filter_map(|def| match def.kind {
                FieldKind::Registry => registry_value(&identity, def.name).map(|value| {
                    let names = matches!(
                        def.name,
                        "name" | "family_name" | "given_name" | "name#zh-Hant-HK"
                    );
                    VaultEntry {
                        name: def.name,
                        value,
                        source: Source::Registry,
                        updated_at: renamed.filter(|_| names).unwrap_or(account.created_at),
                    }
                }),
                _ => stored.fields.get(def.name).map(|entry| VaultEntry {
                    name: def.name,
                    value: entry.value.clone(),
                    source: entry.source.clone(),
                    updated_at: entry.updated_at,
                }),
            })
            .collect();
        Ok(Vault { entries })
    }

    /// The values of the claims `names` as released to a service (OIDC Core section 5.1):
    /// registry fields from the identity, stored fields as kept (an address as the `address`
    /// claim, `model::address_claim`), `email_verified` and `phone_number_verified` from their
    /// field's source. A field the citizen has not filled is left out, and so is its
    /// `_verified` companion.
    pub async fn claim_values(
        &self,
        account: &crate::identity::model::Account,
        names: &[&str],
    ) -> Result<Map<String, Value>, Internal> {
        let mut out = Map::new();
        if names.is_empty() {
            return Ok(out);
        }
        let registry =
            names.iter().any(|n| field(n).is_some_and(|f| f.kind == FieldKind::Registry));
        let identity =
            if registry { Some(self.identity.open_identity(account).await?) } else { None };
        let stored = if names.iter().any(|n| field(n).is_none_or(|f| f.kind != FieldKind::Registry))
        {
            self.stored(&account.id).await?.0
        } else {
            StoredVault::default()
        };
        for name in names {
            let verified_of = match *name {
                "email_verified" => Some("email"),
                "phone_number_verified" => Some("phone_number"),
                _ => None,
            };
            let value = match (verified_of, field(name)) {
                (Some(of), _) => stored
                    .fields
                    .get(of)
                    .map(|e| Value::Bool(matches!(e.source, Source::Verified { .. }))),
                (None, Some(def)) => match def.kind {
                    FieldKind::Registry => identity.as_ref().and_then(|i| registry_value(i, name)),
                    FieldKind::Address(language) => stored
                        .fields
                        .get(def.name)
                        .and_then(|e| e.value.as_object())
                        .map(|parts| model::address_claim(parts, language)),
                    FieldKind::Documents => match stored.fields.get(def.name) {
                        Some(entry) => Some(self.released_documents(&account.id, entry).await?),
                        None => None,
                    },
                    _ => stored.fields.get(def.name).map(|e| e.value.clone()),
                },
                (None, None) => None,
            };
            if let Some(value) = value {
                out.insert((*name).to_owned(), value);
            }
        }
        Ok(out)
    }

    /// Applies the changes together, or none of them: every refused value is reported at once.
    /// A changed value is self-declared (a verified e-mail address that changes is no longer
    /// verified); setting the value already held changes nothing.
    pub async fn change(
        &self,
        account_id: &AccountId,
        changes: &[Change],
    ) -> Result<Vault, EmeError> {
        if changes.len() > MAX_CHANGES {
            return Err(EmeError::Invalid(vec![FieldProblem {
                field: String::new(),
                message: format!("at most {MAX_CHANGES} changes at once"),
            }]));
        }
        let now = self.ctx.now();
        let gone = self
            .update(account_id, EmeError::Busy, |stored| {
                let before = documents::listed(stored.fields.get(documents::FIELD));
                let problems: Vec<FieldProblem> = changes
                    .iter()
                    .filter_map(|(name, value)| apply(stored, name, value.as_deref(), now).err())
                    .collect();
                if !problems.is_empty() {
                    return Err(EmeError::Invalid(problems));
                }
                let after = documents::listed(stored.fields.get(documents::FIELD));
                let gone: Vec<String> = before
                    .into_iter()
                    .filter(|d| !after.iter().any(|a| a.id == d.id))
                    .map(|d| d.id)
                    .collect();
                Ok(Edit::Write(gone))
            })
            .await?;
        // Documents no longer listed go from the store too.
        for id in gone {
            self.blobs.delete_blob(&id).await.map_err(Internal::from)?;
        }
        Ok(self.vault(account_id).await?)
    }

    /// The one read-modify-write of the stored fields: `edit` changes them (or says there is
    /// nothing to write), and they are written only if no other write came in between; else
    /// they are read and edited again. Each lost race means another write landed, so a few
    /// concurrent writers (the app and a wallet) all get through well within the bound; past
    /// it, `busy`.
    async fn update<R, E: From<Internal>>(
        &self,
        account_id: &AccountId,
        busy: E,
        mut edit: impl FnMut(&mut StoredVault) -> Result<Edit<R>, E>,
    ) -> Result<R, E> {
        for _ in 0..WRITE_ATTEMPTS {
            let (mut stored, version) = self.stored(account_id).await?;
            match edit(&mut stored)? {
                Edit::Keep(answer) => return Ok(answer),
                Edit::Write(answer) => {
                    if self.save(account_id, &stored, version).await? {
                        return Ok(answer);
                    }
                }
            }
        }
        Err(busy)
    }

    /// The stored fields and their version (0: none stored yet).
    async fn stored(&self, account_id: &AccountId) -> Result<(StoredVault, i64), Internal> {
        let Some(row) = self.store.find_vault(account_id).await? else {
            return Ok((StoredVault::default(), 0));
        };
        let plaintext = self
            .ctx
            .data_key(account_id)
            .await?
            .open(&row.sealed, &associated_data(account_id))
            .map_err(|e| Internal::caused("opening an e-ME vault", e))?;
        let vault = serde_json::from_slice(&plaintext)
            .map_err(|e| Internal::caused("reading an e-ME vault", e))?;
        Ok((vault, row.version))
    }

    /// Writes `vault` over `version`; false if another write came first.
    async fn save(
        &self,
        account_id: &AccountId,
        vault: &StoredVault,
        version: i64,
    ) -> Result<bool, Internal> {
        let next =
            SealedVault { sealed: self.seal(account_id, vault).await?, version: version + 1 };
        Ok(self.store.save_vault(account_id, &next, self.ctx.now()).await?)
    }

    async fn seal(&self, account_id: &AccountId, vault: &StoredVault) -> Result<Vec<u8>, Internal> {
        let plaintext =
            serde_json::to_vec(vault).map_err(|e| Internal::caused("writing an e-ME vault", e))?;
        self.ctx.data_key(account_id).await?.seal(&plaintext, &associated_data(account_id))
    }
}

/// What an `EmeService::update` edit asks for: write the edited fields, or keep them as read.
enum Edit<R> {
    Write(R),
    Keep(R),
}

/// The sealed vault is bound to its account, and apart from the identity's vault of the same
/// account, so that neither can be swapped for the other.
fn associated_data(account_id: &AccountId) -> Vec<u8> {
    format!("eme:{account_id}").into_bytes()
}

/// One change applied to the stored fields: `name` is a field, or `field.part` of an address;
/// `None` deletes it.
fn apply(
    stored: &mut StoredVault,
    name: &str,
    value: Option<&str>,
    now: i64,
) -> Result<(), FieldProblem> {
    let (field_name, part) = match name.split_once('.') {
        Some((f, p)) => (f, Some(p)),
        None => (name, None),
    };
    let unknown = || FieldProblem {
        field: name.chars().take(64).collect(),
        message: format!(
            "not an e-ME field you can set; those are {} (an address proof is deleted by its \
             own id)",
            model::FIELDS
                .iter()
                .filter(|f| !matches!(f.kind, FieldKind::Registry | FieldKind::Documents))
                .map(|f| f.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let def = field(field_name).ok_or_else(unknown)?;
    if def.kind == FieldKind::Registry {
        return Err(model::read_only(def.name));
    }
    let new_value = match (part, def.kind) {
        (Some(part), FieldKind::Address(language)) => {
            let mut parts = stored
                .fields
                .get(field_name)
                .and_then(|e| e.value.as_object().cloned())
                .unwrap_or_default();
            set_address_part(&mut parts, field_name, part, value.unwrap_or(""), language)?;
            (!parts.is_empty()).then_some(Value::Object(parts))
        }
        (Some(_), _) => return Err(unknown()),
        (None, _) => match value {
            None => None,
            Some(text) => Some(checked_value(def, text)?),
        },
    };
    match new_value {
        None => {
            stored.fields.remove(field_name);
        }
        Some(value) => {
            if stored.fields.get(field_name).is_some_and(|e| e.value == value) {
                return Ok(());
            }
            stored.fields.insert(
                field_name.to_owned(),
                Entry { value, source: Source::SelfDeclared, updated_at: now },
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a citizen sends, a change is applied or refused with a reason; never a
        /// panic, and a refused one leaves the vault as it was.
        #[test]
        fn any_change_is_applied_or_refused_without_a_panic(
            name in "(address|address#zh-Hant-HK|postal_address|email|phone_number|title|hkid|x)(\\.[a-z_]{0,14})?",
            value in proptest::option::of("\\PC{0,40}"),
        ) {
            let mut stored = StoredVault::default();
            apply(&mut stored, "email", Some("a@example.hk"), 1).unwrap();
            let before = stored.clone();
            if apply(&mut stored, &name, value.as_deref(), 2).is_err() {
                prop_assert_eq!(stored, before);
            }
        }
    }

    #[test]
    fn changes_apply_to_fields_and_address_parts_and_a_changed_value_is_self_declared() {
        let mut stored = StoredVault::default();
        apply(&mut stored, "email", Some("chan@example.hk"), 10).unwrap();
        stored.fields.get_mut("email").unwrap().source =
            Source::Verified { method: "email_link".into() };
        apply(&mut stored, "email", Some("chan@EXAMPLE.hk"), 20).unwrap();
        assert_eq!(stored.fields["email"].updated_at, 10, "the same address is no change");
        assert!(matches!(stored.fields["email"].source, Source::Verified { .. }));
        apply(&mut stored, "email", Some("wong@example.hk"), 30).unwrap();
        assert_eq!(stored.fields["email"].source, Source::SelfDeclared);
        apply(&mut stored, "address.district", Some("Wan Chai"), 40).unwrap();
        apply(&mut stored, "address.flat", Some("3B"), 40).unwrap();
        assert_eq!(stored.fields["address"].value["region"], "Hong Kong Island");
        apply(&mut stored, "address.flat", None, 50).unwrap();
        apply(&mut stored, "address.district", None, 50).unwrap();
        apply(&mut stored, "address.region", None, 50).unwrap();
        assert!(!stored.fields.contains_key("address"), "an address with no parts is gone");
        assert!(apply(&mut stored, "hkid", Some("A1234563"), 60).is_err());
        assert!(apply(&mut stored, "email.part", Some("x"), 60).is_err());
        assert!(apply(&mut stored, "nickname", Some("x"), 60).is_err());
        apply(&mut stored, "email", None, 70).unwrap();
        assert!(stored.fields.is_empty());
    }
}
