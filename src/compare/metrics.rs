//! What interleaving is for, measured on one run: how soon the reader gets an answer, and how
//! long they wait in silence while the model thinks.

// Counts of words, runs and samples are far below 2^52: as f64 they are exact.
#![allow(clippy::cast_precision_loss)]

use crate::transcript::{CountMode, SegmentKind, Transcript};

/// Interleaving measures of one transcript. Words as the rules count them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Interleaving {
    /// Answer words before the first think (all of them when there is none): what the reader
    /// has before the model first goes quiet.
    pub words_before_first_think: usize,
    /// The longest think, in words: the longest silent stretch.
    pub longest_think: usize,
    /// Think words per answer word (`None` without answer words).
    pub think_ratio: Option<f64>,
    /// Thinks per 100 answer words (`None` without answer words).
    pub thinks_per_100_words: Option<f64>,
}

/// The interleaving measures of `transcript`. Code and execution results are neither answer
/// nor think.
#[must_use]
pub fn interleaving(transcript: &Transcript) -> Interleaving {
    let mut out = Interleaving::default();
    let mut answer_words = 0usize;
    let mut think_words = 0usize;
    let mut thinks = 0usize;
    for segment in &transcript.segments {
        match segment.kind {
            SegmentKind::Answer => {
                answer_words += segment.words;
                if thinks == 0 {
                    out.words_before_first_think += segment.words;
                }
            }
            SegmentKind::Think => {
                thinks += 1;
                think_words += segment.words;
                out.longest_think = out.longest_think.max(segment.words);
            }
            _ => {}
        }
    }
    if answer_words > 0 {
        let answer = answer_words as f64;
        out.think_ratio = Some(think_words as f64 / answer);
        out.thinks_per_100_words = Some(thinks as f64 * 100.0 / answer);
    }
    out
}

/// The interleaving measures of a transcript's text, its words counted in `mode`.
#[must_use]
pub fn interleaving_of(text: &str, mode: CountMode) -> Interleaving {
    interleaving(&Transcript::parse(text, mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::CountMode;

    #[test]
    fn measures_match_a_hand_counted_transcript() {
        // Answers: 8 + 5 + 7 = 20 characters; thinks: 4 and 7; code in between counts as
        // neither.
        let text = "天空是蓝色的因为\n<think>先想一下</think>\n瑞利散射强\n```python RUN\nprint(1)\n```\n<execute_result>\n1\n</execute_result>\n<think>再补充一个细节</think>\n日落时天空发红";
        let t = Transcript::parse(text, CountMode::Mixed);
        let m = interleaving(&t);
        assert_eq!(m.words_before_first_think, 8);
        assert_eq!(m.longest_think, 7);
        let ratio = m.think_ratio.expect("answer words");
        assert!((ratio - 11.0 / 20.0).abs() < 1e-9, "{ratio}");
        let per_100 = m.thinks_per_100_words.expect("answer words");
        assert!((per_100 - 10.0).abs() < 1e-9, "{per_100}");
    }

    #[test]
    fn a_transcript_without_thinks_or_answers() {
        let m = interleaving(&Transcript::parse("只有回答，没有思考。", CountMode::Mixed));
        assert_eq!(m.words_before_first_think, 8);
        assert_eq!(m.longest_think, 0);
        assert_eq!(m.think_ratio, Some(0.0));
        let m = interleaving(&Transcript::parse(
            "<think>只想不说</think>",
            CountMode::Mixed,
        ));
        assert_eq!(m.words_before_first_think, 0);
        assert_eq!(m.longest_think, 4);
        assert_eq!(m.think_ratio, None);
        assert_eq!(m.thinks_per_100_words, None);
    }
}
