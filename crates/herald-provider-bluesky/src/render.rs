//! Pure rendering of a user action into an `app.bsky.feed.post` record, with
//! no IO, so a preview shows exactly what `publish` sends (publish only adds
//! `createdAt`, derived from the delivery).
//!
//! The text is the user's message, else the expanded template, else (when
//! there is no link) the title and description; the link back follows it. It
//! is fitted to Bluesky's two limits — 300 graphemes *and* 3000 UTF-8 bytes —
//! keeping the link. Bluesky does not auto-link text, so every URL in it gets a
//! `#link` facet with UTF-8 byte offsets, as do template fields with an
//! `href`. The link back also becomes an `app.bsky.embed.external` card with
//! the action's title and description (no thumbnail: that needs an upload).

use herald_core::template::TemplateLink;
use herald_core::text::{self, Fitted};
use herald_core::{AccountInfo, NativePost, RenderError, RenderedAction, TextCounting, UserAction};
use serde_json::{Map, Value, json};
use unicode_segmentation::UnicodeSegmentation;

/// `NativePost.kind` of a post.
pub const POST_KIND: &str = "post";
/// The record type and collection of posts.
pub const POST_TYPE: &str = "app.bsky.feed.post";
pub const LINK_FEATURE: &str = "app.bsky.richtext.facet#link";
pub const EXTERNAL_EMBED: &str = "app.bsky.embed.external";
/// The post lexicon's limits on `text`.
pub const MAX_GRAPHEMES: usize = 300;
pub const MAX_BYTES: usize = 3000;
/// The post lexicon's limits on `tags`.
pub const MAX_TAGS: usize = 8;
pub const TAG_MAX_GRAPHEMES: usize = 64;
pub const TAG_MAX_BYTES: usize = 640;

/// Bluesky counts graphemes; URLs count in full.
pub const COUNTING: TextCounting = TextCounting { url_weight: None };

/// Renders `action` as a post record without `createdAt`.
pub fn render(action: &RenderedAction, account: &AccountInfo) -> Result<NativePost, RenderError> {
    let a = &action.action;
    let headline = action.headline(account)?;
    let link = present(&a.link_back);
    let mut warnings = Vec::new();

    let (source, template_links): (String, &[TemplateLink]) =
        if let Some(m) = present(&a.user_message) {
            (m.to_owned(), &[])
        } else if let Some(h) = headline.as_ref().filter(|h| !h.text.trim().is_empty()) {
            (h.text.clone(), &h.links)
        } else if link.is_none() {
            let parts: Vec<&str> = [present(&a.title), present(&a.description)]
                .into_iter()
                .flatten()
                .collect();
            (parts.join(" — "), &[])
        } else {
            // The card shows the title; the text is the link alone.
            (String::new(), &[])
        };

    let limit = account
        .max_text
        .map_or(MAX_GRAPHEMES, |m| m.min(MAX_GRAPHEMES));
    let fitted = fit_post(&source, link, limit);
    if fitted.text.is_empty() && link.is_none() {
        return Err(RenderError::Invalid {
            field: "action".into(),
            message: "a Bluesky post needs user_message, template, title, description or link_back"
                .into(),
        });
    }
    if fitted.truncated {
        warnings.push(format!(
            "text shortened to fit Bluesky's limits ({limit} graphemes, {MAX_BYTES} bytes)"
        ));
    }
    if let Some(l) = link
        && !fitted.text.contains(l)
    {
        warnings.push("the link is too long for the text; it is only in the link card".into());
    }

    let mut facets = url_facets(&fitted.text, link);
    if !fitted.truncated {
        facets.extend(template_facets(
            &source,
            &fitted.text,
            template_links,
            &facets,
        ));
    }
    facets.sort_by_key(|f| f.start);

    let mut record = Map::new();
    record.insert("$type".into(), POST_TYPE.into());
    record.insert("text".into(), fitted.text.clone().into());
    if !facets.is_empty() {
        record.insert(
            "facets".into(),
            facets.iter().map(Facet::to_json).collect::<Vec<_>>().into(),
        );
    }
    if let Some(l) = link {
        let title = present(&a.title)
            .or(headline.as_ref().map(|h| h.text.trim()))
            .unwrap_or("");
        record.insert(
            "embed".into(),
            json!({
                "$type": EXTERNAL_EMBED,
                "external": {
                    "uri": l,
                    "title": title,
                    "description": present(&a.description).unwrap_or(""),
                }
            }),
        );
    }
    let (tags, dropped) = tags(&a.tags);
    if !tags.is_empty() {
        record.insert("tags".into(), tags.into());
    }
    if dropped > 0 {
        warnings.push(format!(
            "{dropped} tag(s) not sent: Bluesky takes at most {MAX_TAGS} tags of at most \
             {TAG_MAX_GRAPHEMES} graphemes"
        ));
    }
    warnings.extend(unsent(a));
    Ok(NativePost {
        kind: POST_KIND.into(),
        body: Value::Object(record),
        warnings,
    })
}

