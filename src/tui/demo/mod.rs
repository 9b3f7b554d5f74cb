//! Presentation mode (`D`, `moss demo`): one sample's transcript full screen, either followed as
//! a run streams or played back at its recorded timing (scaled by a pace), with what the model
//! is doing now (the state word), the think allowance meter, and auto-play over the samples.
//!
//! Time only comes in messages ([`crate::tui::update::Msg::Frame`]): the playback clock moves
//! by each frame's elapsed time × the pace, so the same frames always show the same text.

mod lanes;

use std::sync::Arc;
use std::time::Duration;

pub use lanes::{Geometry, Lanes, Placed};

use crate::run::{Origin, Run, RunKey, Timeline};
use crate::teacher::replay::{Pace, Pause};
use crate::transcript::rules::AllowanceTally;
use crate::transcript::{Rules, SegmentKind};
use crate::tui::live::LiveView;

/// `+` multiplies the pace by this, `-` divides it.
pub const PACE_STEP: f64 = 1.5;
/// The slowest and fastest pace.
pub const PACE_MIN: f64 = 1.0 / 16.0;
pub const PACE_MAX: f64 = 64.0;
/// How long a finished run stays on screen before auto-play moves to the next sample.
pub const AUTOPLAY_HOLD: Duration = Duration::from_secs(3);
/// The spinner shown while a block runs, one frame per step.
pub const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const SPINNER_STEP: Duration = Duration::from_millis(100);
/// The meter's full scale at least, in words (a run's largest allowance when more).
pub const METER_SCALE: usize = 40;
/// How a run recorded without timing is played: as the replay teacher streams by default.
pub const UNTIMED_PACE: Pace = Pace {
    chunk_chars: 3,
    pause: Pause::TokensPerSec(30.0),
};

/// What the model is doing, as the big word says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// Nothing arrived yet.
    Waiting,
    Speaking,
    Thinking,
    /// A python RUN block closed and its result has not arrived.
    RunningCode,
    /// The stream ended.
    Done,
}

impl Activity {
    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            Self::Waiting => "WAITING",
            Self::Speaking => "SPEAKING",
            Self::Thinking => "THINKING",
            Self::RunningCode => "RUNNING CODE",
            Self::Done => "DONE",
        }
    }

    /// What `live` shows the model doing at its end; `runs_code`: a closed python RUN block is
    /// executed (else the model just goes on, and it is still speaking).
    #[must_use]
    pub fn of(live: &LiveView, runs_code: bool) -> Self {
        let transcript = live.transcript();
        let Some(last) = transcript.segments.last() else {
            return if live.is_streaming() {
                Self::Waiting
            } else {
                Self::Done
            };
        };
        if !live.is_streaming() {
            return Self::Done;
        }
        let open = transcript.is_open(transcript.segments.len() - 1);
        match last.kind {
            SegmentKind::Think if open => Self::Thinking,
            SegmentKind::Code if runs_code && !open && last.is_executable() => Self::RunningCode,
            _ => Self::Speaking,
        }
    }
}

/// The allowance meter: what the next think may hold, filled by answer words, drained by the
/// open think.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meter {
    /// Words the current (or next) think may hold.
    pub allowance: usize,
    /// Words the open think has spent (0 while speaking).
    pub spent: usize,
    /// A think is being written.
    pub thinking: bool,
    /// The bar's full scale.
    pub scale: usize,
}

impl Meter {
    /// Of `live` at its end, under `rules`' think budget.
    #[must_use]
    pub fn of(live: &LiveView, rules: &Rules) -> Self {
        let transcript = live.transcript();
        let segments = &transcript.segments;
        let largest = live.budgets().iter().map(|b| b.allowed).max().unwrap_or(0);
        let last_think = segments.iter().rposition(|s| s.kind == SegmentKind::Think);
        if let Some(t) = last_think
            && transcript.is_open(t)
            && let Some(budget) = live.last_budget()
        {
            return Self {
                allowance: budget.allowed,
                spent: budget.used,
                thinking: true,
                scale: METER_SCALE.max(largest),
            };
        }
        let mut tally = AllowanceTally::new(&rules.config().think_budget);
        let from = last_think.map_or(0, |t| t + 1);
        for (i, segment) in segments.iter().enumerate().skip(from) {
            tally.fold(segment.kind, transcript.live_words(i));
        }
        let allowance = tally.allowance();
        Self {
            allowance,
            spent: 0,
            thinking: false,
            scale: METER_SCALE.max(largest).max(allowance),
        }
    }

