//! How X counts a post's length, and fitting text to it while keeping the link.
//!
//! X measures text with twitter-text's configuration v3
//! (twitter/twitter-text `config/v3.json`, which the `twitter-text` crate
//! also calls the default that "matches X/Twitter"): a budget of 280 weighted
//! characters at scale 100, default weight 200; code points in
//! U+0000–U+10FF, U+2000–U+200D, U+2010–U+201F and U+2032–U+2037 weigh 100
//! (one character); everything else, CJK included, weighs 200 (two); every URL
//! counts as `transformedURLLength` 23 whatever its length; and an emoji
//! sequence (skin tone, ZWJ family, flag, keycap) counts once at the default
//! weight, two.
//!
//! This is a small re-implementation rather than the `twitter-text` crate,
//! which pulls in a C++ bridge (`cxx`, pinned to an exact version), two parser
//! generators and an emoji table for one number. Where it cannot know exactly
//! what twitter-text would find it errs on the long side, so a fitted post is
//! cut a little early rather than refused:
//!
//! - URLs with a scheme are found the way twitter-text does (not after an
//!   ASCII letter, digit, `@`, `$` or `#`); trailing punctuation that X leaves
//!   out of a URL is counted as text; a host without a dot counts at least 23.
//! - A bare domain (`example.com`) counts at least 23 — twitter-text links
//!   those too — plus the rest of its word as text.
//! - Emoji sequences are taken to be ones X recognises (those keyboards
//!   produce); anything else in the grapheme adds its own weight.
//! - Limits: twitter-text NFC-normalises first. The text is counted as sent,
//!   which only counts longer, except for the few composition-excluded
//!   letters (e.g. U+0958 क़) that X counts as two code points.

use herald_core::text::{ELLIPSIS, Fitted};
use unicode_segmentation::UnicodeSegmentation;

/// X's `maxWeightedTweetLength`, in characters.
pub const MAX_WEIGHTED_LENGTH: usize = 280;
/// `transformedURLLength`: what every URL counts.
pub const URL_LENGTH: usize = 23;
/// What an emoji sequence counts (the default weight, 200 / scale 100).
pub const EMOJI_LENGTH: usize = 2;

/// The weight of one code point, in characters (1 or 2).
pub fn char_weight(c: char) -> usize {
    match c as u32 {
        0x0000..=0x10FF | 0x2000..=0x200D | 0x2010..=0x201F | 0x2032..=0x2037 => 1,
        _ => 2,
    }
}

/// Code points that start an emoji (Unicode's emoji list, by block; the few
/// in the light ranges — ©, ® — are what make this matter at all).
fn is_pictographic(c: char) -> bool {
    matches!(c as u32,
        0x00A9 | 0x00AE | 0x203C | 0x2049 | 0x2122 | 0x2139
        | 0x2194..=0x2199 | 0x21A9..=0x21AA | 0x231A..=0x231B | 0x2328 | 0x23CF
        | 0x23E9..=0x23F3 | 0x23F8..=0x23FA | 0x24C2 | 0x25AA..=0x25AB | 0x25B6
        | 0x25C0 | 0x25FB..=0x25FE | 0x2600..=0x27BF | 0x2934..=0x2935
        | 0x2B05..=0x2B07 | 0x2B1B..=0x2B1C | 0x2B50 | 0x2B55 | 0x3030 | 0x303D
        | 0x3297 | 0x3299 | 0x1F000..=0x1FAFF)
}

fn is_regional_indicator(c: char) -> bool {
    matches!(c as u32, 0x1F1E6..=0x1F1FF)
}

/// Parts of an emoji sequence that do not count on their own: variation
/// selector 16, ZWJ, keycap, skin tones and tag characters (subdivision flags).
fn is_sequence_part(c: char) -> bool {
    is_pictographic(c)
        || is_regional_indicator(c)
        || matches!(c as u32, 0xFE0F | 0x200D | 0x20E3 | 0xE0020..=0xE007F)
}

/// The weight of one grapheme cluster.
fn grapheme_weight(g: &str) -> usize {
    let Some(first) = g.chars().next() else {
        return 0;
    };
    let keycap = matches!(first, '0'..='9' | '#' | '*') && g.contains('\u{20E3}');
    if is_pictographic(first) || is_regional_indicator(first) || keycap {
        let extra: usize = g
            .chars()
            .skip(1)
            .filter(|c| !is_sequence_part(*c))
            .map(char_weight)
            .sum();
        EMOJI_LENGTH + extra
    } else {
        g.chars().map(char_weight).sum()
    }
}

/// The weight of text with no URL in it.
fn plain_weight(s: &str) -> usize {
    s.graphemes(true).map(grapheme_weight).sum()
}

