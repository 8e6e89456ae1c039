//! Pure rendering of a user action into the body of `POST /2/tweets`, with no
//! IO, so a preview shows exactly what `publish` sends.
//!
//! The body is `{"text": …}` (docs.x.com, manage Posts quickstart: "requires
//! a JSON body with at least text or media"). The text is the user's message,
//! then the headline (the expanded template, else the title), then — only
//! when there is no link — the description, one paragraph each, with the
//! link back at the end. With a link X builds the card (title, description,
//! image) from the page's own tags, so repeating them would only spend the
//! 280. The text is fitted as X counts it ([`crate::length`]), keeping the
//! link whole.
//!
//! Not sent: media (uploading needs the `media.write` scope and X's media
//! upload; the link card shows the page's image instead) and action links.
//! X has no per-post audience: a post is seen by whoever can see the
//! account. An action marked `private` is therefore refused rather than
//! posted for everyone; `friends` is posted with a warning.

use crate::length::{self, MAX_WEIGHTED_LENGTH, URL_LENGTH};
use herald_core::text::Fitted;
use herald_core::{AccountInfo, NativePost, Privacy, RenderError, RenderedAction, UserAction};
use serde_json::json;

/// `NativePost.kind` of a post.
pub const POST_KIND: &str = "tweet";

/// Renders `action` as a post within the account's limit (else 280; X
/// Premium accounts may post longer, handed in as `AccountInfo::max_text`).
pub fn render(action: &RenderedAction, account: &AccountInfo) -> Result<NativePost, RenderError> {
    let a = &action.action;
    if a.privacy == Some(Privacy::Private) {
        return Err(RenderError::Unsupported(
            "X has no private posts: an action with privacy \"private\" is not posted".into(),
        ));
    }
    let headline = action.headline(account)?.map(|e| e.text);
    let limit = account.max_text.unwrap_or(MAX_WEIGHTED_LENGTH);
    let link = present(&a.link_back);
    let text = post_text(a, headline.as_deref());
    if text.is_empty() && link.is_none() {
        return Err(RenderError::Invalid {
            field: "action".into(),
            message: "a post on X needs user_message, template, title, description or link_back"
                .into(),
        });
    }
    let fitted = length::fit(&text, link, limit);
    if fitted.text.trim().is_empty() {
        return Err(RenderError::Invalid {
            field: "action".into(),
            message: format!("nothing of the post fits in {limit} characters"),
        });
    }
    Ok(NativePost {
        kind: POST_KIND.into(),
        body: json!({ "text": fitted.text }),
        warnings: warnings(a, &fitted, limit),
    })
}

