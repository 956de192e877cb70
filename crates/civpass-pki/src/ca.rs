//! Certificate authorities: a self-signed root, an issuing CA under it, and the signing
//! certificates the issuing CA gives citizens (RFC 5280 profiles; docs/PKI.md has the
//! policies).

use std::time::Duration;

use der::asn1::{GeneralizedTime, PrintableStringRef, SetOfVec, UtcTime, Utf8StringRef};
use der::referenced::OwnedToRef;
use der::{Any, Decode, Encode};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use spki::{EncodePublicKey, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::{PkiError, PkiResult, invalid};

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
const OID_COUNTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const OID_ORGANISATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");

/// The certificate policy a sandbox's citizen signing certificates name (docs/PKI.md): under
/// IANA's enterprise number for documentation (RFC 5612), so that a sandbox squats no one's
/// arc; an operator names its own registered policy.
pub const SANDBOX_SIGNING_POLICY: &str = "1.3.6.1.4.1.32473.21.1";

/// Seconds since the Unix epoch.
pub type UnixTime = i64;

/// A certificate authority: its P-256 key and its certificate.
pub struct Authority {
    key: SigningKey,
    pub certificate: Certificate,
}

/// Who a citizen signing certificate names: the English name as on the identity card, and a
/// stable pseudonym as `serialNumber` (never the identity card number, RFC 5280 section
/// 4.1.2.6, ETSI EN 319 412-1 section 5.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerSubject {
    pub common_name: String,
    /// Printable characters only (X.520 `serialNumber` is a PrintableString).
    pub pseudonym: String,
}

impl Authority {
    /// A new self-signed root CA, valid `years` from `not_before`.
    ///
    /// Errors: a name that cannot be encoded; a time out of range.
    pub fn new_root(
        common_name: &str,
        organisation: &str,
        not_before: UnixTime,
        years: u32,
    ) -> PkiResult<Authority> {
        let key = SigningKey::random(&mut rand_core::OsRng);
        let subject = ca_name(common_name, organisation)?;
        let certificate = build(
            Profile::Root,
            subject,
            &spki_of(&key)?,
            &key,
            validity(not_before, years)?,
            &[],
        )?;
        Ok(Authority { key, certificate })
    }

    /// A new issuing CA under this one (path length 0: it issues only end-entity
    /// certificates).
    pub fn new_issuing(
        &self,
        common_name: &str,
        organisation: &str,
        not_before: UnixTime,
        years: u32,
    ) -> PkiResult<Authority> {
        let key = SigningKey::random(&mut rand_core::OsRng);
        let profile = Profile::SubCA {
            issuer: self.certificate.tbs_certificate.subject.clone(),
            path_len_constraint: Some(0),
        };
        let certificate = build(
            profile,
            ca_name(common_name, organisation)?,
            &spki_of(&key)?,
            &self.key,
            validity(not_before, years)?,
            &[],
        )?;
        Ok(Authority { key, certificate })
    }

    /// An authority from its stored key (PKCS#8 DER) and certificate (DER).
    ///
    /// Errors: either does not parse, or the key is not the certificate's.
    pub fn from_der(pkcs8: &[u8], certificate: &[u8]) -> PkiResult<Authority> {
        let key = SigningKey::from_pkcs8_der(pkcs8).map_err(|_| invalid("not a P-256 key"))?;
        let certificate = Certificate::from_der(certificate)?;
        if spki_of(&key)? != certificate.tbs_certificate.subject_public_key_info {
            return Err(invalid("the key is not the certificate's"));
        }
        Ok(Authority { key, certificate })
    }

