//! A software WebAuthn authenticator for tests in Rust, so that passkey flows run on both
//! databases without a browser. It answers the JSON options the server sends exactly as a
//! browser would pass them on (packed into `PublicKeyCredential` JSON, binary fields base64url):
//! attestation "none", ES256, user presence and verification flags, a signature counter.
//!
//! Written by hand because the WebAuthn test authenticators on crates.io come with USB/NFC
//! transports and their own HTTP stacks; this needs only CBOR (ciborium) and ECDSA (aws-lc-rs).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ciborium::Value;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

/// Authenticator data flags (WebAuthn section 6.1).
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const BACKUP_ELIGIBLE: u8 = 0x08;
const BACKED_UP: u8 = 0x10;
const ATTESTED_CREDENTIAL: u8 = 0x40;

pub struct SoftPasskey {
    /// The origin the "browser" reports in client data.
    pub origin: String,
    pub rp_id: String,
    key: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    credential_id: Vec<u8>,
    pub counter: u32,
    /// Whether the authenticator reports user verification (biometrics, PIN).
    pub user_verified: bool,
    /// The backup flags (BE, BS): a synced passkey has both; BS may change, BE may not.
    pub backup_eligible: bool,
    pub backed_up: bool,
}

impl SoftPasskey {
    /// A new authenticator for pages at `origin` (e.g. `http://localhost:1234`).
    pub fn new(origin: &str) -> SoftPasskey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let rp_id = url::Url::parse(origin).unwrap().host_str().unwrap().to_owned();
        let credential_id = uuid::Uuid::new_v4().as_bytes().to_vec();
        SoftPasskey {
            origin: origin.to_owned(),
            rp_id,
            key,
            pkcs8: pkcs8.as_ref().to_vec(),
            credential_id,
            counter: 0,
            user_verified: true,
            backup_eligible: false,
            backed_up: false,
        }
    }

    /// A copy of this authenticator, key, credential and counter included: what an attacker
    /// who extracted the key would hold.
    pub fn cloned(&self) -> SoftPasskey {
        SoftPasskey {
            origin: self.origin.clone(),
            rp_id: self.rp_id.clone(),
            key: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.pkcs8).unwrap(),
            pkcs8: self.pkcs8.clone(),
            credential_id: self.credential_id.clone(),
            counter: self.counter,
            user_verified: self.user_verified,
            backup_eligible: self.backup_eligible,
            backed_up: self.backed_up,
        }
    }

    fn client_data(&self, kind: &str, options: &Json) -> Vec<u8> {
        let challenge =
            options["publicKey"]["challenge"].as_str().expect("options have a challenge");
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    fn auth_data(&self, flags: u8) -> Vec<u8> {
        let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        let verified = if self.user_verified { USER_VERIFIED } else { 0 };
        let eligible = if self.backup_eligible { BACKUP_ELIGIBLE } else { 0 };
        let backed_up = if self.backed_up { BACKED_UP } else { 0 };
        data.push(flags | USER_PRESENT | verified | eligible | backed_up);
        data.extend_from_slice(&self.counter.to_be_bytes());
        data
    }

    /// Answers `navigator.credentials.create` options: the registration credential as JSON.
    pub fn create(&mut self, options: &Json) -> Json {
        let client_data = self.client_data("webauthn.create", options);
        let point = self.key.public_key().as_ref();
        let cose = Value::Map(vec![
            (Value::Integer(1.into()), Value::Integer(2.into())),
            (Value::Integer(3.into()), Value::Integer((-7).into())),
            (Value::Integer((-1).into()), Value::Integer(1.into())),
            (Value::Integer((-2).into()), Value::Bytes(point[1..33].to_vec())),
            (Value::Integer((-3).into()), Value::Bytes(point[33..65].to_vec())),
        ]);
        let mut auth_data = self.auth_data(ATTESTED_CREDENTIAL);
        auth_data.extend_from_slice(&[0; 16]);
        auth_data.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        ciborium::into_writer(&cose, &mut auth_data).unwrap();
        let attestation = Value::Map(vec![
            (Value::Text("fmt".into()), Value::Text("none".into())),
            (Value::Text("attStmt".into()), Value::Map(vec![])),
            (Value::Text("authData".into()), Value::Bytes(auth_data)),
        ]);
        let mut attestation_object = Vec::new();
        ciborium::into_writer(&attestation, &mut attestation_object).unwrap();
        json!({
            "id": B64.encode(&self.credential_id),
            "rawId": B64.encode(&self.credential_id),
            "type": "public-key",
            "response": {
                "attestationObject": B64.encode(attestation_object),
                "clientDataJSON": B64.encode(client_data),
            },
            "extensions": {},
        })
    }

    /// Answers `navigator.credentials.get` options: the assertion as JSON. Each call moves the
    /// signature counter on, as a hardware authenticator does.
    pub fn get(&mut self, options: &Json) -> Json {
        self.counter += 1;
        let client_data = self.client_data("webauthn.get", options);
        let auth_data = self.auth_data(0);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature = self.key.sign(&SystemRandom::new(), &signed).unwrap();
        json!({
            "id": B64.encode(&self.credential_id),
            "rawId": B64.encode(&self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(auth_data),
                "clientDataJSON": B64.encode(client_data),
                "signature": B64.encode(signature.as_ref()),
            },
            "extensions": {},
        })
    }
}
