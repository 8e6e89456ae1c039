//! Typed, prefixed identifiers. Each id is a prefix plus a UUIDv7 (time-ordered),
//! so an `ActionId` can never be passed where a `DeliveryId` is expected and ids
//! sort by creation time in the database.

use serde::{Deserialize, Serialize};

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new, unique, time-ordered id.
            pub fn new() -> Self {
                $name(format!("{}_{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Parses an id given by a client; `None` unless it has this type's
            /// prefix followed by 32 lowercase hex digits.
            pub fn parse(s: &str) -> Option<Self> {
                let rest = s.strip_prefix($prefix)?.strip_prefix('_')?;
                let ok = rest.len() == 32
                    && rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                ok.then(|| $name(s.to_owned()))
            }

            /// Wraps a value read back from storage (already validated on write).
            pub fn from_stored(s: String) -> Self {
                $name(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

typed_id!(/// A site (tenant) using Herald.
    AppId, "app");
typed_id!(/// One accepted user action.
    ActionId, "act");
typed_id!(/// One action's delivery to one connected account.
    DeliveryId, "dlv");
typed_id!(/// A user's connected account on one network.
    ConnectionId, "con");
typed_id!(/// One attempt at a delivery (audit row).
    AttemptId, "att");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_foreign_prefixes() {
        let id = ActionId::new();
        assert!(id.as_str().starts_with("act_"));
        assert_eq!(ActionId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(DeliveryId::parse(id.as_str()), None);
        assert_eq!(ActionId::parse("act_123"), None);
        assert_eq!(
            ActionId::parse("act_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"),
            None
        );
        assert_eq!(ActionId::parse(""), None);
    }

    #[test]
    fn ids_sort_by_creation() {
        let a = DeliveryId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = DeliveryId::new();
        assert!(a < b);
    }
}
