//! The normalized user action (Gigya's `UserAction`, snake_case on the native
//! API) and its validation. Validation names every bad field; URLs are checked
//! but kept exactly as the site gave them.

use crate::error::ValidationErrors;
use crate::template;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MAX_MEDIA_ITEMS: usize = 10;
pub const MAX_ACTION_LINKS: usize = 5;
pub const MAX_TAGS: usize = 20;
pub const MAX_TEMPLATE_FIELDS: usize = 20;
pub const MAX_URL_LEN: usize = 2048;
const MAX_SHORT: usize = 1000; // titles, names, template field texts
const MAX_LONG: usize = 10_000; // description, user message

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_message: Option<String>,
    /// Absolute http(s) URL back to the site's page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_back: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_items: Vec<MediaItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub action_links: Vec<ActionLink>,
    /// The verb: "shared", "commented", …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_name: Option<String>,
    /// Gigya-style template such as `{actor} {action} {thing}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub template_fields: BTreeMap<String, TemplateField>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<Privacy>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MediaItem {
    #[serde(rename = "type")]
    pub kind: MediaType,
    pub src: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_image_url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Image,
    Video,
    Audio,
    Flash,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ActionLink {
    pub text: String,
    pub href: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemplateField {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    External,
    Internal,
    Both,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Privacy {
    Public,
    Friends,
    Private,
}

/// Checks that `url` is an absolute http(s) URL with a host.
pub fn check_http_url(url: &str) -> Result<url::Url, String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    if url.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    let parsed =
        url::Url::parse(url).map_err(|e| format!("must be an absolute http(s) URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "must be an http or https URL, not {}:",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("must have a host".into());
    }
    Ok(parsed)
}

impl UserAction {
    /// Validates every field; the paths in the errors are relative to the action
    /// (`title`, `media_items[0].src`).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let mut text = |name: &str, v: &Option<String>, max: usize| {
            if let Some(v) = v
                && v.chars().count() > max
            {
                errs.push(name, format!("must be at most {max} characters"));
            }
        };
        text("title", &self.title, MAX_SHORT);
        text("subtitle", &self.subtitle, MAX_SHORT);
        text("description", &self.description, MAX_LONG);
        text("user_message", &self.user_message, MAX_LONG);
        text("action_name", &self.action_name, 200);
        text("template", &self.template, 2000);
        text("cid", &self.cid, 200);
        text("feed_id", &self.feed_id, 200);

        let mut url = |name: String, v: &str| {
            if let Err(m) = check_http_url(v) {
                errs.push(name, m);
            }
        };
        if let Some(link) = &self.link_back {
            url("link_back".into(), link);
        }
        for (i, m) in self.media_items.iter().enumerate() {
            url(format!("media_items[{i}].src"), &m.src);
            if let Some(h) = &m.href {
                url(format!("media_items[{i}].href"), h);
            }
            if let Some(p) = &m.preview_image_url {
                url(format!("media_items[{i}].preview_image_url"), p);
            }
        }
        for (i, l) in self.action_links.iter().enumerate() {
            url(format!("action_links[{i}].href"), &l.href);
        }
        for (name, f) in &self.template_fields {
            if let Some(h) = &f.href {
                url(format!("template_fields.{name}.href"), h);
            }
        }

        if self.media_items.len() > MAX_MEDIA_ITEMS {
            errs.push("media_items", format!("at most {MAX_MEDIA_ITEMS} items"));
        }
        if self.action_links.len() > MAX_ACTION_LINKS {
            errs.push("action_links", format!("at most {MAX_ACTION_LINKS} links"));
        }
        for (i, l) in self.action_links.iter().enumerate() {
            if l.text.trim().is_empty() || l.text.chars().count() > MAX_SHORT {
                errs.push(
                    format!("action_links[{i}].text"),
                    format!("must be 1 to {MAX_SHORT} characters"),
                );
            }
        }
        if self.tags.len() > MAX_TAGS {
            errs.push("tags", format!("at most {MAX_TAGS} tags"));
        }
        for (i, t) in self.tags.iter().enumerate() {
            if t.trim().is_empty() || t.chars().count() > 100 {
                errs.push(format!("tags[{i}]"), "must be 1 to 100 characters");
            }
        }
        if self.template_fields.len() > MAX_TEMPLATE_FIELDS {
            errs.push(
                "template_fields",
                format!("at most {MAX_TEMPLATE_FIELDS} fields"),
            );
        }
        for (name, f) in &self.template_fields {
            if f.text.chars().count() > MAX_SHORT {
                errs.push(
                    format!("template_fields.{name}.text"),
                    format!("must be at most {MAX_SHORT} characters"),
                );
            }
        }
        if let Some(t) = &self.template
            && let Err(e) = template::check(t, &self.template_fields)
        {
            errs.push("template", e.to_string());
        }
        if self.is_empty() {
            errs.push(
                "action",
                "needs at least one of title, description, user_message, link_back, media_items or template",
            );
        }
        errs.into_result()
    }

    fn is_empty(&self) -> bool {
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        blank(&self.title)
            && blank(&self.description)
            && blank(&self.user_message)
            && blank(&self.link_back)
            && blank(&self.template)
            && self.media_items.is_empty()
    }

    /// The first image, the natural preview picture.
    pub fn first_image(&self) -> Option<&MediaItem> {
        self.media_items.iter().find(|m| m.kind == MediaType::Image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> UserAction {
        serde_json::from_value(v).unwrap()
    }

    fn fields(e: ValidationErrors) -> Vec<String> {
        e.0.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn a_plain_link_share_is_valid() {
        let a = parse(json!({"title": "T", "link_back": "https://example.com/a?b=c%20d"}));
        a.validate().unwrap();
        assert_eq!(
            a.link_back.as_deref(),
            Some("https://example.com/a?b=c%20d")
        );
    }

    #[test]
    fn bad_urls_are_named() {
        let a = parse(json!({
            "title": "T",
            "link_back": "/relative",
            "media_items": [{"type": "image", "src": "ftp://x/y.png"}],
            "action_links": [{"text": "go", "href": "javascript:alert(1)"}]
        }));
        let f = fields(a.validate().unwrap_err());
        assert_eq!(
            f,
            vec!["link_back", "media_items[0].src", "action_links[0].href"]
        );
    }

    #[test]
    fn control_characters_in_urls_are_refused() {
        assert!(check_http_url("https://e.com/a\r\nSet-Cookie: x").is_err());
        assert!(check_http_url("https://e.com/\ta").is_err());
        assert!(check_http_url("https://e.com/caf%C3%A9").is_ok());
    }

    #[test]
    fn limits_on_counts() {
        let media: Vec<_> = (0..11)
            .map(|i| json!({"type": "image", "src": format!("https://e.com/{i}.png")}))
            .collect();
        let links: Vec<_> = (0..6)
            .map(|i| json!({"text": "t", "href": format!("https://e.com/{i}")}))
            .collect();
        let a = parse(json!({"title": "T", "media_items": media, "action_links": links}));
        let f = fields(a.validate().unwrap_err());
        assert_eq!(f, vec!["media_items", "action_links"]);
    }

    #[test]
    fn unknown_media_type_is_a_parse_error() {
        let r: Result<UserAction, _> = serde_json::from_value(
            json!({"media_items": [{"type": "hologram", "src": "https://e.com"}]}),
        );
        assert!(r.unwrap_err().to_string().contains("hologram"));
    }

    #[test]
    fn unknown_field_is_a_parse_error() {
        let r: Result<UserAction, _> = serde_json::from_value(json!({"titel": "x"}));
        assert!(r.unwrap_err().to_string().contains("titel"));
    }

    #[test]
    fn empty_action_is_refused() {
        let f = fields(UserAction::default().validate().unwrap_err());
        assert_eq!(f, vec!["action"]);
    }

    #[test]
    fn oversized_text_is_named() {
        let a = parse(json!({"title": "x".repeat(1001)}));
        assert_eq!(fields(a.validate().unwrap_err()), vec!["title"]);
    }

    #[test]
    fn unknown_template_placeholder_is_named() {
        let a = parse(json!({"template": "{actor} {action} {thing}"}));
        let e = a.validate().unwrap_err();
        assert_eq!(e.0[0].field, "template");
        assert!(e.0[0].message.contains("thing"), "{}", e.0[0].message);
    }
}