/// The paragraphs of the post, before fitting: message, headline or title,
/// and the description when there is no link card to show it (each once,
/// blank ones left out).
pub fn post_text(action: &UserAction, headline: Option<&str>) -> String {
    let headline = headline
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .or(present(&action.title));
    let description = present(&action.link_back)
        .is_none()
        .then(|| present(&action.description))
        .flatten();
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
fn warnings(action: &UserAction, fitted: &Fitted, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    if fitted.truncated {
        out.push(format!(
            "the text was shortened to fit {limit} characters as X counts them (URLs {URL_LENGTH}, CJK and emoji 2)"
        ));
    }
    if let Some(l) = present(&action.link_back)
        && !fitted.text.contains(l)
    {
        out.push("the link does not fit in the post and was left out".into());
    }
    if action.privacy == Some(Privacy::Friends) {
        out.push(
            "X has no friends-only posts: the post is seen by whoever can see the account".into(),
        );
    }
    if !action.media_items.is_empty() {
        out.push(format!(
            "{} media item(s) not sent: Herald does not upload media to X (a link card shows the page's image)",
            action.media_items.len()
        ));
    }
    if !action.action_links.is_empty() {
        out.push("action_links are not sent: X posts have no action links".into());
    }
    out
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::length::weighted_length;
    use herald_core::{ActionId, ActionMeta};
    use serde_json::Value;
    use std::collections::BTreeMap;

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
            options: BTreeMap::new(),
        }
    }

    fn text(p: &NativePost) -> &str {
        p.body["text"].as_str().unwrap()
    }

    #[test]
    fn message_headline_then_link() {
        let p = render(
            &ra(json!({
                "user_message": "Worth a read",
                "title": "Herald ships",
                "description": "A share gateway.",
                "link_back": "https://site.example/p/1",
            })),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(p.kind, "tweet");
        // The description is left to the link card.
        assert_eq!(
            p.body,
            json!({"text": "Worth a read\n\nHerald ships https://site.example/p/1"})
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        // Without a link, the description is the post's.
        let p = render(
            &ra(json!({"title": "Herald ships", "description": "A share gateway."})),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(text(&p), "Herald ships\n\nA share gateway.");
    }

    #[test]
    fn template_replaces_title() {
        let p = render(
            &ra(json!({
                "user_message": "Loved it",
                "title": "Not shown",
                "action_name": "read",
                "template": "{actor} {action} {thing}",
                "template_fields": {"thing": {"text": "the post"}},
                "link_back": "https://site.example/",
            })),
            &AccountInfo {
                display_name: Some("@ana".into()),
                ..AccountInfo::default()
            },
        )
        .unwrap();
        assert_eq!(
            text(&p),
            "Loved it\n\n@ana read the post https://site.example/"
        );
    }

    #[test]
    fn exactly_280_is_sent_and_281_is_cut_keeping_the_link() {
        let link = format!("https://site.example/{}", "a".repeat(200));
        // 256 of Latin (1 each) = 256 + space + URL 23 = 280.
        let msg = "é".repeat(256);
        let p = render(
            &ra(json!({"user_message": msg, "link_back": link})),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(text(&p), format!("{msg} {link}"));
        assert_eq!(weighted_length(text(&p)), 280);
        assert!(p.warnings.is_empty());
        // One more: cut with an ellipsis (weight 2), the link kept whole.
        let msg = "é".repeat(257);
        let p = render(
            &ra(json!({"user_message": msg, "link_back": link})),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(text(&p), format!("{}… {link}", "é".repeat(254)));
        assert_eq!(weighted_length(text(&p)), 280);
        assert!(p.warnings[0].contains("shortened to fit 280"));
    }

    #[test]
    fn cjk_and_emoji_count_two() {
        let link = "https://site.example/p";
        // 64 CJK (128) + 64 thumbs with skin tone (128) = 256 + 1 + 23 = 280.
        let msg = format!("{}{}", "漢".repeat(64), "👍🏽".repeat(64));
        let p = render(
            &ra(json!({"user_message": msg, "link_back": link})),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(text(&p), format!("{msg} {link}"));
        let msg = format!("{msg}字");
        let p = render(
            &ra(json!({"user_message": msg, "link_back": link})),
            &AccountInfo::default(),
        )
        .unwrap();
        let t = text(&p);
        assert!(t.ends_with(&format!("… {link}")), "{t}");
        assert!(weighted_length(t) <= 280);
        // Graphemes are never split.
        assert!(t.contains(&format!("{}…", "👍🏽".repeat(63))), "{t}");
    }

    #[test]
    fn per_account_limit_overrides_the_default() {
        let words = "word ".repeat(100);
        let p = render(
            &ra(json!({"user_message": words})),
            &AccountInfo {
                max_text: Some(25_000),
                ..AccountInfo::default()
            },
        )
        .unwrap();
        assert_eq!(text(&p), words.trim());
        let p = render(&ra(json!({"user_message": words})), &AccountInfo::default()).unwrap();
        assert!(text(&p).ends_with("word…"));
        assert!(weighted_length(text(&p)) <= 280);
    }

    #[test]
    fn privacy() {
        let e = render(
            &ra(json!({"title": "t", "privacy": "private"})),
            &AccountInfo::default(),
        )
        .unwrap_err();
        assert!(matches!(e, RenderError::Unsupported(_)), "{e:?}");
        let p = render(
            &ra(json!({"title": "t", "privacy": "friends"})),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(p.body, json!({"text": "t"}));
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("no friends-only posts"));
        let p = render(
            &ra(json!({"title": "t", "privacy": "public"})),
            &AccountInfo::default(),
        )
        .unwrap();
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn link_only_empty_and_what_is_not_sent() {
        let p = render(
            &ra(json!({"link_back": "https://site.example/"})),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(p.body, json!({"text": "https://site.example/"}));
        let e = render(
            &ra(json!({"media_items": [{"type": "image", "src": "https://i.example/a.png"}]})),
            &AccountInfo::default(),
        )
        .unwrap_err();
        assert!(matches!(e, RenderError::Invalid { ref field, .. } if field == "action"));
        let p = render(
            &ra(json!({
                "title": "t",
                "media_items": [{"type": "image", "src": "https://i.example/a.png"}],
                "action_links": [{"text": "Go", "href": "https://site.example/"}],
            })),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(
            p.warnings,
            [
                "1 media item(s) not sent: Herald does not upload media to X (a link card shows the page's image)",
                "action_links are not sent: X posts have no action links",
            ]
        );
        // A limit too small for the link: the text alone, and a warning.
        let p = render(
            &ra(json!({"title": "Headline here", "link_back": "https://site.example/"})),
            &AccountInfo {
                max_text: Some(10),
                ..AccountInfo::default()
            },
        )
        .unwrap();
        assert_eq!(text(&p), "Headline…");
        assert!(p.warnings.iter().any(|w| w.contains("link does not fit")));
    }
}
