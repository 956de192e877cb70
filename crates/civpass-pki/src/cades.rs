//! Detached CMS signatures (RFC 5652 `SignedData` without its content) to the CAdES baseline
//! B-B profile (ETSI EN 319 122-1 section 6.3): signed attributes content type, message digest,
//! signing time and signing-certificate-v2 (RFC 5035), one signer identified by issuer and
//! serial number, ECDSA P-256 with SHA-256, and the signer's chain in `certificates`.
//!
//! The two halves are apart because the key is not here: `SignedAttributes::to_be_signed`
//! is what the key holder signs (after the citizen approved), and `detached_signature`
//! assembles the result around that signature.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

use crate::ca::{UnixTime, time};
use crate::{PkiResult, invalid};

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// RFC 5035 `IssuerSerial`.
#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

/// RFC 5035 `ESSCertIDv2`; `hashAlgorithm` is left out because it is SHA-256, its DEFAULT
/// (DER leaves out a value equal to its default).
#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: Option<IssuerSerial>,
}

/// RFC 5035 `SigningCertificateV2`, without policies.
#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

/// The signed attributes of one signature, before it is made.
#[derive(Clone, Debug)]
pub struct SignedAttributes {
    set: SetOfVec<Attribute>,
    signer: Certificate,
}

impl SignedAttributes {
    /// The B-B attributes for content whose SHA-256 digest is `content_digest`, signed by
    /// `signer` at `signing_time` (for PAdES, which puts the time in the PDF instead, `None`).
    ///
    /// Errors: a digest that is not 32 bytes; a time out of range.
    pub fn new(
        content_digest: &[u8],
        signer: &Certificate,
        signing_time: Option<UnixTime>,
    ) -> PkiResult<SignedAttributes> {
        if content_digest.len() != 32 {
            return Err(invalid("a SHA-256 digest is 32 bytes"));
        }
        let attribute = |oid, value: Any| -> PkiResult<Attribute> {
            Ok(Attribute { oid, values: SetOfVec::try_from(vec![value])? })
        };
        let tbs = &signer.tbs_certificate;
        let essential = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                cert_hash: OctetString::new(Sha256::digest(signer.to_der()?).to_vec())?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(tbs.issuer.clone())],
                    serial_number: tbs.serial_number.clone(),
                }),
            }],
        };
        let mut attributes = vec![
            attribute(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA)?)?,
            attribute(ID_MESSAGE_DIGEST, Any::encode_from(&OctetString::new(content_digest)?)?)?,
            attribute(ID_SIGNING_CERTIFICATE_V2, Any::encode_from(&essential)?)?,
        ];
        if let Some(at) = signing_time {
            attributes.push(attribute(ID_SIGNING_TIME, Any::encode_from(&time(at)?)?)?);
        }
        Ok(SignedAttributes { set: SetOfVec::try_from(attributes)?, signer: signer.clone() })
    }

    /// What the signer's key signs: the DER of the attributes as a SET OF (RFC 5652 section
    /// 5.4, not the `[0] IMPLICIT` form they take in the `SignerInfo`).
    pub fn to_be_signed(&self) -> PkiResult<Vec<u8>> {
        Ok(self.set.to_der()?)
    }
}

/// The detached `ContentInfo` (DER) around `signature`, an ECDSA P-256 signature (DER) over
/// `attributes.to_be_signed()`, with the signer's certificate and `chain` (issuing CA up to,
/// not necessarily including, the root).
///
/// Errors: the parts cannot be encoded.
pub fn detached_signature(
    attributes: SignedAttributes,
    signature: &[u8],
    chain: &[Certificate],
) -> PkiResult<Vec<u8>> {
    let sha256 = AlgorithmIdentifierOwned { oid: ID_SHA256, parameters: None };
    let signer = attributes.signer;
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: signer.tbs_certificate.issuer.clone(),
            serial_number: signer.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(attributes.set),
        signature_algorithm: AlgorithmIdentifierOwned { oid: ECDSA_WITH_SHA256, parameters: None },
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let mut certificates = vec![cms::cert::CertificateChoices::Certificate(signer)];
    certificates.extend(chain.iter().cloned().map(cms::cert::CertificateChoices::Certificate));
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256])?,
        encap_content_info: EncapsulatedContentInfo { econtent_type: ID_DATA, econtent: None },
        certificates: Some(CertificateSet(SetOfVec::try_from(certificates)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
    };
    let content_info =
        ContentInfo { content_type: ID_SIGNED_DATA, content: Any::encode_from(&signed_data)? };
    Ok(content_info.to_der()?)
}

/// The signed data inside a detached signature, for reading it back.
///
/// Errors: not a `ContentInfo` holding `SignedData`.
pub fn signed_data(der: &[u8]) -> PkiResult<SignedData> {
    let content_info = ContentInfo::from_der(der)?;
    if content_info.content_type != ID_SIGNED_DATA {
        return Err(invalid("not CMS signed data"));
    }
    Ok(content_info.content.decode_as::<SignedData>()?)
}

