//! Verdicts of stored runs under the rules their prompt version has now.
//!
//! A run keeps the verdicts it got and the id of the rules that gave them ([`rules_id`]). After
//! a configuration change (or from before `rules_id` was kept) those verdicts judged the
//! transcript by other rules than its version's current ones. [`Judge`] resolves each version's
//! rules from its snapshot under the current configuration and re-judges such runs from their
//! stored transcript, so that a tally over many runs judges each version by one set of rules.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::fill::attached_results;
use super::{Run, rules_id};
use crate::config::Layers;
use crate::prompt::PromptFile;
use crate::transcript::{RuleContext, RuleId, RuleResult, Rules, Transcript};

#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// The configuration's own rules do not resolve: nothing can be judged by them.
    #[error("the configuration's rules do not resolve: {0}")]
    Config(String),
}

/// Why a version is judged by the configuration's rules without its own front matter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// The version's text is not known: no snapshot, or it could not be read (the reason).
    NoSnapshot(String),
    /// Its front matter does not parse, or its `[rules]` do not resolve over the current
    /// configuration (the error).
    FrontMatter(String),
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSnapshot(reason) => write!(
                f,
                "{reason}: judged by the configuration's rules without its front matter"
            ),
            Self::FrontMatter(error) => write!(
                f,
                "its front matter does not apply ({error}): judged by the configuration's rules without it"
            ),
        }
    }
}

/// The rules of one prompt version under the current configuration.
#[derive(Clone, Debug)]
pub struct VersionRules {
    pub rules: Arc<Rules>,
    /// [`rules_id`] of `rules`: a run that recorded this id was judged by them.
    pub id: String,
    /// Set when these are the configuration's rules alone, and why.
    pub fallback: Option<Fallback>,
}

/// Resolves prompt versions' rules under one configuration (cached per prompt id) and gives
/// stored runs' verdicts under them.
#[derive(Debug)]
pub struct Judge {
    layers: Layers,
    /// The configuration's rules without any front matter: the fallback.
    config: Arc<Rules>,
    versions: HashMap<String, VersionRules>,
}

impl Judge {
    /// A judge for the configuration `layers` (without any prompt's front matter).
    ///
    /// # Errors
    /// When the layers' own rules do not resolve.
    pub fn new(layers: Layers) -> Result<Self, JudgeError> {
        let config = layers.rules_with(None).map_err(JudgeError::Config)?;
        Ok(Self {
            layers,
            config: Arc::new(config),
            versions: HashMap::new(),
        })
    }

    /// The rules of prompt version `prompt_id`: its front matter over the configuration.
    /// `snapshot` gives the version's whole text (or why it cannot); it is asked once per
    /// version, and the answer is kept.
    pub fn version(
        &mut self,
        prompt_id: &str,
        snapshot: impl FnOnce() -> Result<String, String>,
    ) -> &VersionRules {
        let Self {
            layers,
            config,
            versions,
        } = self;
        versions
            .entry(prompt_id.to_owned())
            .or_insert_with(|| resolve(layers, config, prompt_id, snapshot()))
    }

    /// The rules of `prompt_id` when [`Judge::version`] has resolved them.
    #[must_use]
    pub fn resolved(&self, prompt_id: &str) -> Option<&VersionRules> {
        self.versions.get(prompt_id)
    }

    /// The verdicts of `run` under its version's current rules: the recorded ones when they
    /// were judged by exactly these rules (and cover every rule they judge: a run recorded
    /// before a rule existed lacks it), else the stored transcript judged again
    /// ([`rejudge`]). `snapshot` is as for [`Judge::version`].
    pub fn verdicts<'r>(
        &mut self,
        run: &'r Run,
        snapshot: impl FnOnce() -> Result<String, String>,
    ) -> Cow<'r, [RuleResult]> {
        let version = self.version(&run.prompt_id, snapshot);
        let covered = || {
            version
                .rules
                .enabled()
                .all(|id| run.rules.iter().any(|r| r.id == id))
        };
        if run.rules_id == version.id && covered() {
            Cow::Borrowed(&run.rules)
        } else {
            Cow::Owned(rejudge(run, &version.rules))
        }
    }

    /// The versions resolved so far that fell back to the configuration's rules, by id.
    #[must_use]
    pub fn fallbacks(&self) -> Vec<(&str, &Fallback)> {
        let mut out: Vec<(&str, &Fallback)> = self
            .versions
            .iter()
            .filter_map(|(id, v)| v.fallback.as_ref().map(|f| (id.as_str(), f)))
            .collect();
        out.sort_unstable_by_key(|(id, _)| *id);
        out
    }
}

