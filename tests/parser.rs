//! The transcript grammar, and the proof that chunking never changes the segments.

use moss_thinking::transcript::{
    AnomalyKind, CountMode, SegmentKind, StreamParser, Tag, Transcript, count_words,
};
use proptest::prelude::*;

fn parse(text: &str) -> Transcript {
    Transcript::parse(text, CountMode::Mixed)
}

fn parse_chunks(chunks: &[&str]) -> Transcript {
    let mut t = Transcript::new(CountMode::Mixed);
    let mut p = StreamParser::new();
    for chunk in chunks {
        for e in p.push(chunk) {
            t.apply(e);
        }
    }
    for e in p.finish() {
        t.apply(e);
    }
    t
}

/// (kind, text) of each segment.
fn shape(t: &Transcript) -> Vec<(SegmentKind, &str)> {
    t.iter().map(|(s, text)| (s.kind, text)).collect()
}

#[test]
fn answer_think_answer() {
    let t = parse("2。<think>用户可能还要问</think>还需要别的吗？");
    assert_eq!(
        shape(&t),
        [
            (SegmentKind::Answer, "2。"),
            (SegmentKind::Think, "用户可能还要问"),
            (SegmentKind::Answer, "还需要别的吗？"),
        ]
    );
    assert_eq!(t.segments[1].words, 7);
    assert!(t.segments.iter().all(|s| s.closed));
    assert!(t.anomalies.is_empty());
    assert_eq!(
        t.segments[1].span,
        "2。".len().."2。<think>用户可能还要问</think>".len()
    );
}

#[test]
fn executable_fence_and_its_result() {
    let text = "Let me compute.\n```python RUN\nprint(2**100)\n```\n<execute_result>\n1267650600228229401496703205376\n</execute_result>\nThat is it.";
    let t = parse(text);
    assert_eq!(
        shape(&t),
        [
            (SegmentKind::Answer, "Let me compute.\n"),
            (SegmentKind::Code, "print(2**100)\n"),
            (
                SegmentKind::ExecResult,
                "\n1267650600228229401496703205376\n"
            ),
            (SegmentKind::Answer, "\nThat is it."),
        ]
    );
    let fence = t.segments[1].fence.as_ref().expect("code has a fence");
    assert!(fence.executable);
    assert_eq!(fence.info, "python RUN");
    assert_eq!(fence.ticks, 3);
    assert_eq!(
        &text[t.segments[1].span.clone()],
        "```python RUN\nprint(2**100)\n```\n"
    );
}

#[test]
fn info_strings_decide_what_runs() {
    for (info, runs) in [
        ("python RUN", true),
        ("python3 run", true),
        ("py Run", true),
        ("PYTHON RUN", true),
        ("python", false),
        ("python RUN now", false),
        ("bash RUN", false),
        ("", false),
    ] {
        let t = parse(&format!("x\n```{info}\ncode\n```\n"));
        let code = t
            .segments
            .iter()
            .find(|s| s.kind == SegmentKind::Code)
            .unwrap_or_else(|| panic!("no code for {info:?}"));
        assert_eq!(code.is_executable(), runs, "{info:?}");
    }
}

#[test]
fn tags_are_literal_inside_fences_and_thinks() {
    let t = parse(
        "a\n```text\n<think>not a think</think>\n```\n<think>```python RUN\n<execute_result>x</think>b",
    );
    assert_eq!(
        shape(&t),
        [
            (SegmentKind::Answer, "a\n"),
            (SegmentKind::Code, "<think>not a think</think>\n"),
            (SegmentKind::Think, "```python RUN\n<execute_result>x"),
            (SegmentKind::Answer, "b"),
        ]
    );
    assert!(t.anomalies.is_empty());
}

#[test]
fn fences_open_only_at_line_start_with_at_most_three_spaces() {
    let t = parse(
        "inline ```python RUN\nx\n    ```py RUN\nstill text\n   ```py RUN\ncode\n   ```  \nafter",
    );
    assert_eq!(
        shape(&t),
        [
            (
                SegmentKind::Answer,
                "inline ```python RUN\nx\n    ```py RUN\nstill text\n"
            ),
            (SegmentKind::Code, "code\n"),
            (SegmentKind::Answer, "after"),
        ]
    );
}

#[test]
fn a_fence_closes_only_with_enough_backticks() {
    let t = parse("````md\n```\ninner\n```\n````\nend");
    assert_eq!(
        shape(&t),
        [
            (SegmentKind::Code, "```\ninner\n```\n"),
            (SegmentKind::Answer, "end"),
        ]
    );
}

