//! JSON request bodies parsed with the failing field's path in the error
//! (`action.media_items[0].type: unknown variant …`), bounded in size.

use crate::error::ApiError;
use actix_web::web::Bytes;
use herald_core::{FieldError, ValidationErrors};
use serde::de::DeserializeOwned;

/// The largest accepted request body.
pub const MAX_BODY: usize = 256 * 1024;
/// What the server reads at most before refusing outright; between the two,
/// bodies are read and refused with a proper problem (or Gigya 413001).
pub const PAYLOAD_LIMIT: usize = 4 * 1024 * 1024;

pub fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::PayloadTooLarge(MAX_BODY));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::field("body", "a JSON object is required"));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() {
            "body".to_owned()
        } else {
            path
        };
        let inner = e.into_inner();
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("is not valid JSON: {inner}")
        } else {
            // serde's own text minus its " at line X column Y" suffix.
            let text = inner.to_string();
            text.split(" at line ").next().unwrap_or(&text).to_owned()
        };
        ApiError::Validation(ValidationErrors(vec![FieldError::new(field, message)]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        action: Inner,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        items: Vec<u32>,
    }

    fn fields(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Validation(v) => {
                v.0.into_iter()
                    .map(|f| format!("{}|{}", f.field, f.message))
                    .collect()
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn names_the_failing_field() {
        let e =
            parse::<Outer>(&Bytes::from_static(br#"{"action":{"items":[1,"x"]}}"#)).unwrap_err();
        let f = fields(e);
        assert!(f[0].starts_with("action.items[1]|invalid type"), "{f:?}");
    }

    #[test]
    fn syntax_errors_and_empty_bodies() {
        assert!(
            fields(parse::<Outer>(&Bytes::from_static(b"{")).unwrap_err())[0]
                .contains("not valid JSON")
        );
        assert!(
            fields(parse::<Outer>(&Bytes::from_static(b"")).unwrap_err())[0].starts_with("body|")
        );
        assert!(
            fields(parse::<Outer>(&Bytes::from_static(b"{}")).unwrap_err())[0]
                .contains("missing field `action`")
        );
    }
}
