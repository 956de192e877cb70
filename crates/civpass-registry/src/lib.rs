//! Identity-proofing adapters: population registries (a deterministic synthetic population and an
//! HTTP client for a real registry) and identity evidence verifiers (the sandbox's, and an HTTP
//! client for a vendor's service; see `evidence.rs` for its contract).
//!
//! Both implement `civpass_core::identity::registry::RegistrySource`, so enrolment code cannot tell them apart.
//!
//! `SandboxRegistry` stands in for the authoritative registry in development, tests and demos.
//! Its people are synthetic: random combinations of common surnames, given-name characters, HKID numbers and
//! birth dates, generated from a fixed seed so that person `i` is the same person on every run and machine.
//!
//! `HttpRegistry` talks to a real registry over HTTP. The contract it expects:
//!
//! - Request: `GET {base_url}/v1/people/{hkid}`, where `{hkid}` is the canonical form without brackets
//!   (`A1234563`), with `Accept: application/json` and, when a token is configured,
//!   `Authorization: Bearer {token}`.
//! - `200 OK`: a JSON object
//!   `{"hkid": "A123456(3)", "name_en": "CHAN Tai Man", "name_zh": "陳大文", "date_of_birth": "1990-05-17", "gender": "female"}`.
//!   `hkid` is accepted in any form `HkId::parse` takes and must be the number asked for;
//!   `gender` is `"female"` or `"male"`; `guardians`, optional, lists the HKIDs of the person's
//!   parents or guardians (at most eight; a minor's registration needs one of them to approve
//!   it, docs/REGISTRATION.md); unknown fields are ignored.
//! - `404 Not Found`: the registry has no such person, reported as `Ok(None)`.
//! - Anything else (another status, a redirect, a body that does not match, more than 64 KiB of body,
//!   no answer within 5 seconds, a connection failure) is `RegistryError::Unavailable`.
//!   Its message never contains the HKID or any other personal data, so it is safe to log.
//! - A connection that fails, and `429`, `502`, `503` and `504`, are tried again twice (after
//!   0.2 and 0.6 seconds); a timeout is not (it would triple the wait).
//! - After 5 failures in a row the adapter stops asking for 30 seconds (a circuit breaker,
//!   `breaker.rs`): lookups then fail at once, and one is let through to see if it is back.
//!
//! Change events: `GET {base_url}/v1/events?after=CURSOR` (no `after` for the start of the
//! feed) answers `200` with JSON lines, oldest first, each an event:
//! `{"id": "ev-000123", "type": "deceased", "hkid": "A123456(3)"}`,
//! `{"id": "ev-000124", "type": "name_changed", "hkid": "…", "name_en": "CHAN Tai Man", "name_zh": "陳大文"}`,
//! `{"id": "ev-000125", "type": "card_replaced", "hkid": "…"}`. Ids are unique and ordered (the
//! cursor is the last id applied); an empty body means nothing new. civpass asks every minute.

pub mod breaker;
pub mod evidence;
mod names;
mod population;
mod splitmix;
mod wire;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use civpass_core::identity::hkid::HkId;
use civpass_core::identity::registry::{
    RegistryError, RegistryEvent, RegistryRecord, RegistrySource,
};
use reqwest::header;
use url::Url;

/// A deterministic synthetic population, the sandbox stand-in for the authoritative registry.
///
/// Ages are between 11 and 95 on the fixed reference date 2026-01-01; the clock is never read, so the
/// population does not drift as time passes.
#[derive(Clone)]
pub struct SandboxRegistry {
    people: Vec<RegistryRecord>,
    index_by_hkid: HashMap<HkId, usize>,
}

impl SandboxRegistry {
    /// Generates `n_people` people.
    /// The population of a smaller `n_people` is a prefix of a larger one.
    pub fn generate(n_people: usize) -> SandboxRegistry {
        let people = population::generate(n_people);
        let index_by_hkid = people
            .iter()
            .enumerate()
            .map(|(person_idx, person)| (person.hkid.clone(), person_idx))
            .collect();
        SandboxRegistry { people, index_by_hkid }
    }