fn resolve(
    layers: &Layers,
    config: &Arc<Rules>,
    prompt_id: &str,
    snapshot: Result<String, String>,
) -> VersionRules {
    let fallback = |why: Fallback| VersionRules {
        rules: Arc::clone(config),
        id: rules_id(config),
        fallback: Some(why),
    };
    let text = match snapshot {
        Ok(text) => text,
        Err(reason) => return fallback(Fallback::NoSnapshot(reason)),
    };
    // Named as the snapshot file is, so that an error's file:line:column reads naturally.
    let path = PathBuf::from(format!("{prompt_id}.md"));
    let rules = PromptFile::parse(&path, &text)
        .map_err(|e| e.to_string())
        .and_then(|file| layers.rules_with(file.front_matter.as_ref()));
    match rules {
        Ok(rules) => VersionRules {
            id: rules_id(&rules),
            rules: Arc::new(rules),
            fallback: None,
        },
        Err(error) => fallback(Fallback::FrontMatter(error)),
    }
}

/// The verdicts `rules` give `run`'s stored transcript, as a run that ended with this
/// transcript is judged: parsed in the rules' count mode, judged as a live run, turn by turn
/// when it was interrupted ([`super::judge_turns`]).
///
/// `no-model-results` is decided by the stream (which result blocks moss put in), not by the
/// text: the run's recorded verdict is kept where it has one. Otherwise the result blocks moss
/// did not put in are counted from the record (a replayed run: those not right after a block;
/// else those beyond its executions).
#[must_use]
pub fn rejudge(run: &Run, rules: &Rules) -> Vec<RuleResult> {
    let transcript = Transcript::parse(&run.transcript, rules.config().count_mode);
    let model_results = model_results(run, &transcript);
    let mut results = super::judge_turns(
        rules,
        &run.question,
        &run.transcript,
        &run.interruptions,
        RuleContext::Live { model_results },
    );
    let recorded = run.rules.iter().find(|r| r.id == RuleId::NoModelResults);
    if let Some(recorded) = recorded
        && let Some(slot) = results.iter_mut().find(|r| r.id == RuleId::NoModelResults)
    {
        slot.clone_from(recorded);
    }
    results
}

