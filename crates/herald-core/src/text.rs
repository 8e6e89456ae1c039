//! Text counting and fitting the way networks count: grapheme clusters (what a
//! person sees as one character), with every URL weighing a fixed amount where
//! the network shortens links (Mastodon and X count each URL as 23). Fitting
//! trims at a word boundary, adds an ellipsis and keeps the link.

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

pub const ELLIPSIS: &str = "…";

/// How a network counts the length of a post.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextCounting {
    /// Every http(s) URL counts as this many characters, whatever its length.
    pub url_weight: Option<usize>,
}

fn is_url(token: &str) -> bool {
    token.starts_with("http://") || token.starts_with("https://")
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

fn token_len(token: &str, rule: &TextCounting) -> usize {
    match rule.url_weight {
        Some(w) if is_url(token) => w,
        _ => token.graphemes(true).count(),
    }
}

/// The length of `text` as the network counts it.
pub fn count(text: &str, rule: &TextCounting) -> usize {
    tokens(text).iter().map(|t| token_len(t, rule)).sum()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fitted {
    pub text: String,
    pub truncated: bool,
    /// The fitted text's length as counted by the rule.
    pub length: usize,
}

fn join(text: &str, link: Option<&str>) -> String {
    match link {
        Some(l) if !text.is_empty() => format!("{text} {l}"),
        Some(l) => l.to_owned(),
        None => text.to_owned(),
    }
}

/// Fits `text` followed by `link` into `limit`. When the text already contains
/// the link it is not repeated. When too long, the text (never the link) is cut
/// at the last word boundary that fits and ends with an ellipsis.
pub fn fit(text: &str, link: Option<&str>, limit: usize, rule: &TextCounting) -> Fitted {
    let text = text.trim();
    let link = link.filter(|l| !l.is_empty());
    let whole = match link {
        Some(l) if text.contains(l) => text.to_owned(),
        _ => join(text, link),
    };
    let length = count(&whole, rule);
    if length <= limit {
        return Fitted {
            text: whole,
            truncated: false,
            length,
        };
    }
    // Too long: take the link out of the text (it goes back at the end) and trim.
    let body = match link {
        Some(l) => text.replacen(l, "", 1),
        None => text.to_owned(),
    };
    let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let link_cost = link.map_or(0, |l| token_len(l, rule) + 1);
    let ellipsis = ELLIPSIS.graphemes(true).count();
    let Some(budget) = limit.checked_sub(link_cost + ellipsis) else {
        // Not even the link fits beside an ellipsis: fit the text alone
        // (truncated all the same: the link was dropped).
        return if link.is_some() {
            Fitted {
                truncated: true,
                ..fit(&body, None, limit, rule)
            }
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
        let n = token_len(token, rule);
        if used + n > budget {
            if kept.trim().is_empty() && !is_url(token) {
                // One word longer than the budget: cut inside it.
                kept = truncate_graphemes(token, budget);
            }
            break;
        }
        kept.push_str(token);
        used += n;
    }
    let mut out = kept.trim_end().to_owned();
    out.push_str(ELLIPSIS);
    let out = join(&out, link);
    let length = count(&out, rule);
    Fitted {
        text: out,
        truncated: true,
        length,
    }
}

fn truncate_graphemes(s: &str, n: usize) -> String {
    s.graphemes(true).take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: TextCounting = TextCounting { url_weight: None };
    const URL23: TextCounting = TextCounting {
        url_weight: Some(23),
    };

    #[test]
    fn counts_graphemes_not_bytes_or_chars() {
        // ZWJ family + e with combining acute accent = 2 graphemes.
        assert_eq!(count("👨‍👩‍👧e\u{301}", &PLAIN), 2);
        assert_eq!(count("👍🏽", &PLAIN), 1);
    }

    #[test]
    fn urls_have_a_fixed_weight_when_told() {
        let long = format!("see https://example.com/{}", "a".repeat(100));
        assert_eq!(count(&long, &URL23), 4 + 23);
        assert_eq!(count(&long, &PLAIN), long.len());
    }

    #[test]
    fn short_text_is_untouched_and_link_appended_once() {
        let f = fit("hello", Some("https://e.com/x"), 100, &PLAIN);
        assert_eq!(f.text, "hello https://e.com/x");
        assert!(!f.truncated);
        let f = fit(
            "read https://e.com/x now",
            Some("https://e.com/x"),
            100,
            &PLAIN,
        );
        assert_eq!(f.text, "read https://e.com/x now");
    }

    #[test]
    fn trims_at_word_boundary_and_keeps_link() {
        let link = "https://example.com/article";
        let f = fit("one two three four five six", Some(link), 40, &URL23);
        // budget = 40 - 24 (link + space) - 1 (ellipsis) = 15: "one two three " fits
        assert_eq!(f.text, "one two three… https://example.com/article");
        assert!(f.truncated);
        assert!(f.length <= 40);
        assert_eq!(f.length, 13 + 1 + 1 + 23);
    }

    #[test]
    fn link_inside_text_moves_to_the_end_when_trimming() {
        let link = "https://e.com/a";
        let f = fit(
            &format!("alpha {link} beta gamma delta"),
            Some(link),
            27,
            &PLAIN,
        );
        assert_eq!(f.text, format!("alpha beta… {link}"));
        assert_eq!(f.length, 27);
    }

    #[test]
    fn a_single_long_word_is_cut_inside() {
        let f = fit(&"x".repeat(50), None, 10, &PLAIN);
        assert_eq!(f.text, format!("{}…", "x".repeat(9)));
        assert_eq!(f.length, 10);
    }

    #[test]
    fn never_splits_a_grapheme() {
        let fam = "👨‍👩‍👧";
        let f = fit(&fam.repeat(10), None, 4, &PLAIN);
        assert_eq!(f.text, format!("{}…", fam.repeat(3)));
    }

    #[test]
    fn a_dropped_link_counts_as_truncation() {
        let f = fit("", Some("https://example.com/a"), 5, &PLAIN);
        assert_eq!(f.text, "");
        assert!(f.truncated, "{f:?}");
    }

    #[test]
    fn fits_for_every_limit() {
        let text = "Zoë's café ☕ — a long post with words and emoji 🎉🎉 and more words";
        let link = "https://example.com/a/very/long/path";
        for limit in 0..120 {
            for rule in [PLAIN, URL23] {
                let f = fit(text, Some(link), limit, &rule);
                assert!(f.length <= limit, "limit {limit}: {f:?}");
            }
        }
    }
}