/// A character that must not come right before a URL (twitter-text's
/// `validUrlPrecedingChars` excludes these).
fn blocks_url(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '@' | '＠' | '$' | '#' | '＃' | '\u{202A}'..='\u{202E}')
}

/// Whether a URL with a scheme starts at byte `i` of `s`: `http://` or
/// `https://` (any case), not right after a character that blocks it.
fn scheme_at(s: &str, i: usize) -> bool {
    let rest = s.as_bytes().get(i..).unwrap_or_default();
    let starts = |p: &[u8]| rest.len() >= p.len() && rest[..p.len()].eq_ignore_ascii_case(p);
    (starts(b"http://") || starts(b"https://"))
        && !s[..i].chars().next_back().is_some_and(blocks_url)
}

/// Where the next URL with a scheme starts in `s`, if any.
fn next_scheme_url(s: &str) -> Option<usize> {
    s.char_indices().map(|(i, _)| i).find(|i| scheme_at(s, *i))
}

/// ASCII characters twitter-text accepts inside a URL's host, path or query;
/// the URL ends at the first other character (it may accept more — accented
/// letters, balanced parentheses — which then only count longer here).
fn url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!*';:=+,.$/%#[]-_~&|@?".contains(c)
}

/// Characters a URL may end with (the intersection of twitter-text's path
/// and query ending characters); others at the end are counted as text.
fn url_end_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "=_#/-".contains(c)
}

/// The byte length of the URL starting at the start of `s` (a scheme URL).
fn url_len(s: &str) -> usize {
    let scheme_len = if s[..5].eq_ignore_ascii_case("https") {
        "https://".len()
    } else {
        "http://".len()
    };
    let mut end = s
        .char_indices()
        .skip(scheme_len)
        .find(|(i, c)| !url_char(*c) || scheme_at(s, *i))
        .map_or(s.len(), |(i, _)| i);
    while let Some(c) = s[..end].chars().next_back() {
        if end <= scheme_len || url_end_char(c) {
            break;
        }
        end -= c.len_utf8();
    }
    end.max(scheme_len)
}

/// What a scheme URL counts: 23, or its own length when X would not take it
/// for a URL (no dot in the host) and that is longer.
fn url_weight(url: &str) -> usize {
    let after = url.split_once("://").map_or("", |(_, r)| r);
    let host = after.split(['/', '?', '#', ':']).next().unwrap_or("");
    if host.contains('.') && !host.starts_with('.') && !host.ends_with('.') {
        URL_LENGTH
    } else {
        URL_LENGTH.max(plain_weight(url))
    }
}

/// Text without scheme URLs: its weight, plus what each bare domain in it
/// (`example.com`) may add when X counts it as a 23-character URL.
fn text_weight(s: &str) -> usize {
    let mut total = plain_weight(s);
    for run in s.split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '-')) {
        let core = run.trim_matches(['.', '-']);
        let mut labels = core.split('.');
        let first = labels.next().unwrap_or("");
        let Some(tld) = labels.next_back() else {
            continue;
        };
        let labels_ok = !first.is_empty() && labels.all(|l| !l.is_empty());
        if labels_ok && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()) {
            total += URL_LENGTH.saturating_sub(plain_weight(core));
        }
    }
    total
}

/// The length of `text` as X counts it.
pub fn weighted_length(text: &str) -> usize {
    let mut total = 0;
    let mut rest = text;
    while let Some(start) = next_scheme_url(rest) {
        total += text_weight(&rest[..start]);
        let len = url_len(&rest[start..]);
        total += url_weight(&rest[start..start + len]);
        rest = &rest[start + len..];
    }
    total + text_weight(rest)
}

/// Splits `text` into alternating runs of whitespace and non-whitespace.
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = None;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_space.is_some_and(|s| s != space) {
            out.push(&text[start..i]);
            start = i;
        }
        in_space = Some(space);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn join(text: &str, link: Option<&str>) -> String {
    match link {
        Some(l) if !text.is_empty() => format!("{text} {l}"),
        Some(l) => l.to_owned(),
        None => text.to_owned(),
    }
}

