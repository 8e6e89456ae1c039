//! The API's errors and their one mapping to HTTP: RFC 9457 problem+json
//! `{type, title, status, detail, code, errors:[{field, message}]}`. Internal
//! errors are logged with their cause and answered as an opaque 500.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use herald_core::{FieldError, ValidationErrors};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Validation(ValidationErrors),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// A 400 about one field, with its own code.
    #[error("{field}: {message}")]
    BadField {
        code: &'static str,
        field: String,
        message: String,
    },
    /// A 422 about one field.
    #[error("{field}: {message}")]
    UnprocessableField {
        code: &'static str,
        field: String,
        message: String,
    },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The body did not arrive within the read deadline (seconds).
    #[error("the request body was not received within {0} s")]
    RequestTimeout(u64),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(ValidationErrors(vec![FieldError::new(field, message)]))
    }

    pub fn unprocessable_field(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ApiError::UnprocessableField {
            code,
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "invalid_request",
            ApiError::BadRequest { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::UnprocessableField { code, .. }
            | ApiError::BadField { code, .. }
            | ApiError::Conflict { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Validation(_) | ApiError::BadRequest { .. } | ApiError::BadField { .. } => {
                "Invalid request"
            }
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound(_) => "Not found",
            ApiError::Unprocessable { .. } | ApiError::UnprocessableField { .. } => {
                "Request cannot be processed"
            }
            ApiError::Conflict { .. } => "Conflict",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            ApiError::RequestTimeout(_) => "Request timeout",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Internal(_) => "Internal server error",
        }
    }
}

impl From<herald_store::StoreError> for ApiError {
    fn from(e: herald_store::StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<herald_dispatch::SettingsError> for ApiError {
    fn from(e: herald_dispatch::SettingsError) -> Self {
        match e {
            herald_dispatch::SettingsError::Store(e) => e.into(),
            // The app's provider settings (or the account's server) name an
            // address the outbound policy refuses: nothing was sent.
            herald_dispatch::SettingsError::Refused { field, error } => {
                ApiError::unprocessable_field("forbidden_address", field, error.to_string())
            }
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::BadRequest { .. } | ApiError::BadField { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unprocessable { .. } | ApiError::UnprocessableField { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = match self {
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                "an internal error occurred; it has been logged".to_owned()
            }
            other => other.to_string(),
        };
        let one;
        let errors: &[FieldError] = match self {
            ApiError::Validation(v) => &v.0,
            ApiError::UnprocessableField { field, message, .. }
            | ApiError::BadField { field, message, .. } => {
                one = [FieldError::new(field.clone(), message.clone())];
                &one
            }
            _ => &[],
        };
        let code = self.code();
        let body = Problem {
            kind: format!("https://herald.dev/problems/{code}"),
            title: self.title(),
            status: status.as_u16(),
            detail,
            code,
            errors,
        };
        let mut resp = HttpResponse::build(status);
        resp.content_type("application/problem+json");
        if matches!(self, ApiError::Unauthorized(_)) {
            resp.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if matches!(self, ApiError::RequestTimeout(_)) {
            // The rest of the body may still be on its way: not a request.
            resp.force_close();
        }
        resp.json(body)
    }
}
