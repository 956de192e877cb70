//! `Internal`: a failure no caller can act on. It keeps its cause (`source()`), says whether
//! retrying later may succeed (`is_transient`), and is logged once, with its whole cause chain
//! (`Chain`), where a request is answered; callers see only "internal error" or "unavailable".

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::kernel::store::StoreError;

/// Any error, boxed to be kept as a cause.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// How long a caller should wait before retrying a transient failure, unless its cause says
/// otherwise: long enough for a pool to free a connection or a restarted database to accept one.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// An internal failure: what was being done, and why it failed.
///
/// Transient failures (a database that cannot be reached or is too busy, a pool with no free
/// connection, an outside service that does not answer) are answered 503 with `Retry-After`
/// (RFC 9110 section 15.6.4); permanent ones (a stored value that cannot be read, a missing
/// signing key) 500.
#[derive(Debug)]
pub struct Internal {
    what: Cow<'static, str>,
    source: Option<BoxError>,
    retry_after: Option<Duration>,
}

impl Internal {
    /// A permanent failure with no underlying error.
    pub fn new(what: impl Into<Cow<'static, str>>) -> Internal {
        Internal { what: what.into(), source: None, retry_after: None }
    }

    /// A permanent failure caused by `source`.
    pub fn caused(what: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Internal {
        Internal { what: what.into(), source: Some(source.into()), retry_after: None }
    }

    /// A transient failure caused by `source`: retrying after `DEFAULT_RETRY_AFTER` may succeed.
    pub fn unavailable(
        what: impl Into<Cow<'static, str>>,
        source: impl Into<BoxError>,
    ) -> Internal {
        Internal {
            what: what.into(),
            source: Some(source.into()),
            retry_after: Some(DEFAULT_RETRY_AFTER),
        }
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        self.retry_after.is_some()
    }

    /// For a transient failure, how long to wait before retrying.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// Two failures are equal when they say the same and are alike transient (their causes are not
/// compared), so that error enums holding one stay comparable in tests.
impl PartialEq for Internal {
    fn eq(&self, other: &Internal) -> bool {
        self.what == other.what && self.retry_after == other.retry_after
    }
}

impl Eq for Internal {}

impl fmt::Display for Internal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl Error for Internal {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

impl From<StoreError> for Internal {
    fn from(e: StoreError) -> Internal {
        let transient = e.is_transient();
        let mut internal = Internal::caused("the store failed", e);
        if transient {
            internal.retry_after = Some(DEFAULT_RETRY_AFTER);
        }
        internal
    }
}

/// An error and its causes, outermost first, joined by ": " (as `anyhow` prints `{:#}`), for a
/// log line. Causes that repeat their source's text are printed once.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut previous = self.0.to_string();
        f.write_str(&previous)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            let text = e.to_string();
            // thiserror's `#[error("...: {0}")]` over a `#[source]` repeats the cause, and a
            // wrapper may say again what its cause says first: each is printed once.
            if let Some(rest) = text.strip_prefix(previous.as_str()) {
                f.write_str(rest)?;
            } else if !previous.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            previous = text;
            cause = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_outage_is_transient_and_keeps_its_cause() {
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let internal = Internal::from(StoreError::Unavailable(Box::new(refused)));
        assert!(internal.is_transient());
        assert_eq!(internal.retry_after(), Some(DEFAULT_RETRY_AFTER));
        assert_eq!(
            Chain(&internal).to_string(),
            "the store failed: storage unavailable: connection refused"
        );
    }

    #[test]
    fn a_cause_that_repeats_its_wrapper_is_printed_once() {
        let inner = std::io::Error::other("the registry is unavailable: connection refused");
        let outer = Internal::caused("the registry is unavailable", inner);
        assert_eq!(Chain(&outer).to_string(), "the registry is unavailable: connection refused");
    }

    #[test]
    fn a_bad_stored_value_is_permanent() {
        let internal = Internal::from(StoreError::backend("stored client is not valid"));
        assert!(!internal.is_transient());
        assert_eq!(
            Chain(&internal).to_string(),
            "the store failed: storage failed: stored client is not valid"
        );
    }
}