    /// A PKCS#8 private key (DER) as PEM (`PRIVATE KEY`, RFC 7468), for cold storage.
    pub fn key_pem(pkcs8: &[u8]) -> PkiResult<String> {
        Ok(der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, pkcs8)
            .map_err(der::Error::from)?)
    }

    /// The private key as PKCS#8 DER, to be sealed by whoever stores it.
    pub fn key_pkcs8(&self) -> PkiResult<Vec<u8>> {
        let document = self.key.to_pkcs8_der().map_err(|_| invalid("the key cannot be encoded"))?;
        Ok(document.as_bytes().to_vec())
    }

    /// Issues a citizen's signing certificate for `public_key` (SubjectPublicKeyInfo DER):
    /// key usage non-repudiation (content commitment) only, no extended key usage, the
    /// citizen signing policy, a random positive 127-bit serial number.
    ///
    /// Errors: a name that cannot be encoded (the pseudonym must be printable), a key that is
    /// not P-256, a time out of range.
    pub fn issue_signing_certificate(
        &self,
        subject: &SignerSubject,
        public_key: &[u8],
        not_before: UnixTime,
        not_after: UnixTime,
        policy: &str,
    ) -> PkiResult<Certificate> {
        let spki = SubjectPublicKeyInfoOwned::from_der(public_key)?;
        p256::PublicKey::try_from(spki.owned_to_ref())
            .map_err(|_| invalid("a citizen's key must be ECDSA P-256"))?;
        let issuer = &self.certificate.tbs_certificate;
        let issuer_key_id = issuer
            .extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == SUBJECT_KEY_IDENTIFIER)
            .map(|e| SubjectKeyIdentifier::from_der(e.extn_value.as_bytes()))
            .transpose()?
            .ok_or_else(|| invalid("the issuing CA's certificate has no key identifier"))?;
        let policy = parse_oid(policy)?;
        let extensions: Vec<Extension> = vec![
            Extension::BasicConstraints(BasicConstraints { ca: false, path_len_constraint: None }),
            Extension::KeyUsage(KeyUsage(KeyUsages::NonRepudiation.into())),
            Extension::AuthorityKeyId(AuthorityKeyIdentifier {
                key_identifier: Some(issuer_key_id.0),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            }),
            Extension::SubjectKeyId(
                SubjectKeyIdentifier::try_from(spki.owned_to_ref())
                    .map_err(|e| PkiError::Builder(format!("subject key identifier: {e}")))?,
            ),
            Extension::Policies(CertificatePolicies(vec![PolicyInformation {
                policy_identifier: policy,
                policy_qualifiers: None,
            }])),
        ];
        build(
            Profile::Manual { issuer: Some(issuer.subject.clone()) },
            signer_name(subject)?,
            &spki,
            &self.key,
            Validity { not_before: time(not_before)?, not_after: time(not_after)? },
            &extensions,
        )
    }
}

const SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");

/// The extensions `issue_signing_certificate` adds by hand (`Profile::Manual` adds none).
enum Extension {
    BasicConstraints(BasicConstraints),
    KeyUsage(KeyUsage),
    AuthorityKeyId(AuthorityKeyIdentifier),
    SubjectKeyId(SubjectKeyIdentifier),
    Policies(CertificatePolicies),
}

fn build(
    profile: Profile,
    subject: Name,
    spki: &SubjectPublicKeyInfoOwned,
    signer: &SigningKey,
    validity: Validity,
    extensions: &[Extension],
) -> PkiResult<Certificate> {
    let builder_error = |e: x509_cert::builder::Error| PkiError::Builder(e.to_string());
    let mut builder =
        CertificateBuilder::new(profile, random_serial()?, validity, subject, spki.clone(), signer)
            .map_err(builder_error)?;
    for extension in extensions {
        match extension {
            Extension::BasicConstraints(e) => builder.add_extension(e),
            Extension::KeyUsage(e) => builder.add_extension(e),
            Extension::AuthorityKeyId(e) => builder.add_extension(e),
            Extension::SubjectKeyId(e) => builder.add_extension(e),
            Extension::Policies(e) => builder.add_extension(e),
        }
        .map_err(builder_error)?;
    }
    builder.build::<DerSignature>().map_err(builder_error)
}

fn spki_of(key: &SigningKey) -> PkiResult<SubjectPublicKeyInfoOwned> {
    let der = key
        .verifying_key()
        .to_public_key_der()
        .map_err(|_| invalid("the public key cannot be encoded"))?;
    Ok(SubjectPublicKeyInfoOwned::from_der(der.as_bytes())?)
}

/// A random positive serial number of 16 bytes (at most 20, RFC 5280 section 4.1.2.2), with
/// no leading zero byte.
fn random_serial() -> PkiResult<SerialNumber> {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::new(&bytes)?)
}

fn validity(not_before: UnixTime, years: u32) -> PkiResult<Validity> {
    let not_after = not_before + i64::from(years) * 365 * 86_400;
    Ok(Validity { not_before: time(not_before)?, not_after: time(not_after)? })
}

/// UTCTime through 2049, GeneralizedTime after (RFC 5280 section 4.1.2.5).
pub(crate) fn time(at: UnixTime) -> PkiResult<Time> {
    let seconds = u64::try_from(at).map_err(|_| invalid("a time before 1970"))?;
    let duration = Duration::from_secs(seconds);
    const YEAR_2050: u64 = 2_524_608_000;
    Ok(if seconds < YEAR_2050 {
        Time::UtcTime(UtcTime::from_unix_duration(duration)?)
    } else {
        Time::GeneralTime(GeneralizedTime::from_unix_duration(duration)?)
    })
}

