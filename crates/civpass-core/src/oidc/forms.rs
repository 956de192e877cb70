//! Form filling through rich authorization requests (RFC 9396): a service names the form it
//! wants filled (its name, number, description, purpose) and the e-ME fields, as an
//! `authorization_details` object of civpass's type `form_filling`; the app shows the form and
//! the fields; the filled fields go to the service as claims (in the ID token, and for a linked
//! filling from UserInfo too), and the token response carries the granted details.
//!
//! With `"anonymous": true` the filling is anonymous, as iAM Smart allows: the service gets the
//! form's data under a one-time `sub`, no refresh token, no grant, no consent and no link with
//! the citizen; the citizen's own record of it is sealed to their account.
//!
//! ```json
//! {"type": "form_filling", "form_name": "Application for a Parking Permit",
//!  "form_number": "TD 123", "description": "…", "purpose": "…",
//!  "fields": ["given_name", {"name": "address", "essential": true}], "anonymous": false}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::consent::claims;
use crate::kernel::text::display_text;

/// civpass's `authorization_details` type (RFC 9396 section 2).
pub const FORM_FILLING: &str = "form_filling";

/// A field of the form: an e-ME claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    pub name: String,
    #[serde(default)]
    pub essential: bool,
}

/// A form to fill, as the service asked for it (checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormRequest {
    pub form_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    pub fields: Vec<FormField>,
    #[serde(default)]
    pub anonymous: bool,
}

impl FormRequest {
    /// The form a login request or grant keeps (`authorization_details`, as this type's JSON).
    pub fn stored(kept: Option<&str>) -> Option<FormRequest> {
        kept.and_then(|json| serde_json::from_str(json).ok())
    }

    /// The granted `authorization_details` (RFC 9396 section 7): the form as asked, with the
    /// fields the citizen released.
    pub fn granted(&self, released: &[&str]) -> Value {
        let mut granted = self.clone();
        granted.fields.retain(|f| released.contains(&f.name.as_str()));
        let mut value = serde_json::to_value(&granted).unwrap_or(Value::Null);
        if let Some(object) = value.as_object_mut() {
            object.insert("type".into(), FORM_FILLING.into());
        }
        Value::Array(vec![value])
    }

    pub fn field_names(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.name.clone()).collect()
    }
}

/// The text of an optional member: absent, or 1 to `max` characters of plain text.
fn optional_text(
    object: &serde_json::Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Option<String>, &'static str> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => display_text(text, max)
            .map(Some)
            .ok_or("a form's texts must be plain text of a reasonable length"),
        Some(_) => Err("a form's texts must be strings"),
    }
}

/// Parses the `authorization_details` parameter (a JSON array, RFC 9396 section 2): at most one
/// object, of type `form_filling`. `Err` is the `invalid_authorization_details` description
/// (section 5).
pub(crate) fn parse(text: &str) -> Result<Option<FormRequest>, &'static str> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| "authorization_details must be a JSON array")?;
    let items = value.as_array().ok_or("authorization_details must be a JSON array")?;
    if items.len() > 1 {
        return Err("only one form_filling authorization detail per request");
    }
    let Some(item) = items.first() else { return Ok(None) };
    let object = item.as_object().ok_or("each authorization detail must be an object")?;
    match object.get("type").and_then(Value::as_str) {
        Some(FORM_FILLING) => {}
        Some(_) => return Err("the authorization detail type is not supported (form_filling is)"),
        None => return Err("an authorization detail needs a type"),
    }
    let form_name = optional_text(object, "form_name", 200)?
        .ok_or("a form_filling detail needs a form_name")?;
    let fields_value = object
        .get("fields")
        .and_then(Value::as_array)
        .ok_or("a form_filling detail needs fields")?;
    let mut fields: Vec<FormField> = Vec::new();
    for field in fields_value {
        let parsed = match field {
            Value::String(name) => FormField { name: name.clone(), essential: false },
            Value::Object(_) => serde_json::from_value(field.clone())
                .map_err(|_| "a field is a claim name or {\"name\", \"essential\"}")?,
            _ => return Err("a field is a claim name or {\"name\", \"essential\"}"),
        };
        let personal = claims::scope_of_claim(&parsed.name).is_some_and(claims::is_personal_data);
        if !personal {
            return Err("a field must be an e-ME claim civpass can release (see claims_supported)");
        }
        // Documents go only to UserInfo, through their scope: a form's fields reach the ID
        // token, and an anonymous filling would hand the same document (digest, upload time)
        // to the service each time, linking its fillings.
        if parsed.name == "address_proof" {
            return Err("address_proof is not a form field: ask for the address_proof scope");
        }
        if !fields.iter().any(|f| f.name == parsed.name) {
            fields.push(parsed);
        }
    }
    if fields.is_empty() || fields.len() > 40 {
        return Err("a form_filling detail needs 1 to 40 fields");
    }
    let anonymous = match object.get("anonymous") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("anonymous must be true or false"),
    };
    Ok(Some(FormRequest {
        form_name,
        form_number: optional_text(object, "form_number", 50)?,
        description: optional_text(object, "description", 500)?,
        purpose: optional_text(object, "purpose", 300)?,
        fields,
        anonymous,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_form_names_known_fields_and_nothing_else() {
        let form = parse(r#"[{"type":"form_filling","form_name":"Parking Permit","form_number":"TD 123","fields":["given_name",{"name":"address","essential":true},"given_name"],"anonymous":true}]"#)
            .unwrap()
            .unwrap();
        assert_eq!(form.field_names(), ["given_name", "address"]);
        assert!(form.fields[1].essential && form.anonymous);
        let granted = form.granted(&["address"]);
        assert_eq!(granted[0]["type"], "form_filling");
        assert_eq!(granted[0]["fields"].as_array().unwrap().len(), 1);
        assert_eq!(parse("[]"), Ok(None));
        for bad in [
            "{}",
            "[1]",
            r#"[{"form_name":"x","fields":["email"]}]"#,
            r#"[{"type":"payment","form_name":"x","fields":["email"]}]"#,
            r#"[{"type":"form_filling","fields":["email"]}]"#,
            r#"[{"type":"form_filling","form_name":"x","fields":[]}]"#,
            r#"[{"type":"form_filling","form_name":"x","fields":["sub"]}]"#,
            r#"[{"type":"form_filling","form_name":"x","fields":["nickname"]}]"#,
            r#"[{"type":"form_filling","form_name":"x","fields":["email"],"anonymous":"yes"}]"#,
            r#"[{"type":"form_filling","form_name":"x","fields":["address_proof"],"anonymous":true}]"#,
            r#"[{"type":"form_filling","form_name":"x","fields":["email"]},{"type":"form_filling","form_name":"y","fields":["email"]}]"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parsing_any_text_never_panics(text in "\\PC{0,300}") {
            let _ = parse(&text);
        }

        #[test]
        fn parsing_shaped_details_never_panics(name in "\\PC{0,30}", field in "[a-z_#-]{0,20}", anonymous in "(true|false|1|null|\"x\")") {
            let text = format!(r#"[{{"type":"form_filling","form_name":{},"fields":[{}],"anonymous":{anonymous}}}]"#, serde_json::to_string(&name).unwrap(), serde_json::to_string(&field).unwrap());
            let _ = parse(&text);
        }
    }
}