    #[must_use]
    pub fn remaining(&self) -> usize {
        self.allowance.saturating_sub(self.spent)
    }

    #[must_use]
    pub fn overspent(&self) -> bool {
        self.spent > self.allowance
    }

    /// How full the bar is, 0 to 1.
    #[must_use]
    pub fn ratio(&self) -> f64 {
        if self.overspent() {
            return 1.0;
        }
        #[allow(clippy::cast_precision_loss)] // word counts far below 2^52
        let ratio = self.remaining() as f64 / self.scale.max(1) as f64;
        ratio.clamp(0.0, 1.0)
    }

    /// The words beside the bar.
    #[must_use]
    pub fn label(&self) -> String {
        match (self.thinking, self.overspent()) {
            (true, true) => format!(
                "over budget: {} of {} words ({} over)",
                self.spent,
                self.allowance,
                self.spent - self.allowance
            ),
            (true, false) => format!(
                "thinking: {} of {} words spent, {} left",
                self.spent,
                self.allowance,
                self.remaining()
            ),
            (false, _) => format!("allowance: {} words for the next think", self.allowance),
        }
    }
}

/// One piece of a recorded run: where it ends in the transcript and when it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cue {
    at: Duration,
    end: usize,
    origin: Origin,
}

/// A stored run played back: the transcript fed to a live view piece by piece as the playback
/// clock reaches each piece's recorded time.
#[derive(Debug)]
pub struct Playback {
    /// The run (index into `App::runs`).
    pub run: usize,
    text: String,
    cues: Vec<Cue>,
    next: usize,
    /// Where the playback is, in the run's own time.
    pub position: Duration,
    /// The run carried its recorded timing (else it plays at [`UNTIMED_PACE`]).
    pub timed: bool,
    pub live: LiveView,
    finished: bool,
    rules_results: Vec<crate::transcript::RuleResult>,
}

impl Playback {
    /// Run `index` (`run`) from its start, with `rules` (its prompt version's).
    #[must_use]
    pub fn new(index: usize, run: &Run, rules: Arc<Rules>) -> Self {
        let paced;
        let (timeline, timed) = match run.timeline() {
            Some(timeline) => (timeline, true),
            None => {
                paced = Timeline::paced(&run.transcript, &UNTIMED_PACE);
                (&paced, false)
            }
        };
        let mut end = 0;
        let cues = timeline
            .pieces()
            .iter()
            .map(|p| {
                end += p.len;
                Cue {
                    at: Duration::from_millis(p.at_ms),
                    end,
                    origin: p.origin,
                }
            })
            .collect();
        let mut live = LiveView::new(rules);
        if let Some(reasoning) = &run.reasoning {
            live.push_reasoning(reasoning);
        }
        let mut playback = Self {
            run: index,
            text: run.transcript.clone(),
            cues,
            next: 0,
            position: Duration::ZERO,
            timed,
            live,
            finished: false,
            rules_results: run.rules.clone(),
        };
        playback.advance(Duration::ZERO);
        playback
    }

    /// The same run, shown whole.
    #[must_use]
    pub fn at_end(index: usize, run: &Run, rules: Arc<Rules>) -> Self {
        let mut playback = Self::new(index, run, rules);
        playback.advance(playback.length());
        playback
    }

    /// The run's recorded length.
    #[must_use]
    pub fn length(&self) -> Duration {
        self.cues.last().map_or(Duration::ZERO, |c| c.at)
    }