/// Fits `text` followed by `link` into `limit` weighted characters. When the
/// text already contains the link it is not repeated. When too long, the text
/// (never the link) is cut at the last word boundary that fits and ends with
/// an ellipsis; line breaks between the kept words stay.
pub fn fit(text: &str, link: Option<&str>, limit: usize) -> Fitted {
    let text = text.trim();
    let link = link.map(str::trim).filter(|l| !l.is_empty());
    let whole = match link {
        Some(l) if text.contains(l) => text.to_owned(),
        _ => join(text, link),
    };
    let length = weighted_length(&whole);
    if length <= limit {
        return Fitted {
            text: whole,
            truncated: false,
            length,
        };
    }
    // Too long: take the link out of the text (it goes back at the end).
    let body = match link {
        Some(l) => text.replacen(l, "", 1),
        None => text.to_owned(),
    };
    // Whitespace runs become one space, or the run's line breaks.
    let body: String = tokens(body.trim())
        .into_iter()
        .map(|t| match t.chars().next() {
            Some(c) if c.is_whitespace() && t.contains('\n') => {
                t.chars().filter(|c| *c == '\n').collect()
            }
            Some(c) if c.is_whitespace() => " ".to_owned(),
            _ => t.to_owned(),
        })
        .collect();
    let link_cost = link.map_or(0, |l| weighted_length(l) + 1);
    let Some(budget) = limit.checked_sub(link_cost + weighted_length(ELLIPSIS)) else {
        // Not even the link fits beside an ellipsis: fit the text alone.
        return if link.is_some() {
            fit(&body, None, limit)
        } else {
            Fitted {
                text: String::new(),
                truncated: true,
                length: 0,
            }
        };
    };
    let mut kept = String::new();
    let mut used = 0;
    for token in tokens(&body) {
        let n = weighted_length(token);
        if used + n > budget {
            if kept.trim().is_empty() && next_scheme_url(token).is_none() {
                // One word longer than the budget: cut inside it.
                kept = cut_word(token, budget);
            }
            break;
        }
        kept.push_str(token);
        used += n;
    }
    let mut out = kept.trim_end().to_owned();
    out.push_str(ELLIPSIS);
    let out = join(&out, link);
    let length = weighted_length(&out);
    Fitted {
        text: out,
        truncated: true,
        length,
    }
}