    /// Everyone, in generation order.
    pub fn people(&self) -> &[RegistryRecord] {
        &self.people
    }

    pub fn find(&self, hkid: &HkId) -> Option<&RegistryRecord> {
        self.index_by_hkid.get(hkid).map(|&person_idx| &self.people[person_idx])
    }
}

impl Default for SandboxRegistry {
    fn default() -> SandboxRegistry {
        SandboxRegistry::generate(10_000)
    }
}

/// Shows only the size: the records are personal data in form, even if synthetic.
impl fmt::Debug for SandboxRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxRegistry").field("n_people", &self.people.len()).finish()
    }
}

#[async_trait]
impl RegistrySource for SandboxRegistry {
    async fn find_person(&self, hkid: &HkId) -> Result<Option<RegistryRecord>, RegistryError> {
        Ok(self.find(hkid).cloned())
    }
}

/// A registry reached over HTTP; the contract is in the crate documentation.
pub struct HttpRegistry {
    client: reqwest::Client,
    breaker: breaker::Breaker,
    /// `{base_url}/v1/people/`, with the trailing slash, so that joining a canonical HKID appends it.
    people_url: Url,
    bearer_token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpRegistryError {
    #[error("the registry base URL is not an absolute http or https URL")]
    InvalidBaseUrl,
    #[error("could not build the HTTP client for the registry")]
    HttpClient(#[source] reqwest::Error),
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A person record is a few hundred bytes; anything much larger is a broken or hostile registry.
const MAX_BODY_BYTES: usize = 64 * 1024;

impl HttpRegistry {
    /// `base_url` may have a path (`https://registry.example/api`); a query or fragment is dropped.
    pub fn new(
        base_url: &str,
        bearer_token: Option<String>,
    ) -> Result<HttpRegistry, HttpRegistryError> {
        let mut people_url = Url::parse(base_url).map_err(|_| HttpRegistryError::InvalidBaseUrl)?;
        if !matches!(people_url.scheme(), "http" | "https") {
            return Err(HttpRegistryError::InvalidBaseUrl);
        }
        people_url.set_query(None);
        people_url.set_fragment(None);
        people_url
            .path_segments_mut()
            .map_err(|()| HttpRegistryError::InvalidBaseUrl)?
            .pop_if_empty()
            .extend(["v1", "people", ""]);
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // A redirect from an authoritative registry is a misconfiguration; following it could send
            // the bearer token and the HKID somewhere unintended.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(HttpRegistryError::HttpClient)?;
        Ok(HttpRegistry { client, breaker: breaker::Breaker::default(), people_url, bearer_token })
    }
}

/// Shows neither the token nor anything else secret.
impl fmt::Debug for HttpRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRegistry")
            .field("people_url", &self.people_url.as_str())
            .field("has_bearer_token", &self.bearer_token.is_some())
            .finish()
    }
}

/// Waits before the second and third tries of a lookup that may succeed when tried again.
const RETRY_AFTER: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(600)];

/// What one try of a lookup found.
enum Try {
    Done(Result<Option<RegistryRecord>, RegistryError>),
    /// A connection failure, or 429/502/503/504: worth another try.
    Again(RegistryError),
}

#[async_trait]
impl RegistrySource for HttpRegistry {
    async fn find_person(&self, hkid: &HkId) -> Result<Option<RegistryRecord>, RegistryError> {
        if !self.breaker.allow() {
            return Err(unavailable(
                "the registry failed 5 times in a row; it is not asked again for 30 seconds (circuit open)",
            ));
        }
        let mut waits = RETRY_AFTER.iter();
        let result = loop {
            match self.try_find(hkid).await {
                Try::Done(result) => break result,
                Try::Again(err) => match waits.next() {
                    Some(wait) => tokio::time::sleep(*wait).await,
                    None => break Err(err),
                },
            }
        };
        self.breaker.record(result.is_ok());
        result
    }

