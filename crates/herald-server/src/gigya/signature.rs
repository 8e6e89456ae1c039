//! Gigya request signatures (OAuth 1.0-style HMAC-SHA1) and `UIDSignature`s.
//!
//! Gigya SDKs sign every request as `Base64(HMAC-SHA1(Base64Decode(secret),
//! base string))`, where the base string is built from the HTTP method, the
//! *normalized URL the client thought it was calling* and the sorted,
//! percent-encoded parameters. Because SDKs disagree about that URL (the npm
//! SDK always signs over `https://socialize.<dc>.gigya.com/...` even when it
//! talks to us), the server checks several candidate URLs. Everything here is
//! pure: no I/O, no clock, no configuration lookups.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// Why a signature could not be computed or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The configured secret is not valid base64 (the secret itself is never included).
    #[error("secret is not valid base64")]
    InvalidSecret,
    /// No candidate URL produced the given `sig`. `tried` holds the base
    /// strings that were computed, in candidate order, for debug logging.
    #[error("invalid request signature ({} base string(s) tried)", tried.len())]
    Mismatch { tried: Vec<String> },
}

/// A successful [`verify`]: which candidate matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The normalized URL (one of the candidates) whose base string matched.
    pub normalized_url: String,
    /// The base string that matched.
    pub base_string: String,
}

/// RFC 3986 percent-encoding of the UTF-8 bytes of `s`: every byte except the
/// unreserved set `A-Z a-z 0-9 - . _ ~` becomes `%XX` (uppercase hex), so a
/// space is `%20`, never `+`.
pub fn encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    out
}

/// `lower(scheme)://lower(host)[:port]`, the port only when it is not the
/// scheme's default.
fn normalized_origin(url: &url::Url) -> String {
    let scheme = url.scheme().to_ascii_lowercase();
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    // `Url::port` is already `None` for a known scheme's default port; check
    // again explicitly so `http`/`https` never keep `:80`/`:443`.
    let port = match (scheme.as_str(), url.port()) {
        ("http", Some(80)) | ("https", Some(443)) | (_, None) => None,
        (_, Some(p)) => Some(p),
    };
    match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    }
}

/// OAuth 1.0 normalized URL: `lower(scheme)://lower(host)`, then `:port` only
/// if non-default for the scheme, then the path. No query, no fragment.
pub fn normalized_url(url: &url::Url) -> String {
    format!("{}{}", normalized_origin(url), url.path())
}

/// The signature base string:
/// `UPPER(method) & encode(url) & encode(key1=encode(v1)&key2=encode(v2)...)`.
///
/// `params` are the decoded request parameters (query and body); any `sig`
/// parameter is left out. Parameters are sorted by key with byte-wise
/// (case-sensitive, ordinal) order, so `UID` sorts before `apiKey`; equal keys
/// are sorted by value. Keys are not encoded.
pub fn base_string(http_method: &str, normalized_url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "sig").collect();
    sorted.sort();
    let query = sorted
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        http_method.to_ascii_uppercase(),
        encode(normalized_url),
        encode(&query)
    )
}

/// Decodes a base64 secret. Standard alphabet; padding is optional, so a
/// secret pasted without its trailing `=` still works.
fn decode_secret(secret_b64: &str) -> Result<Vec<u8>, SignatureError> {
    STANDARD_PAD_INDIFFERENT
        .decode(secret_b64.trim())
        .map_err(|_| SignatureError::InvalidSecret)
}

fn mac_for(key: &[u8], msg: &str) -> Result<HmacSha1, SignatureError> {
    let mut mac = HmacSha1::new_from_slice(key).map_err(|_| SignatureError::InvalidSecret)?;
    mac.update(msg.as_bytes());
    Ok(mac)
}

/// `Base64(HMAC-SHA1(key = Base64Decode(secret_b64), msg = base))`, standard
/// alphabet with `=` padding.
pub fn sign(secret_b64: &str, base: &str) -> Result<String, SignatureError> {
    let key = decode_secret(secret_b64)?;
    let tag = mac_for(&key, base)?.finalize().into_bytes();
    Ok(STANDARD.encode(tag))
}

