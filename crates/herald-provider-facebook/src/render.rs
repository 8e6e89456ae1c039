//! Pure rendering of a user action into a Page feed post, with no IO, so a
//! preview shows exactly what `publish` sends (the token parameters are
//! added at send time).
//!
//! The body holds the two parameters of `POST /{page-id}/feed` Herald uses
//! (developers.facebook.com/docs/pages-api/posts): `message` and `link`.
//! The link back goes in `link`, never into the message, so fitting the
//! message can never cut it; Facebook scrapes the linked page's OpenGraph
//! tags for the preview. The `name`/`caption`/`description`/`picture`
//! overrides of a link were deprecated (Graph API v2.9, and the fields
//! removed from Page posts in v3.3), so they are not sent: with a link the
//! action's description is left to the page's own tags, and a warning says
//! so.
//!
//! The message is the user's message, then the headline (the expanded
//! template, else the title), then — only without a link — the description,
//! one paragraph each. Facebook's post limit, 63 206 characters, is not in
//! the Graph API reference but is the long-standing limit of the composer;
//! it is counted here in grapheme clusters (URLs as typed), and a longer
//! message is cut at a word boundary with an ellipsis.
//!
//! A Page's posts are public. An action meant for its author only
//! (`privacy: private`) is refused rather than published to everyone;
//! `friends` is published with a warning (a Page's audience is its
//! followers and the public). Images are not attached: a link post shows the
//! page's image, and Herald publishes Page text and links only.

use herald_core::text::{self, Fitted};
use herald_core::{
    AccountInfo, NativePost, Privacy, RenderError, RenderedAction, TextCounting, UserAction,
};
use serde_json::{Map, Value};

/// `NativePost.kind` of a Page feed post.
pub const FEED_KIND: &str = "page_post";
/// The longest message Facebook accepts.
pub const MAX_MESSAGE_CHARS: usize = 63_206;
/// How the limit is counted: graphemes, every character of a URL included.
pub const COUNTING: TextCounting = TextCounting { url_weight: None };

/// Renders `action` as a Page post.
pub fn render(action: &RenderedAction, account: &AccountInfo) -> Result<NativePost, RenderError> {
    let a = &action.action;
    if a.privacy == Some(Privacy::Private) {
        return Err(RenderError::Unsupported(
            "a Facebook Page post is public; an action with privacy \"private\" is not posted there"
                .into(),
        ));
    }
    let headline = action.headline(account)?.map(|e| e.text);
    let link = present(&a.link_back);
    let text = message_text(a, headline.as_deref(), link.is_some());
    if text.is_empty() && link.is_none() {
        return Err(RenderError::Invalid {
            field: "action".into(),
            message:
                "a Facebook post needs user_message, template, title, description or link_back"
                    .into(),
        });
    }
    let limit = account.max_text.unwrap_or(MAX_MESSAGE_CHARS);
    let fitted = text::fit(&text, None, limit, &COUNTING);
    if fitted.text.is_empty() && link.is_none() {
        return Err(RenderError::Invalid {
            field: "action".into(),
            message: format!("nothing of the message fits in {limit} characters"),
        });
    }
    let mut body = Map::new();
    if !fitted.text.is_empty() {
        body.insert("message".into(), fitted.text.clone().into());
    }
    if let Some(l) = link {
        body.insert("link".into(), l.into());
    }
    Ok(NativePost {
        kind: FEED_KIND.into(),
        body: Value::Object(body),
        warnings: warnings(a, &fitted, limit),
    })
}

/// The paragraphs of the message, before fitting: message, headline or
/// title, and the description when there is no link (each once, blank ones
/// left out).
pub fn message_text(action: &UserAction, headline: Option<&str>, has_link: bool) -> String {
    let headline = headline
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .or(present(&action.title));
    let description = present(&action.description).filter(|_| !has_link);
    let mut parts: Vec<&str> = Vec::new();
    for p in [present(&action.user_message), headline, description]
        .into_iter()
        .flatten()
    {
        if !parts.contains(&p) {
            parts.push(p);
        }
    }
    parts.join("\n\n")
}

