//! Playing a recorded run back as it streamed: its pieces, at their recorded times (scaled).

use std::ops::ControlFlow;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::timeline::Chunk;

/// Pieces delivered between two yields to the runtime when there is no pause.
const CHUNKS_PER_YIELD: usize = 64;

/// How fast to play back: 1 is as recorded, 2 twice as fast; instant plays without pauses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Speed(f64);

impl Speed {
    pub const REAL: Self = Self(1.0);
    pub const INSTANT: Self = Self(f64::INFINITY);

    /// `factor` times the recorded speed; 0 (or anything not above 0) is instant.
    #[must_use]
    pub fn times(factor: f64) -> Self {
        if factor > 0.0 {
            Self(factor)
        } else {
            Self::INSTANT
        }
    }

    #[must_use]
    pub fn is_instant(self) -> bool {
        self.0.is_infinite()
    }

    /// When a piece recorded `at` from the start is played, in whole milliseconds.
    #[must_use]
    pub fn scale(self, at: Duration) -> Duration {
        if self.is_instant() {
            return Duration::ZERO;
        }
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )] // milliseconds of a run are far below 2^52 and never negative
        let ms = (at.as_millis() as f64 / self.0).round() as u64;
        Duration::from_millis(ms)
    }
}

/// Hands each of `chunks` to `sink` at its recorded time divided by `speed`, counted from
/// the call (on tokio's clock, so a paused test clock plays back without waiting). Returns
/// `Break` when the sink stopped it or `cancel` was cancelled.
pub async fn play(
    chunks: &[Chunk<'_>],
    speed: Speed,
    sink: &mut dyn FnMut(Chunk<'_>) -> ControlFlow<()>,
    cancel: &CancellationToken,
) -> ControlFlow<()> {
    let start = Instant::now();
    for (n, chunk) in chunks.iter().enumerate() {
        if cancel.is_cancelled() {
            return ControlFlow::Break(());
        }
        if speed.is_instant() {
            if n > 0 && n % CHUNKS_PER_YIELD == 0 {
                tokio::task::yield_now().await;
            }
        } else {
            tokio::select! {
                () = cancel.cancelled() => return ControlFlow::Break(()),
                () = tokio::time::sleep_until(start + speed.scale(chunk.at)) => {}
            }
        }
        sink(*chunk)?;
    }
    ControlFlow::Continue(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Origin, Timeline};

    #[test]
    fn speeds_scale_to_whole_milliseconds() {
        let at = Duration::from_millis(101);
        assert_eq!(Speed::REAL.scale(at), at);
        assert_eq!(Speed::times(2.0).scale(at), Duration::from_millis(51));
        assert_eq!(Speed::times(0.5).scale(at), Duration::from_millis(202));
        assert!(Speed::times(0.0).is_instant());
        assert!(Speed::times(-1.0).is_instant());
        assert_eq!(Speed::INSTANT.scale(at), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_sink_break_or_cancel_stops_playback() {
        let mut timeline = Timeline::default();
        for i in 0..5 {
            timeline.push(Duration::from_millis(i * 100), 1, Origin::Teacher);
        }
        let chunks = timeline.chunks("abcde").expect("fits");
        let mut got = String::new();
        let flow = play(
            &chunks,
            Speed::REAL,
            &mut |c| {
                got.push_str(c.text);
                if got.len() == 2 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
            &CancellationToken::new(),
        )
        .await;
        assert_eq!((flow, got.as_str()), (ControlFlow::Break(()), "ab"));

        let cancel = CancellationToken::new();
        cancel.cancel();
        let flow = play(
            &chunks,
            Speed::REAL,
            &mut |_| ControlFlow::Continue(()),
            &cancel,
        )
        .await;
        assert_eq!(flow, ControlFlow::Break(()));
    }
}
