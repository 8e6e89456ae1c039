//! What is stored with an action for its workers: the normalized action and,
//! when the site named a saved template, that template's per-provider choices
//! (a snapshot: editing the template later does not change queued actions).
//!
//! In memory this is [`ActionPayload`], holding the API's strict
//! [`UserAction`]. In the database it is [`StoredPayload`] (`{"v":1, …}`), its
//! own type that ignores fields it does not know, everywhere inside it: during
//! a rolling upgrade a newer node may store an action with a field this node
//! has never heard of, and this node must still deliver it rather than fail it
//! as unreadable. Payloads stored before versioning (no `v`) read as `v: 1`.
//! Adding a field is compatible; a change older nodes must not read raises `v`.

use herald_core::action::{
    ActionLink, MediaItem, MediaType, Privacy, Scope, TemplateField, UserAction,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The stored payload version this build writes and reads.
pub const PAYLOAD_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq)]
pub struct ActionPayload {
    pub action: UserAction,
    pub per_provider: BTreeMap<String, ProviderChoice>,
}

/// A saved template's choices for one provider.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderChoice {
    /// Replaces the template text for this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Provider options, e.g. Windows Live `activity_type` and `verb`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("stored payload: {0}")]
    Json(#[from] serde_json::Error),
    #[error("stored payload version {0} is newer than this build reads ({PAYLOAD_VERSION})")]
    NewerVersion(u32),
}

impl ActionPayload {
    /// The stored form.
    pub fn to_stored(&self) -> serde_json::Value {
        let stored = StoredPayload {
            v: PAYLOAD_VERSION,
            action: self.action.clone().into(),
            per_provider: self.per_provider.clone(),
        };
        serde_json::to_value(stored).expect("a payload of strings and maps serializes")
    }

    /// Reads a stored payload of this version or older, ignoring unknown fields.
    pub fn from_stored(json: &str) -> Result<ActionPayload, PayloadError> {
        let stored: StoredPayload = serde_json::from_str(json)?;
        if stored.v > PAYLOAD_VERSION {
            return Err(PayloadError::NewerVersion(stored.v));
        }
        Ok(ActionPayload {
            action: stored.action.into(),
            per_provider: stored.per_provider,
        })
    }
}

/// The stored payload. No `deny_unknown_fields` here or in any type inside.
#[derive(Serialize, Deserialize)]
struct StoredPayload {
    #[serde(default = "first_version")]
    v: u32,
    action: StoredAction,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    per_provider: BTreeMap<String, ProviderChoice>,
}

fn first_version() -> u32 {
    1
}

/// [`UserAction`], tolerant of fields it does not know. The conversions
/// destructure every field, so a field added to `UserAction` does not compile
/// until it is stored too.
#[derive(Serialize, Deserialize)]
struct StoredAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subtitle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link_back: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    media_items: Vec<StoredMediaItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    action_links: Vec<StoredActionLink>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    template: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    template_fields: BTreeMap<String, StoredTemplateField>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    feed_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    privacy: Option<Privacy>,
}

