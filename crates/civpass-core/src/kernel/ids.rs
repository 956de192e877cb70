//! Typed ids: an account's id and a client's are both text, and a call that swapped them would
//! compile if they were `String`s. Each kind of record has its own id type; they read as `&str`
//! (through `Deref`), serialize as plain strings, and convert from and to `String`.

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> $name {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> $name {
                $name(id.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> $name {
                $name(id.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self == &other.0
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

id_type!(
    /// A relying party (`client_id`, RFC 6749 section 2.2).
    ClientId
);
id_type!(
    /// A citizen's account.
    AccountId
);
id_type!(
    /// A citizen's device (a software key or a passkey).
    DeviceId
);
id_type!(
    /// A grant: one login's consent to one client, behind its refresh and access tokens; also
    /// the login session's `sid`.
    GrantId
);
id_type!(
    /// A login request (the QR code's and the login page's).
    LoginRequestId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_as_text_and_serializes_as_a_plain_string() {
        let id = ClientId::from("c_1");
        assert_eq!(id, "c_1");
        assert_eq!(&*id, "c_1");
        assert_eq!(id.to_string(), "c_1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"c_1\"");
        assert_eq!(serde_json::from_str::<ClientId>("\"c_1\"").unwrap(), id);
        assert_eq!(String::from(id), "c_1");
    }
}