/// The longest grapheme prefix of `word` that weighs at most `budget`.
fn cut_word(word: &str, budget: usize) -> String {
    let mut end = 0;
    let mut used = 0;
    for (i, g) in word.grapheme_indices(true) {
        used += grapheme_weight(g);
        if used > budget {
            break;
        }
        end = i + g.len();
    }
    // A bare domain in the prefix can weigh more than its graphemes.
    while end > 0 && weighted_length(&word[..end]) > budget {
        end = word[..end]
            .grapheme_indices(true)
            .next_back()
            .map_or(0, |(i, _)| i);
    }
    word[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_point_weights() {
        assert_eq!(weighted_length(&"a".repeat(280)), 280);
        // Latin, Cyrillic, Arabic, Hebrew, Greek: one each.
        assert_eq!(weighted_length("Zo\u{eb} Жж عر Ωω"), 12);
        // CJK and Hangul: two each.
        assert_eq!(weighted_length("漢字かなカナ한글"), 16);
        // General punctuation inside the light ranges (’ “ ” – ′) is one;
        // the ellipsis (U+2026) and the ideographic space are not.
        assert_eq!(weighted_length("’“”–′"), 5);
        assert_eq!(weighted_length("…"), 2);
        assert_eq!(weighted_length("\u{3000}"), 2);
        assert_eq!(weighted_length("a\nb"), 3);
        assert_eq!(weighted_length(""), 0);
    }

    #[test]
    fn emoji_sequences_count_two() {
        assert_eq!(weighted_length("👍"), 2);
        // Skin tone: two code points, each astral, still one emoji.
        assert_eq!(weighted_length("👍🏽"), 2);
        // ZWJ family, flag, keycap, red heart with VS16, subdivision flag.
        assert_eq!(weighted_length("👨‍👩‍👧"), 2);
        assert_eq!(weighted_length("🇫🇷🇩🇪"), 4);
        assert_eq!(weighted_length("1️⃣"), 2);
        assert_eq!(weighted_length("❤️"), 2);
        assert_eq!(
            weighted_length("🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}"),
            2
        );
        // © is an emoji to twitter-text; counted as one here would be short.
        assert_eq!(weighted_length("©"), 2);
        // A digit with VS16 but no keycap is not an emoji: 1 + 2.
        assert_eq!(weighted_length("1\u{FE0F}"), 3);
        // A combining mark after an emoji still counts.
        assert_eq!(weighted_length("👍\u{301}"), 3);
        assert_eq!(weighted_length("ok 👍🏽 go"), 8);
    }

    #[test]
    fn urls_count_23() {
        let long = format!("https://example.com/{}", "a".repeat(200));
        assert_eq!(weighted_length(&long), 23);
        assert_eq!(weighted_length("https://t.co"), 23);
        assert_eq!(weighted_length(&format!("see {long} now")), 4 + 23 + 4);
        // Scheme case does not matter.
        assert_eq!(weighted_length("HTTPS://Example.com/X"), 23);
        // Trailing punctuation is not part of the URL; brackets around it count.
        assert_eq!(weighted_length("https://e.com/x."), 24);
        assert_eq!(weighted_length("(https://e.com/x)"), 25);
        assert_eq!(weighted_length("https://e.com/x?a=b&c=d"), 23);
        // A URL ends where a character X does not take in one begins.
        assert_eq!(weighted_length("https://e.com/x漢字"), 27);
        // Two URLs in one word.
        assert_eq!(weighted_length("https://a.com/,https://b.com/"), 47);
        // …but not when the second one follows a letter.
        assert_eq!(weighted_length("https://a.com/xhttps://b.com/"), 23);
        // After an ASCII letter it is not a URL (twitter-text's rule); the
        // bare domain inside it still counts 23.
        assert_eq!(weighted_length("xhttps://e.com"), 9 + 23);
        // After a non-ASCII letter it is.
        assert_eq!(weighted_length("éhttps://e.com/abc"), 24);
        // A host without a dot is not a URL to X: at least 23 either way.
        assert_eq!(weighted_length("https://localhost"), 23);
        let local = format!("https://localhost/{}", "b".repeat(30));
        assert_eq!(weighted_length(&local), local.len());
    }

    #[test]
    fn bare_domains_count_at_least_23() {
        assert_eq!(weighted_length("example.com"), 23);
        assert_eq!(weighted_length("see example.com."), 4 + 23 + 1);
        assert_eq!(weighted_length("café.example.org"), 23);
        // The path is counted as text on top (X would count 23 in all).
        assert_eq!(weighted_length("example.com/abc"), 27);
        // Not domains: numbers, one-letter endings, abbreviations.
        assert_eq!(weighted_length("3.14 v1.2 e.g. i.e. U.S."), 24);
        assert_eq!(weighted_length("a..b"), 4);
    }

    #[test]
    fn fits_untouched_at_the_limit_and_cuts_one_over() {
        let link = format!("https://site.example/{}", "p".repeat(100));
        // 128 CJK characters (256) + space + link (23) = 280 exactly.
        let msg = "漢".repeat(128);
        let f = fit(&msg, Some(&link), 280);
        assert!(!f.truncated);
        assert_eq!(f.text, format!("{msg} {link}"));
        assert_eq!(f.length, 280);
        // One more CJK character: 282, so cut, the link kept.
        let msg = "漢".repeat(129);
        let f = fit(&msg, Some(&link), 280);
        assert!(f.truncated);
        assert!(f.text.ends_with(&format!("… {link}")), "{}", f.text);
        // 280 − 24 (link and space) − 2 (ellipsis) = 254 → 127 characters.
        assert_eq!(f.text, format!("{}… {link}", "漢".repeat(127)));
        assert_eq!(f.length, 280);
    }

    #[test]
    fn cuts_at_word_boundaries_and_keeps_line_breaks() {
        let link = "https://example.com/article";
        let f = fit("one two\n\nthree four five six", Some(link), 40);
        // budget = 40 − 24 − 2 = 14: "one two\n\nthree" weighs 14.
        assert_eq!(f.text, "one two\n\nthree… https://example.com/article");
        assert_eq!(f.length, 14 + 2 + 1 + 23);
        // The link inside the text moves to the end when cutting.
        let f = fit(&format!("alpha {link} beta gamma delta"), Some(link), 36);
        assert_eq!(f.text, format!("alpha beta… {link}"));
        assert_eq!(f.length, 36);
        // Not repeated when it is already there and everything fits.
        let f = fit(&format!("read {link} now"), Some(link), 280);
        assert_eq!(f.text, format!("read {link} now"));
    }

    #[test]
    fn never_splits_an_emoji_and_cuts_long_words() {
        let f = fit(&"👍🏽".repeat(200), None, 10);
        assert_eq!(f.text, format!("{}…", "👍🏽".repeat(4)));
        assert_eq!(f.length, 10);
        let f = fit(&"x".repeat(50), None, 10);
        assert_eq!(f.text, format!("{}…", "x".repeat(8)));
    }

    #[test]
    fn fits_for_every_limit() {
        let text = "Zoë's café ☕ — 漢字 and example.com with 👨‍👩‍👧 and 🇫🇷, words https://other.example/x words";
        let link = "https://example.com/a/very/long/path";
        for limit in 0..140 {
            for l in [Some(link), None] {
                let f = fit(text, l, limit);
                assert!(f.length <= limit, "limit {limit}: {f:?}");
                assert_eq!(f.length, weighted_length(&f.text));
                if limit >= 30 && l.is_some() {
                    assert!(f.text.ends_with(link), "limit {limit}: {f:?}");
                }
            }
        }
    }
}
