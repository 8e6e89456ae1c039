//! Pure rendering of a user action into a LinkedIn post (Posts API body),
//! with no IO, so a preview shows exactly what `publish` sends.
//!
//! Shape (learn.microsoft.com/linkedin/marketing/community-management/shares/
//! posts-api, "Create an Article Post"): `author`, `commentary`,
//! `visibility`, `distribution` (`MAIN_FEED`, no targeting, no third-party
//! channels), `lifecycleState` `PUBLISHED`, `isReshareDisabledByAuthor`
//! false, and with a link back `content.article` {`source`, `title`,
//! `description`}. `author` is `urn:li:person:{id}` of the account when
//! known; `publish` always sets it from the credential, which is
//! authoritative.
//!
//! The link: the article card carries it (clickable title, description, the
//! site's domain), so it is NOT repeated in the commentary: a bare URL in the
//! text would show twice and spend commentary characters on nothing. The
//! card is kept whatever the text's length, so the link is never lost. With a
//! card, the commentary is the user's message and the expanded template (the
//! card already shows title and description); without a link it is message,
//! headline (else title) and description, one paragraph each.
//!
//! The commentary is "little" text (…/shares/little-text-format): the
//! characters `| { } @ [ ] ( ) < > # \ * _ ~` are reserved for mentions,
//! hashtags and templates and "must be escaped to be treated as plaintext";
//! unescaped, LinkedIn may cut the post at the first one while still
//! answering 201. [`escape_little`] escapes every one of them, so a
//! `#word` or `@name` the user typed is shown as typed (not as a hashtag or
//! mention) and nothing is silently lost.
//!
//! Length: LinkedIn refuses commentary over 3000 characters (400
//! `FIELD_ARRAY_SIZE_TOO_HIGH`, "ShareCommentary text length (N characters)
//! exceeded the maximum allowed (3000 characters)"). How it counts is not
//! documented; its backend is Java, whose string length is UTF-16 code
//! units, and whether the escapes count is not said either. So the fitted
//! text is measured the strictest way: UTF-16 code units of the escaped
//! commentary, never fewer than the graphemes a person sees. It is cut at a
//! word boundary with an ellipsis ([`herald_core::text::fit`]) until that
//! measure is within [`MAX_COMMENTARY`].
//!
//! Visibility from the action's `privacy`, else the app's `visibility`
//! option, else `PUBLIC`: `public` → `PUBLIC`, `friends` → `CONNECTIONS`;
//! `private` has no LinkedIn equivalent (every post is seen by at least the
//! member's connections), so it is refused rather than widened.
//!
//! Images are not attached: LinkedIn needs them uploaded first
//! (`/rest/images?action=initializeUpload`) and the article card shows the
//! page's own preview; a warning says so.