/// Notes what the post does not carry, so a preview shows it.
pub fn warnings(action: &UserAction, fitted: &Fitted, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    if fitted.truncated {
        out.push(format!(
            "the message was shortened to fit {limit} characters"
        ));
    }
    let has_link = present(&action.link_back).is_some();
    if let Some(d) = present(&action.description)
        && has_link
        && !fitted.text.contains(d)
    {
        out.push(
            "description is not sent: Facebook shows the linked page's own description in the link preview"
                .into(),
        );
    }
    if !action.media_items.is_empty() {
        out.push(if has_link {
            format!(
                "{} media item(s) not sent: Facebook builds the link preview from link_back's page",
                action.media_items.len()
            )
        } else {
            format!(
                "{} media item(s) not sent: Herald posts text and links to Facebook Pages",
                action.media_items.len()
            )
        });
    }
    if !action.action_links.is_empty() {
        out.push("action_links are not sent: Facebook Page posts have no action links".into());
    }
    if action.privacy == Some(Privacy::Friends) {
        out.push("privacy \"friends\" is not applied: a Facebook Page's posts are public".into());
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

    fn ra(v: Value) -> RenderedAction {
        RenderedAction {
            action: serde_json::from_value(v).unwrap(),
            meta: ActionMeta {
                action_id: ActionId::new(),
                uid: "u1".into(),
                delivery_id: None,
                app_name: "Site".into(),
                site_url: None,
            },
            options: Default::default(),
        }
    }

    fn page() -> AccountInfo {
        AccountInfo {
            provider_uid: Some("1234567890".into()),
            display_name: Some("Zoë's Café".into()),
            ..AccountInfo::default()
        }
    }

    fn message(p: &NativePost) -> &str {
        p.body["message"].as_str().unwrap()
    }

    #[test]
    fn message_and_link_are_separate_parameters() {
        let p = render(
            &ra(json!({
                "user_message": "Worth a read",
                "title": "Herald ships",
                "description": "A share gateway.",
                "link_back": "https://site.example/p/1",
            })),
            &page(),
        )
        .unwrap();
        assert_eq!(p.kind, "page_post");
        assert_eq!(
            p.body,
            json!({"message": "Worth a read\n\nHerald ships", "link": "https://site.example/p/1"})
        );
        assert_eq!(
            p.warnings,
            [
                "description is not sent: Facebook shows the linked page's own description in the link preview"
            ]
        );
        // Without a link the description is part of the message.
        let p = render(
            &ra(json!({"title": "Herald ships", "description": "A share gateway."})),
            &page(),
        )
        .unwrap();
        assert_eq!(
            p.body,
            json!({"message": "Herald ships\n\nA share gateway."})
        );
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn template_names_the_page_and_a_link_alone_is_a_post() {
        let p = render(
            &ra(json!({
                "title": "not shown",
                "action_name": "recommends",
                "template": "{actor} {action} {thing}",
                "template_fields": {"thing": {"text": "this café"}},
                "link_back": "https://site.example/",
            })),
            &page(),
        )
        .unwrap();
        assert_eq!(message(&p), "Zoë's Café recommends this café");
        let p = render(&ra(json!({"link_back": "https://site.example/"})), &page()).unwrap();
        assert_eq!(p.body, json!({"link": "https://site.example/"}));
    }

    #[test]
    fn the_limit_exactly_and_one_over_keeps_the_link() {
        let link = "https://site.example/article";
        // Skin-toned thumbs: 1 grapheme, 2 code points, 8 bytes each.
        let msg = format!("{} {}", "👍🏽".repeat(63_000), "é".repeat(205));
        assert_eq!(count(&msg, &COUNTING), MAX_MESSAGE_CHARS);
        let p = render(
            &ra(json!({"user_message": msg, "link_back": link})),
            &page(),
        )
        .unwrap();
        assert_eq!(message(&p), msg);
        assert_eq!(p.body["link"], link);
        assert!(p.warnings.is_empty());

        let over = format!("{msg}x");
        let p = render(
            &ra(json!({"user_message": over, "link_back": link})),
            &page(),
        )
        .unwrap();
        let m = message(&p);
        assert_eq!(count(m, &COUNTING), 63_001, "cut at the word boundary");
        assert_eq!(m, format!("{}…", "👍🏽".repeat(63_000)));
        assert_eq!(p.body["link"], link);
        assert_eq!(
            p.warnings,
            ["the message was shortened to fit 63206 characters"]
        );

        // One word over the limit: cut inside it, exactly at the limit.
        let p = render(
            &ra(json!({"user_message": "ß".repeat(MAX_MESSAGE_CHARS + 1)})),
            &page(),
        )
        .unwrap();
        assert_eq!(count(message(&p), &COUNTING), MAX_MESSAGE_CHARS);
        assert!(message(&p).ends_with("ß…"));
    }

    #[test]
    fn privacy_and_empty_actions() {
        let e = render(&ra(json!({"title": "t", "privacy": "private"})), &page()).unwrap_err();
        assert!(matches!(e, RenderError::Unsupported(ref m) if m.contains("public")));
        let p = render(&ra(json!({"title": "t", "privacy": "friends"})), &page()).unwrap();
        assert_eq!(p.body, json!({"message": "t"}));
        assert_eq!(
            p.warnings,
            ["privacy \"friends\" is not applied: a Facebook Page's posts are public"]
        );
        let p = render(&ra(json!({"title": "t", "privacy": "public"})), &page()).unwrap();
        assert!(p.warnings.is_empty());
        let e = render(
            &ra(json!({"media_items": [{"type": "image", "src": "https://i.example/a.png"}]})),
            &page(),
        )
        .unwrap_err();
        assert!(matches!(e, RenderError::Invalid { ref field, .. } if field == "action"));
    }

    #[test]
    fn warnings_for_what_is_not_sent() {
        let p = render(
            &ra(json!({
                "user_message": "photos",
                "media_items": [{"type": "image", "src": "https://i.example/a.png"}],
                "action_links": [{"text": "Go", "href": "https://site.example/"}],
            })),
            &page(),
        )
        .unwrap();
        assert_eq!(
            p.warnings,
            [
                "1 media item(s) not sent: Herald posts text and links to Facebook Pages",
                "action_links are not sent: Facebook Page posts have no action links",
            ]
        );
        let p = render(
            &ra(json!({
                "link_back": "https://site.example/",
                "media_items": [{"type": "image", "src": "https://i.example/a.png"}],
            })),
            &page(),
        )
        .unwrap();
        assert_eq!(
            p.warnings,
            ["1 media item(s) not sent: Facebook builds the link preview from link_back's page"]
        );
    }
}
