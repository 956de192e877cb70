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