/// Result blocks of a stored run's transcript that the model wrote itself, as far as the
/// record tells.
fn model_results(run: &Run, transcript: &Transcript) -> usize {
    let results = transcript
        .segments
        .iter()
        .filter(|s| s.kind.is_exec_output())
        .count();
    let put_in = if run.teacher.replayed {
        attached_results(transcript)
    } else {
        run.executions.len()
    };
    results.saturating_sub(put_in)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;
    use crate::exec::ExecMode;
    use crate::prompt::ModelParams;
    use crate::run::{RunStatus, SegmentSummary, Timings};
    use crate::teacher::TeacherInfo;
    use crate::transcript::{CountMode, Outcome};

    /// Forty-one words of first answer: over a limit of 40, within 60.
    fn long_answer() -> String {
        let words = vec!["word"; 41].join(" ");
        format!("{words}.\n<think>short</think>\nDone.")
    }

    fn layers(max_words: usize) -> Layers {
        let mut layers = Layers::default();
        layers.push(Source::inline(
            "moss.toml",
            format!("[rules.first-answer-concise]\nmax-words = {max_words}\n"),
        ));
        layers
    }

    fn stored(transcript: &str, rules: &Rules, prompt_id: &str) -> Run {
        let parsed = Transcript::parse(transcript, rules.config().count_mode);
        Run {
            run_id: "r".into(),
            sample_id: "s".into(),
            question: "q".into(),
            prompt_id: prompt_id.into(),
            settings_id: "x".into(),
            rules_id: rules_id(rules),
            teacher: TeacherInfo {
                provider: "p".into(),
                model: "m".into(),
                replayed: false,
            },
            placeholder: false,
            params: ModelParams::default(),
            exec: ExecMode::Off,
            status: RunStatus::Complete,
            error: None,
            finish_reason: Some("stop".into()),
            transcript: transcript.into(),
            interruptions: Vec::new(),
            segments: SegmentSummary::of(&parsed),
            rules: rules.evaluate(&parsed, RuleContext::Live { model_results: 0 }),
            reasoning: None,
            usage: None,
            executions: Vec::new(),
            timings: Timings::default(),
            stream: None,
        }
    }

    fn outcome(results: &[RuleResult], id: RuleId) -> Option<Outcome> {
        results.iter().find(|r| r.id == id).map(|r| r.outcome)
    }

    fn no_snapshot() -> Result<String, String> {
        Err("no snapshot".into())
    }

    #[test]
    fn matching_rules_keep_the_record_and_other_rules_judge_again() {
        let forty = layers(40).rules_with(None).expect("rules");
        let run = stored(&long_answer(), &forty, "p");
        let fail = Some(Outcome::Fail);
        assert_eq!(outcome(&run.rules, RuleId::FirstAnswerConcise), fail);

        let mut same = Judge::new(layers(40)).expect("judge");
        let verdicts = same.verdicts(&run, || Ok("prompt".into()));
        assert!(matches!(verdicts, Cow::Borrowed(_)));

        let mut sixty = Judge::new(layers(60)).expect("judge");
        let verdicts = sixty.verdicts(&run, || Ok("prompt".into()));
        assert!(matches!(verdicts, Cow::Owned(_)));
        assert_eq!(
            outcome(&verdicts, RuleId::FirstAnswerConcise),
            Some(Outcome::Pass)
        );
    }

    #[test]
    fn a_version_is_judged_by_its_front_matter_over_the_config() {
        let mut judge = Judge::new(layers(40)).expect("judge");
        let front = "+++\n[rules.first-answer-concise]\nmax-words = 60\n+++\nBody\n";
        let version = judge.version("p", || Ok(front.into()));
        assert_eq!(version.rules.config().first_answer_concise.max_words, 60);
        assert!(version.fallback.is_none());
        // Asked once: the cached answer stands.
        let again = judge.version("p", || panic!("the snapshot is read once"));
        assert_eq!(again.rules.config().first_answer_concise.max_words, 60);
    }

    #[test]
    fn missing_or_broken_snapshots_fall_back_to_the_config_and_say_so() {
        let mut judge = Judge::new(layers(40)).expect("judge");
        let missing = judge.version("gone", no_snapshot).clone();
        assert_eq!(missing.rules.config().first_answer_concise.max_words, 40);
        assert_eq!(
            missing.fallback,
            Some(Fallback::NoSnapshot("no snapshot".into()))
        );
        let broken = judge
            .version("bad", || {
                Ok("+++\ntemperature = \"hot\"\n+++\nBody\n".into())
            })
            .clone();
        assert_eq!(broken.rules.config().first_answer_concise.max_words, 40);
        let Some(Fallback::FrontMatter(error)) = &broken.fallback else {
            panic!("front matter fallback: {:?}", broken.fallback);
        };
        assert!(error.starts_with("bad.md:2:"), "{error}");
        let unknown_rule = judge
            .version(
                "odd",
                || Ok("+++\n[rules.no-such-rule]\n+++\nBody\n".into()),
            )
            .clone();
        assert!(matches!(
            unknown_rule.fallback,
            Some(Fallback::FrontMatter(_))
        ));
        let ids: Vec<&str> = judge.fallbacks().iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, ["bad", "gone", "odd"]);
        assert!(
            judge.fallbacks()[1]
                .1
                .to_string()
                .starts_with("no snapshot: judged by the configuration's rules")
        );
    }

    #[test]
    fn a_config_whose_rules_do_not_resolve_is_an_error() {
        let mut layers = Layers::default();
        layers.push(Source::inline(
            "moss.toml",
            "[rules.think-budget]\nratio = -1\n",
        ));
        let err = Judge::new(layers).expect_err("invalid").to_string();
        assert!(err.contains("moss.toml:2:9"), "{err}");
    }

    #[test]
    fn legacy_runs_without_a_rules_id_are_judged_again() {
        let rules = layers(40).rules_with(None).expect("rules");
        let mut run = stored(&long_answer(), &rules, "p");
        run.rules_id = String::new();
        let mut judge = Judge::new(layers(40)).expect("judge");
        let verdicts = judge.verdicts(&run, no_snapshot);
        assert!(matches!(verdicts, Cow::Owned(_)));
        assert_eq!(&*verdicts, run.rules.as_slice(), "the same rules agree");
    }

    #[test]
    fn rejudging_counts_words_in_the_new_count_mode() {
        let mixed = Rules::new(crate::transcript::RulesConfig::default()).expect("rules");
        let text = "天空是蓝色的。\n<think>想想</think>\n好。";
        let run = stored(text, &mixed, "p");
        let mut config = crate::transcript::RulesConfig {
            count_mode: CountMode::Chars,
            ..crate::transcript::RulesConfig::default()
        };
        config.first_answer_concise.max_words = 5;
        let chars = Rules::new(config).expect("rules");
        let results = rejudge(&run, &chars);
        // 天空是蓝色的: six letters, over five.
        assert_eq!(
            outcome(&results, RuleId::FirstAnswerConcise),
            Some(Outcome::Fail)
        );
    }

    #[test]
    fn no_model_results_keeps_the_recorded_verdict_or_counts_from_the_record() {
        let rules = Rules::new(crate::transcript::RulesConfig::default()).expect("rules");
        let text = "答。\n<think>想</think>\n好。\n<execute_result>\n1\n</execute_result>\n";
        let mut run = stored(text, &rules, "p");
        // Recorded as the stream saw it: moss put that block in.
        for r in &mut run.rules {
            if r.id == RuleId::NoModelResults {
                r.outcome = Outcome::Pass;
                r.message = "recorded".into();
            }
        }
        let kept = rejudge(&run, &rules);
        let verdict = kept.iter().find(|r| r.id == RuleId::NoModelResults);
        assert_eq!(verdict.map(|r| r.message.as_str()), Some("recorded"));
        // Without a recorded verdict, a block that is no execution's result is the model's.
        run.rules.retain(|r| r.id != RuleId::NoModelResults);
        let counted = rejudge(&run, &rules);
        assert_eq!(
            outcome(&counted, RuleId::NoModelResults),
            Some(Outcome::Fail)
        );
    }
}
