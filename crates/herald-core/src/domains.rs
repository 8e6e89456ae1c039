//! The app's domains: the hosts every link Herald publishes or redirects to
//! may name (an action's links, short links, connect redirects). One rule for
//! the native API, the Gigya surface and `/s/{code}`; an empty list allows
//! every host.

use crate::UserAction;

/// `host` is `domain` or one of its subdomains (ASCII case-insensitive).
pub fn within(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.');
    let domain = domain.trim_end_matches('.');
    let Some(cut) = host.len().checked_sub(domain.len()) else {
        return false;
    };
    // A cut inside a multi-byte character cannot be a label boundary.
    if domain.is_empty() || !host.is_char_boundary(cut) {
        return false;
    }
    let (head, tail) = host.split_at(cut);
    tail.eq_ignore_ascii_case(domain) && (head.is_empty() || head.ends_with('.'))
}

/// The host a link names, lowercased without a trailing dot; empty when the
/// link does not parse or has no host.
pub fn host_of(link: &str) -> String {
    url::Url::parse(link)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        })
        .unwrap_or_default()
}

/// `Err(host)` when `domains` is not empty and `link`'s host is on none of them.
pub fn check_link(domains: &[String], link: &str) -> Result<(), String> {
    if domains.is_empty() {
        return Ok(());
    }
    let host = host_of(link);
    if !host.is_empty() && domains.iter().any(|d| within(&host, d)) {
        Ok(())
    } else {
        Err(host)
    }
}

/// A link outside the app's domains: its field (relative to the action, as
/// in validation errors: `media_items[0].src`) and host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outside {
    pub field: String,
    pub host: String,
}

/// Every link of the action that Herald would publish, with its field path:
/// `link_back`, each media item's `src`, `href` and `preview_image_url`,
/// `action_links[i].href` and `template_fields.<name>.href`.
pub fn action_links(action: &UserAction) -> Vec<(String, &str)> {
    let mut links: Vec<(String, &str)> = Vec::new();
    if let Some(l) = &action.link_back {
        links.push(("link_back".into(), l));
    }
    for (i, m) in action.media_items.iter().enumerate() {
        links.push((format!("media_items[{i}].src"), &m.src));
        if let Some(h) = &m.href {
            links.push((format!("media_items[{i}].href"), h));
        }
        if let Some(p) = &m.preview_image_url {
            links.push((format!("media_items[{i}].preview_image_url"), p));
        }
    }
    for (i, l) in action.action_links.iter().enumerate() {
        links.push((format!("action_links[{i}].href"), &l.href));
    }
    for (name, f) in &action.template_fields {
        if let Some(h) = &f.href {
            links.push((format!("template_fields.{name}.href"), h));
        }
    }
    links
}

/// The first of the action's links outside `domains`, if any.
pub fn check_action(domains: &[String], action: &UserAction) -> Result<(), Outside> {
    for (field, link) in action_links(action) {
        check_link(domains, link).map_err(|host| Outside { field, host })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn subdomains_match_and_lookalikes_do_not() {
        assert!(within("news.example", "news.example"));
        assert!(within("a.b.news.example", "news.example"));
        assert!(within("WWW.News.Example.", "news.example"));
        assert!(!within("notnews.example", "news.example"));
        assert!(!within("news.example.evil.example", "news.example"));
        assert!(!within("example", "news.example"));
        assert!(!within("news.example", ""));
        assert!(!within("é.news.example", "xnews.example"));
        assert!(!within("aé", "b"));
    }

    #[test]
    fn links_are_checked_only_when_the_app_has_domains() {
        assert_eq!(check_link(&[], "https://evil.example/"), Ok(()));
        let news = d(&["news.example"]);
        assert_eq!(check_link(&news, "https://cdn.news.example/a.jpg"), Ok(()));
        assert_eq!(
            check_link(&news, "https://evil.example/"),
            Err("evil.example".into())
        );
        assert_eq!(
            check_link(&news, "https://news.example@evil.example/"),
            Err("evil.example".into())
        );
        assert_eq!(check_link(&news, "not a url"), Err(String::new()));
    }

    #[test]
    fn every_link_field_of_an_action_is_named() {
        let a: UserAction = serde_json::from_value(json!({
            "link_back": "https://news.example/",
            "media_items": [{"type": "image", "src": "https://news.example/a.jpg",
                             "href": "https://news.example/", "preview_image_url": "https://news.example/p.jpg"}],
            "action_links": [{"text": "go", "href": "https://news.example/go"}],
            "template_fields": {"thing": {"text": "x", "href": "https://news.example/x"}}
        }))
        .unwrap();
        let fields: Vec<String> = action_links(&a).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "link_back",
                "media_items[0].src",
                "media_items[0].href",
                "media_items[0].preview_image_url",
                "action_links[0].href",
                "template_fields.thing.href"
            ]
        );
        let news = d(&["news.example"]);
        assert_eq!(check_action(&news, &a), Ok(()));
        let mut bad = a.clone();
        bad.action_links[0].href = "https://evil.example/".into();
        assert_eq!(
            check_action(&news, &bad),
            Err(Outside {
                field: "action_links[0].href".into(),
                host: "evil.example".into()
            })
        );
    }
}
