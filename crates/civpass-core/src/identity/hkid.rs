//! Hong Kong Identity Card numbers: parsing and the check digit.
//!
//! The check digit is a weighted sum modulo 11 over the prefix letters and the six digits.
//! A one-letter prefix counts as if preceded by a space, which has the value 36; letters are
//! A = 10 … Z = 35; weights run from 9 (first prefix position) down to 2 (last digit); the
//! check value is `(11 - sum % 11) % 11`, written `A` when it is 10.

use std::fmt;
use std::str::FromStr;

/// A syntactically valid HKID with a correct check digit, held in canonical form
/// (`A1234563`: prefix, six digits, check character, no brackets).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HkId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HkIdError {
    #[error("an HKID number is one or two letters, six digits and a check digit, e.g. A123456(3)")]
    Malformed,
    #[error("the check digit does not match the rest of the HKID number")]
    WrongCheckDigit,
}

impl HkId {
    /// Parses `A123456(3)`, `A1234563`, `AB987654(0)` and lower-case or spaced variants.
    pub fn parse(input: &str) -> Result<HkId, HkIdError> {
        let compact: String =
            input.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
        let body = match compact.strip_suffix(')') {
            Some(rest) => {
                let (head, check) = rest.rsplit_once('(').ok_or(HkIdError::Malformed)?;
                if check.chars().count() != 1 {
                    return Err(HkIdError::Malformed);
                }
                format!("{head}{check}")
            }
            None => {
                if compact.contains('(') {
                    return Err(HkIdError::Malformed);
                }
                compact
            }
        };
        let bytes = body.as_bytes();
        let n_letters = bytes.iter().take_while(|b| b.is_ascii_uppercase()).count();
        if !(1..=2).contains(&n_letters) || bytes.len() != n_letters + 7 {
            return Err(HkIdError::Malformed);
        }
        let digits = &bytes[n_letters..n_letters + 6];
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(HkIdError::Malformed);
        }
        let check = bytes[n_letters + 6];
        if !(check.is_ascii_digit() || check == b'A') {
            return Err(HkIdError::Malformed);
        }
        let expected = check_character(&body[..n_letters], &body[n_letters..n_letters + 6])
            .ok_or(HkIdError::Malformed)?;
        if expected as u8 != check {
            return Err(HkIdError::WrongCheckDigit);
        }
        Ok(HkId(body))
    }

    /// Builds a valid number from a prefix and six digits by computing the check character.
    pub fn from_parts(prefix: &str, digits: &str) -> Result<HkId, HkIdError> {
        let check = check_character(prefix, digits).ok_or(HkIdError::Malformed)?;
        HkId::parse(&format!("{prefix}{digits}{check}"))
    }

    /// Canonical form without brackets, used as the lookup key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The check character for a one- or two-letter prefix and six digits, or `None` if they are
/// not of that form.
pub fn check_character(prefix: &str, digits: &str) -> Option<char> {
    let prefix = prefix.as_bytes();
    let digits = digits.as_bytes();
    if !(1..=2).contains(&prefix.len())
        || !prefix.iter().all(u8::is_ascii_uppercase)
        || digits.len() != 6
        || !digits.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let mut values = Vec::with_capacity(8);
    if prefix.len() == 1 {
        values.push(36);
    }
    values.extend(prefix.iter().map(|b| u32::from(b - b'A') + 10));
    values.extend(digits.iter().map(|b| u32::from(b - b'0')));
    let sum: u32 = values.iter().zip((2..=9).rev()).map(|(v, w)| v * w).sum();
    match (11 - sum % 11) % 11 {
        10 => Some('A'),
        d => char::from_digit(d, 10),
    }
}

/// Shown as people write it: `A123456(3)`.
impl fmt::Display for HkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (head, check) = self.0.split_at(self.0.len() - 1);
        write!(f, "{head}({check})")
    }
}

/// Redacted: an HKID is personal data and must not reach logs through `{:?}`.
impl fmt::Debug for HkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HkId(<redacted>)")
    }
}