/// Checks `sig` against the base string for each candidate normalized URL
/// (in order; see [`candidate_urls`]) and returns the first that matches.
/// The comparison is constant-time (`Mac::verify_slice`). A `sig` that is not
/// valid base64 simply matches nothing. On failure the error carries the base
/// strings tried, never the secret.
pub fn verify(
    secret_b64: &str,
    http_method: &str,
    candidate_urls: &[String],
    params: &[(String, String)],
    sig: &str,
) -> Result<Verified, SignatureError> {
    let key = decode_secret(secret_b64)?;
    let tag = STANDARD_PAD_INDIFFERENT
        .decode(sig.trim())
        .unwrap_or_default();
    let mut tried = Vec::with_capacity(candidate_urls.len());
    for url in candidate_urls {
        let base = base_string(http_method, url, params);
        if mac_for(&key, &base)?.verify_slice(&tag).is_ok() {
            return Ok(Verified {
                normalized_url: url.clone(),
                base_string: base,
            });
        }
        tried.push(base);
    }
    Err(SignatureError::Mismatch { tried })
}

/// The normalized URLs a client may have signed for `method_path` (e.g.
/// `socialize.publishUserAction`), in the order to try them, de-duplicated:
///
/// 1. Herald's public base URL + `/<method>`, keeping any path prefix of the
///    base (`https://h.example/gigya/` → `https://h.example/gigya/<method>`);
/// 2. for each data-center label (e.g. `us1`):
///    `https://<ns>.<dc>.gigya.com/<method>` then the same over `http://`,
///    where `<ns>` is the method's namespace (text before the first `.`,
///    `socialize` if there is none). A label that already contains a dot
///    (e.g. `eu1.gigya.com`) is used as the whole domain suffix.
pub fn candidate_urls(
    public_base: &url::Url,
    method_path: &str,
    data_centers: &[String],
) -> Vec<String> {
    let method = method_path.trim().trim_start_matches('/');
    let namespace = match method.split_once('.') {
        Some((ns, _)) if !ns.is_empty() => ns.to_ascii_lowercase(),
        _ => "socialize".to_owned(),
    };

    let mut out: Vec<String> = Vec::with_capacity(1 + 2 * data_centers.len());
    let mut push = |u: String| {
        if !out.contains(&u) {
            out.push(u);
        }
    };

    let prefix = public_base.path().trim_end_matches('/');
    push(format!(
        "{}{prefix}/{method}",
        normalized_origin(public_base)
    ));

    for dc in data_centers {
        let dc = dc.trim().trim_matches('.').to_ascii_lowercase();
        if dc.is_empty() {
            continue;
        }
        let host = if dc.contains('.') {
            format!("{namespace}.{dc}")
        } else {
            format!("{namespace}.{dc}.gigya.com")
        };
        push(format!("https://{host}/{method}"));
        push(format!("http://{host}/{method}"));
    }
    out
}

/// `UIDSignature = Base64(HMAC-SHA1(Base64Decode(partner secret), "<timestamp>_<uid>"))`,
/// with the timestamp in Unix seconds.
pub fn uid_signature(
    partner_secret_b64: &str,
    timestamp_secs: i64,
    uid: &str,
) -> Result<String, SignatureError> {
    sign(partner_secret_b64, &format!("{timestamp_secs}_{uid}"))
}

