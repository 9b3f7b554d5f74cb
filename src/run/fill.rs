//! Finding executable blocks in a transcript and putting execution results after them.

use std::ops::Range;

use super::timeline::Splice;
use crate::transcript::{CountMode, Segment, SegmentKind, Transcript};

/// A closed `python RUN` block of a transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutableBlock {
    /// The code between the fences.
    pub code: String,
    /// The block's bytes in the text, fences included.
    pub span: Range<usize>,
    /// The result or error block that follows (after blank text only), if any: what a fill
    /// replaces.
    pub result: Option<Range<usize>>,
}

/// The closed executable blocks of `text`, in order.
#[must_use]
pub fn executable_blocks(text: &str) -> Vec<ExecutableBlock> {
    blocks_of(&Transcript::parse(text, CountMode::Mixed))
}

/// The closed executable blocks of a parsed transcript, in order.
pub(crate) fn blocks_of(transcript: &Transcript) -> Vec<ExecutableBlock> {
    let segments = &transcript.segments;
    let mut blocks = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        if !is_closed_executable(segment) {
            continue;
        }
        blocks.push(ExecutableBlock {
            code: transcript.text(segment).to_owned(),
            span: segment.span.clone(),
            result: attached_result(&segments[i + 1..]),
        });
    }
    blocks
}

pub(crate) fn is_closed_executable(segment: &Segment) -> bool {
    segment.kind == SegmentKind::Code
        && segment.closed
        && segment.fence.as_ref().is_some_and(|f| f.executable)
}

/// The result/error segment right after a block (only blank answer text between).
fn attached_result(after: &[Segment]) -> Option<Range<usize>> {
    for next in after {
        match next.kind {
            SegmentKind::Answer if next.blank => {}
            kind if kind.is_exec_output() => return Some(next.span.clone()),
            _ => return None,
        }
    }
    None
}

/// Result/error blocks of a transcript that directly follow an executable block.
#[must_use]
pub(crate) fn attached_results(transcript: &Transcript) -> usize {
    blocks_of(transcript)
        .iter()
        .filter(|b| b.result.is_some())
        .count()
}

/// `text` with `results[i]` after `blocks[i]` (the blocks from [`executable_blocks`] of the
/// same text), each replacing the result the model wrote there, if any. Blocks without an entry
/// in `results` are left as they are.
#[must_use]
pub fn splice_results(text: &str, blocks: &[ExecutableBlock], results: &[String]) -> String {
    splice_results_noting(text, blocks, results).0
}

/// [`splice_results`], and what changed where (for the run's timeline).
pub(crate) fn splice_results_noting(
    text: &str,
    blocks: &[ExecutableBlock],
    results: &[String],
) -> (String, Vec<Splice>) {
    let mut out =
        String::with_capacity(text.len() + results.iter().map(String::len).sum::<usize>());
    let mut splices = Vec::with_capacity(results.len());
    let mut at = 0;
    for (block, result) in blocks.iter().zip(results) {
        out.push_str(&text[at..block.span.end]);
        let inserted_from = out.len();
        let end = block.result.as_ref().map_or(block.span.end, |r| r.end);
        push_result(&mut out, result);
        let rest = text[end..].trim_start_matches(['\r', '\n']);
        at = text.len() - rest.len();
        if rest.is_empty() {
            out.push('\n');
        } else {
            out.push_str("\n\n");
        }
        splices.push(Splice {
            removed: block.span.end..at,
            inserted: out.len() - inserted_from,
        });
    }
    out.push_str(&text[at..]);
    (out, splices)
}

/// Appends a result block to text that ends with a closed code block, one blank line after it.
pub(crate) fn push_result(out: &mut String, result: &str) {
    let separator = if out.ends_with("\n\n") {
        ""
    } else if out.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    out.push_str(separator);
    out.push_str(result);
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "<execute_result>\n2\n</execute_result>";

    #[test]
    fn blocks_are_found_with_the_results_that_follow_them() {
        let text = "A\n\n```python RUN\nprint(2)\n```\n\n<execute_result>\n9\n</execute_result>\n\nB\n```py run\nx\n```\nC\n```python\nnot run\n```\n";
        let blocks = executable_blocks(text);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].code, "print(2)\n");
        assert_eq!(
            &text[blocks[0].result.clone().expect("result")],
            "<execute_result>\n9\n</execute_result>"
        );
        assert_eq!(blocks[1].result, None);
        assert_eq!(
            attached_results(&Transcript::parse(text, CountMode::Mixed)),
            1
        );
    }

    #[test]
    fn splicing_replaces_invented_results_and_inserts_missing_ones() {
        let text = "A\n```python RUN\nprint(2)\n```\n<execute_result>\nmade up\n</execute_result>\nB\n```python RUN\nprint(3)\n```";
        let blocks = executable_blocks(text);
        let out = splice_results(
            text,
            &blocks,
            &[
                R.to_owned(),
                "<execute_error>\nboom\n</execute_error>".to_owned(),
            ],
        );
        assert_eq!(
            out,
            "A\n```python RUN\nprint(2)\n```\n\n<execute_result>\n2\n</execute_result>\n\nB\n```python RUN\nprint(3)\n```\n\n<execute_error>\nboom\n</execute_error>\n"
        );
        assert!(!out.contains("made up"));
        // Splicing is stable: the spliced text has its results attached.
        assert_eq!(
            attached_results(&Transcript::parse(&out, CountMode::Mixed)),
            2
        );
    }

    #[test]
    fn blocks_without_a_result_entry_stay_as_they_are() {
        let text = "```python RUN\n1\n```\nmid\n```python RUN\n2\n```\nend";
        let blocks = executable_blocks(text);
        let out = splice_results(text, &blocks[..1], &[R.to_owned()]);
        assert!(out.ends_with("mid\n```python RUN\n2\n```\nend"), "{out}");
    }
}