use herald_core::text::{self, Fitted};
use herald_core::{
    AccountInfo, NativePost, Privacy, RenderError, RenderedAction, TextCounting, UserAction,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// `NativePost.kind` of a post.
pub const POST_KIND: &str = "post";
/// The longest commentary LinkedIn accepts.
pub const MAX_COMMENTARY: usize = 3000;
/// What `capabilities()` can express: graphemes, no URL weighting. The
/// stricter UTF-16 measure is applied by [`fit_commentary`].
pub const COUNTING: TextCounting = TextCounting { url_weight: None };
/// The `visibility` values an app may choose.
pub const VISIBILITIES: &[&str] = &["PUBLIC", "CONNECTIONS"];
/// Characters the little text format reserves.
pub const RESERVED: &[char] = &[
    '|', '{', '}', '@', '[', ']', '(', ')', '<', '>', '#', '\\', '*', '_', '~',
];

/// Escapes every reserved little-format character with a backslash, so the
/// text is shown exactly as written.
pub fn escape_little(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        if RESERVED.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The commentary's length the strict way: UTF-16 code units.
pub fn commentary_len(escaped: &str) -> usize {
    escaped.encode_utf16().count()
}

/// The escaped commentary within [`MAX_COMMENTARY`] (or `limit`), and
/// whether the text was shortened.
pub fn fit_commentary(text: &str, limit: usize) -> (String, Fitted) {
    let attempt = |budget: usize| {
        let fitted = text::fit(text, None, budget, &COUNTING);
        let escaped = escape_little(&fitted.text);
        let n = commentary_len(&escaped);
        (
            escaped,
            Fitted {
                length: n,
                ..fitted
            },
        )
    };
    let whole = attempt(limit);
    if whole.1.length <= limit {
        return whole;
    }
    // Escapes and surrogate pairs make the text longer than its graphemes:
    // find the largest grapheme budget whose escaped text still fits. A
    // budget of 0 always does (the empty text).
    let (mut lo, mut hi) = (0, limit);
    let mut best = attempt(0);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        let got = attempt(mid);
        if got.1.length <= limit {
            lo = mid;
            best = got;
        } else {
            hi = mid - 1;
        }
    }
    best.1.truncated = true;
    best
}

/// `urn:li:person:{id}` for a member id (an id that already is a URN is
/// kept, so a site may hand in either).
pub fn person_urn(id: &str) -> String {
    let id = id.trim();
    if id.starts_with("urn:li:") {
        id.to_owned()
    } else {
        format!("urn:li:person:{id}")
    }
}

/// Renders `action` as a Posts API body.
pub fn render(action: &RenderedAction, account: &AccountInfo) -> Result<NativePost, RenderError> {
    let a = &action.action;
    let headline = action.headline(account)?.map(|e| e.text);
    let visibility = visibility(a.privacy, &action.options)?;
    let link = present(&a.link_back);
    let limit = account
        .max_text
        .unwrap_or(MAX_COMMENTARY)
        .min(MAX_COMMENTARY);
    let text = commentary_text(a, headline.as_deref());
    if text.is_empty() && link.is_none() {
        return Err(RenderError::Invalid {
            field: "action".into(),
            message:
                "a LinkedIn post needs user_message, template, title, description or link_back"
                    .into(),
        });
    }
    let (commentary, fitted) = fit_commentary(&text, limit);
    if commentary.trim().is_empty() && link.is_none() {
        return Err(RenderError::Invalid {
            field: "action".into(),
            message: format!("nothing of the post fits in {limit} characters"),
        });
    }
    let mut body = Map::new();
    if let Some(uid) = account
        .provider_uid
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        body.insert("author".into(), person_urn(uid).into());
    }
    body.insert("commentary".into(), commentary.into());
    body.insert("visibility".into(), visibility.into());
    body.insert(
        "distribution".into(),
        json!({
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": []
        }),
    );
    if let Some(source) = link {
        body.insert(
            "content".into(),
            json!({ "article": article(a, source, headline.as_deref()) }),
        );
    }
    body.insert("lifecycleState".into(), "PUBLISHED".into());
    body.insert("isReshareDisabledByAuthor".into(), false.into());
    Ok(NativePost {
        kind: POST_KIND.into(),
        body: Value::Object(body),
        warnings: warnings(a, &fitted, limit),
    })
}

/// The article card: the link, its title (the action's title, else the
/// headline, else the link itself: LinkedIn requires one), and the
/// description when there is one.
fn article(a: &UserAction, source: &str, headline: Option<&str>) -> Value {
    let title = present(&a.title)
        .or(headline.map(str::trim).filter(|h| !h.is_empty()))
        .unwrap_or(source);
    let mut card = Map::new();
    card.insert("source".into(), source.into());
    card.insert("title".into(), title.into());
    if let Some(d) = present(&a.description) {
        card.insert("description".into(), d.into());
    }
    Value::Object(card)
}

/// The commentary's paragraphs before fitting and escaping (each once, blank
/// ones left out): with a link, message and headline (the card shows title
/// and description); without, message, headline or title, description.
pub fn commentary_text(action: &UserAction, headline: Option<&str>) -> String {
    let headline = headline.map(str::trim).filter(|h| !h.is_empty());
    let parts: [Option<&str>; 3] = if present(&action.link_back).is_some() {
        [present(&action.user_message), headline, None]
    } else {
        [
            present(&action.user_message),
            headline.or(present(&action.title)),
            present(&action.description),
        ]
    };
    let mut out: Vec<&str> = Vec::new();
    for p in parts.into_iter().flatten() {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out.join("\n\n")
}

/// The post's `visibility`.
pub fn visibility(
    privacy: Option<Privacy>,
    options: &BTreeMap<String, String>,
) -> Result<&'static str, RenderError> {
    match privacy {
        Some(Privacy::Public) => return Ok("PUBLIC"),
        Some(Privacy::Friends) => return Ok("CONNECTIONS"),
        Some(Privacy::Private) => {
            return Err(RenderError::Unsupported(
                "LinkedIn has no private posts: every post is seen at least by the member's connections"
                    .into(),
            ));
        }
        None => {}
    }
    match options.get("visibility").map(|v| v.trim()) {
        None | Some("") => Ok("PUBLIC"),
        Some(v) => VISIBILITIES
            .iter()
            .find(|x| x.eq_ignore_ascii_case(v))
            .copied()
            .ok_or_else(|| RenderError::Invalid {
                field: "options.visibility".into(),
                message: format!("unknown visibility {v:?}: use PUBLIC or CONNECTIONS"),
            }),
    }
}

