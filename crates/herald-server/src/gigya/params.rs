//! Request parameters of a Gigya call: query string and form body together,
//! decoded (the signature is computed over the decoded values). Object
//! parameters arrive as JSON strings.

use super::errors::GigyaError;
use crate::routes::connections::MAX_UID_LEN;
use serde::de::DeserializeOwned;

#[derive(Clone, Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// The largest accepted body or query, like the native API's.
pub const MAX_PARAMS_BYTES: usize = 256 * 1024;

impl Params {
    pub fn parse(query: &str, form_body: Option<&[u8]>) -> Params {
        let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        if let Some(body) = form_body {
            pairs.extend(url::form_urlencoded::parse(body).into_owned());
        }
        Params { pairs }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A non-empty value, trimmed.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &str) -> Result<&str, GigyaError> {
        self.value(name).ok_or_else(|| GigyaError::missing(name))
    }

    /// `UID`; SDK examples also send `uid`. At most as long as a `/v1` uid.
    pub fn uid(&self) -> Result<&str, GigyaError> {
        let uid = self
            .value("UID")
            .or_else(|| self.value("uid"))
            .ok_or_else(|| GigyaError::missing("UID"))?;
        if uid.chars().count() > MAX_UID_LEN {
            return Err(GigyaError::invalid(
                "UID",
                format!("at most {MAX_UID_LEN} characters"),
            ));
        }
        Ok(uid)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.value(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }

    /// A JSON-string parameter, parsed.
    pub fn json<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, GigyaError> {
        let Some(raw) = self.value(name) else {
            return Ok(None);
        };
        let de = &mut serde_json::Deserializer::from_str(raw);
        serde_path_to_error::deserialize(de).map(Some).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let text = inner.to_string();
            let text = text.split(" at line ").next().unwrap_or(&text);
            if path == "." {
                GigyaError::format(name, text)
            } else {
                GigyaError::format(&format!("{name}.{path}"), text)
            }
        })
    }

    /// A comma-separated list parameter.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.value(name).map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    /// Every parameter but `sig`, for the signature base string.
    pub fn signed_pairs(&self) -> Vec<(String, String)> {
        self.pairs
            .iter()
            .filter(|(k, _)| k != "sig")
            .cloned()
            .collect()
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_body_are_merged_and_decoded() {
        let p = Params::parse(
            "format=jsonp&callback=cb",
            Some(b"UID=a%3D%3D&userAction=%7B%22title%22%3A%22x+y%22%7D"),
        );
        assert_eq!(p.get("format"), Some("jsonp"));
        assert_eq!(p.uid().unwrap(), "a==");
        #[derive(serde::Deserialize)]
        struct T {
            title: String,
        }
        assert_eq!(p.json::<T>("userAction").unwrap().unwrap().title, "x y");
        assert_eq!(p.signed_pairs().len(), 4);
    }

    #[test]
    fn missing_and_malformed_are_named() {
        let p = Params::parse("userAction=%7Bnope", None);
        assert!(p.uid().unwrap_err().details.contains("UID"));
        let e = p.json::<serde_json::Value>("userAction").unwrap_err();
        assert!(e.details.contains("userAction"), "{}", e.details);
        assert_eq!(e.code, super::super::errors::Code::InvalidParameterFormat);
    }

    #[test]
    fn uids_are_capped_like_the_native_apis() {
        let long = "u".repeat(257);
        for name in ["UID", "uid"] {
            let q = format!("{name}={long}");
            let e = Params::parse(&q, None).uid().unwrap_err();
            assert_eq!(e.code, super::super::errors::Code::InvalidParameterValue);
            assert!(e.details.contains("UID"), "{}", e.details);
        }
        let ok = "é".repeat(256);
        let q = format!("UID={ok}");
        assert_eq!(Params::parse(&q, None).uid().unwrap(), ok);
    }
}
