//! Running the filtered samples as a batch: how many runs each, and which samples.

use super::App;

/// Which of the filtered samples a batch runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunWhich {
    /// Every one, whatever runs it already has.
    All,
    /// Those whose latest complete run under the current version fails an enabled rule.
    Failing,
    /// Those without a complete run under the current version (nor one on its way).
    #[default]
    WithoutRun,
}

impl RunWhich {
    pub const ALL: [RunWhich; 3] = [Self::All, Self::Failing, Self::WithoutRun];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Failing => "only failing",
            Self::WithoutRun => "only without a run",
        }
    }

    /// The next choice (`forward`) or the one before.
    #[must_use]
    pub fn cycle(self, forward: bool) -> Self {
        let all = Self::ALL;
        let at = all.iter().position(|w| *w == self).unwrap_or(0);
        let next = if forward { at + 1 } else { at + all.len() - 1 };
        all[next % all.len()]
    }
}

/// The `R` dialog: runs per sample and which samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunDialog {
    pub count: usize,
    pub which: RunWhich,
    /// No digit typed yet: the first one replaces the count offered.
    pub fresh: bool,
}

impl Default for RunDialog {
    fn default() -> Self {
        Self {
            count: 1,
            which: RunWhich::default(),
            fresh: true,
        }
    }
}

/// The most runs per sample one batch asks for.
pub const MAX_RUNS_PER_SAMPLE: usize = 999;

impl App {
    /// The filtered samples (indexes into `samples`, in list order) a batch of `which` runs.
    #[must_use]
    pub fn batch_samples(&self, which: RunWhich) -> Vec<usize> {
        let prompt = self.prompt.version.id.as_str();
        let busy: std::collections::HashSet<usize> = self
            .active
            .values()
            .map(|run| run.sample)
            .chain(self.queue.pending.values().map(|p| p.sample))
            .collect();
        self.visible
            .iter()
            .copied()
            .filter(|&index| match which {
                RunWhich::All => true,
                RunWhich::Failing => self
                    .latest_complete_under(index, prompt)
                    .is_some_and(|run| !self.text_passes(run)),
                RunWhich::WithoutRun => {
                    !busy.contains(&index)
                        && !self
                            .latest_run(index)
                            .is_some_and(|r| r.is_complete() && r.prompt_id == prompt)
                }
            })
            .collect()
    }

    /// Sample `index`'s latest complete run made with prompt version `prompt`.
    fn latest_complete_under(&self, index: usize, prompt: &str) -> Option<&crate::run::Run> {
        let sample = self.samples.get(index)?;
        self.runs_of
            .get(&sample.id)?
            .iter()
            .rev()
            .filter_map(|&i| self.runs.get(i))
            .find(|run| run.is_complete() && run.prompt_id == prompt)
    }
}