#[test]
fn only_a_bare_backtick_line_closes_a_fence() {
    let t = parse("```py\n``` not a close\n    ```\n```x\nbody\n```\nafter");
    assert_eq!(
        shape(&t),
        [
            (SegmentKind::Code, "``` not a close\n    ```\n```x\nbody\n"),
            (SegmentKind::Answer, "after"),
        ]
    );
    assert!(t.anomalies.is_empty());
}

#[test]
fn backtick_in_info_string_is_no_fence_and_tags_on_that_line_still_count() {
    let t = parse("```a`b <think>t</think>\nrest");
    assert_eq!(
        shape(&t),
        [
            (SegmentKind::Answer, "```a`b "),
            (SegmentKind::Think, "t"),
            (SegmentKind::Answer, "\nrest"),
        ]
    );
}

#[test]
fn crlf_lines_close_fences() {
    let t = parse("x\r\n```python RUN\r\nprint(1)\r\n```\r\ny");
    assert_eq!(
        shape(&t),
        [
            (SegmentKind::Answer, "x\r\n"),
            (SegmentKind::Code, "print(1)\r\n"),
            (SegmentKind::Answer, "y"),
        ]
    );
    assert_eq!(
        t.segments[1].fence.as_ref().map(|f| f.executable),
        Some(true)
    );
}

#[test]
fn structure_faults_are_reported_not_guessed() {
    let t = parse("a</think>b<think>c<think>d</think></execute_error>\n```py\nopen");
    let kinds: Vec<_> = t.anomalies.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            AnomalyKind::StrayClose(Tag::ThinkClose),
            AnomalyKind::NestedThink,
            AnomalyKind::StrayClose(Tag::ErrorClose),
            AnomalyKind::Unclosed(SegmentKind::Code),
        ]
    );
    assert_eq!(t.anomalies[0].offset, 1);
    let code = t.segments.last().expect("segments");
    assert_eq!(code.kind, SegmentKind::Code);
    assert!(!code.closed);

    let t = parse("ok<think>never closed");
    assert_eq!(
        t.anomalies[0].kind,
        AnomalyKind::Unclosed(SegmentKind::Think)
    );
    assert!(!t.segments[1].closed);
    assert_eq!(t.text(&t.segments[1]), "never closed");

    let t = parse("ok\n<execute_result>\n42");
    assert_eq!(
        t.anomalies[0].kind,
        AnomalyKind::Unclosed(SegmentKind::ExecResult)
    );
}

#[test]
fn partial_tags_at_the_end_are_text() {
    let t = parse("answer <thi");
    assert_eq!(shape(&t), [(SegmentKind::Answer, "answer <thi")]);
    let t = parse("x<think>y</th");
    assert_eq!(t.text(&t.segments[1]), "y</th");
    assert!(!t.segments[1].closed);
}

#[test]
fn a_fence_line_cut_off_by_the_end_is_an_unclosed_block() {
    let t = parse("text\n```python RUN");
    assert_eq!(t.segments[1].kind, SegmentKind::Code);
    assert!(t.segments[1].is_executable());
    assert_eq!(
        t.anomalies[0].kind,
        AnomalyKind::Unclosed(SegmentKind::Code)
    );
    // A closing line at the very end closes.
    let t = parse("```\ncode\n```");
    assert!(t.segments[0].closed && t.anomalies.is_empty());
}

#[test]
fn streaming_reports_text_as_it_arrives() {
    let mut p = StreamParser::new();
    let first: Vec<_> = p.push("Hello <think>wh").collect();
    // "Hello " is answer, the think has started and its first text is out already.
    assert!(first.iter().any(|e| matches!(e,
        moss_thinking::transcript::SegmentEvent::Text { index: 1, text } if text == "wh")));
    let held: Vec<_> = p.push("y</thi").collect();
    assert!(held.iter().any(|e| matches!(e,
        moss_thinking::transcript::SegmentEvent::Text { index: 1, text } if text == "y")));
    assert!(
        !held
            .iter()
            .any(|e| matches!(e, moss_thinking::transcript::SegmentEvent::Ended { .. }))
    );
}

#[test]
fn live_words_count_the_run_being_written() {
    let mut t = Transcript::new(CountMode::Mixed);
    let mut p = StreamParser::new();
    for e in p.push("one two thr") {
        t.apply(e);
    }
    assert_eq!(t.segments[0].words, 2);
    assert_eq!(t.live_words(0), 3);
}