fn ca_name(common_name: &str, organisation: &str) -> PkiResult<Name> {
    name(&[
        (OID_COUNTRY, Text::Printable("HK")),
        (OID_ORGANISATION, Text::Utf8(organisation)),
        (OID_CN, Text::Utf8(common_name)),
    ])
}

fn signer_name(subject: &SignerSubject) -> PkiResult<Name> {
    name(&[
        (OID_COUNTRY, Text::Printable("HK")),
        (OID_CN, Text::Utf8(&subject.common_name)),
        (OID_SERIAL_NUMBER, Text::Printable(&subject.pseudonym)),
    ])
}

enum Text<'a> {
    Utf8(&'a str),
    Printable(&'a str),
}

/// A name built attribute by attribute rather than parsed from an RFC 4514 string, so that a
/// comma or a plus sign in a person's name is text, never syntax.
fn name(parts: &[(ObjectIdentifier, Text<'_>)]) -> PkiResult<Name> {
    let mut rdns = Vec::new();
    for (oid, text) in parts {
        let value = match text {
            Text::Utf8(t) => {
                if t.is_empty() || t.chars().count() > 64 {
                    return Err(invalid("a name part is 1 to 64 characters"));
                }
                Any::encode_from(&Utf8StringRef::new(t)?)?
            }
            Text::Printable(t) => Any::encode_from(
                &PrintableStringRef::new(t).map_err(|_| invalid("not a printable string"))?,
            )?,
        };
        let atv = AttributeTypeAndValue { oid: *oid, value };
        rdns.push(RelativeDistinguishedName(SetOfVec::try_from(vec![atv])?));
    }
    Ok(RdnSequence(rdns))
}

/// An object identifier in dotted form; each arc must fit 32 bits (what the ASN.1 crate reads,
/// and what it would otherwise fail on without an error).
///
/// Errors: not dotted decimal, or an arc over 32 bits.
pub fn parse_oid(text: &str) -> PkiResult<ObjectIdentifier> {
    let arcs_fit = !text.is_empty()
        && text
            .split('.')
            .all(|arc| !arc.is_empty() && arc.len() <= 10 && arc.parse::<u32>().is_ok());
    if !arcs_fit {
        return Err(invalid(format!("{text:?} is not an object identifier with 32-bit arcs")));
    }
    ObjectIdentifier::new(text)
        .map_err(|_| invalid(format!("{text:?} is not an object identifier")))
}

/// The subject of a certificate as one line (`CN=…, serialNumber=…`), for people to read.
pub fn describe_name(name: &Name) -> String {
    name.to_string()
}

/// A certificate as PEM.
pub fn to_pem(certificate: &Certificate) -> PkiResult<String> {
    use der::EncodePem;
    Ok(certificate.to_pem(der::pem::LineEnding::LF)?)
}

/// A certificate from PEM.
pub fn from_pem(pem: &str) -> PkiResult<Certificate> {
    use der::DecodePem;
    Ok(Certificate::from_pem(pem.trim())?)
}

/// A certificate from DER.
pub fn from_der(der: &[u8]) -> PkiResult<Certificate> {
    Ok(Certificate::from_der(der)?)
}

/// A certificate as DER.
pub fn to_der(certificate: &Certificate) -> PkiResult<Vec<u8>> {
    Ok(certificate.to_der()?)
}

/// A new software signing key: its PKCS#8 DER (to be sealed) and SubjectPublicKeyInfo DER.
pub fn new_software_key() -> PkiResult<(Vec<u8>, Vec<u8>)> {
    let key = SigningKey::random(&mut rand_core::OsRng);
    let pkcs8 = key.to_pkcs8_der().map_err(|_| invalid("the key cannot be encoded"))?;
    let spki = key
        .verifying_key()
        .to_public_key_der()
        .map_err(|_| invalid("the public key cannot be encoded"))?;
    Ok((pkcs8.as_bytes().to_vec(), spki.as_bytes().to_vec()))
}

/// ECDSA P-256 with SHA-256 over `message` with a software key: the DER signature.
pub fn sign_with_software_key(pkcs8: &[u8], message: &[u8]) -> PkiResult<Vec<u8>> {
    use p256::ecdsa::signature::Signer;
    let key = SigningKey::from_pkcs8_der(pkcs8).map_err(|_| invalid("not a P-256 key"))?;
    let signature: DerSignature = key.sign(message);
    Ok(signature.as_bytes().to_vec())
}