/// Fits `text` and `link` into `limit` graphemes and [`MAX_BYTES`] bytes,
/// trimming the text at a word boundary and keeping the link.
pub fn fit_post(text: &str, link: Option<&str>, limit: usize) -> Fitted {
    let first = text::fit(text, link, limit, &COUNTING);
    if first.text.len() <= MAX_BYTES {
        return first;
    }
    // Too many bytes (long graphemes: ZWJ emoji, scripts with 3-byte
    // characters): the largest grapheme limit whose fitting is short enough.
    let mut best = text::fit(text, link, 0, &COUNTING);
    let (mut lo, mut hi) = (0, limit);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let f = text::fit(text, link, mid, &COUNTING);
        if f.text.len() <= MAX_BYTES {
            lo = mid;
            best = f;
        } else {
            hi = mid - 1;
        }
    }
    Fitted {
        truncated: true,
        ..best
    }
}

/// A `#link` facet over `text[start..end]` (UTF-8 byte offsets, end exclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facet {
    pub start: usize,
    pub end: usize,
    pub uri: String,
}

impl Facet {
    pub fn to_json(&self) -> Value {
        json!({
            "index": {"byteStart": self.start, "byteEnd": self.end},
            "features": [{"$type": LINK_FEATURE, "uri": self.uri}],
        })
    }
}

/// A facet for every http(s) URL in `text`. `link` is matched exactly; other
/// URLs lose trailing punctuation (and a `)` without its `(`), as a reader
/// would expect.
pub fn url_facets(text: &str, link: Option<&str>) -> Vec<Facet> {
    let mut out = Vec::new();
    for (at, word) in words(text) {
        // A URL may follow opening punctuation: "(https://…".
        let Some(p) = [word.find("https://"), word.find("http://")]
            .into_iter()
            .flatten()
            .min()
            .filter(|&p| !word[..p].chars().any(char::is_alphanumeric))
        else {
            continue;
        };
        let (start, token) = (at + p, &word[p..]);
        let uri = match link {
            Some(l) if token.starts_with(l) && is_trailer(&token[l.len()..]) => l,
            _ => trim_url(token),
        };
        if url::Url::parse(uri).is_ok_and(|u| u.host().is_some()) {
            out.push(Facet {
                start,
                end: start + uri.len(),
                uri: uri.to_owned(),
            });
        }
    }
    out
}

/// Whether `rest` is only punctuation that may follow a URL in prose.
fn is_trailer(rest: &str) -> bool {
    rest.chars().all(|c| ".,;:!?'\"…)".contains(c))
}

fn trim_url(token: &str) -> &str {
    let mut url = token.trim_end_matches(|c| ".,;:!?'\"…".contains(c));
    while url.ends_with(')') && url.matches(')').count() > url.matches('(').count() {
        url = url[..url.len() - 1].trim_end_matches(|c| ".,;:!?'\"…".contains(c));
    }
    url
}

