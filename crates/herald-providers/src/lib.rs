//! The provider registry: every compiled-in provider (one cargo feature each),
//! looked up by id or alias. Adding a network = its crate + one line here.

use herald_core::Provider;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone)]
pub struct ProviderRegistry {
    providers: BTreeMap<&'static str, Arc<dyn Provider>>,
    aliases: BTreeMap<&'static str, &'static str>,
}

impl ProviderRegistry {
    pub fn empty() -> Self {
        ProviderRegistry {
            providers: BTreeMap::new(),
            aliases: BTreeMap::new(),
        }
    }

    /// Every provider this build includes.
    pub fn builtin() -> Self {
        #[allow(unused_mut)]
        let mut r = Self::empty();
        #[cfg(feature = "windows-live")]
        r.register(Arc::new(herald_provider_windows_live::WindowsLive));
        #[cfg(feature = "webhook")]
        r.register(Arc::new(herald_provider_webhook::Webhook));
        #[cfg(feature = "bluesky")]
        r.register(Arc::new(herald_provider_bluesky::Bluesky));
        #[cfg(feature = "mastodon")]
        r.register(Arc::new(herald_provider_mastodon::Mastodon));
        #[cfg(feature = "facebook")]
        r.register(Arc::new(herald_provider_facebook::Facebook));
        #[cfg(feature = "linkedin")]
        r.register(Arc::new(herald_provider_linkedin::LinkedIn));
        #[cfg(feature = "x")]
        r.register(Arc::new(herald_provider_x::X));
        r
    }

    pub fn register(&mut self, p: Arc<dyn Provider>) {
        for a in p.aliases() {
            self.aliases.insert(a, p.id());
        }
        self.providers.insert(p.id(), p);
    }

    /// The canonical id for a name or alias (case-insensitive).
    pub fn canonical(&self, name: &str) -> Option<&'static str> {
        let lower = name.trim().to_ascii_lowercase();
        if let Some((id, _)) = self.providers.get_key_value(lower.as_str()) {
            return Some(id);
        }
        self.aliases.get(lower.as_str()).copied()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(self.canonical(name)?)
    }

    pub fn ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.providers.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_providers_answer_to_ids_and_aliases() {
        let r = ProviderRegistry::builtin();
        assert_eq!(r.canonical("messenger"), Some("messenger"));
        assert_eq!(r.canonical("WindowsLive"), Some("messenger"));
        assert_eq!(r.canonical("microsoft"), Some("messenger"));
        assert_eq!(r.canonical("webhook"), Some("webhook"));
        assert_eq!(r.canonical("myspace"), None);
        assert_eq!(r.canonical("bsky"), Some("bluesky"));
        assert_eq!(r.canonical("FB"), Some("facebook"));
        assert_eq!(r.canonical("facebook"), Some("facebook"));
        assert_eq!(r.canonical("Twitter"), Some("x"));
        assert_eq!(r.canonical("tw"), Some("x"));
        assert_eq!(
            r.ids().collect::<Vec<_>>(),
            vec![
                "bluesky",
                "facebook",
                "linkedin",
                "mastodon",
                "messenger",
                "webhook",
                "x"
            ]
        );
    }
}
