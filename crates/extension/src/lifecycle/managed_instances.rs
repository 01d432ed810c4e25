//! The extension on Lambda Managed Instances: invocations run concurrently, nothing is frozen, and `next`
//! returns only at SHUTDOWN. Flushes run in the background, never on an invocation's response path: soon
//! after invocations end (a short pause gathers those ending together), when the data held reaches a
//! volume, and at least every `flush.interval`. SHUTDOWN drains and flushes everything.

use std::{process::ExitCode, time::Duration};

use tokio::time::Instant;

use super::{fail_open, Extension};
use crate::api::{ExtensionsApi, NextEvent};

/// How long a flush waits after an invocation ends for others ending about then: one export for several.
const GATHER: Duration = Duration::from_millis(50);

/// How often held volume is checked while no invocation ends.
const VOLUME_CHECK: Duration = Duration::from_millis(100);

impl Extension {
    /// Flushes in the background until SHUTDOWN. The `next` long-poll stays in flight all along: it is
    /// polled alongside the flush timer and never cancelled or repeated.
    pub(super) async fn serve_managed_instances(&mut self, api: &ExtensionsApi) -> ExitCode {
        let next = fail_open::next_event(api);
        tokio::pin!(next);
        let mut last_flush = Instant::now();
        loop {
            tokio::select! {
                biased;
                event = &mut next => {
                    return match event {
                        Ok(NextEvent::Shutdown { reason, deadline_ms }) => self.on_shutdown(&reason, deadline_ms).await,
                        // Lambda sends no INVOKE here; one would mean a misdetected environment.
                        Ok(NextEvent::Invoke { request_id, .. }) => {
                            let e = crate::api::ApiError::Protocol {
                                call: "event/next",
                                detail: format!("INVOKE {request_id} on Lambda Managed Instances, registered for SHUTDOWN only"),
                            };
                            self.stop_on_api_error(api, e).await
                        }
                        Err(e) => self.stop_on_api_error(api, e).await,
                    };
                }
                () = self.flush_due(last_flush) => {
                    self.after_restore();
                    self.flush().await;
                    last_flush = Instant::now();
                }
            }
        }
    }

    /// Resolves when the next background flush is due (see the module documentation).
    async fn flush_due(&self, last_flush: Instant) {
        let interval_end = last_flush + self.settings.flush.interval;
        let volume = self.volume_trigger();
        loop {
            let now = Instant::now();
            if now >= interval_end || self.receivers.volume().1 >= volume {
                return;
            }
            if self.receivers.wait_ended(interval_end.min(now + VOLUME_CHECK)).await {
                tokio::time::sleep(GATHER).await;
                return;
            }
        }
    }

    /// Bytes held that call for a flush before the interval ends: what Lambda delivers in one POST, and
    /// never past a quarter of the receivers' memory bound.
    fn volume_trigger(&self) -> usize {
        let post = self.receivers.telemetry_api().map_or(262_144, |t| t.config().buffering.max_bytes as usize);
        post.min(self.memory_limit / 8).max(1)
    }
}
