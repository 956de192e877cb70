//! Address proofs: documents the citizen uploads (a utility bill), PDF, JPEG or PNG, known by
//! their content rather than their name, sealed to the account behind the `BlobStore` port.
//! The vault's `address_proof` field lists them (without their content); a service receives
//! them only as that field, when the citizen approves it, as OIDC4IDA embedded attachments.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use civpass_crypto::secret::{b64url, sha256};

use crate::eme::model::{Entry, FieldProblem, Source};
use crate::eme::{Edit, EmeError, EmeService};
use crate::kernel::{AccountId, Internal};

/// The largest document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024 * 1024;
/// Documents kept at most.
pub const MAX_DOCUMENTS: usize = 3;
/// The field that lists them.
pub const FIELD: &str = "address_proof";

/// One document as the vault lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    /// `application/pdf`, `image/jpeg` or `image/png`, from the content.
    pub content_type: String,
    /// Bytes.
    pub size: usize,
    /// SHA-256 of the content, base64url.
    pub sha256: String,
    pub uploaded_at: i64,
}

/// The type of a document from its first bytes (the formats' signatures: ISO 32000 `%PDF-`,
/// JPEG's SOI marker `FF D8 FF`, PNG's eight-byte signature); `None` for anything else. A
/// file's name or declared type is never trusted.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
}

fn refused(message: &str) -> EmeError {
    EmeError::Invalid(vec![FieldProblem { field: FIELD.to_owned(), message: message.to_owned() }])
}

/// Each document is sealed with its account and its id as associated data.
fn associated_data(account_id: &AccountId, id: &str) -> Vec<u8> {
    format!("blob:{account_id}:{id}").into_bytes()
}

pub(crate) fn listed(entry: Option<&Entry>) -> Vec<Document> {
    entry.and_then(|e| serde_json::from_value(e.value.clone()).ok()).unwrap_or_default()
}

impl EmeService {
    /// Adds an address proof: checked by content and size, sealed and stored, then listed in
    /// the vault (if the vault changed meanwhile and the listing fails, the stored document
    /// is removed again).
    ///
    /// Errors: `Invalid` for an empty, oversized or unknown document, or a fourth one.
    pub async fn add_address_proof(
        &self,
        account_id: &AccountId,
        bytes: &[u8],
    ) -> Result<crate::eme::model::Vault, EmeError> {
        if bytes.is_empty() || bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(refused("a document is a PDF, JPEG or PNG file of at most 5 MB"));
        }
        let content_type = sniff(bytes).ok_or_else(|| refused("only PDF, JPEG or PNG files"))?;
        let now = self.ctx.now();
        let id = format!("doc_{}", civpass_crypto::secret::random_token(16));
        let sealed =
            self.ctx.data_key(account_id).await?.seal(bytes, &associated_data(account_id, &id))?;
        let document = Document {
            id: id.clone(),
            content_type: content_type.to_owned(),
            size: bytes.len(),
            sha256: b64url(&sha256(bytes)),
            uploaded_at: now,
        };
        self.blobs.put_blob(&id, &sealed, now).await.map_err(Internal::from)?;
        let listed_now = self
            .update(account_id, EmeError::Busy, |stored| {
                let mut documents = listed(stored.fields.get(FIELD));
                if let Some(same) = documents.iter().find(|d| d.sha256 == document.sha256) {
                    return Err(refused(&format!(
                        "this document is already stored, as {}",
                        same.id
                    )));
                }
                if documents.len() >= MAX_DOCUMENTS {
                    return Err(refused("at most 3 documents: delete one first"));
                }
                documents.push(document.clone());
                let value = serde_json::to_value(&documents)
                    .map_err(|e| Internal::caused("listing documents", e))?;
                stored.fields.insert(
                    FIELD.to_owned(),
                    Entry { value, source: Source::SelfDeclared, updated_at: now },
                );
                Ok(Edit::Write(()))
            })
            .await;
        if let Err(e) = listed_now {
            self.blobs.delete_blob(&id).await.map_err(Internal::from)?;
            return Err(e);
        }
        Ok(self.vault(account_id).await?)
    }

    /// A document of the account's address proofs, opened: its type and bytes. `None` if the
    /// vault does not list it.
    pub async fn address_proof(
        &self,
        account_id: &AccountId,
        id: &str,
    ) -> Result<Option<(String, Vec<u8>)>, Internal> {
        let (stored, _) = self.stored(account_id).await?;
        let Some(document) = listed(stored.fields.get(FIELD)).into_iter().find(|d| d.id == id)
        else {
            return Ok(None);
        };
        Ok(self.open_document(account_id, id).await?.map(|bytes| (document.content_type, bytes)))
    }

    /// A stored document's bytes, opened; `None` if the store has none under `id`.
    async fn open_document(
        &self,
        account_id: &AccountId,
        id: &str,
    ) -> Result<Option<Vec<u8>>, Internal> {
        let Some(sealed) = self.blobs.get_blob(id).await? else { return Ok(None) };
        let bytes = self
            .ctx
            .data_key(account_id)
            .await?
            .open(&sealed, &associated_data(account_id, id))
            .map_err(|e| Internal::caused("opening a document", e))?;
        Ok(Some(bytes))
    }

    /// Removes one address proof from the vault and the store.
    ///
    /// Errors: `Invalid` if the vault does not list it.
    pub async fn delete_address_proof(
        &self,
        account_id: &AccountId,
        id: &str,
    ) -> Result<crate::eme::model::Vault, EmeError> {
        let now = self.ctx.now();
        self.update(account_id, EmeError::Busy, |stored| {
            let mut documents = listed(stored.fields.get(FIELD));
            let before = documents.len();
            documents.retain(|d| d.id != id);
            if documents.len() == before {
                return Err(refused("no such document"));
            }
            if documents.is_empty() {
                stored.fields.remove(FIELD);
            } else if let Some(entry) = stored.fields.get_mut(FIELD) {
                entry.value = serde_json::to_value(&documents)
                    .map_err(|e| Internal::caused("listing documents", e))?;
                entry.updated_at = now;
            }
            Ok(Edit::Write(()))
        })
        .await?;
        self.blobs.delete_blob(id).await.map_err(Internal::from)?;
        Ok(self.vault(account_id).await?)
    }

    /// The documents as released (OIDC4IDA embedded attachments: `desc`, `content_type`,
    /// `content` in base64, and a `digest`).
    pub(crate) async fn released_documents(
        &self,
        account_id: &AccountId,
        entry: &Entry,
    ) -> Result<Value, Internal> {
        let mut out = Vec::new();
        for document in listed(Some(entry)) {
            // The entry lists them already: no second read of the vault per document.
            if let Some(bytes) = self.open_document(account_id, &document.id).await? {
                out.push(json!({
                    "desc": "address proof",
                    "content_type": document.content_type,
                    "content": base64::engine::general_purpose::STANDARD.encode(&bytes),
                    "digest": {"alg": "sha-256", "value": document.sha256},
                    "uploaded_at": document.uploaded_at,
                }));
            }
        }
        Ok(Value::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_known_by_their_content() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some("application/pdf"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        for bad in [&b"<html>%PDF-"[..], b"GIF89a", b"", b"%PD", b"MZ\x90\0"] {
            assert_eq!(sniff(bad), None);
        }
    }
}
