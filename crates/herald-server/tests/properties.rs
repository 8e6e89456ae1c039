//! Property tests on the Gigya surface's input handling: parameter merging
//! (query + form body) and signature base strings never panic on arbitrary
//! input, parameters round-trip through form encoding, and a base string does
//! not depend on parameter order. Bounded case counts, run by `cargo test`.

use herald_server::gigya::params::Params;
use herald_server::gigya::signature::{base_string, encode, normalized_url, timestamp_seconds};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(("[A-Za-z_]{1,10}", "\\PC{0,24}"), 0..8)
}

fn form(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_queries_and_bodies_never_panic(
        query in "\\PC{0,120}",
        body in proptest::collection::vec(any::<u8>(), 0..160),
    ) {
        let p = Params::parse(&query, Some(&body));
        let _ = p.uid();
        let _ = p.required("siteUID");
        let _ = p.json::<serde_json::Value>("userAction");
        let _ = p.list("enabledProviders");
        let _ = p.flag("httpStatusCodes");
        let signed = p.signed_pairs();
        let _ = base_string("POST", "https://socialize.us1.gigya.com/socialize.setStatus", &signed);
    }

    #[test]
    fn parameters_round_trip_through_query_and_body(
        query in pairs(),
        body in pairs(),
    ) {
        let p = Params::parse(&form(&query), Some(form(&body).as_bytes()));
        let want: Vec<(String, String)> = query.iter().chain(&body).cloned().collect();
        prop_assert_eq!(p.pairs(), &want[..]);
        // The first occurrence wins, the query before the body.
        for (k, _) in &want {
            let first = want.iter().find(|(k2, _)| k2 == k).map(|(_, v)| v.as_str());
            prop_assert_eq!(p.get(k), first);
        }
        prop_assert!(p.signed_pairs().iter().all(|(k, _)| k != "sig"));
    }

    #[test]
    fn base_strings_ignore_order_and_the_sig(
        mut params in pairs(),
        method in "(get|post|GET|POST)",
        seed in any::<u64>(),
        sig in "\\PC{0,12}",
    ) {
        let url = "https://socialize.us1.gigya.com/socialize.publishUserAction";
        let base = base_string(&method, url, &params);
        let prefix = format!("{}&", method.to_ascii_uppercase());
        prop_assert!(base.starts_with(&prefix), "{}", base);
        // Any permutation (a rotation by `seed`) plus a `sig` gives the same string.
        if !params.is_empty() {
            let n = (seed % params.len() as u64) as usize;
            params.rotate_left(n);
        }
        params.push(("sig".into(), sig));
        prop_assert_eq!(base_string(&method, url, &params), base);
    }

    #[test]
    fn encoding_is_unreserved_or_percent_and_decodes_back(s in "\\PC{0,40}") {
        let e = encode(&s);
        prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%ABCDEF".contains(&b)));
        let back = url::form_urlencoded::parse(format!("x={e}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned());
        prop_assert_eq!(back.as_deref(), Some(s.as_str()));
    }

    #[test]
    fn normalized_urls_never_panic(raw in "(http|https|ftp)://\\PC{0,40}") {
        if let Ok(u) = url::Url::parse(&raw) {
            let n = normalized_url(&u);
            prop_assert!(!n.contains('?') && !n.contains('#'));
        }
    }

    #[test]
    fn timestamps_never_panic_and_small_ones_are_seconds(raw in "\\PC{0,24}", n in 0i64..100_000_000_000) {
        let _ = timestamp_seconds(&raw);
        prop_assert_eq!(timestamp_seconds(&n.to_string()), Some(n));
    }
}
