//! Knowing when a request has been handed to the transport in full: the delivery path lets such a request
//! finish past the flush deadline (its answer is read after the thaw) and abandons one still being written.
//!
//! The request body is wrapped: once the transport has taken its last frame, the attempt's [`WriteFlag`]
//! is set. For gRPC, the flag travels in the request's extensions to a wrapper around the channel.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use lambdatel_pipeline::WriteFlag;
use tonic::codegen::{
    http::{Request, Response},
    Body, Service,
};

/// A request body that sets `flag` once its last frame has been taken.
pub(crate) struct TrackedBody<B> {
    inner: B,
    flag: WriteFlag,
}

impl<B> TrackedBody<B> {
    pub(crate) fn new(inner: B, flag: WriteFlag) -> Self {
        TrackedBody { inner, flag }
    }
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        // Transports stop polling once `is_end_stream` says so, so the last data frame counts as the end.
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            _ => false,
        };
        if ended {
            self.flag.set();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A gRPC channel whose requests set the [`WriteFlag`] found in their extensions once fully written.
#[derive(Clone)]
pub(crate) struct WriteTracking<S>(pub(crate) S);

impl<S, ResBody> Service<Request<tonic::body::Body>> for WriteTracking<S>
where
    S: Service<Request<tonic::body::Body>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let request = match request.extensions().get::<WriteFlag>().cloned() {
            Some(flag) => request.map(|body| tonic::body::Body::new(TrackedBody::new(body, flag))),
            None => request,
        };
        self.0.call(request)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};

    use super::*;
    use crate::exporters::test_support::Chunks;

    #[tokio::test]
    async fn the_flag_is_set_once_the_last_frame_is_taken() {
        let flag = WriteFlag::default();
        let mut body = TrackedBody::new(Full::new(Bytes::from_static(b"request")), flag.clone());
        assert!(!flag.is_set());
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), Bytes::from_static(b"request"));
        assert!(flag.is_set(), "a single-frame body is written with its frame");
    }

    #[tokio::test]
    async fn a_body_not_fully_taken_leaves_the_flag_clear() {
        let flag = WriteFlag::default();
        let chunks = Chunks::new([Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
        let mut body = TrackedBody::new(chunks, flag.clone());
        body.frame().await.unwrap().unwrap();
        assert!(!flag.is_set(), "one of two frames taken");
        body.frame().await.unwrap().unwrap();
        assert!(body.frame().await.is_none());
        assert!(flag.is_set());
    }
}