/// Parses a request `timestamp` (decimal digits only). Values above 10^11 are
/// taken as milliseconds (the npm SDK sends `Date.now()`) and divided by 1000;
/// everything else is seconds. `None` for empty, signed, non-digit or
/// overflowing input.
pub fn timestamp_seconds(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = raw.parse().ok()?;
    if n > 100_000_000_000 {
        Some(n / 1000)
    } else {
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    const OAUTH_SECRET: &str = "dGVzdC1jb25zdW1lci1zZWNyZXQmdGVzdC10b2tlbi1zZWNyZXQ=";
    const TEST_SECRET: &str = "c2VjcmV0LXRlc3Qta2V5LTAxMjM0NTY3ODk=";

    const GIGYA_BODY: &str = "UID=_guid_abc123%3D%3D&userAction=%7B%22title%22%3A%22Hello%22%2C%22linkBack%22%3A%22http%3A%2F%2Fexample.com%2F%22%2C%22description%22%3A%22desc%22%2C%22mediaItems%22%3A%5B%7B%22type%22%3A%22image%22%2C%22src%22%3A%22http%3A%2F%2Fexample.com%2Fa.jpg%22%2C%22href%22%3A%22http%3A%2F%2Fexample.com%2F%22%7D%5D%7D&enabledProviders=messenger&apiKey=3_testApiKey&format=json&userKey=AUserKey123&timestamp=1795626704409&nonce=381814275337&sig=ovtDBtjrNtym5sqXJBJWqRjGNuY%3D";
    const GIGYA_BASE: &str = "POST&https%3A%2F%2Fsocialize.us1.gigya.com%2Fsocialize.publishUserAction&UID%3D_guid_abc123%253D%253D%26apiKey%3D3_testApiKey%26enabledProviders%3Dmessenger%26format%3Djson%26nonce%3D381814275337%26timestamp%3D1795626704409%26userAction%3D%257B%2522title%2522%253A%2522Hello%2522%252C%2522linkBack%2522%253A%2522http%253A%252F%252Fexample.com%252F%2522%252C%2522description%2522%253A%2522desc%2522%252C%2522mediaItems%2522%253A%255B%257B%2522type%2522%253A%2522image%2522%252C%2522src%2522%253A%2522http%253A%252F%252Fexample.com%252Fa.jpg%2522%252C%2522href%2522%253A%2522http%253A%252F%252Fexample.com%252F%2522%257D%255D%257D%26userKey%3DAUserKey123";

    fn gigya_params() -> (Vec<(String, String)>, String) {
        let all: Vec<(String, String)> = url::form_urlencoded::parse(GIGYA_BODY.as_bytes())
            .into_owned()
            .collect();
        let sig = all.iter().find(|(k, _)| k == "sig").unwrap().1.clone();
        let params = all.into_iter().filter(|(k, _)| k != "sig").collect();
        (params, sig)
    }

    #[test]
    fn oauth1_spec_vector() {
        let params = vec![
            p("file", "vacation.jpg"),
            p("oauth_consumer_key", "test-consumer-secret"),
            p("oauth_nonce", "kllo9940pd9333jh"),
            p("oauth_signature_method", "HMAC-SHA1"),
            p("oauth_timestamp", "1191242096"),
            p("oauth_token", "test-token-secret"),
            p("oauth_version", "1.0"),
            p("size", "original"),
        ];
        let nurl = normalized_url(&url("http://photos.example.net/photos"));
        let base = base_string("post", &nurl, &params);
        assert_eq!(
            base,
            "POST&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Dtest-consumer-secret%26oauth_nonce%3Dkllo9940pd9333jh%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1191242096%26oauth_token%3Dtest-token-secret%26oauth_version%3D1.0%26size%3Doriginal"
        );
        assert_eq!(
            sign(OAUTH_SECRET, &base).unwrap(),
            "j4/Jwtp11HLWl7KG3QlsczfRRpU="
        );
    }

    #[test]
    fn gigya_capture_base_string_and_sig() {
        let (params, sig) = gigya_params();
        assert_eq!(sig, "ovtDBtjrNtym5sqXJBJWqRjGNuY=");
        let base = base_string(
            "POST",
            "https://socialize.us1.gigya.com/socialize.publishUserAction",
            &params,
        );
        assert_eq!(base, GIGYA_BASE);
        assert_eq!(sign(TEST_SECRET, &base).unwrap(), sig);
    }

    #[test]
    fn base_string_ignores_sig_param() {
        let (params, sig) = gigya_params();
        let mut with_sig = params.clone();
        with_sig.push(p("sig", &sig));
        let u = "https://socialize.us1.gigya.com/socialize.publishUserAction";
        assert_eq!(
            base_string("POST", u, &with_sig),
            base_string("POST", u, &params)
        );
    }

    #[test]
    fn gigya_capture_verify_via_candidates() {
        let (params, sig) = gigya_params();
        let candidates = candidate_urls(
            &url("http://127.0.0.1:18080/"),
            "socialize.publishUserAction",
            &["us1".to_owned()],
        );
        assert_eq!(
            candidates,
            vec![
                "http://127.0.0.1:18080/socialize.publishUserAction".to_owned(),
                "https://socialize.us1.gigya.com/socialize.publishUserAction".to_owned(),
                "http://socialize.us1.gigya.com/socialize.publishUserAction".to_owned(),
            ]
        );
        let v = verify(TEST_SECRET, "POST", &candidates, &params, &sig).unwrap();
        assert_eq!(
            v.normalized_url,
            "https://socialize.us1.gigya.com/socialize.publishUserAction"
        );
        assert_eq!(v.base_string, GIGYA_BASE);

        // The local URL alone does not match; the error lists the base tried.
        let local = vec!["http://127.0.0.1:18080/socialize.publishUserAction".to_owned()];
        match verify(TEST_SECRET, "POST", &local, &params, &sig) {
            Err(SignatureError::Mismatch { tried }) => {
                assert_eq!(tried.len(), 1);
                assert!(tried[0].starts_with("POST&http%3A%2F%2F127.0.0.1%3A18080%2F"));
                assert!(!tried[0].contains(TEST_SECRET));
            }
            other => panic!("expected mismatch, got {other:?}"),
        }
    }

    #[test]
    fn verify_rejects_bad_sig_and_bad_secret() {
        let (params, sig) = gigya_params();
        let c = vec!["https://socialize.us1.gigya.com/socialize.publishUserAction".to_owned()];
        // Wrong secret.
        assert!(matches!(
            verify(OAUTH_SECRET, "POST", &c, &params, &sig),
            Err(SignatureError::Mismatch { .. })
        ));
        // Garbage / truncated signatures.
        for bad in [
            "",
            "not base64!!",
            "ovtDBtjrNtym5sqXJBJWqRjG",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ] {
            assert!(matches!(
                verify(TEST_SECRET, "POST", &c, &params, bad),
                Err(SignatureError::Mismatch { .. })
            ));
        }
        // Tampered parameter.
        let mut tampered = params.clone();
        tampered[0].1.push('x');
        assert!(verify(TEST_SECRET, "POST", &c, &tampered, &sig).is_err());
        // Method matters (and is upper-cased).
        assert!(verify(TEST_SECRET, "GET", &c, &params, &sig).is_err());
        assert!(verify(TEST_SECRET, "post", &c, &params, &sig).is_ok());
        // Invalid secret.
        assert_eq!(
            verify("not*base64", "POST", &c, &params, &sig),
            Err(SignatureError::InvalidSecret)
        );
        assert_eq!(sign("%%%", "x"), Err(SignatureError::InvalidSecret));
        // No candidates → mismatch with nothing tried.
        assert_eq!(
            verify(TEST_SECRET, "POST", &[], &params, &sig),
            Err(SignatureError::Mismatch { tried: vec![] })
        );
    }

    #[test]
    fn secret_padding_is_optional() {
        let unpadded = TEST_SECRET.trim_end_matches('=');
        assert_eq!(
            sign(unpadded, "m").unwrap(),
            sign(TEST_SECRET, "m").unwrap()
        );
    }

    #[test]
    fn uid_signature_example() {
        assert_eq!(
            uid_signature(TEST_SECRET, 1_795_626_703, "_guid_abc123==").unwrap(),
            "pqgRuDdMB7//kMWCnh2VX+Tev+M="
        );
    }

    #[test]
    fn encoding_edge_cases() {
        assert_eq!(encode("a b"), "a%20b");
        assert_eq!(encode("~"), "~");
        assert_eq!(encode("-._~AZaz09"), "-._~AZaz09");
        assert_eq!(encode("*"), "%2A");
        assert_eq!(encode("+"), "%2B");
        assert_eq!(encode("%"), "%25");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(encode("😀"), "%F0%9F%98%80");
        assert_eq!(
            encode("/:?#[]@!$&'()=,;"),
            "%2F%3A%3F%23%5B%5D%40%21%24%26%27%28%29%3D%2C%3B"
        );
        assert_eq!(encode(""), "");
    }

    #[test]
    fn sort_order_is_bytewise() {
        let params = vec![p("format", "json"), p("apiKey", "k"), p("UID", "u")];
        let base = base_string("GET", "http://h/x", &params);
        assert_eq!(
            base,
            "GET&http%3A%2F%2Fh%2Fx&UID%3Du%26apiKey%3Dk%26format%3Djson"
        );
        // Equal keys sort by value.
        let dup = vec![p("a", "2"), p("a", "1")];
        assert_eq!(base_string("GET", "u", &dup), "GET&u&a%3D1%26a%3D2");
    }

    #[test]
    fn normalized_url_ports() {
        assert_eq!(
            normalized_url(&url("http://Photos.Example.NET:8080/photos")),
            "http://photos.example.net:8080/photos"
        );
        assert_eq!(normalized_url(&url("https://h:443/x")), "https://h/x");
        assert_eq!(normalized_url(&url("http://h:80/x")), "http://h/x");
        assert_eq!(normalized_url(&url("https://h:80/x")), "https://h:80/x");
        assert_eq!(normalized_url(&url("HTTPS://H/x?q=1#frag")), "https://h/x");
        assert_eq!(
            encode(&normalized_url(&url(
                "http://photos.example.net:8080/photos"
            ))),
            "http%3A%2F%2Fphotos.example.net%3A8080%2Fphotos"
        );
    }

    #[test]
    fn candidate_urls_prefix_namespace_dedup() {
        let dcs = vec!["us1".to_owned(), "eu1".to_owned(), "us1".to_owned()];
        let c = candidate_urls(
            &url("https://H.example/gigya/"),
            "socialize.publishUserAction",
            &dcs,
        );
        assert_eq!(
            c,
            vec![
                "https://h.example/gigya/socialize.publishUserAction",
                "https://socialize.us1.gigya.com/socialize.publishUserAction",
                "http://socialize.us1.gigya.com/socialize.publishUserAction",
                "https://socialize.eu1.gigya.com/socialize.publishUserAction",
                "http://socialize.eu1.gigya.com/socialize.publishUserAction",
            ]
        );
        // Prefix without trailing slash, leading slash on the method.
        let c = candidate_urls(
            &url("https://h.example:8443/gigya"),
            "/reports.getSocializeStats",
            &["us1".to_owned()],
        );
        assert_eq!(
            c[0],
            "https://h.example:8443/gigya/reports.getSocializeStats"
        );
        assert_eq!(
            c[1],
            "https://reports.us1.gigya.com/reports.getSocializeStats"
        );
        // Root base.
        let c = candidate_urls(&url("https://h.example"), "socialize.getUserInfo", &[]);
        assert_eq!(c, vec!["https://h.example/socialize.getUserInfo"]);
    }

    #[test]
    fn timestamps_seconds_and_millis() {
        assert_eq!(timestamp_seconds("1795626704409"), Some(1_795_626_704));
        assert_eq!(timestamp_seconds("1795626703"), Some(1_795_626_703));
        assert_eq!(timestamp_seconds("100000000000"), Some(100_000_000_000));
        assert_eq!(timestamp_seconds("100000000001"), Some(100_000_000));
        assert_eq!(timestamp_seconds(" 1795626703 "), Some(1_795_626_703));
        assert_eq!(timestamp_seconds(""), None);
        assert_eq!(timestamp_seconds("-5"), None);
        assert_eq!(timestamp_seconds("+5"), None);
        assert_eq!(timestamp_seconds("12a"), None);
        assert_eq!(timestamp_seconds("1.5"), None);
        assert_eq!(timestamp_seconds("99999999999999999999999"), None);
    }
}
