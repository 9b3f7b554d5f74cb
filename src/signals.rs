//! The host's requests to stop: SIGINT (Ctrl-C), SIGTERM (`timeout`, a container stop) and
//! SIGHUP (the terminal closed). Each front turns them into its own graceful stop, and exits
//! with 128 + the signal's number, as a shell reports a process the signal killed.

use std::io;
use std::task::Poll;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// A signal that asks moss to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostSignal {
    /// SIGINT: Ctrl-C in a terminal that is not in raw mode.
    Interrupt,
    /// SIGTERM: `kill`, `timeout`, a service or container stop.
    Terminate,
    /// SIGHUP: the terminal went away.
    Hangup,
}

impl HostSignal {
    /// The signal's name, as `kill -l` prints it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
            Self::Hangup => "SIGHUP",
        }
    }

    /// 128 + the signal's number (the numbers of these three are fixed by POSIX).
    #[must_use]
    pub fn exit_status(self) -> u8 {
        128 + match self {
            Self::Hangup => 1,
            Self::Interrupt => 2,
            Self::Terminate => 15,
        }
    }

    fn kind(self) -> SignalKind {
        match self {
            Self::Interrupt => SignalKind::interrupt(),
            Self::Terminate => SignalKind::terminate(),
            Self::Hangup => SignalKind::hangup(),
        }
    }
}

/// Receives the chosen [`HostSignal`]s. From the moment it is made until the process ends, they
/// no longer end the process on their own: whoever made it must act on them.
#[derive(Debug)]
pub struct HostSignals {
    streams: Vec<(HostSignal, Signal)>,
}

impl HostSignals {
    /// Starts listening for `signals`. Must be called within a tokio runtime with IO enabled.
    ///
    /// # Errors
    /// When a handler cannot be installed.
    pub fn listen(signals: &[HostSignal]) -> io::Result<Self> {
        let streams = signals
            .iter()
            .map(|&which| Ok((which, signal(which.kind())?)))
            .collect::<io::Result<_>>()?;
        Ok(Self { streams })
    }

    /// The next signal received (a signal that arrives several times before this is polled
    /// counts once).
    pub async fn recv(&mut self) -> HostSignal {
        std::future::poll_fn(|cx| {
            for (which, stream) in &mut self.streams {
                // `None` only when the runtime shuts down: that stream has nothing more to say.
                if let Poll::Ready(Some(())) = stream.poll_recv(cx) {
                    return Poll::Ready(*which);
                }
            }
            Poll::Pending
        })
        .await
    }
}