/// Notes what the post does not carry, so a preview shows it.
pub fn warnings(action: &UserAction, fitted: &Fitted, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    if fitted.truncated {
        out.push(format!(
            "the commentary was shortened to fit {limit} characters (counted as UTF-16 units after little-format escaping)"
        ));
    }
    if !action.media_items.is_empty() {
        out.push(format!(
            "{} media item(s) not sent: LinkedIn needs images uploaded first; the article card shows the page's own preview",
            action.media_items.len()
        ));
    }
    if !action.action_links.is_empty() {
        out.push("action_links are not sent: LinkedIn posts have no action links".into());
    }
    out
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::{ActionId, ActionMeta};

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

    fn commentary(p: &NativePost) -> &str {
        p.body["commentary"].as_str().unwrap()
    }

    fn render_default(v: Value) -> NativePost {
        render(&ra(v, &[]), &AccountInfo::default()).unwrap()
    }

    #[test]
    fn escapes_every_reserved_character_and_nothing_else() {
        assert_eq!(
            escape_little(r"a|b{c}d@e[f]g(h)i<j>k#l\m*n_o~p"),
            r"a\|b\{c\}d\@e\[f\]g\(h\)i\<j\>k\#l\\m\*n\_o\~p"
        );
        let plain = "Zoë's café ☕ — 100% sure! \"quoted\" 'a' & b = c; d: e, f. ? $ ^ + / `";
        assert_eq!(escape_little(plain), plain);
        assert_eq!(escape_little(""), "");
        assert_eq!(escape_little(r"\\"), r"\\\\");
        assert_eq!(
            escape_little("see https://e.com/a_b(c)#top"),
            r"see https://e.com/a\_b\(c\)\#top"
        );
    }

    #[test]
    fn article_post_with_link_kept_out_of_the_text() {
        let p = render(
            &ra(
                json!({
                    "user_message": "Worth a read (really) #rust",
                    "title": "Herald ships",
                    "description": "A share gateway.",
                    "link_back": "https://site.example/p/1",
                }),
                &[],
            ),
            &AccountInfo {
                provider_uid: Some("782bbtaQ".into()),
                ..AccountInfo::default()
            },
        )
        .unwrap();
        assert_eq!(p.kind, "post");
        assert_eq!(
            p.body,
            json!({
                "author": "urn:li:person:782bbtaQ",
                "commentary": r"Worth a read \(really\) \#rust",
                "visibility": "PUBLIC",
                "distribution": {
                    "feedDistribution": "MAIN_FEED",
                    "targetEntities": [],
                    "thirdPartyDistributionChannels": []
                },
                "content": {"article": {
                    "source": "https://site.example/p/1",
                    "title": "Herald ships",
                    "description": "A share gateway."
                }},
                "lifecycleState": "PUBLISHED",
                "isReshareDisabledByAuthor": false
            })
        );
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn text_post_without_a_link_carries_title_and_description() {
        let p = render_default(json!({
            "user_message": "Loved it",
            "title": "Herald ships",
            "description": "A share gateway.",
        }));
        assert_eq!(
            commentary(&p),
            "Loved it\n\nHerald ships\n\nA share gateway."
        );
        assert!(p.body.get("content").is_none());
        assert!(p.body.get("author").is_none());
    }

    #[test]
    fn template_headline_goes_to_the_text_and_card_title_falls_back() {
        let p = render(
            &ra(
                json!({
                    "action_name": "read",
                    "template": "{actor} {action} {thing}",
                    "template_fields": {"thing": {"text": "the post"}},
                    "link_back": "https://site.example/p/2",
                }),
                &[],
            ),
            &AccountInfo {
                display_name: Some("Ana".into()),
                ..AccountInfo::default()
            },
        )
        .unwrap();
        assert_eq!(commentary(&p), "Ana read the post");
        assert_eq!(
            p.body["content"],
            json!({"article": {"source": "https://site.example/p/2", "title": "Ana read the post"}})
        );
        // A bare link: empty commentary, the card titled with the link.
        let p = render_default(json!({"link_back": "https://site.example/"}));
        assert_eq!(commentary(&p), "");
        assert_eq!(
            p.body["content"]["article"]["title"],
            "https://site.example/"
        );
    }

    #[test]
    fn three_thousand_ascii_exactly_then_one_over() {
        let link = "https://site.example/p/1";
        let msg = "a".repeat(MAX_COMMENTARY);
        let p = render_default(json!({"user_message": msg, "link_back": link}));
        assert_eq!(commentary(&p), msg);
        assert!(p.warnings.is_empty());
        let msg = format!("{} b", "a".repeat(MAX_COMMENTARY - 1));
        let p = render_default(json!({"user_message": msg, "link_back": link}));
        let c = commentary(&p);
        assert_eq!(c, format!("{}…", "a".repeat(MAX_COMMENTARY - 1)));
        assert_eq!(commentary_len(c), MAX_COMMENTARY);
        assert!(p.warnings[0].contains("shortened to fit 3000"));
        // The link survives on the card.
        assert_eq!(p.body["content"]["article"]["source"], link);
    }

    #[test]
    fn non_ascii_counts_utf16_units_after_escaping() {
        // A skin-toned thumb is one grapheme but four UTF-16 units.
        let thumb = "👍🏽";
        let msg = thumb.repeat(750);
        let p = render_default(json!({"user_message": msg}));
        assert_eq!(commentary(&p), msg);
        let msg = format!("{} {}", thumb.repeat(749), thumb);
        let p = render_default(json!({"user_message": msg}));
        let c = commentary(&p);
        assert!(c.ends_with('…'), "{c}");
        assert!(commentary_len(c) <= MAX_COMMENTARY);
        assert_eq!(c, format!("{}…", thumb.repeat(749)));
        // Reserved characters double: 1500 of them fill the limit exactly…
        let p = render_default(json!({"user_message": "(".repeat(1500)}));
        assert_eq!(commentary(&p), r"\(".repeat(1500));
        assert_eq!(commentary_len(commentary(&p)), MAX_COMMENTARY);
        // …and one more is cut, never leaving a dangling backslash.
        let p = render_default(json!({"user_message": "(".repeat(1501)}));
        let c = commentary(&p);
        assert!(commentary_len(c) <= MAX_COMMENTARY);
        assert!(c.ends_with(r"\(…"), "{}", &c[c.len() - 10..]);
        // Accents and CJK are one unit each.
        let p = render_default(json!({"user_message": "é漢".repeat(1500)}));
        assert_eq!(commentary_len(commentary(&p)), MAX_COMMENTARY);
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn fitting_never_exceeds_any_limit() {
        let text = "Zoë's café ☕ (a #long) post_with *stars* and emoji 🎉🎉 and @more words";
        for limit in 0..90 {
            let (c, f) = fit_commentary(text, limit);
            assert!(commentary_len(&c) <= limit, "limit {limit}: {c:?}");
            assert_eq!(f.length, commentary_len(&c));
        }
    }

    #[test]
    fn visibility_mapping_and_option() {
        let opts = |v: &[(&str, &str)]| -> BTreeMap<String, String> {
            v.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let none = opts(&[]);
        assert_eq!(visibility(Some(Privacy::Public), &none).unwrap(), "PUBLIC");
        assert_eq!(
            visibility(Some(Privacy::Friends), &none).unwrap(),
            "CONNECTIONS"
        );
        assert!(matches!(
            visibility(Some(Privacy::Private), &none),
            Err(RenderError::Unsupported(_))
        ));
        assert_eq!(visibility(None, &none).unwrap(), "PUBLIC");
        let conn = opts(&[("visibility", "connections")]);
        assert_eq!(visibility(None, &conn).unwrap(), "CONNECTIONS");
        assert_eq!(visibility(Some(Privacy::Public), &conn).unwrap(), "PUBLIC");
        let e = visibility(None, &opts(&[("visibility", "LOGGED_IN")])).unwrap_err();
        assert!(
            matches!(e, RenderError::Invalid { ref field, .. } if field == "options.visibility")
        );
        let p = render(
            &ra(json!({"title": "t"}), &[("visibility", "CONNECTIONS")]),
            &AccountInfo::default(),
        )
        .unwrap();
        assert_eq!(p.body["visibility"], "CONNECTIONS");
    }

    #[test]
    fn empty_actions_and_warnings() {
        let e = render(
            &ra(
                json!({"media_items": [{"type": "image", "src": "https://i.example/a.png"}]}),
                &[],
            ),
            &AccountInfo::default(),
        )
        .unwrap_err();
        assert!(matches!(e, RenderError::Invalid { ref field, .. } if field == "action"));
        let p = render_default(json!({
            "title": "t",
            "link_back": "https://site.example/",
            "media_items": [{"type": "image", "src": "https://i.example/a.png"}],
            "action_links": [{"text": "Go", "href": "https://site.example/"}],
        }));
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
        assert!(p.warnings[0].starts_with("1 media item(s) not sent"));
        assert!(p.warnings[1].contains("action_links"));
    }

    #[test]
    fn person_urns() {
        assert_eq!(person_urn("782bbtaQ"), "urn:li:person:782bbtaQ");
        assert_eq!(person_urn(" urn:li:person:x "), "urn:li:person:x");
    }
}
