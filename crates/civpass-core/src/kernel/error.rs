//! `Internal`: a failure no caller can act on, logged with its cause and shown as "internal
//! error".

use crate::kernel::store::StoreError;

/// An internal failure: logged with its cause, shown to callers only as "internal error".
#[derive(Debug, thiserror::Error)]
#[error("internal error: {0}")]
pub struct Internal(pub String);

impl From<StoreError> for Internal {
    fn from(e: StoreError) -> Internal {
        Internal(e.to_string())
    }
}
