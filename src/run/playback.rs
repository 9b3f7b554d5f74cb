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

    use crate::transcript::{CountMode, SegmentKind, StreamParser, Transcript};

    const TRANSCRIPT: &str = "先答：天空是蓝的。\n<think>为什么？因为瑞利散射。</think>\n```python RUN\nprint(1 + 1)\n```\n\n<execute_result>\n2\n</execute_result>\n\n所以是 2。";

    /// `TRANSCRIPT` in three-character pieces at uneven (even-millisecond) intervals, the
    /// result one system piece.
    fn recorded() -> Timeline {
        let result = TRANSCRIPT.find("\n<execute_result>").expect("a result");
        let result_end = TRANSCRIPT.find("</execute_result>\n").expect("its end") + 18;
        let mut timeline = Timeline::default();
        let mut at = 40;
        for (i, c) in TRANSCRIPT[..result]
            .chars()
            .collect::<Vec<_>>()
            .chunks(3)
            .enumerate()
        {
            at += 20 + 30 * (i as u64 % 7);
            let len = c.iter().map(|c| c.len_utf8()).sum();
            timeline.push(Duration::from_millis(at), len, Origin::Teacher);
        }
        // The code ran for two seconds.
        at += 2000;
        timeline.push(
            Duration::from_millis(at),
            result_end - result,
            Origin::System,
        );
        for c in TRANSCRIPT[result_end..]
            .chars()
            .collect::<Vec<_>>()
            .chunks(3)
        {
            at += 100;
            let len = c.iter().map(|c| c.len_utf8()).sum();
            timeline.push(Duration::from_millis(at), len, Origin::Teacher);
        }
        timeline
    }

    /// Plays `timeline` at `speed`, returning the segments the played text parses into, when
    /// each piece came (from the start) and the system's pieces.
    async fn play_back(
        timeline: &Timeline,
        speed: Speed,
    ) -> (Vec<(SegmentKind, String)>, Vec<Duration>, Vec<String>) {
        let chunks = timeline.chunks(TRANSCRIPT).expect("fits");
        let mut parser = StreamParser::new();
        let mut transcript = Transcript::new(CountMode::Mixed);
        let (mut times, mut system) = (Vec::new(), Vec::new());
        let start = Instant::now();
        let flow = play(
            &chunks,
            speed,
            &mut |chunk| {
                times.push(start.elapsed());
                match chunk.teacher_event() {
                    Some(crate::teacher::TeacherEvent::Text(text)) => assert_eq!(text, chunk.text),
                    _ => system.push(chunk.text.to_owned()),
                }
                parser.feed(chunk.text, &mut transcript);
                ControlFlow::Continue(())
            },
            &CancellationToken::new(),
        )
        .await;
        assert_eq!(flow, ControlFlow::Continue(()));
        parser.finish_into(&mut transcript);
        let segments = transcript
            .iter()
            .map(|(s, text)| (s.kind, text.to_owned()))
            .collect();
        (segments, times, system)
    }

    #[tokio::test(start_paused = true)]
    async fn playback_reproduces_the_segments_and_the_recorded_times() {
        let timeline = recorded();
        assert!(timeline.pieces().len() > 20);
        let expected: Vec<(SegmentKind, String)> = Transcript::parse(TRANSCRIPT, CountMode::Mixed)
            .iter()
            .map(|(s, text)| (s.kind, text.to_owned()))
            .collect();
        let recorded: Vec<Duration> = timeline
            .pieces()
            .iter()
            .map(|p| Duration::from_millis(p.at_ms))
            .collect();

        let (segments, times, system) = play_back(&timeline, Speed::REAL).await;
        assert_eq!(segments, expected);
        assert_eq!(times, recorded, "the clock moved exactly as recorded");
        assert_eq!(system, ["\n<execute_result>\n2\n</execute_result>\n"]);

        let (segments, times, _) = play_back(&timeline, Speed::times(2.0)).await;
        assert_eq!(segments, expected);
        let halved: Vec<Duration> = recorded.iter().map(|d| *d / 2).collect();
        assert_eq!(times, halved, "twice as fast: half the delays");

        let (segments, times, _) = play_back(&timeline, Speed::INSTANT).await;
        assert_eq!(segments, expected);
        assert!(times.iter().all(Duration::is_zero));
    }

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
