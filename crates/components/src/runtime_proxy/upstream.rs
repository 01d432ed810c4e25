//! The proxy's connections to the real Runtime API: one per connection of the runtime, opened on its first
//! call and kept. A runtime makes its calls one after another on one keep-alive connection, so the pair
//! needs no pool: no lock, no checkout and no task per request on the path every call waits for.

use std::sync::Mutex;

use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::http::uri::Authority;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::tap::TapBody;

pub(super) type ForwardedRequest = Request<TapBody<Incoming>>;

/// The Runtime API connection of one runtime connection, free between its calls.
#[derive(Default)]
pub(super) struct UpstreamSlot(Mutex<Option<SendRequest<TapBody<Incoming>>>>);

impl UpstreamSlot {
    /// Sends `request` (origin-form, as the runtime wrote it) to `upstream` and returns the response head;
    /// the body streams after. A kept connection that closed while idle is replaced, and a request it
    /// refused unsent goes out on the new one; an error once the request has left is final.
    pub(super) async fn send(
        &self,
        upstream: &Authority,
        mut request: ForwardedRequest,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut sender) = kept {
            if sender.ready().await.is_ok() {
                match sender.try_send_request(request).await {
                    Ok(response) => {
                        self.keep(sender);
                        return Ok(response);
                    }
                    Err(mut refused) => match refused.take_message() {
                        Some(unsent) => request = unsent,
                        None => return Err(UpstreamError::Http(refused.into_error())),
                    },
                }
            }
        }
        let mut sender = connect(upstream).await?;
        let response = sender.send_request(request).await.map_err(UpstreamError::Http)?;
        self.keep(sender);
        Ok(response)
    }

    fn keep(&self, sender: SendRequest<TapBody<Incoming>>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(sender);
    }
}

/// Why a call could not be forwarded.
#[derive(Debug)]
pub(super) enum UpstreamError {
    /// No connection to the Runtime API.
    Connect(std::io::Error),
    /// The connection or the exchange broke.
    Http(hyper::Error),
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Connect(e) => write!(f, "no connection to the Runtime API: {e}"),
            UpstreamError::Http(e) => write!(f, "the call to the Runtime API failed: {e}"),
        }
    }
}

/// Opens a connection and drives it on a task of its own until either side closes it.
async fn connect(upstream: &Authority) -> Result<SendRequest<TapBody<Incoming>>, UpstreamError> {
    let stream = TcpStream::connect(upstream.as_str()).await.map_err(UpstreamError::Connect)?;
    // Runtime API calls are small request/response pairs: Nagle's delay would add milliseconds to each.
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::Builder::new()
        .preserve_header_case(true)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(UpstreamError::Http)?;
    tokio::spawn(connection);
    Ok(sender)
}