    /// Moves the playback clock by `by` (run time), feeding every piece it reaches.
    pub fn advance(&mut self, by: Duration) {
        self.position = self.position.saturating_add(by);
        let start = self.next.checked_sub(1).map_or(0, |i| self.cues[i].end);
        let mut end = start;
        while let Some(cue) = self.cues.get(self.next)
            && cue.at <= self.position
        {
            end = cue.end;
            self.next += 1;
        }
        if end > start {
            let text = self.text.get(start..end).unwrap_or_default();
            self.live.push(text);
        }
        if self.next == self.cues.len() && !self.finished {
            self.finished = true;
            self.live.finish(std::mem::take(&mut self.rules_results));
        }
    }

    /// Every piece has been played.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.finished
    }

    /// The next piece is the system's (an execution result): the gap before it is the time
    /// the code ran.
    #[must_use]
    pub fn awaits_result(&self) -> bool {
        self.cues
            .get(self.next)
            .is_some_and(|c| c.origin == Origin::System)
    }
}

/// Where the demo's text comes from.
#[derive(Debug)]
pub enum Feed {
    /// Nothing to show: the sample has no run and none could be started.
    Empty,
    /// A run queued or streaming now, followed as its text arrives (`App::active`).
    Live(RunKey),
    Playback(Box<Playback>),
}

/// The presentation mode's state.
#[derive(Debug)]
pub struct DemoView {
    /// The sample shown (index into `App::samples`).
    pub sample: usize,
    pub feed: Feed,
    /// The rules the shown run is judged by (its think budget drives the meter).
    pub rules: Arc<Rules>,
    /// Playback speed: 1 as recorded.
    pub pace: f64,
    pub paused: bool,
    pub autoplay: bool,
    /// Time on screen, moving with every frame (the spinner, auto-play's hold).
    pub clock: Duration,
    /// When (on `clock`) the shown run ended.
    pub ended: Option<Duration>,
    /// Rendered rows, kept between frames.
    pub lanes: Lanes,
}

impl DemoView {
    #[must_use]
    pub fn new(sample: usize, feed: Feed, rules: Arc<Rules>, pace: f64) -> Self {
        Self {
            sample,
            feed,
            rules,
            pace: pace.clamp(PACE_MIN, PACE_MAX),
            paused: false,
            autoplay: false,
            clock: Duration::ZERO,
            ended: None,
            lanes: Lanes::default(),
        }
    }

    /// Shows `feed` (another run or sample) from its start.
    pub fn show(&mut self, sample: usize, feed: Feed, rules: Arc<Rules>) {
        self.sample = sample;
        self.feed = feed;
        self.rules = rules;
        self.ended = None;
        self.lanes = Lanes::default();
    }

    pub fn faster(&mut self) {
        self.pace = (self.pace * PACE_STEP).min(PACE_MAX);
    }

    pub fn slower(&mut self) {
        self.pace = (self.pace / PACE_STEP).max(PACE_MIN);
    }

    /// The pace as shown: `×1.5`.
    #[must_use]
    pub fn pace_label(&self) -> String {
        format!("×{}", (self.pace * 100.0).round() / 100.0)
    }

    /// The spinner's frame now.
    #[must_use]
    pub fn spinner(&self) -> &'static str {
        let step = self.clock.as_millis() / SPINNER_STEP.as_millis();
        SPINNER[usize::try_from(step % SPINNER.len() as u128).unwrap_or(0)]
    }

    /// A frame passed `elapsed` ago: the playback moves by `elapsed` × the pace unless paused.
    pub fn tick(&mut self, elapsed: Duration) {
        self.clock = self.clock.saturating_add(elapsed);
        if let Feed::Playback(playback) = &mut self.feed {
            if !self.paused && !playback.is_done() {
                playback.advance(elapsed.mul_f64(self.pace));
            }
            if playback.is_done() && self.ended.is_none() {
                self.ended = Some(self.clock);
            }
        }
    }

    /// Auto-play's hold after the end is over: time for the next sample.
    #[must_use]
    pub fn hold_over(&self) -> bool {
        self.autoplay
            && !self.paused
            && self
                .ended
                .is_some_and(|at| self.clock.saturating_sub(at) >= AUTOPLAY_HOLD)
    }
}
