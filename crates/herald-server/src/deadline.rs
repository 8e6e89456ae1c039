//! A deadline on reading a request body. actix bounds the wait for a
//! request's head and between keep-alive requests, but not the body: a client
//! sending one byte every few seconds held a connection (and a handler) for as
//! long as it liked. Here the body must arrive within `body_timeout` of the
//! head; otherwise the request is answered 408 and the connection closed.
//!
//! The body itself is held until the answer has been written: actix drains a
//! chunked body whose reader was dropped, with no timer at all, so a request
//! answered before its body arrived (a 408, a 401 from the extractor) would
//! still hold the connection for as long as the client trickled. A body that
//! is still alive and unread makes actix close the connection instead.

use crate::error::ApiError;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
use futures::Stream;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The request's body, cut off with an error once the deadline passes.
struct Deadline {
    inner: Rc<RefCell<Payload>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    fired: Rc<Cell<bool>>,
    done: bool,
}

impl Stream for Deadline {
    type Item = Result<actix_web::web::Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut *self.inner.borrow_mut()).poll_next(cx);
        if let Poll::Ready(item) = polled {
            self.done = item.is_none();
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.done = true;
            self.fired.set(true);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request body read deadline passed",
            )))));
        }
        Poll::Pending
    }
}

/// Middleware (for `actix_web::middleware::from_fn`): wraps the body in the
/// deadline and turns a request whose body ran out of time into a 408
/// problem with `Connection: close`, whatever the handler made of the error.
pub async fn body_deadline(
    limit: Duration,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let fired = Rc::new(Cell::new(false));
    let body = Rc::new(RefCell::new(req.take_payload()));
    let stream: Pin<Box<dyn Stream<Item = Result<actix_web::web::Bytes, PayloadError>>>> =
        Box::pin(Deadline {
            inner: body.clone(),
            sleep: Box::pin(tokio::time::sleep(limit)),
            fired: fired.clone(),
            done: false,
        });
    req.set_payload(Payload::Stream { payload: stream });
    let timed_out = || ApiError::RequestTimeout(limit.as_secs());
    let res = match next.call(req).await {
        Ok(res) if fired.get() => {
            let (req, _) = res.into_parts();
            ServiceResponse::new(req, timed_out().error_response()).map_into_boxed_body()
        }
        Ok(res) => res.map_into_boxed_body(),
        Err(_) if fired.get() => {
            // Answered here rather than returned, so the body is held below.
            return Err(timed_out().into());
        }
        Err(e) => return Err(e),
    };
    Ok(res.map_body(|_, answer| HoldingBody {
        answer,
        _body: body,
    }))
}

/// An answer that keeps the request's body alive until it is written (see
/// the module doc).
struct HoldingBody {
    answer: BoxBody,
    _body: Rc<RefCell<Payload>>,
}

impl MessageBody for HoldingBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.answer.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<actix_web::web::Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().answer).poll_next(cx)
    }
}