#[derive(Serialize, Deserialize)]
struct StoredMediaItem {
    #[serde(rename = "type")]
    kind: MediaType,
    src: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    href: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    preview_image_url: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredActionLink {
    text: String,
    href: String,
}

#[derive(Serialize, Deserialize)]
struct StoredTemplateField {
    text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    href: Option<String>,
}

impl From<UserAction> for StoredAction {
    fn from(a: UserAction) -> Self {
        let UserAction {
            title,
            subtitle,
            description,
            user_message,
            link_back,
            media_items,
            action_links,
            action_name,
            template,
            template_fields,
            tags,
            cid,
            feed_id,
            scope,
            privacy,
        } = a;
        StoredAction {
            title,
            subtitle,
            description,
            user_message,
            link_back,
            media_items: media_items
                .into_iter()
                .map(
                    |MediaItem {
                         kind,
                         src,
                         href,
                         preview_image_url,
                     }| StoredMediaItem {
                        kind,
                        src,
                        href,
                        preview_image_url,
                    },
                )
                .collect(),
            action_links: action_links
                .into_iter()
                .map(|ActionLink { text, href }| StoredActionLink { text, href })
                .collect(),
            action_name,
            template,
            template_fields: template_fields
                .into_iter()
                .map(|(k, TemplateField { text, href })| (k, StoredTemplateField { text, href }))
                .collect(),
            tags,
            cid,
            feed_id,
            scope,
            privacy,
        }
    }
}

impl From<StoredAction> for UserAction {
    fn from(a: StoredAction) -> Self {
        let StoredAction {
            title,
            subtitle,
            description,
            user_message,
            link_back,
            media_items,
            action_links,
            action_name,
            template,
            template_fields,
            tags,
            cid,
            feed_id,
            scope,
            privacy,
        } = a;
        UserAction {
            title,
            subtitle,
            description,
            user_message,
            link_back,
            media_items: media_items
                .into_iter()
                .map(
                    |StoredMediaItem {
                         kind,
                         src,
                         href,
                         preview_image_url,
                     }| MediaItem {
                        kind,
                        src,
                        href,
                        preview_image_url,
                    },
                )
                .collect(),
            action_links: action_links
                .into_iter()
                .map(|StoredActionLink { text, href }| ActionLink { text, href })
                .collect(),
            action_name,
            template,
            template_fields: template_fields
                .into_iter()
                .map(|(k, StoredTemplateField { text, href })| (k, TemplateField { text, href }))
                .collect(),
            tags,
            cid,
            feed_id,
            scope,
            privacy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full_action() -> UserAction {
        serde_json::from_value(json!({
            "title": "t", "subtitle": "s", "description": "d", "user_message": "m",
            "link_back": "https://site.example/a",
            "media_items": [{"type": "video", "src": "https://site.example/v.mp4",
                             "href": "https://site.example/v", "preview_image_url": "https://site.example/p.jpg"}],
            "action_links": [{"text": "Read", "href": "https://site.example/r"}],
            "action_name": "shared", "template": "{actor} {thing}",
            "template_fields": {"thing": {"text": "a post", "href": "https://site.example/t"}},
            "tags": ["a", "b"], "cid": "c", "feed_id": "f", "scope": "both", "privacy": "friends"
        }))
        .unwrap()
    }

    #[test]
    fn every_field_round_trips_through_the_stored_form() {
        let p = ActionPayload {
            action: full_action(),
            per_provider: BTreeMap::from([(
                "messenger".to_owned(),
                ProviderChoice {
                    text: Some("x".into()),
                    options: BTreeMap::from([("verb".into(), "post".into())]),
                },
            )]),
        };
        let stored = p.to_stored();
        assert_eq!(stored["v"], 1);
        // The stored action is the API's JSON shape: older nodes read it.
        assert_eq!(stored["action"], serde_json::to_value(&p.action).unwrap());
        let back = ActionPayload::from_stored(&stored.to_string()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn unknown_fields_are_ignored_at_every_level() {
        let json = json!({
            "v": 1, "new_top": 1,
            "action": {"title": "t", "new_in_action": {"x": 1},
                       "media_items": [{"type": "image", "src": "https://s.example/i", "alt": "new"}],
                       "action_links": [{"text": "a", "href": "https://s.example/", "rel": "new"}],
                       "template_fields": {"f": {"text": "x", "new": true}}},
            "per_provider": {"x": {"text": "y", "new": 2}}
        });
        let p = ActionPayload::from_stored(&json.to_string()).unwrap();
        assert_eq!(p.action.title.as_deref(), Some("t"));
        assert_eq!(p.action.media_items[0].src, "https://s.example/i");
        assert_eq!(p.action.action_links[0].text, "a");
        assert_eq!(p.action.template_fields["f"].text, "x");
        assert_eq!(p.per_provider["x"].text.as_deref(), Some("y"));
    }

    #[test]
    fn payloads_before_versioning_read_and_newer_versions_are_refused() {
        let old = json!({"action": {"title": "t"}});
        let p = ActionPayload::from_stored(&old.to_string()).unwrap();
        assert_eq!(p.action.title.as_deref(), Some("t"));
        assert!(p.per_provider.is_empty());
        let newer = json!({"v": 2, "action": {"title": "t"}});
        assert!(matches!(
            ActionPayload::from_stored(&newer.to_string()),
            Err(PayloadError::NewerVersion(2))
        ));
    }
}
