//! Pure rendering of a user action into a Mastodon status, with no IO, so a
//! preview shows exactly what `publish` sends.
//!
//! The status text is the user's message, then the headline (the expanded
//! template, else the title), then the description, one paragraph each, with
//! the link back at the end. It is fitted to the limit the way Mastodon's
//! `StatusLengthValidator` counts: grapheme clusters, every URL as 23
//! characters; when too long the text is cut at a word boundary with an
//! ellipsis and the link is kept. (Mastodon counts a `@user@domain` mention
//! as its local part only; this counts it whole, so it can only cut early,
//! never send too much.) There is no content warning: the action has no
//! field for `spoiler_text`.
//!
//! Images: with a link back, none are attached — the instance builds the
//! preview card (title, image) from the link's page itself, and attached
//! media would replace that card. Without a link, up to [`MAX_MEDIA`] images
//! are listed under `media_urls`, the one key of the body that is Herald's:
//! `publish` uploads each and sends `media_ids` in its place.
//!
//! Visibility comes from the action's `privacy`, else the app's `visibility`
//! option, else it is left out (the account's default applies):
//! `public` → `public`; `friends` → `private` (followers only); `private` →
//! `direct` (a direct status that mentions nobody is seen by its author
//! alone — the closest Mastodon has to "only me"). `unlisted` can only be
//! chosen through the option.

use herald_core::text::{self, Fitted};
use herald_core::{
    AccountInfo, MediaType, NativePost, Privacy, RenderError, RenderedAction, TextCounting,
    UserAction,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `NativePost.kind` of a status.
pub const STATUS_KIND: &str = "status";
/// Mastodon's default `max_characters` (instances may raise it).
pub const DEFAULT_MAX_CHARS: usize = 500;
/// `characters_reserved_per_url`: every URL counts as this many characters.
pub const URL_CHARS: usize = 23;
/// How Mastodon counts.
pub const COUNTING: TextCounting = TextCounting {
    url_weight: Some(URL_CHARS),
};
/// Mastodon's `max_media_attachments` default.
pub const MAX_MEDIA: usize = 4;
/// The body key listing images to upload (replaced by `media_ids` when sent).
pub const MEDIA_URLS: &str = "media_urls";
/// The values of `visibility`, in Mastodon's words.
pub const VISIBILITIES: &[&str] = &["public", "unlisted", "private", "direct"];

/// Renders `action` as a status within the account's limit (else 500).
pub fn render(action: &RenderedAction, account: &AccountInfo) -> Result<NativePost, RenderError> {
    let a = &action.action;
    let headline = action.headline(account)?.map(|e| e.text);
    let visibility = visibility(a.privacy, &action.options)?;
    let limit = account.max_text.unwrap_or(DEFAULT_MAX_CHARS);
    let text = status_text(a, headline.as_deref());
    let link = present(&a.link_back);
    let images = images(a);
    if text.is_empty() && link.is_none() && images.is_empty() {
        return Err(RenderError::Invalid {
            field: "action".into(),
            message: "a Mastodon status needs user_message, template, title, description, link_back or an image"
                .into(),
        });
    }
    let fitted = text::fit(&text, link, limit, &COUNTING);
    if fitted.text.trim().is_empty() && images.is_empty() {
        return Err(RenderError::Invalid {
            field: "action".into(),
            message: format!("nothing of the status fits in {limit} characters"),
        });
    }
    let mut body = Map::new();
    body.insert("status".into(), fitted.text.clone().into());
    if let Some(v) = visibility {
        body.insert("visibility".into(), v.into());
    }
    if !images.is_empty() {
        body.insert(MEDIA_URLS.into(), images.clone().into());
    }
    Ok(NativePost {
        kind: STATUS_KIND.into(),
        body: Value::Object(body),
        warnings: warnings(a, &fitted, limit, images.len()),
    })
}

/// The images to attach: none when there is a link back (its card shows the
/// page's image), else the first [`MAX_MEDIA`] images.
pub fn images(action: &UserAction) -> Vec<String> {
    if present(&action.link_back).is_some() {
        return Vec::new();
    }
    action
        .media_items
        .iter()
        .filter(|m| m.kind == MediaType::Image)
        .take(MAX_MEDIA)
        .map(|m| m.src.clone())
        .collect()
}

/// The paragraphs of the status, before fitting: message, headline or title,
/// description (each once, blank ones left out).
pub fn status_text(action: &UserAction, headline: Option<&str>) -> String {
    let headline = headline
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .or(present(&action.title));
    let mut parts: Vec<&str> = Vec::new();
    for p in [
        present(&action.user_message),
        headline,
        present(&action.description),
    ]
    .into_iter()
    .flatten()
    {
        if !parts.contains(&p) {
            parts.push(p);
        }
    }
    parts.join("\n\n")
}

/// The status's `visibility`, if the action or the app chose one.
pub fn visibility(
    privacy: Option<Privacy>,
    options: &BTreeMap<String, String>,
) -> Result<Option<&'static str>, RenderError> {
    if let Some(p) = privacy {
        return Ok(Some(match p {
            Privacy::Public => "public",
            Privacy::Friends => "private",
            Privacy::Private => "direct",
        }));
    }
    match options.get("visibility").map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) => VISIBILITIES
            .iter()
            .find(|x| **x == v)
            .map(|x| Some(*x))
            .ok_or_else(|| RenderError::Invalid {
                field: "options.visibility".into(),
                message: format!(
                    "unknown visibility {v:?}: use public, unlisted, private or direct"
                ),
            }),
    }
}

