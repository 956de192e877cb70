//! Where a login request came from: the browser and operating system that started it and its
//! approximate place, which the citizen's app shows beside the service's name.
//!
//! A matching code stops a relayed QR code only when the attacker cannot relay the code too;
//! a phishing page that relays both in real time gets through. RFC 10027 (BCP 247, cross-device
//! flows), section 6.1, "User Experience" asks the authorization device to preserve the context
//! in which the request began, and "Establish Proximity" names IP geolocation as one signal: a
//! citizen at home in Sha Tin who is shown a login "from Firefox on Linux, near Lagos" can tell
//! it is not theirs and deny it.
//!
//! The context is derived at `/authorize` and sealed with the login request (an approximate
//! place is personal data); only the derived words are kept, never the address or the raw
//! User-Agent. The User-Agent is the requester's own word: a careful attacker can copy the
//! victim's, so the place (from the network address) carries more weight.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A place, as an IP location database names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// `Kowloon, Hong Kong`.
    pub en: String,
    /// `九龙, 香港`, where the database has Chinese names (in Simplified characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zh_hans: Option<String>,
}

/// Looks up the approximate place of an address in an operator-supplied database (an outbound
/// port: a file the operator keeps current).
pub trait IpLocator: Send + Sync {
    /// `None` when the database has no place for the address.
    fn locate(&self, ip: IpAddr) -> Option<Place>;
}

/// No database: every place is unknown.
pub struct NoIpLocator;

impl IpLocator for NoIpLocator {
    fn locate(&self, _ip: IpAddr) -> Option<Place> {
        None
    }
}

/// What the request that started a login said about itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestOrigin<'a> {
    pub user_agent: Option<&'a str>,
    /// The client's address (through trusted proxies), not the proxy's.
    pub ip: Option<IpAddr>,
    /// The key limits count that address under (an IPv6 address cut to its /64).
    pub client_key: Option<IpAddr>,
    /// The browser came with a binding cookie from an earlier visit: it is counted on its own
    /// and not against its address, so strangers at the same address cannot lock it out.
    pub known_browser: bool,
}

/// The context the app shows; each part may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginContext {
    /// `Chrome`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// `Windows 10`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
}

/// Longer User-Agent strings are cut before parsing: no browser needs more.
const MAX_USER_AGENT: usize = 512;

impl LoginContext {
    /// The browser and system names come from the parser's own dataset (woothee), not from the
    /// string: a User-Agent cannot put arbitrary words in front of the citizen.
    pub fn derive(origin: &RequestOrigin<'_>, locator: &dyn IpLocator) -> LoginContext {
        let parsed = origin.user_agent.and_then(|ua| {
            let cut = ua.char_indices().nth(MAX_USER_AGENT).map_or(ua, |(i, _)| &ua[..i]);
            woothee::parser::Parser::new().parse(cut)
        });
        let known = |name: &str| (!name.is_empty() && name != "UNKNOWN").then(|| name.to_owned());
        LoginContext {
            browser: parsed.as_ref().and_then(|p| known(p.name)),
            os: parsed.as_ref().and_then(|p| known(p.os)),
            place: origin.ip.and_then(|ip| locator.locate(ip)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct OnePlace;

    impl IpLocator for OnePlace {
        fn locate(&self, ip: IpAddr) -> Option<Place> {
            (ip == IpAddr::from([203, 0, 113, 9]))
                .then(|| Place { en: "Kowloon, Hong Kong".into(), zh_hans: None })
        }
    }

    #[test]
    fn browsers_and_systems_are_named_and_unknown_ones_left_out() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        let origin = RequestOrigin {
            user_agent: Some(chrome),
            ip: Some([203, 0, 113, 9].into()),
            client_key: None,
            known_browser: false,
        };
        let context = LoginContext::derive(&origin, &OnePlace);
        assert_eq!(context.browser.as_deref(), Some("Chrome"));
        assert_eq!(context.os.as_deref(), Some("Windows 10"));
        assert_eq!(context.place.unwrap().en, "Kowloon, Hong Kong");
        let nothing = LoginContext::derive(
            &RequestOrigin {
                user_agent: Some("curl/8.0 <script>"),
                ip: Some([8, 8, 8, 8].into()),
                client_key: None,
                known_browser: false,
            },
            &OnePlace,
        );
        assert_eq!(nothing.place, None);
        assert!(nothing.browser.as_deref().is_none_or(|b| !b.contains('<')));
        assert_eq!(
            LoginContext::derive(&RequestOrigin::default(), &NoIpLocator),
            LoginContext::default()
        );
    }

    proptest::proptest! {
        #[test]
        fn any_user_agent_parses_without_panicking_or_echoing_markup(ua in "\\PC{0,700}") {
            let origin = RequestOrigin { user_agent: Some(&ua), ..RequestOrigin::default() };
            let context = LoginContext::derive(&origin, &NoIpLocator);
            for name in [context.browser, context.os].into_iter().flatten() {
                proptest::prop_assert!(name.len() <= 64 && !name.contains('<'), "{}", name);
            }
        }
    }
}