/// What `verify_detached` found. Each check is reported, not stopped at, so that a verifier
/// can say all that is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The signer's certificate subject, one line (`C=HK,CN=…,serialNumber=…`).
    pub signer: String,
    /// The signing time from the signed attributes, if any (Unix seconds).
    pub signing_time: Option<UnixTime>,
    /// The content's SHA-256 digest equals the signed `messageDigest`.
    pub content_matches: bool,
    /// The signature over the signed attributes verifies with the signer's key.
    pub signature_valid: bool,
    /// Subjects from the signer up to the trust anchor, as far as the chain reached.
    pub chain: Vec<String>,
    /// The chain reaches one of the anchors, every certificate signed by the next and valid at
    /// the signing time (or the time given), every issuer a CA.
    pub trusted: bool,
    /// What failed, in words.
    pub problems: Vec<String>,
}

impl Report {
    /// All checks passed.
    pub fn valid(&self) -> bool {
        self.content_matches && self.signature_valid && self.trusted
    }
}

/// Verifies a detached CMS signature (DER) over content whose SHA-256 digest is
/// `content_digest`, against `anchors` (root certificates), at the signing time, or at `at`
/// if the signature has none.
///
/// Errors: the signature is not CMS signed data with one ECDSA P-256/SHA-256 signer whose
/// certificate it carries (nothing to report on).
pub fn verify_detached(
    signature: &[u8],
    content_digest: &[u8],
    anchors: &[Certificate],
    at: UnixTime,
) -> PkiResult<Report> {
    let data = signed_data(signature)?;
    let [signer_info] = data.signer_infos.0.as_slice() else {
        return Err(invalid("exactly one signer is supported"));
    };
    if signer_info.digest_alg.oid != ID_SHA256
        || signer_info.signature_algorithm.oid != ECDSA_WITH_SHA256
    {
        return Err(invalid("only ECDSA P-256 with SHA-256 is supported"));
    }
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &signer_info.sid else {
        return Err(invalid("the signer must be named by issuer and serial number"));
    };
    let certificates: Vec<Certificate> = data
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let attrs = signer_info
        .signed_attrs
        .as_ref()
        .ok_or_else(|| invalid("a CAdES signature has signed attributes"))?;
    let attrs_der = attrs.to_der()?;
    // Of the certificates naming the signer's issuer and serial, the one whose key verifies
    // the signature: a stray look-alike put first cannot hide the real one.
    let candidates: Vec<&Certificate> = certificates
        .iter()
        .filter(|c| {
            c.tbs_certificate.issuer == sid.issuer
                && c.tbs_certificate.serial_number == sid.serial_number
        })
        .collect();
    let signer = candidates
        .iter()
        .find(|c| verify_ecdsa(c, &attrs_der, signer_info.signature.as_bytes()))
        .or(candidates.first())
        .copied()
        .ok_or_else(|| invalid("the signer's certificate is not in the signature"))?
        .clone();
    let mut problems = Vec::new();
    // Each of these attributes once, with one value (RFC 5652 section 11, EN 319 122-1).
    for oid in [ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNING_CERTIFICATE_V2] {
        let found: Vec<_> = attrs.iter().filter(|a| a.oid == oid).collect();
        if found.len() != 1 || found[0].values.len() != 1 {
            problems.push(format!("the signed attribute {oid} must appear once, with one value"));
        }
    }
    let value_of = |oid: ObjectIdentifier| {
        attrs.iter().find(|a| a.oid == oid).and_then(|a| a.values.iter().next().cloned())
    };
    // The content type is signed, and is the encapsulated one (RFC 5652 section 5.3); the
    // digest algorithm is among those the signed data declares.
    let content_type =
        value_of(ID_CONTENT_TYPE).and_then(|v| v.decode_as::<ObjectIdentifier>().ok());
    if content_type != Some(ID_DATA) || data.encap_content_info.econtent_type != ID_DATA {
        problems.push("the content type is not id-data in both places".into());
    }
    if !data.digest_algorithms.iter().any(|a| a.oid == ID_SHA256) {
        problems.push("the signed data does not declare SHA-256".into());
    }
    let structural = problems.is_empty();
    let signed_digest = value_of(ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .map(|o| o.as_bytes().to_vec());
    let content_matches = signed_digest.as_deref() == Some(content_digest);
    if !content_matches {
        problems
            .push("the content does not match the signature (it changed, or is another)".into());
    }
    let signing_time = value_of(ID_SIGNING_TIME)
        .and_then(|v| v.to_der().ok())
        .and_then(|der| x509_cert::time::Time::from_der(&der).ok())
        .and_then(|t| i64::try_from(t.to_unix_duration().as_secs()).ok());
    let essential = value_of(ID_SIGNING_CERTIFICATE_V2)
        .and_then(|v| v.decode_as::<SigningCertificateV2>().ok())
        .is_some_and(|s| {
            s.certs.first().is_some_and(|id| {
                signer
                    .to_der()
                    .is_ok_and(|der| id.cert_hash.as_bytes() == Sha256::digest(der).as_slice())
            })
        });
    if !essential {
        problems.push(
            "the signing-certificate-v2 attribute does not name the signer's certificate".into(),
        );
    }
    let signature_valid =
        verify_ecdsa(&signer, &attrs_der, signer_info.signature.as_bytes()) && structural;
    if !signature_valid {
        problems.push("the signature does not verify with the signer's key".into());
    }
    let when = signing_time.unwrap_or(at);
    let (chain, trusted) = chain_to_anchor(&signer, &certificates, anchors, when, &mut problems);
    Ok(Report {
        signer: signer.tbs_certificate.subject.to_string(),
        signing_time,
        content_matches,
        signature_valid: signature_valid && essential,
        chain,
        trusted,
        problems,
    })
}

/// Whether `signature` (DER ECDSA) over `message` verifies with `certificate`'s P-256 key.
fn verify_ecdsa(certificate: &Certificate, message: &[u8], signature: &[u8]) -> bool {
    use der::referenced::OwnedToRef;
    use p256::ecdsa::signature::Verifier;
    let Ok(key) = p256::ecdsa::VerifyingKey::try_from(
        certificate.tbs_certificate.subject_public_key_info.owned_to_ref(),
    ) else {
        return false;
    };
    let Ok(signature) = p256::ecdsa::DerSignature::try_from(signature) else { return false };
    key.verify(message, &signature).is_ok()
}

/// Walks from `leaf` through `pool` to one of `anchors` by issuer name, checking each link's
/// signature, validity at `at` and that each issuer is a CA; at most 8 links.
fn chain_to_anchor(
    leaf: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
    at: UnixTime,
    problems: &mut Vec<String>,
) -> (Vec<String>, bool) {
    let mut chain = vec![leaf.tbs_certificate.subject.to_string()];
    let mut current = leaf.clone();
    for _ in 0..8 {
        let tbs = &current.tbs_certificate;
        let validity = &tbs.validity;
        let from = validity.not_before.to_unix_duration().as_secs();
        let until = validity.not_after.to_unix_duration().as_secs();
        let at_secs = u64::try_from(at).unwrap_or(0);
        if at_secs < from || at_secs > until {
            problems.push(format!("{} was not valid at the signing time", tbs.subject));
            return (chain, false);
        }
        let Ok(tbs_der) = tbs.to_der() else { return (chain, false) };
        let Some(signature) = current.signature.as_bytes() else { return (chain, false) };
        let named: Vec<&Certificate> = anchors
            .iter()
            .chain(pool.iter())
            .filter(|c| c.tbs_certificate.subject == tbs.issuer && *c != &current)
            .collect();
        if named.is_empty() {
            if anchors.contains(&current) {
                return (chain, true);
            }
            problems.push(format!("no certificate of the issuer {} is trusted here", tbs.issuer));
            return (chain, false);
        }
        // Of the certificates bearing the issuer's name, one that really signed this one (an
        // anchor first): a look-alike put in the signature cannot break a genuine chain.
        let issuer = named.iter().copied().find(|c| {
            current.signature_algorithm.oid == ECDSA_WITH_SHA256
                && verify_ecdsa(c, &tbs_der, signature)
        });
        let Some(issuer) = issuer else {
            problems.push(format!("{} is not signed by {}", tbs.subject, tbs.issuer));
            return (chain, false);
        };
        if !is_ca(issuer) {
            problems.push(format!("{} is not a certificate authority", tbs.issuer));
            return (chain, false);
        }
        chain.push(issuer.tbs_certificate.subject.to_string());
        if anchors.contains(issuer) {
            let from = issuer.tbs_certificate.validity.not_before.to_unix_duration().as_secs();
            let until = issuer.tbs_certificate.validity.not_after.to_unix_duration().as_secs();
            if at_secs < from || at_secs > until {
                problems.push("the root was not valid at the signing time".to_owned());
                return (chain, false);
            }
            return (chain, true);
        }
        current = issuer.clone();
    }
    problems.push("the chain is longer than 8 certificates".into());
    (chain, false)
}

fn is_ca(certificate: &Certificate) -> bool {
    const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
    certificate.tbs_certificate.extensions.iter().flatten().any(|e| {
        e.extn_id == BASIC_CONSTRAINTS
            && x509_cert::ext::pkix::BasicConstraints::from_der(e.extn_value.as_bytes())
                .is_ok_and(|b| b.ca)
    })
}
