//! Gigya error codes (from Gigya's published error-code list) and the one mapping from a
//! code to its message and HTTP-ish status. `statusCode` is the code's first
//! three digits.

/// The Gigya codes Herald answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    InvalidRequestFormat = 400001,
    MissingParameter = 400002,
    InvalidParameterFormat = 400004,
    InvalidParameterValue = 400006,
    InvalidApiKey = 400093,
    NotConnected = 400106,
    InvalidSiteDomain = 400120,
    Forbidden = 403000,
    RequestExpired = 403002,
    InvalidSignature = 403003,
    DuplicateNonce = 403004,
    SecretOverHttp = 403006,
    PermissionDenied = 403007,
    ProviderSessionExpired = 403009,
    InvalidSecret = 403010,
    UnauthorizedPartner = 403036,
    RateLimited = 403048,
    InvalidMethod = 405001,
    RequestTooLarge = 413001,
    GeneralServerError = 500001,
    ProviderError = 500023,
}

impl Code {
    pub fn number(self) -> u32 {
        self as u32
    }

    pub fn message(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::InvalidRequestFormat => "Invalid request format",
            Code::MissingParameter => "Missing required parameter",
            Code::InvalidParameterFormat => "Invalid parameter format",
            Code::InvalidParameterValue => "Invalid parameter value",
            Code::InvalidApiKey => "Invalid ApiKey parameter",
            Code::NotConnected => "Not connected",
            Code::InvalidSiteDomain => "Invalid site domain",
            Code::Forbidden => "Forbidden",
            Code::RequestExpired => "Request has expired",
            Code::InvalidSignature => "Invalid request signature",
            Code::DuplicateNonce => "Duplicate nonce",
            Code::SecretOverHttp => "Secret Sent Over Http",
            Code::PermissionDenied => "Permission denied",
            Code::ProviderSessionExpired => "Provider session expired",
            Code::InvalidSecret => "Invalid Secret",
            Code::UnauthorizedPartner => "Unauthorized partner",
            Code::RateLimited => "API Rate Limit Exceeded",
            Code::InvalidMethod => "Invalid API method",
            Code::RequestTooLarge => "Request entity too large",
            Code::GeneralServerError => "General Server error",
            Code::ProviderError => "General error from the provider",
        }
    }

    /// `statusCode`: 200 for success, else the code's first three digits.
    pub fn status(self) -> u16 {
        if self == Code::Ok {
            200
        } else {
            (self.number() / 1000) as u16
        }
    }
}

/// A failed call: the code and the details that name what was wrong.
#[derive(Debug, thiserror::Error)]
#[error("{} ({}): {details}", .code.message(), .code.number())]
pub struct GigyaError {
    pub code: Code,
    pub details: String,
}

impl GigyaError {
    pub fn new(code: Code, details: impl Into<String>) -> Self {
        GigyaError {
            code,
            details: details.into(),
        }
    }

    pub fn missing(param: &str) -> Self {
        Self::new(
            Code::MissingParameter,
            format!("Missing required parameter: {param}"),
        )
    }

    pub fn invalid(param: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            Code::InvalidParameterValue,
            format!("Invalid parameter value: {param}: {why}"),
        )
    }

    pub fn format(param: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            Code::InvalidParameterFormat,
            format!("Invalid parameter format: {param}: {why}"),
        )
    }

    /// A failure before any side effect: SDKs may re-send on 500001.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error in a Gigya call");
        Self::new(Code::GeneralServerError, "General Server error")
    }
}

impl From<herald_store::StoreError> for GigyaError {
    fn from(e: herald_store::StoreError) -> Self {
        GigyaError::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_the_first_three_digits() {
        assert_eq!(Code::Ok.status(), 200);
        assert_eq!(Code::MissingParameter.status(), 400);
        assert_eq!(Code::DuplicateNonce.status(), 403);
        assert_eq!(Code::InvalidMethod.status(), 405);
        assert_eq!(Code::ProviderError.status(), 500);
        assert_eq!(Code::ProviderError.number(), 500023);
    }
}
