//! Property tests on the input parsers of herald-core: arbitrary input never
//! panics, and what should round-trip does (a valid UserAction through JSON,
//! fitted text within its limit with its link kept). Bounded case counts, so
//! they run in the normal `cargo test`.

use herald_core::action::{MAX_URL_LEN, check_http_url};
use herald_core::template::{self, TemplateLink};
use herald_core::text::{TextCounting, count, fit};
use herald_core::{
    ActionLink, MediaItem, MediaType, Privacy, Scope, TemplateField, UserAction, domains,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

fn url() -> impl Strategy<Value = String> {
    (
        "(http|https)",
        "[a-z]{1,10}(\\.[a-z]{2,6}){1,2}",
        "(/[a-zA-Z0-9._~%-]{0,12}){0,3}",
    )
        .prop_map(|(s, h, p)| format!("{s}://{h}{p}"))
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,40}"
}

fn media() -> impl Strategy<Value = MediaItem> {
    (
        prop_oneof![
            Just(MediaType::Image),
            Just(MediaType::Video),
            Just(MediaType::Audio),
            Just(MediaType::Flash)
        ],
        url(),
        proptest::option::of(url()),
        proptest::option::of(url()),
    )
        .prop_map(|(kind, src, href, preview_image_url)| MediaItem {
            kind,
            src,
            href,
            preview_image_url,
        })
}