// ---- chunking invariance ----

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z]{1,8}",
        3 => "[你好世界思考回答代码执行结果。，！？]{1,6}",
        1 => "[カタナひらが한국어]{1,4}",
        1 => Just("🎉".to_owned()),
        1 => Just("👍🏽".to_owned()),
        3 => Just(" ".to_owned()),
        4 => Just("\n".to_owned()),
        1 => Just("\r\n".to_owned()),
        1 => Just("   ".to_owned()),
        2 => Just("<think>".to_owned()),
        2 => Just("</think>".to_owned()),
        1 => Just("<execute_result>".to_owned()),
        1 => Just("</execute_result>".to_owned()),
        1 => Just("<execute_error>".to_owned()),
        1 => Just("</execute_error>".to_owned()),
        1 => Just("<thi".to_owned()),
        1 => Just("</th".to_owned()),
        1 => Just("<execute_".to_owned()),
        1 => Just("<br />".to_owned()),
        1 => Just("<a href=\"x y\">".to_owned()),
        1 => Just("<p class=".to_owned()),
        1 => Just("1️⃣".to_owned()),
        2 => Just("<".to_owned()),
        1 => Just("<<".to_owned()),
        1 => Just(">".to_owned()),
        2 => Just("`".to_owned()),
        1 => Just("``".to_owned()),
        3 => Just("```".to_owned()),
        1 => Just("````".to_owned()),
        2 => Just("```python RUN\n".to_owned()),
        1 => Just("```py run\n".to_owned()),
        1 => Just("```bash\n".to_owned()),
        2 => Just("\n```\n".to_owned()),
        1 => Just("\n   ```   \n".to_owned()),
        1 => Just("\n    ```\n".to_owned()),
    ]
}

fn transcript_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(token(), 0..60).prop_map(|t| t.concat())
}

/// Splits `text` at the given cut points, moved down to char boundaries.
fn split_at<'a>(text: &'a str, cuts: &[usize]) -> Vec<&'a str> {
    let mut bounds: Vec<usize> = cuts
        .iter()
        .map(|&c| {
            let mut c = c % (text.len() + 1);
            while !text.is_char_boundary(c) {
                c -= 1;
            }
            c
        })
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut chunks = Vec::new();
    let mut last = 0;
    for b in bounds.into_iter().chain([text.len()]) {
        chunks.push(&text[last..b]);
        last = b;
    }
    chunks
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_split_yields_the_same_segments(
        text in transcript_text(),
        cuts in proptest::collection::vec(0usize..10_000, 0..24),
    ) {
        let whole = parse(&text);
        let chunked = parse_chunks(&split_at(&text, &cuts));
        prop_assert_eq!(&chunked.segments, &whole.segments);
        prop_assert_eq!(chunked.content(), whole.content());
        prop_assert_eq!(&chunked.anomalies, &whole.anomalies);
    }

    #[test]
    fn char_by_char_yields_the_same_segments(text in transcript_text()) {
        let whole = parse(&text);
        let chars: Vec<String> = text.chars().map(String::from).collect();
        let refs: Vec<&str> = chars.iter().map(String::as_str).collect();
        let chunked = parse_chunks(&refs);
        prop_assert_eq!(&chunked.segments, &whole.segments);
        prop_assert_eq!(chunked.content(), whole.content());
        prop_assert_eq!(&chunked.anomalies, &whole.anomalies);
    }

    #[test]
    fn segments_tile_the_text_and_keep_every_byte(text in transcript_text()) {
        let t = parse(&text);
        let mut at = 0;
        for (s, body) in t.iter() {
            prop_assert_eq!(s.span.start, at);
            prop_assert!(s.span.end >= s.span.start);
            let raw = &text[s.span.clone()];
            prop_assert!(raw.contains(body));
            if s.kind == SegmentKind::Answer {
                prop_assert_eq!(raw, body);
            }
            prop_assert_eq!(s.words, count_words(body, CountMode::Mixed));
            prop_assert_eq!(s.blank, body.trim().is_empty());
            at = s.span.end;
        }
        prop_assert_eq!(at, text.len());
        // Consecutive answers are always merged.
        for pair in t.segments.windows(2) {
            prop_assert!(!(pair[0].kind == SegmentKind::Answer && pair[1].kind == SegmentKind::Answer));
        }
    }
}