impl TryFrom<String> for HkId {
    type Error = HkIdError;
    fn try_from(s: String) -> Result<HkId, HkIdError> {
        HkId::parse(&s)
    }
}

impl From<HkId> for String {
    fn from(id: HkId) -> String {
        id.to_string()
    }
}

impl FromStr for HkId {
    type Err = HkIdError;
    fn from_str(s: &str) -> Result<HkId, HkIdError> {
        HkId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[track_caller]
    fn check(input: &str, expect: Result<&str, HkIdError>) {
        assert_eq!(
            HkId::parse(input).map(|id| id.to_string()),
            expect.map(str::to_owned),
            "{input}"
        );
    }

    #[test]
    fn accepts_known_valid_numbers() {
        check("A123456(3)", Ok("A123456(3)"));
        check("A1234563", Ok("A123456(3)"));
        check("a123456(3)", Ok("A123456(3)"));
        check(" A 123456 ( 3 ) ", Ok("A123456(3)"));
        check("C668668(9)", Ok("C668668(9)"));
        check("AB987654(3)", Ok("AB987654(3)"));
        check("G123456(A)", Ok("G123456(A)"));
        check("Y5645121", Ok("Y564512(1)"));
    }

    #[test]
    fn rejects_wrong_check_digits() {
        check("A123456(4)", Err(HkIdError::WrongCheckDigit));
        check("A1234560", Err(HkIdError::WrongCheckDigit));
        check("AB987654(0)", Err(HkIdError::WrongCheckDigit));
        check("G123456(0)", Err(HkIdError::WrongCheckDigit));
    }

    #[test]
    fn rejects_malformed_numbers() {
        for input in [
            "",
            "123456(3)",
            "ABC123456(3)",
            "A12345(3)",
            "A1234567(3)",
            "A123456(B)",
            "A123456(33)",
            "A123456(3",
            "A12345X(3)",
            "Ａ123456(3)",
            "A123456()",
        ] {
            assert_eq!(HkId::parse(input), Err(HkIdError::Malformed), "{input}");
        }
    }

    #[test]
    fn debug_output_hides_the_number() {
        let id = HkId::parse("A123456(3)").unwrap();
        assert!(!format!("{id:?}").contains("123456"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in "\\PC{0,16}") {
            let _ = HkId::parse(&input);
        }

        #[test]
        fn every_computed_check_character_parses(prefix in "[A-Z]{1,2}", digits in "[0-9]{6}") {
            let id = HkId::from_parts(&prefix, &digits).unwrap();
            prop_assert_eq!(HkId::parse(&id.to_string()), Ok(id.clone()));
            prop_assert_eq!(HkId::parse(id.as_str()), Ok(id));
        }

        /// A wallet names the number in its enrolment proof as the device API normalises it,
        /// without knowing HKIDs; the provider verifies with the parsed form: they must agree
        /// however the citizen typed it.
        #[test]
        fn the_signed_form_of_a_number_is_its_parsed_form(prefix in "[A-Z]{1,2}", digits in "[0-9]{6}", lower in any::<bool>(), brackets in any::<bool>(), spaces in " {0,2}") {
            let id = HkId::from_parts(&prefix, &digits).unwrap();
            let body = id.as_str();
            let (head, check) = body.split_at(body.len() - 1);
            let typed = if brackets { format!("{head}{spaces}({check})") } else { format!("{spaces}{body}") };
            let typed = if lower { typed.to_ascii_lowercase() } else { typed };
            let parsed = HkId::parse(&typed).unwrap();
            prop_assert_eq!(civpass_api::signing::id_number_for_signing(&typed), parsed.as_str());
        }

        #[test]
        fn changing_the_check_character_is_caught(prefix in "[A-Z]{1,2}", digits in "[0-9]{6}", other in "[0-9A]") {
            let good = check_character(&prefix, &digits).unwrap();
            prop_assume!(!other.starts_with(good));
            prop_assert_eq!(HkId::parse(&format!("{prefix}{digits}{other}")), Err(HkIdError::WrongCheckDigit));
        }
    }
}
