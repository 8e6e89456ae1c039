//! Image attachments: fetch each image from the site, upload it with
//! `POST /api/v2/media` (multipart `file`), wait while the instance answers
//! 202 / 206 (still processing), and hand the ids to the status.
//!
//! Images are fetched with the guarded client (a site's URL is user data) and
//! capped at [`MAX_IMAGE_BYTES`], the smallest `image_size_limit` Mastodon
//! has shipped. A re-sent delivery uploads again; the status itself is still
//! created once (same `Idempotency-Key`), and Mastodon deletes unattached
//! uploads on its own.

use crate::api::{self, Answer};
use crate::errors::{refused, send_error};
use herald_core::action::check_http_url;
use herald_core::{HttpCtx, ProviderError};
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use std::time::Duration;

pub const UPLOAD_PATH: &str = "api/v2/media";
pub const MEDIA_PATH: &str = "api/v1/media";
/// 10 MiB: older instances' `image_size_limit` (newer allow 16 MiB).
pub const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;
/// How long to wait for the instance to process an upload before giving up
/// (the delivery is retried later).
const PROCESSING_POLLS: u32 = 20;
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The MediaAttachment fields used.
#[derive(Deserialize)]
struct Attachment {
    id: serde_json::Value,
    #[serde(default)]
    url: Option<String>,
}

fn rejected(code: &str, message: String) -> ProviderError {
    ProviderError::Rejected {
        status: None,
        code: code.into(),
        message,
    }
}

/// An image as fetched from the site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub bytes: Vec<u8>,
    pub content_type: String,
    pub filename: String,
}

/// Fetches one image from the site. A missing or non-image answer is
/// `Rejected` (a re-send would fetch the same); a 5xx or a connect error is
/// `Transient`.
pub async fn fetch(src: &str, http: &HttpCtx) -> Result<Image, ProviderError> {
    let url = check_http_url(src)
        .map_err(|m| rejected("media_unavailable", format!("image {src:?} {m}")))?;
    http.policy.check_url(&url).await.map_err(|e| refused(&e))?;
    let mut resp =
        http.guarded
            .get(url.clone())
            .send()
            .await
            .map_err(|e| match send_error(&e) {
                // Nothing was posted yet, so a fetch that timed out is safe to retry.
                ProviderError::Unknown { message } => ProviderError::Transient {
                    status: None,
                    message,
                },
                other => other,
            })?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        let message = format!("the site answered HTTP {status} for image {src:?}");
        return Err(if status == 429 || status == 408 || status >= 500 {
            ProviderError::Transient {
                status: Some(status),
                message,
            }
        } else {
            rejected("media_unavailable", message)
        });
    }
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !content_type.starts_with("image/") {
        return Err(rejected(
            "media_type",
            format!("{src:?} is not an image (content type {content_type:?})"),
        ));
    }
    let mut bytes = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > MAX_IMAGE_BYTES {
                    return Err(rejected(
                        "media_too_large",
                        format!("image {src:?} is larger than {MAX_IMAGE_BYTES} bytes"),
                    ));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                return Err(ProviderError::Transient {
                    status: None,
                    message: format!("reading image {src:?} failed: {}", send_error(&e).message()),
                });
            }
        }
    }
    let filename = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty())
        .unwrap_or("image")
        .to_owned();
    Ok(Image {
        bytes,
        content_type,
        filename,
    })
}

/// A `multipart/form-data` body with one `file` part; returns the body and
/// its content type. The boundary is chosen so it does not occur in the data.
pub fn multipart(image: &Image, seed: &str) -> (Vec<u8>, String) {
    let mut boundary = format!("herald-{seed}");
    while contains(&image.bytes, boundary.as_bytes()) {
        boundary.push('x');
    }
    // Quotes and line breaks cannot appear in a header's quoted string.
    let filename: String = image
        .filename
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut body = Vec::with_capacity(image.bytes.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {}\r\n\r\n",
            image.content_type
        )
        .as_bytes(),
    );
    body.extend_from_slice(&image.bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={boundary}"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn attachment(answer: &Answer) -> Result<(String, bool), ProviderError> {
    let a: Attachment = answer.json("media")?;
    let id = match a.id {
        serde_json::Value::String(s) if !s.is_empty() => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => {
            return Err(ProviderError::Rejected {
                status: Some(answer.status),
                code: "invalid_answer".into(),
                message: "the instance answered the upload without a media id".into(),
            });
        }
    };
    // 202 (upload) and 206 (poll) mean "still processing"; so does a null url.
    let ready = !matches!(answer.status, 202 | 206) && a.url.is_some_and(|u| !u.is_empty());
    Ok((id, ready))
}

/// Uploads one image and waits until the instance has processed it.
pub async fn upload(
    image: &Image,
    token: &str,
    seed: &str,
    http: &HttpCtx,
) -> Result<String, ProviderError> {
    let url = api::url(http, UPLOAD_PATH).await?;
    let (body, content_type) = multipart(image, seed);
    let req = http
        .client
        .post(url)
        .header(CONTENT_TYPE, content_type)
        .body(body);
    let answer = api::send(api::authorized(req, token)?).await?;
    let (id, mut ready) = attachment(&answer)?;
    let mut polls = 0;
    while !ready {
        if polls == PROCESSING_POLLS {
            return Err(ProviderError::Transient {
                status: None,
                message: format!("the instance is still processing media {id}"),
            });
        }
        polls += 1;
        tokio::time::sleep(POLL_INTERVAL).await;
        let mut url = api::url(http, MEDIA_PATH).await?;
        url.path_segments_mut()
            .map_err(|()| {
                rejected(
                    "invalid_instance",
                    "the instance URL cannot take a path".into(),
                )
            })?
            .push(&id);
        let answer = api::send(api::authorized(http.client.get(url), token)?).await?;
        ready = attachment(&answer)?.1;
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_body_is_well_formed() {
        let img = Image {
            bytes: b"\x89PNG--herald-k\r\n".to_vec(),
            content_type: "image/png".into(),
            filename: "a\"b.png".into(),
        };
        let (body, ct) = multipart(&img, "k");
        // The seed's boundary occurs in the data, so it was lengthened.
        assert_eq!(ct, "multipart/form-data; boundary=herald-kx");
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(
            "--herald-kx\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a_b.png\"\r\nContent-Type: image/png\r\n\r\n\u{fffd}PNG"
        ), "{text}");
        assert!(text.ends_with("\r\n--herald-kx--\r\n"));
    }

    #[test]
    fn processing_states() {
        let a = |status: u16, body: &str| Answer {
            status,
            retry_after: None,
            body: body.into(),
        };
        assert_eq!(
            attachment(&a(200, r#"{"id":"1","url":"https://x/1.png"}"#)).unwrap(),
            ("1".into(), true)
        );
        assert_eq!(
            attachment(&a(202, r#"{"id":"1","url":null}"#)).unwrap(),
            ("1".into(), false)
        );
        assert_eq!(
            attachment(&a(206, r#"{"id":1,"url":"https://x"}"#)).unwrap(),
            ("1".into(), false)
        );
        assert_eq!(
            attachment(&a(200, r#"{"id":"1","url":null}"#)).unwrap(),
            ("1".into(), false)
        );
        assert_eq!(
            attachment(&a(200, r#"{"url":"x"}"#)).unwrap_err().code(),
            "invalid_answer"
        );
        assert_eq!(
            attachment(&a(
                422,
                r#"{"error":"Validation failed: File content type is invalid"}"#
            ))
            .unwrap_err()
            .code(),
            "validation_failed"
        );
    }
}
