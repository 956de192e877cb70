//! The JSON body of a registry's `200 OK` answer and its conversion to a `RegistryRecord`.
//!
//! Error messages here name the field at fault but never quote its value: the value is personal data.

use civpass_core::identity::hkid::HkId;
use civpass_core::identity::registry::{Gender, RegistryError, RegistryRecord};
use serde::Deserialize;
use time::Date;
use time::macros::format_description;

/// Unknown fields are ignored so that the registry can add fields without breaking us.
#[derive(Deserialize)]
struct PersonWire {
    hkid: String,
    name_en: String,
    name_zh: String,
    /// `YYYY-MM-DD`.
    date_of_birth: String,
    gender: Gender,
    /// The HKIDs of the person's parents or guardians; absent for none.
    #[serde(default)]
    guardians: Vec<String>,
}

pub(crate) fn parse_person(body: &[u8]) -> Result<RegistryRecord, RegistryError> {
    // serde_json's messages can quote the offending value, so they are dropped.
    let wire: PersonWire = serde_json::from_slice(body)
        .map_err(|_| invalid("the body is not a JSON person record with the expected fields"))?;
    let hkid = HkId::parse(&wire.hkid).map_err(|_| invalid("hkid is not a valid HKID number"))?;
    if wire.name_en.trim().is_empty() {
        return Err(invalid("name_en is empty"));
    }
    if wire.name_zh.trim().is_empty() {
        return Err(invalid("name_zh is empty"));
    }
    let date_of_birth =
        Date::parse(&wire.date_of_birth, format_description!("[year]-[month]-[day]"))
            .map_err(|_| invalid("date_of_birth is not a YYYY-MM-DD date"))?;
    let guardians = wire
        .guardians
        .iter()
        .map(|g| HkId::parse(g))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid("guardians holds an invalid HKID number"))?;
    if guardians.len() > 8 {
        return Err(invalid("guardians names more than eight people"));
    }
    Ok(RegistryRecord {
        hkid,
        name_en: wire.name_en,
        name_zh: wire.name_zh,
        date_of_birth,
        gender: wire.gender,
        guardians,
    })
}

fn invalid(reason: &str) -> RegistryError {
    RegistryError::Unavailable(format!("the registry returned a malformed person record: {reason}"))
}
