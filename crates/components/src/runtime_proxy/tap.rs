//! A body that passes every frame through as it comes and keeps a bounded copy of the first bytes on the side.
//!
//! The copy never holds a frame back: each frame is handed on in the same poll that produced it, so a streamed
//! response reaches Lambda exactly as the runtime wrote it, trailers included.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// Called once with the copied bytes and whether they are the whole body; never called for a body that
/// failed or was abandoned midway.
pub(crate) type OnEnd = Box<dyn FnOnce(Vec<u8>, bool) + Send>;

pub(crate) struct TapBody<B: Body> {
    inner: B,
    tap: Option<Tap>,
}

struct Tap {
    copy: Vec<u8>,
    limit: usize,
    cut: bool,
    on_end: OnEnd,
}

impl<B: Body> TapBody<B> {
    /// Passes `inner` through untouched.
    pub(crate) fn plain(inner: B) -> Self {
        TapBody { inner, tap: None }
    }

    /// Passes `inner` through and copies up to `limit` bytes for `on_end`.
    pub(crate) fn tapped(inner: B, limit: usize, on_end: OnEnd) -> Self {
        TapBody { inner, tap: Some(Tap { copy: Vec::new(), limit, cut: false, on_end }) }
    }
}

impl Tap {
    fn copy(&mut self, data: &[u8]) {
        if self.cut {
            return;
        }
        let room = self.limit - self.copy.len();
        if data.len() > room {
            self.copy.extend_from_slice(&data[..room]);
            self.cut = true;
        } else {
            self.copy.extend_from_slice(data);
        }
    }

    fn finish(self) {
        (self.on_end)(self.copy, !self.cut);
    }
}

impl<B> Body for TapBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(tap), Some(data)) = (this.tap.as_mut(), frame.data_ref()) {
                    tap.copy(data);
                }
                // Trailers end a body: hyper may stop polling right after them.
                if frame.is_trailers() {
                    if let Some(tap) = this.tap.take() {
                        tap.finish();
                    }
                }
            }
            Poll::Ready(None) => {
                if let Some(tap) = this.tap.take() {
                    tap.finish();
                }
            }
            // A broken body is not a body: nothing is reported for it.
            Poll::Ready(Some(Err(_))) => this.tap = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for TapBody<B>
where
    B: Body,
{
    fn drop(&mut self) {
        // hyper stops polling a body once it reports its end (a known length fully read), so a body that
        // ended is often dropped without the final `None`.
        if let Some(tap) = self.tap.take() {
            if self.inner.is_end_stream() {
                tap.finish();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Option<(Vec<u8>, bool)>>>;

    fn recorder() -> (Seen, OnEnd) {
        let seen: Seen = Arc::default();
        let sink = seen.clone();
        (seen, Box::new(move |copy, complete| *sink.lock().unwrap() = Some((copy, complete))))
    }

    #[tokio::test]
    async fn frames_pass_unchanged_and_the_copy_stops_at_the_limit() {
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
            Ok(Frame::data(Bytes::from_static(b"hello "))),
            Ok(Frame::data(Bytes::from_static(b"world"))),
            Ok(Frame::trailers({
                let mut t = hyper::HeaderMap::new();
                t.insert("lambda-runtime-function-error-type", "Oops".parse().unwrap());
                t
            })),
        ];
        let (seen, on_end) = recorder();
        let body = TapBody::tapped(Frames(frames.into()), 8, on_end);
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().cloned().unwrap();
        assert_eq!(collected.to_bytes(), Bytes::from_static(b"hello world"));
        assert_eq!(trailers["lambda-runtime-function-error-type"], "Oops");
        assert_eq!(seen.lock().unwrap().clone(), Some((b"hello wo".to_vec(), false)));
    }

    #[tokio::test]
    async fn a_whole_body_is_reported_complete_even_when_dropped_at_its_end() {
        let (seen, on_end) = recorder();
        let mut body = TapBody::tapped(Full::new(Bytes::from_static(b"{}")), 64, on_end);
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), Bytes::from_static(b"{}"));
        assert!(body.is_end_stream());
        drop(body);
        assert_eq!(seen.lock().unwrap().clone(), Some((b"{}".to_vec(), true)));
    }

    #[tokio::test]
    async fn an_abandoned_or_failed_body_reports_nothing() {
        let (seen, on_end) = recorder();
        let frames: Vec<Result<Frame<Bytes>, &str>> = vec![Ok(Frame::data(Bytes::from_static(b"part"))), Err("reset")];
        let mut body = TapBody::tapped(Frames(frames.into()), 64, on_end);
        assert!(body.frame().await.unwrap().is_ok());
        assert!(body.frame().await.unwrap().is_err());
        drop(body);
        assert_eq!(seen.lock().unwrap().clone(), None);

        let (seen, on_end) = recorder();
        let frames: Vec<Result<Frame<Bytes>, &str>> = vec![Ok(Frame::data(Bytes::from_static(b"part")))];
        let mut body = TapBody::tapped(Frames(frames.into()), 64, on_end);
        assert!(body.frame().await.unwrap().is_ok());
        drop(body);
        assert_eq!(seen.lock().unwrap().clone(), None);
    }

    /// A body that yields the given frames, one per poll.
    struct Frames<E>(VecDeque<Result<Frame<Bytes>, E>>);

    impl<E: Unpin> Body for Frames<E> {
        type Data = Bytes;
        type Error = E;
        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, E>>> {
            Poll::Ready(self.0.pop_front())
        }
    }
}