/// The non-whitespace runs of `text` with their byte offsets.
fn words(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

/// Facets for template fields with an `href`, when the expanded template went
/// into the text unchanged (fitting only trims surrounding whitespace); spans
/// that overlap a URL facet are left out (facets must not overlap).
fn template_facets(
    source: &str,
    fitted: &str,
    links: &[TemplateLink],
    taken: &[Facet],
) -> Vec<Facet> {
    let trimmed = source.trim();
    if links.is_empty() || !fitted.starts_with(trimmed) {
        return Vec::new();
    }
    let shift = source.len() - source.trim_start().len();
    links
        .iter()
        .filter(|l| l.start >= shift && l.end > l.start && l.end - shift <= trimmed.len())
        .filter(|l| url::Url::parse(&l.href).is_ok())
        .map(|l| Facet {
            start: l.start - shift,
            end: l.end - shift,
            uri: l.href.clone(),
        })
        .filter(|f| !taken.iter().any(|t| f.start < t.end && t.start < f.end))
        .collect()
}

/// The action's tags as the post lexicon takes them (without `#`, at most 8,
/// each at most 64 graphemes / 640 bytes, no duplicates), and how many were
/// left out.
pub fn tags(input: &[String]) -> (Vec<String>, usize) {
    let mut out: Vec<String> = Vec::new();
    let mut dropped = 0;
    for t in input {
        let t = t.trim().trim_start_matches('#').trim();
        if t.is_empty() || out.iter().any(|o| o == t) {
            continue;
        }
        let fits = t.graphemes(true).count() <= TAG_MAX_GRAPHEMES && t.len() <= TAG_MAX_BYTES;
        if fits && out.len() < MAX_TAGS {
            out.push(t.to_owned());
        } else {
            dropped += 1;
        }
    }
    (out, dropped)
}

/// What the action carries that a Bluesky post from Herald does not.
fn unsent(action: &UserAction) -> Vec<String> {
    let mut out = Vec::new();
    if !action.media_items.is_empty() {
        out.push(format!(
            "{} media item(s) not sent: Herald does not upload media to Bluesky",
            action.media_items.len()
        ));
    }
    if !action.action_links.is_empty() {
        out.push("action_links are not sent: Bluesky posts have no action links".into());
    }
    out
}

/// A non-blank string field.
fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::{ActionId, ActionMeta};
    use std::collections::BTreeMap;

    fn rendered(action: Value) -> RenderedAction {
        RenderedAction {
            action: serde_json::from_value(action).unwrap(),
            meta: ActionMeta {
                action_id: ActionId::new(),
                uid: "u1".into(),
                delivery_id: None,
                app_name: "Demo".into(),
                site_url: None,
            },
            options: BTreeMap::new(),
        }
    }

    fn go(action: Value) -> NativePost {
        render(&rendered(action), &AccountInfo::default()).unwrap()
    }

    fn text(post: &NativePost) -> &str {
        post.body["text"].as_str().unwrap()
    }

    /// The facets' spans, as text, and their URIs.
    fn spans(post: &NativePost) -> Vec<(String, String)> {
        let t = text(post).as_bytes();
        post.body["facets"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .map(|f| {
                        let s = f["index"]["byteStart"].as_u64().unwrap() as usize;
                        let e = f["index"]["byteEnd"].as_u64().unwrap() as usize;
                        let uri = f["features"][0]["uri"].as_str().unwrap().to_owned();
                        (String::from_utf8(t[s..e].to_vec()).unwrap(), uri)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    const LINK: &str = "https://example.com/article";

    #[test]
    fn the_research_example_byte_offsets() {
        let post = go(json!({
            "user_message": "Héllo 👋 read this:",
            "link_back": LINK,
            "title": "An article",
            "description": "Its description"
        }));
        assert_eq!(post.kind, "post");
        assert_eq!(
            post.body,
            json!({
                "$type": "app.bsky.feed.post",
                "text": "Héllo 👋 read this: https://example.com/article",
                "facets": [{
                    "index": {"byteStart": 23, "byteEnd": 50},
                    "features": [{"$type": "app.bsky.richtext.facet#link", "uri": LINK}]
                }],
                "embed": {
                    "$type": "app.bsky.embed.external",
                    "external": {"uri": LINK, "title": "An article", "description": "Its description"}
                }
            })
        );
        assert!(post.warnings.is_empty(), "{:?}", post.warnings);
        assert!(
            post.body.get("createdAt").is_none(),
            "added at publish time"
        );
    }

    #[test]
    fn a_link_inside_the_message_is_not_repeated_and_other_urls_are_linked() {
        let post = go(json!({
            "user_message": "日本語 (see https://a.example/x), then https://example.com/article. Done",
            "link_back": LINK
        }));
        assert_eq!(
            text(&post),
            "日本語 (see https://a.example/x), then https://example.com/article. Done"
        );
        assert_eq!(
            spans(&post),
            vec![
                (
                    "https://a.example/x".to_owned(),
                    "https://a.example/x".to_owned()
                ),
                (LINK.to_owned(), LINK.to_owned()),
            ]
        );
        // 日本語 is 9 bytes: "日本語 (see " = 15 bytes.
        assert_eq!(post.body["facets"][0]["index"]["byteStart"], 15);
    }

    #[test]
    fn grapheme_limit_keeps_the_link() {
        let words = "wörd ".repeat(100);
        let post = go(json!({"user_message": words, "link_back": LINK}));
        let t = text(&post);
        // Budget 300 - 28 (space + link) - 1 (ellipsis) = 271: 54 words and
        // their spaces (270); the 55th word does not fit.
        assert_eq!(
            t.graphemes(true).count(),
            54 * 5 - 1 + 1 + 1 + LINK.len(),
            "{t}"
        );
        assert!(t.ends_with(&format!("wörd… {LINK}")), "{t}");
        assert_eq!(spans(&post), vec![(LINK.to_owned(), LINK.to_owned())]);
        let end = post.body["facets"][0]["index"]["byteEnd"].as_u64().unwrap();
        assert_eq!(end as usize, t.len());
        assert!(
            post.warnings[0].contains("shortened"),
            "{:?}",
            post.warnings
        );
    }

    #[test]
    fn byte_limit_with_zwj_emoji() {
        // 👨‍👩‍👧‍👦 is one grapheme of 25 bytes: 300 of them fit the grapheme
        // limit but are 7500 bytes.
        let family = "👨‍👩‍👧‍👦";
        assert_eq!(family.len(), 25);
        let post = go(json!({"user_message": family.repeat(300), "link_back": LINK}));
        let t = text(&post);
        assert!(t.len() <= MAX_BYTES, "{} bytes", t.len());
        assert!(t.ends_with(&format!("… {LINK}")), "{t}");
        let kept = t.strip_suffix(&format!("… {LINK}")).unwrap();
        assert_eq!(kept, family.repeat(kept.len() / 25), "whole graphemes only");
        // As many as fit: 3000 - 29 (link + space) - 3 (ellipsis) = 2968 bytes.
        assert_eq!(kept.len() / 25, 2968 / 25);
        let facet = &post.body["facets"][0]["index"];
        assert_eq!(
            facet["byteStart"].as_u64().unwrap() as usize,
            t.len() - LINK.len()
        );
        assert_eq!(facet["byteEnd"].as_u64().unwrap() as usize, t.len());
        // Without a link the whole budget is text.
        let post = go(json!({"user_message": family.repeat(300)}));
        let t = text(&post);
        assert_eq!(t, format!("{}…", family.repeat(119)));
        assert!(t.len() <= MAX_BYTES);
    }

    #[test]
    fn three_hundred_graphemes_exactly_is_untouched() {
        let msg = "é".repeat(300 - 1 - LINK.len());
        let post = go(json!({"user_message": msg, "link_back": LINK}));
        assert_eq!(text(&post).graphemes(true).count(), 300);
        assert!(!text(&post).contains('…'));
        let longer = go(json!({"user_message": format!("{msg}é"), "link_back": LINK}));
        assert_eq!(text(&longer).graphemes(true).count(), 300);
        assert!(text(&longer).contains('…'));
    }

    #[test]
    fn account_limit_lowers_but_never_raises_the_limit() {
        let r = rendered(json!({"user_message": "a ".repeat(400)}));
        let low = AccountInfo {
            max_text: Some(50),
            ..AccountInfo::default()
        };
        let t = render(&r, &low).unwrap().body["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(t.graphemes(true).count() <= 50);
        let high = AccountInfo {
            max_text: Some(1000),
            ..AccountInfo::default()
        };
        let t = render(&r, &high).unwrap().body["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(t.graphemes(true).count() <= 300);
    }

    #[test]
    fn template_links_become_facets() {
        let post = go(json!({
            "template": "  {actor} liked {thing} ",
            "template_fields": {"thing": {"text": "Crème brûlée", "href": "https://food.example/cb"}},
            "action_name": "liked"
        }));
        assert_eq!(text(&post), "Someone liked Crème brûlée");
        assert_eq!(
            spans(&post),
            vec![(
                "Crème brûlée".to_owned(),
                "https://food.example/cb".to_owned()
            )]
        );
        assert!(post.body.get("embed").is_none());
    }

    #[test]
    fn no_message_means_link_alone_with_a_card_or_title_without_link() {
        let post = go(json!({"title": "T", "description": "D", "link_back": LINK}));
        assert_eq!(text(&post), LINK);
        assert_eq!(post.body["embed"]["external"]["title"], "T");
        let post = go(json!({"title": "T", "description": "D"}));
        assert_eq!(text(&post), "T — D");
        assert!(post.body.get("facets").is_none());
        assert!(post.body.get("embed").is_none());
        let e = render(
            &rendered(json!({"media_items": [{"type": "image", "src": "https://e.com/i.png"}]})),
            &AccountInfo::default(),
        )
        .unwrap_err();
        assert!(matches!(e, RenderError::Invalid { ref field, .. } if field == "action"));
    }

    #[test]
    fn an_overlong_link_stays_in_the_card_only() {
        let long = format!("https://example.com/{}", "a".repeat(400));
        let post = go(json!({"user_message": "hi", "link_back": long}));
        assert_eq!(text(&post), "hi");
        assert_eq!(post.body["embed"]["external"]["uri"], long.as_str());
        assert!(post.warnings.iter().any(|w| w.contains("link card")));
    }

    #[test]
    fn tags_and_unsent_parts() {
        let post = go(json!({
            "user_message": "x",
            "tags": ["#rust", "rust", " atproto ", "", "a","b","c","d","e","f","g", "x".repeat(65)],
            "media_items": [{"type": "image", "src": "https://e.com/i.png"}],
            "action_links": [{"text": "Read", "href": "https://e.com/"}]
        }));
        assert_eq!(
            post.body["tags"],
            json!(["rust", "atproto", "a", "b", "c", "d", "e", "f"])
        );
        let w = post.warnings.join("\n");
        assert!(w.contains("2 tag(s) not sent"), "{w}");
        assert!(w.contains("1 media item(s) not sent"), "{w}");
        assert!(w.contains("action_links"), "{w}");
    }

    #[test]
    fn url_trimming() {
        let f = url_facets("(https://e.com/a_(b)) and https://e.com/c!", None);
        let uris: Vec<_> = f.iter().map(|f| f.uri.as_str()).collect();
        assert_eq!(uris, ["https://e.com/a_(b)", "https://e.com/c"]);
        assert_eq!(f[0].start, 1);
        // The link back is kept exactly, even ending in punctuation.
        let f = url_facets("see https://e.com/x. now", Some("https://e.com/x."));
        assert_eq!(f[0].uri, "https://e.com/x.");
        assert!(url_facets("https:// nothing", None).is_empty());
    }
}