prop_compose! {
    fn action()(
        title in proptest::option::of(text()),
        subtitle in proptest::option::of(text()),
        description in proptest::option::of(text()),
        user_message in proptest::option::of(text()),
        link_back in proptest::option::of(url()),
        media_items in proptest::collection::vec(media(), 0..3),
        action_links in proptest::collection::vec(("[a-z]{1,8}", url()).prop_map(|(text, href)| ActionLink { text, href }), 0..3),
        action_name in proptest::option::of("[a-z ]{1,20}"),
        template_fields in proptest::collection::btree_map("[a-z_]{1,8}", (text(), proptest::option::of(url())).prop_map(|(text, href)| TemplateField { text, href }), 0..3),
        tags in proptest::collection::vec("[a-z]{1,10}", 0..3),
        cid in proptest::option::of("[a-z0-9]{1,10}"),
        scope in proptest::option::of(prop_oneof![Just(Scope::External), Just(Scope::Internal), Just(Scope::Both)]),
        privacy in proptest::option::of(prop_oneof![Just(Privacy::Public), Just(Privacy::Friends), Just(Privacy::Private)]),
    ) -> UserAction {
        UserAction {
            title, subtitle, description, user_message, link_back, media_items, action_links,
            action_name, template: None, template_fields, tags, cid, feed_id: None, scope, privacy,
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn user_action_json_round_trips(a in action()) {
        let json = serde_json::to_string(&a).unwrap();
        let back: UserAction = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &a);
        // Validation of whatever was generated never panics.
        let _ = back.validate();
    }

    #[test]
    fn arbitrary_json_never_panics_the_action_parser(raw in "\\PC{0,200}") {
        if let Ok(a) = serde_json::from_str::<UserAction>(&raw) {
            let _ = a.validate();
        }
    }

    #[test]
    fn arbitrary_json_values_never_panic_the_action_parser(v in json_value()) {
        if let Ok(a) = serde_json::from_value::<UserAction>(v) {
            let _ = a.validate();
            let _ = domains::check_action(&["example.com".to_owned()], &a);
        }
    }

    #[test]
    fn template_expansion_never_panics_and_links_cover_their_text(
        t in "[a-z {}_\\PC]{0,60}",
        fields in proptest::collection::btree_map("[a-z_]{1,6}", (text(), proptest::option::of(url())), 0..4),
        actor in proptest::option::of(text()),
    ) {
        let fields: BTreeMap<String, TemplateField> = fields
            .into_iter()
            .map(|(k, (text, href))| (k, TemplateField { text, href }))
            .collect();
        let checked = template::check(&t, &fields);
        let expanded = template::expand(&t, &fields, actor.as_deref(), None);
        prop_assert_eq!(checked.is_ok(), expanded.is_ok());
        if let Ok(e) = expanded {
            for TemplateLink { start, end, .. } in &e.links {
                prop_assert!(start <= end && *end <= e.text.len());
                prop_assert!(e.text.is_char_boundary(*start) && e.text.is_char_boundary(*end));
            }
        }
        let _ = template::check_saved(&t);
    }

    #[test]
    fn a_template_of_placeholders_expands_to_their_texts(
        names in proptest::collection::vec("[a-z]{1,6}", 1..4),
        texts in proptest::collection::vec("[^{}]{0,10}", 4),
    ) {
        let fields: BTreeMap<String, TemplateField> = names
            .iter()
            .zip(&texts)
            .map(|(n, t)| (format!("f_{n}"), TemplateField { text: t.clone(), href: None }))
            .collect();
        let t: String = names.iter().map(|n| format!("{{f_{n}}}")).collect::<Vec<_>>().join(" ");
        let e = template::expand(&t, &fields, None, None).unwrap();
        let want: Vec<&str> = names.iter().map(|n| fields[&format!("f_{n}")].text.as_str()).collect();
        prop_assert_eq!(e.text, want.join(" "));
    }

    #[test]
    fn fitting_never_exceeds_the_limit_and_keeps_the_link(
        t in "\\PC{0,120}",
        link in proptest::option::of(url()),
        limit in 0usize..200,
        weight in proptest::option::of(1usize..30),
    ) {
        let rule = TextCounting { url_weight: weight };
        let f = fit(&t, link.as_deref(), limit, &rule);
        prop_assert_eq!(f.length, count(&f.text, &rule));
        let link_cost = link.as_deref().map_or(0, |l| count(l, &rule) + 1);
        if f.truncated {
            prop_assert!(f.length <= limit, "{:?} is {} > {}", f.text, f.length, limit);
            // The link stays when it fits beside a one-character ellipsis.
            if let Some(l) = &link && link_cost < limit {
                prop_assert!(f.text.ends_with(l.as_str()), "{:?} lost {:?}", f.text, l);
            }
        } else {
            prop_assert!(f.length <= limit);
            if let Some(l) = &link {
                prop_assert!(f.text.contains(l.as_str()));
            }
        }
    }

    #[test]
    fn url_checks_never_panic(raw in "\\PC{0,80}", domain in "[a-z.]{0,12}") {
        if let Ok(u) = check_http_url(&raw) {
            prop_assert!(raw.len() <= MAX_URL_LEN);
            prop_assert!(u.host_str().is_some_and(|h| !h.is_empty()));
        }
        let _ = domains::check_link(std::slice::from_ref(&domain), &raw);
        let _ = domains::within(&raw, &domain);
    }

    #[test]
    fn links_on_a_domain_or_its_subdomains_pass_and_others_do_not(
        sub in proptest::option::of("[a-z]{1,8}"),
        domain in "[a-z]{1,8}\\.[a-z]{2,4}",
        other in "[a-z]{1,8}\\.[a-z]{2,4}",
        path in "(/[a-z0-9]{0,6}){0,2}",
    ) {
        let host = match &sub {
            Some(s) => format!("{s}.{domain}"),
            None => domain.clone(),
        };
        let allowed = [domain.clone()];
        prop_assert_eq!(domains::check_link(&allowed, &format!("https://{host}{path}")), Ok(()));
        let foreign = format!("https://{other}{path}");
        let inside = other == domain || other.ends_with(&format!(".{domain}"));
        prop_assert_eq!(domains::check_link(&allowed, &foreign).is_ok(), inside);
        // A look-alike that only ends with the domain's text is not inside.
        let lookalike = format!("https://x{domain}{path}");
        prop_assert!(domains::check_link(&allowed, &lookalike).is_err());
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::String),
        url().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("title".to_owned()),
                    Just("link_back".to_owned()),
                    Just("media_items".to_owned()),
                    Just("type".to_owned()),
                    Just("src".to_owned()),
                    Just("action_links".to_owned()),
                    Just("href".to_owned()),
                    Just("text".to_owned()),
                    Just("template".to_owned()),
                    Just("template_fields".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
