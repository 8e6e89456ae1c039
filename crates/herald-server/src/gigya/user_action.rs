//! Gigya's camelCase `UserAction` (a JSON string parameter) and its mapping to
//! Herald's normalized action. Unknown keys are ignored, as Gigya did.

use herald_core::{ActionLink, MediaItem, MediaType, TemplateField, UserAction};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GigyaUserAction {
    title: Option<String>,
    subtitle: Option<String>,
    description: Option<String>,
    link_back: Option<String>,
    user_message: Option<String>,
    #[serde(default)]
    media_items: Vec<GigyaMediaItem>,
    #[serde(default)]
    action_links: Vec<GigyaActionLink>,
    action_name: Option<String>,
    template: Option<String>,
    #[serde(default)]
    template_fields: BTreeMap<String, GigyaTemplateField>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GigyaMediaItem {
    #[serde(rename = "type")]
    kind: GigyaMediaType,
    src: String,
    href: Option<String>,
    #[serde(rename = "previewImageURL", alias = "previewImageUrl")]
    preview_image_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum GigyaMediaType {
    Image,
    Video,
    Flash,
    Mp3,
    Audio,
}

#[derive(Debug, Deserialize)]
struct GigyaActionLink {
    #[serde(alias = "title")]
    text: String,
    href: String,
}

#[derive(Debug, Deserialize)]
struct GigyaTemplateField {
    text: String,
    href: Option<String>,
}

impl GigyaUserAction {
    pub fn into_action(self) -> UserAction {
        UserAction {
            title: self.title,
            subtitle: self.subtitle,
            description: self.description,
            user_message: self.user_message,
            link_back: self.link_back,
            media_items: self
                .media_items
                .into_iter()
                .map(|m| MediaItem {
                    kind: match m.kind {
                        GigyaMediaType::Image => MediaType::Image,
                        GigyaMediaType::Video => MediaType::Video,
                        GigyaMediaType::Flash => MediaType::Flash,
                        GigyaMediaType::Mp3 | GigyaMediaType::Audio => MediaType::Audio,
                    },
                    src: m.src,
                    href: m.href,
                    preview_image_url: m.preview_image_url,
                })
                .collect(),
            action_links: self
                .action_links
                .into_iter()
                .map(|l| ActionLink {
                    text: l.text,
                    href: l.href,
                })
                .collect(),
            action_name: self.action_name,
            template: self.template,
            template_fields: self
                .template_fields
                .into_iter()
                .map(|(k, f)| {
                    (
                        k,
                        TemplateField {
                            text: f.text,
                            href: f.href,
                        },
                    )
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// `media_items[0].preview_image_url` → `mediaItems[0].previewImageURL`, so
/// validation errors name Gigya's own field.
pub fn gigya_field(path: &str) -> String {
    let mut out = String::new();
    for (i, part) in path.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        let mut upper = false;
        for c in part.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                out.push(c.to_ascii_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
    }
    out.replace("previewImageUrl", "previewImageURL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_gigya_names_and_media_types() {
        let g: GigyaUserAction = serde_json::from_str(
            r#"{"title":"T","linkBack":"https://e.com","userMessage":"m","unknown":1,
                "mediaItems":[{"type":"mp3","src":"https://e.com/a.mp3"},{"type":"flash","src":"https://e.com/v","previewImageURL":"https://e.com/p.jpg"}],
                "actionLinks":[{"text":"go","href":"https://e.com/go"}],"actionName":"shared",
                "template":"{actor} {action} {thing}","templateFields":{"thing":{"text":"a post","href":"https://e.com"}}}"#,
        )
        .unwrap();
        let a = g.into_action();
        assert_eq!(a.link_back.as_deref(), Some("https://e.com"));
        assert_eq!(a.media_items[0].kind, MediaType::Audio);
        assert_eq!(
            a.media_items[1].preview_image_url.as_deref(),
            Some("https://e.com/p.jpg")
        );
        assert_eq!(a.template_fields["thing"].text, "a post");
        a.validate().unwrap();
    }

    #[test]
    fn field_paths_use_gigya_names() {
        assert_eq!(gigya_field("link_back"), "linkBack");
        assert_eq!(
            gigya_field("media_items[0].preview_image_url"),
            "mediaItems[0].previewImageURL"
        );
        assert_eq!(
            gigya_field("template_fields.thing.href"),
            "templateFields.thing.href"
        );
    }
}
