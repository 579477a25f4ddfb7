//! Sinks: where queued alerts go. Each configured sink runs on its own thread
//! ([`crate::pipeline`]), reads its own cursor of the durable queue, and calls [`Sink::deliver`]
//! one alert at a time, retrying with exponential backoff and jitter. A sink only has to say
//! whether one alert got through; ordering, retries and cursors are the worker's job.

pub mod file;
pub mod siem;
pub mod syslog;
pub(crate) mod tls;
pub mod webhook;

use crate::config::SinkConfig;
use crate::id::Jitter;
use crate::queue::QueuedAlert;
use std::io;
use std::time::Duration;

/// Why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Connecting, writing or reading failed (receiver down, timeout, reset).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// TLS setup or handshake failed (untrusted certificate, bad CA file).
    #[error("TLS: {0}")]
    Tls(String),
    /// The HTTP receiver answered with a status that may change (5xx, 429, 401, 3xx...).
    #[error("HTTP status {status}")]
    Status { status: u16 },
    /// The receiver refused this alert itself (HTTP 400, 413, 415, 422): retrying the same bytes
    /// cannot help, so after a few attempts the worker skips it (counted, logged as an error).
    #[error("HTTP status {status}: the receiver rejected the alert")]
    Rejected { status: u16 },
    /// The receiver spoke something other than HTTP/1.x.
    #[error("bad response: {0}")]
    Protocol(String),
    /// The HTTP proxy refused the tunnel or the credentials (407); retried, since the proxy or
    /// the credentials file can be fixed without losing alerts.
    #[error("proxy: {0}")]
    Proxy(String),
    /// A local setting is unusable (unreadable token file, unknown facility).
    #[error("{0}")]
    Config(String),
}

impl SinkError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> SinkError {
        let context = context.into();
        move |source| SinkError::Io { context, source }
    }
}

/// One destination.
pub trait Sink: Send {
    /// Delivers one alert; Ok means the receiver (or the kernel, for UDP and files) has it.
    fn deliver(&mut self, alert: &QueuedAlert) -> Result<(), SinkError>;

    /// Called before the worker records delivered alerts in the queue: whatever this transport
    /// can do to make them stick (a file fsyncs).
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Builds the sink a configuration describes.
pub fn build(config: &SinkConfig, name: &str) -> Result<Box<dyn Sink>, SinkError> {
    Ok(match config {
        SinkConfig::Webhook(c) => Box::new(webhook::WebhookSink::new(c, name)?),
        SinkConfig::Syslog(c) => Box::new(syslog::SyslogSink::new(c)?),
        SinkConfig::File(c) => Box::new(file::FileSink::new(c)),
    })
}

/// Exponential backoff with "equal jitter": the n-th delay is uniform in [d/2, d] where
/// d = initial * 2^n capped at max, so retries of many gateways do not synchronise, and a
/// retry never comes at once after a failure.
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    jitter: Jitter,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial: initial.max(Duration::from_millis(1)),
            max: max.max(initial),
            attempt: 0,
            jitter: Jitter::new(),
        }
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(30));
        self.attempt = self.attempt.saturating_add(1);
        let d = self.initial.saturating_mul(factor).min(self.max);
        d / 2 + d.mul_f64(self.jitter.next_f64() / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let d: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert!(d[0] >= Duration::from_millis(50) && d[0] <= Duration::from_millis(100));
        assert!(d[3] >= Duration::from_millis(400) && d[3] <= Duration::from_millis(800));
        assert!(d[7] >= Duration::from_secs(1) && d[7] <= Duration::from_secs(2));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
