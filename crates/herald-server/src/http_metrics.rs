//! Counts every answered request by route and status
//! (`herald_http_requests_total`). The route label is the matched pattern
//! (`/v1/actions/{id}`), never the raw path, so ids in paths and scans of
//! random URLs cannot create a series each.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use herald_core::telemetry;

/// The route label: the pattern the router matched, or
/// [`telemetry::UNMATCHED_ROUTE`].
pub fn route_label(pattern: Option<&str>) -> &str {
    pattern.unwrap_or(telemetry::UNMATCHED_ROUTE)
}

/// Middleware (for `actix_web::middleware::from_fn`).
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let res = next.call(req).await;
    match &res {
        Ok(r) => telemetry::http_request(
            route_label(r.request().match_pattern().as_deref()),
            r.status().as_u16(),
        ),
        // An error an inner middleware returned instead of a response: the
        // request (and its route) went with it.
        Err(e) => telemetry::http_request(
            telemetry::UNMATCHED_ROUTE,
            e.as_response_error().status_code().as_u16(),
        ),
    }
    res
}

#[cfg(test)]
mod tests {
    use super::route_label;

    #[test]
    fn the_label_is_the_pattern_or_unmatched() {
        assert_eq!(route_label(Some("/v1/actions/{id}")), "/v1/actions/{id}");
        assert_eq!(route_label(None), "unmatched");
    }
}
