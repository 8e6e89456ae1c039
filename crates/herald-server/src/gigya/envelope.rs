//! The Gigya response envelope: `{callId, errorCode, statusCode, statusReason,
//! time, apiVersion: 2}` plus `errorMessage`/`errorDetails` on errors and the
//! echoed `context`; HTTP 200 unless `httpStatusCodes=true`; JSON or JSONP.

use super::errors::{Code, GigyaError};
use super::params::Params;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Map, Value, json};

/// How the caller wants the answer.
pub struct Format {
    pub jsonp_callback: Option<String>,
    pub http_status_codes: bool,
    pub context: Option<String>,
}

fn valid_callback(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'))
}

impl Format {
    /// Reads `format`, `callback`, `httpStatusCodes` and `context`.
    pub fn from_params(p: &Params) -> Result<Format, (Format, GigyaError)> {
        let mut f = Format {
            jsonp_callback: None,
            http_status_codes: p.flag("httpStatusCodes"),
            context: p.get("context").map(str::to_owned),
        };
        match p.value("format").unwrap_or("json") {
            "json" => Ok(f),
            "jsonp" => match p.value("callback") {
                Some(cb) if valid_callback(cb) => {
                    f.jsonp_callback = Some(cb.to_owned());
                    Ok(f)
                }
                Some(_) => Err((
                    f,
                    GigyaError::invalid("callback", "must be a JavaScript identifier"),
                )),
                None => Err((f, GigyaError::missing("callback"))),
            },
            other => {
                let e = GigyaError::invalid(
                    "format",
                    format!("{other:?} is not supported (json or jsonp)"),
                );
                Err((f, e))
            }
        }
    }

    /// The answer for a call's result; `extra` fields ride along in both cases.
    pub fn respond(
        &self,
        result: Result<Map<String, Value>, (GigyaError, Map<String, Value>)>,
    ) -> HttpResponse {
        let (code, details, extra) = match result {
            Ok(extra) => (Code::Ok, None, extra),
            Err((e, extra)) => (e.code, Some(e.details), extra),
        };
        let status =
            StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Always three fractional digits, as Gigya's `time`.
        let time_format = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let now = time::OffsetDateTime::now_utc();
        let mut body = Map::new();
        body.insert(
            "callId".into(),
            json!(uuid::Uuid::new_v4().simple().to_string()),
        );
        body.insert("errorCode".into(), json!(code.number()));
        if let Some(d) = details {
            body.insert("errorMessage".into(), json!(code.message()));
            body.insert("errorDetails".into(), json!(d));
        }
        body.insert("apiVersion".into(), json!(2));
        body.insert("statusCode".into(), json!(status.as_u16()));
        body.insert(
            "statusReason".into(),
            json!(status.canonical_reason().unwrap_or("")),
        );
        body.insert(
            "time".into(),
            json!(now.format(&time_format).unwrap_or_default()),
        );
        if let Some(c) = &self.context {
            body.insert("context".into(), json!(c));
        }
        for (k, v) in extra {
            body.entry(k).or_insert(v);
        }
        let http_status = if self.http_status_codes {
            status
        } else {
            StatusCode::OK
        };
        let text = Value::Object(body).to_string();
        match &self.jsonp_callback {
            Some(cb) => HttpResponse::build(http_status)
                .content_type("application/javascript; charset=utf-8")
                .body(format!("{cb}({text});")),
            None => HttpResponse::build(http_status)
                .content_type("application/json; charset=utf-8")
                .body(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_identifiers() {
        assert!(valid_callback("gigya.callback"));
        assert!(valid_callback("cb_1$"));
        assert!(!valid_callback("alert(1)//"));
        assert!(!valid_callback(""));
    }
}