/// Notes what the status does not carry, so a preview shows it.
pub fn warnings(
    action: &UserAction,
    fitted: &Fitted,
    limit: usize,
    attached: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    if fitted.truncated {
        out.push(format!(
            "the text was shortened to fit {limit} characters (URLs count as {URL_CHARS})"
        ));
    }
    let dropped = action.media_items.len() - attached;
    if dropped > 0 {
        out.push(if present(&action.link_back).is_some() {
            format!(
                "{dropped} media item(s) not sent: the instance builds the link preview from link_back itself"
            )
        } else {
            format!("{dropped} media item(s) not sent: only up to {MAX_MEDIA} images are attached")
        });
    }
    if !action.action_links.is_empty() {
        out.push("action_links are not sent: Mastodon has no action links".into());
    }
    out
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::{ActionId, ActionMeta, text::count};
    use serde_json::json;

    fn ra(v: Value, options: &[(&str, &str)]) -> RenderedAction {
        RenderedAction {
            action: serde_json::from_value(v).unwrap(),
            meta: ActionMeta {
                action_id: ActionId::new(),
                uid: "u1".into(),
                delivery_id: None,
                app_name: "Site".into(),
                site_url: None,
            },
            options: options
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn status(p: &NativePost) -> &str {
        p.body["status"].as_str().unwrap()
    }

    #[test]
    fn paragraphs_then_link() {
        let p = render(
            &ra(
                json!({
                    "user_message": "Worth a read",
                    "title": "Herald ships",
                    "description": "A share gateway.",
                    "link_back": "https://site.example/p/1",
                }),
                &[],
            ),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(p.kind, "status");
        assert_eq!(
            p.body,
            json!({"status": "Worth a read\n\nHerald ships\n\nA share gateway. https://site.example/p/1"})
        );
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn template_replaces_title_and_duplicates_are_dropped() {
        let p = render(
            &ra(
                json!({
                    "user_message": "Loved it",
                    "title": "Not shown",
                    "action_name": "read",
                    "template": "{actor} {action} {thing}",
                    "template_fields": {"thing": {"text": "the post"}},
                }),
                &[],
            ),
            &AccountInfo {
                display_name: Some("Ana".into()),
                ..AccountInfo::default()
            },
        )
        .unwrap();
        assert_eq!(status(&p), "Loved it\n\nAna read the post");
        let p = render(
            &ra(json!({"user_message": "Same", "title": "Same"}), &[]),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(status(&p), "Same");
    }

    #[test]
    fn five_hundred_with_urls_as_23_and_emoji_graphemes() {
        let link = format!("https://site.example/{}", "a".repeat(200));
        // 476 graphemes of skin-toned thumbs (each 2 code points, 8 bytes) +
        // space + a 221-char URL counting 23 = exactly 500: sent untouched.
        let msg = "👍🏽".repeat(476);
        let p = render(
            &ra(json!({"user_message": msg, "link_back": link}), &[]),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(status(&p), format!("{msg} {link}"));
        assert_eq!(count(status(&p), &COUNTING), 500);
        assert!(p.warnings.is_empty());
        // One more grapheme: cut with an ellipsis, the link kept whole.
        let msg = "👍🏽".repeat(477);
        let p = render(
            &ra(json!({"user_message": msg, "link_back": link}), &[]),
            &AccountInfo::default(),
        )
        .unwrap();
        let s = status(&p);
        assert!(s.ends_with(&format!("… {link}")), "{s}");
        assert_eq!(count(s, &COUNTING), 500);
        assert!(p.warnings[0].contains("shortened to fit 500"));
    }

    #[test]
    fn words_are_kept_whole_and_links_in_text_count_23() {
        let inline = format!("https://other.example/{}", "x".repeat(300));
        let words = "lorem ipsum ".repeat(60);
        let p = render(
            &ra(
                json!({
                    "user_message": format!("see {inline} {words}"),
                    "link_back": "https://site.example/p/1",
                }),
                &[],
            ),
            &AccountInfo::default(),
        )
        .unwrap();
        let s = status(&p);
        assert!(s.starts_with(&format!("see {inline} lorem")), "{s}");
        assert!(s.ends_with("… https://site.example/p/1"), "{s}");
        let before = s.trim_end_matches("… https://site.example/p/1");
        assert!(
            before.ends_with("lorem") || before.ends_with("ipsum"),
            "{s}"
        );
        let n = count(s, &COUNTING);
        assert!(n <= 500 && n > 480, "{n}");
    }

    #[test]
    fn per_account_limit_overrides_the_default() {
        // 749 characters: over the default 500, within an instance's 1000.
        let text = "word ".repeat(150);
        let p = render(
            &ra(json!({"user_message": text}), &[]),
            &AccountInfo {
                max_text: Some(1000),
                ..AccountInfo::default()
            },
        )
        .unwrap();
        assert_eq!(status(&p), text.trim());
        let p = render(
            &ra(json!({"user_message": text}), &[]),
            &AccountInfo::default(),
        )
        .unwrap();
        assert!(status(&p).ends_with('…') && count(status(&p), &COUNTING) <= 500);
        let p = render(
            &ra(json!({"user_message": text}), &[]),
            &AccountInfo {
                max_text: Some(50),
                ..AccountInfo::default()
            },
        )
        .unwrap();
        assert!(count(status(&p), &COUNTING) <= 50);
        assert!(status(&p).ends_with('…'));
    }

    #[test]
    fn link_only_and_empty_actions() {
        let p = render(
            &ra(json!({"link_back": "https://site.example/"}), &[]),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(status(&p), "https://site.example/");
        let e = render(
            &ra(
                json!({"media_items": [{"type": "video", "src": "https://i.example/a.mp4"}]}),
                &[],
            ),
            &AccountInfo::default(),
        )
        .unwrap_err();
        assert!(matches!(e, RenderError::Invalid { ref field, .. } if field == "action"));
    }

    #[test]
    fn visibility_mapping_and_option() {
        let opts = |v: &[(&str, &str)]| -> BTreeMap<String, String> {
            v.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let none = opts(&[]);
        assert_eq!(
            visibility(Some(Privacy::Public), &none).unwrap(),
            Some("public")
        );
        assert_eq!(
            visibility(Some(Privacy::Friends), &none).unwrap(),
            Some("private")
        );
        assert_eq!(
            visibility(Some(Privacy::Private), &none).unwrap(),
            Some("direct")
        );
        assert_eq!(visibility(None, &none).unwrap(), None);
        let unlisted = opts(&[("visibility", "unlisted")]);
        assert_eq!(visibility(None, &unlisted).unwrap(), Some("unlisted"));
        // The action's own privacy wins over the app default.
        assert_eq!(
            visibility(Some(Privacy::Public), &unlisted).unwrap(),
            Some("public")
        );
        let e = visibility(None, &opts(&[("visibility", "friends")])).unwrap_err();
        assert!(
            matches!(e, RenderError::Invalid { ref field, .. } if field == "options.visibility")
        );

        let p = render(
            &ra(json!({"title": "t", "privacy": "friends"}), &[]),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(p.body, json!({"status": "t", "visibility": "private"}));
    }

    #[test]
    fn warnings_for_what_is_not_sent() {
        let p = render(
            &ra(
                json!({
                    "title": "t",
                    "media_items": [{"type": "image", "src": "https://i.example/a.png"}],
                    "action_links": [{"text": "Go", "href": "https://site.example/"}],
                }),
                &[],
            ),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("action_links"));
        let p = render(
            &ra(
                json!({
                    "title": "t",
                    "link_back": "https://site.example/",
                    "media_items": [{"type": "image", "src": "https://i.example/a.png"}],
                }),
                &[],
            ),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].starts_with("1 media item(s) not sent: the instance builds"));
    }

    #[test]
    fn images_are_attached_only_without_a_link() {
        let img = |n: usize| json!({"type": "image", "src": format!("https://i.example/{n}.png")});
        let media: Vec<Value> = (0..6)
            .map(img)
            .chain([json!({"type": "video", "src": "https://i.example/v.mp4"})])
            .collect();
        let p = render(
            &ra(json!({"user_message": "photos", "media_items": media}), &[]),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(
            p.body,
            json!({"status": "photos", "media_urls": [
                "https://i.example/0.png", "https://i.example/1.png",
                "https://i.example/2.png", "https://i.example/3.png"
            ]})
        );
        assert_eq!(
            p.warnings,
            ["3 media item(s) not sent: only up to 4 images are attached"]
        );
        // An image alone is a status without text.
        let p = render(
            &ra(json!({"media_items": [img(0)]}), &[]),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(
            p.body,
            json!({"status": "", "media_urls": ["https://i.example/0.png"]})
        );
        let p = render(
            &ra(
                json!({"link_back": "https://site.example/", "media_items": [img(0)]}),
                &[],
            ),
            &AccountInfo::default(),
        )
        .unwrap();
        assert!(p.body.get("media_urls").is_none());
    }
}