    /// `GET {base}/v1/events?after=CURSOR` (see the crate documentation).
    async fn events_after(
        &self,
        cursor: Option<&str>,
    ) -> Result<Vec<RegistryEvent>, RegistryError> {
        self.feed(cursor).await
    }
}

/// An event feed page is a few hundred events of a few hundred bytes each.
const MAX_FEED_BYTES: usize = 4 * 1024 * 1024;

impl HttpRegistry {
    async fn feed(&self, cursor: Option<&str>) -> Result<Vec<RegistryEvent>, RegistryError> {
        let mut url = self
            .people_url
            .join("../events")
            .map_err(|_| unavailable("could not build the registry's event feed URL"))?;
        if let Some(cursor) = cursor {
            url.query_pairs_mut().append_pair("after", cursor);
        }
        let mut req = self.client.get(url).header(header::ACCEPT, "application/jsonl");
        if let Some(token) = &self.bearer_token {
            req = req.bearer_auth(token);
        }
        let mut res = req.send().await.map_err(request_failed)?;
        if res.status() != reqwest::StatusCode::OK {
            return Err(RegistryError::Unavailable(format!(
                "the registry's event feed answered with HTTP status {}",
                res.status().as_u16()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(request_failed)? {
            if body.len() + chunk.len() > MAX_FEED_BYTES {
                return Err(unavailable("the registry's event feed page is too large"));
            }
            body.extend_from_slice(&chunk);
        }
        let text =
            String::from_utf8(body).map_err(|_| unavailable("the event feed is not UTF-8"))?;
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| {
                RegistryEvent::parse(line).map_err(|why| {
                    RegistryError::Unavailable(format!("the event feed's line {}: {why}", n + 1))
                })
            })
            .collect()
    }

    async fn try_find(&self, hkid: &HkId) -> Try {
        let url = match self.people_url.join(hkid.as_str()) {
            Ok(url) => url,
            Err(_) => {
                return Try::Done(Err(unavailable("could not build the registry request URL")));
            }
        };
        let mut req = self.client.get(url).header(header::ACCEPT, "application/json");
        if let Some(token) = &self.bearer_token {
            req = req.bearer_auth(token);
        }
        let mut res = match req.send().await {
            Ok(res) => res,
            Err(e) if e.is_connect() => return Try::Again(request_failed(e)),
            Err(e) => return Try::Done(Err(request_failed(e))),
        };
        match res.status() {
            reqwest::StatusCode::OK => {}
            reqwest::StatusCode::NOT_FOUND => return Try::Done(Ok(None)),
            status => {
                let err = RegistryError::Unavailable(format!(
                    "the registry answered with HTTP status {}",
                    status.as_u16()
                ));
                let again = matches!(status.as_u16(), 429 | 502 | 503 | 504);
                return if again { Try::Again(err) } else { Try::Done(Err(err)) };
            }
        }
        let mut body = Vec::new();
        loop {
            match res.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Try::Done(Err(unavailable(
                            "the registry's response body is too large",
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Try::Done(Err(request_failed(e))),
            }
        }
        let record = match wire::parse_person(&body) {
            Ok(record) => record,
            Err(e) => return Try::Done(Err(e)),
        };
        if record.hkid != *hkid {
            return Try::Done(Err(unavailable(
                "the registry returned a different person from the one asked for",
            )));
        }
        Try::Done(Ok(Some(record)))
    }
}

fn unavailable(message: &str) -> RegistryError {
    RegistryError::Unavailable(message.to_owned())
}

/// Describes a transport failure without the URL, whose path holds the HKID.
fn request_failed(err: reqwest::Error) -> RegistryError {
    if err.is_timeout() {
        return unavailable("the registry did not answer within 5 seconds");
    }
    let err = err.without_url();
    let mut message = format!("could not reach the registry: {err}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    RegistryError::Unavailable(message)
}
