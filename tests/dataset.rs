//! Reading datasets: layouts, formats, detection, batching and error reporting.

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use moss_thinking::dataset::{
    Batch, DatasetError, Format, Layout, Record, RecordReader, detect, explain_undetected, records,
};
use proptest::prelude::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Everything a reader yields: the raw records with their lines, and the error that ended it.
struct Drained {
    records: Vec<(u64, String)>,
    batches: Vec<Vec<(u64, String)>>,
    error: Option<DatasetError>,
}

fn read_with<R: BufRead>(mut reader: RecordReader<R>, max_bytes: usize) -> Drained {
    let mut batch = Batch::new();
    let mut batches = Vec::new();
    let error = loop {
        match reader.fill(&mut batch, max_bytes) {
            Ok(true) => {
                assert!(!batch.is_empty(), "a successful fill holds a record");
                let raw_bytes: usize = batch.iter().map(|(_, raw)| raw.len()).sum();
                assert_eq!(batch.bytes(), raw_bytes);
                assert_eq!(batch.len(), batch.iter().count());
                batches.push(
                    batch
                        .iter()
                        .map(|(line, raw)| (line, String::from_utf8_lossy(raw).into_owned()))
                        .collect(),
                );
            }
            Ok(false) => {
                assert!(batch.is_empty());
                break None;
            }
            Err(error) => break Some(error),
        }
    };
    Drained {
        records: batches.iter().flatten().cloned().collect(),
        batches,
        error,
    }
}

fn read(input: &[u8], buffer: usize, max_bytes: usize) -> Drained {
    let reader = RecordReader::new(
        BufReader::with_capacity(buffer, input),
        PathBuf::from("mem.jsonl"),
    );
    read_with(reader, max_bytes)
}

fn lines(records: &[(u64, String)]) -> Vec<u64> {
    records.iter().map(|(line, _)| *line).collect()
}

fn decode(format: Format, value: &Value) -> Result<Record, String> {
    format.decode(value.to_string().as_bytes())
}

fn record(
    id: Option<&str>,
    system: Option<&str>,
    question: Option<&str>,
    answer: Option<&str>,
) -> Record {
    Record {
        id: id.map(str::to_owned),
        system: system.map(str::to_owned),
        question: question.map(str::to_owned),
        answer: answer.map(str::to_owned),
        tags: Vec::new(),
        interruptions: None,
    }
}

fn write_file(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, content).expect("write test file");
    path
}

// ---------------------------------------------------------------------------------------------
// Format names

#[test]
fn format_names_round_trip() {
    let names: Vec<String> = Format::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        ["sharegpt", "messages", "alpaca", "r1", "text", "questions"]
    );
    for format in Format::ALL {
        assert_eq!(format.to_string().parse::<Format>(), Ok(format));
    }
    assert_eq!("ShareGPT".parse::<Format>(), Ok(Format::Sharegpt));
    let error = "jsonl".parse::<Format>().expect_err("unknown name");
    assert!(error.to_string().contains("\"jsonl\""), "{error}");
    assert!(error.to_string().contains("sharegpt"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Decoding

#[test]
fn sharegpt_takes_the_last_answer_and_the_question_before_it() {
    let value = json!({
        "id": 42,
        "system": "你是一个助手。",
        "conversations": [
            {"from": "human", "value": "第一个问题"},
            {"from": "gpt", "value": "第一个回答"},
            {"from": "human", "value": "说 \"你好\"\n再见\\"},
            {"from": "function_call", "value": "{}"},
            {"from": "gpt", "value": "<think>\n想一想\n</think>\n\n你好"}
        ]
    });
    assert_eq!(
        decode(Format::Sharegpt, &value),
        Ok(record(
            Some("42"),
            Some("你是一个助手。"),
            Some("说 \"你好\"\n再见\\"),
            Some("<think>\n想一想\n</think>\n\n你好"),
        ))
    );
}

#[test]
fn sharegpt_accepts_system_turns_and_role_content_tags() {
    let value = json!({
        "conversations": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"}
        ]
    });
    assert_eq!(
        decode(Format::Sharegpt, &value),
        Ok(record(None, Some("be brief"), Some("hi"), Some("hello")))
    );
}

#[test]
fn sharegpt_shape_errors_name_the_problem() {
    let no_answer = json!({"conversations": [{"from": "human", "value": "hi"}]});
    assert_eq!(
        decode(Format::Sharegpt, &no_answer),
        Err("no assistant turn in \"conversations\"".to_owned())
    );
    let null_value = json!({"conversations": [
        {"from": "human", "value": "hi"}, {"from": "gpt", "value": null}
    ]});
    assert_eq!(
        decode(Format::Sharegpt, &null_value),
        Err("conversations[1]: field \"value\" is null, expected a string".to_owned())
    );
    let string_turn = json!({"conversations": ["hi"]});
    assert_eq!(
        decode(Format::Sharegpt, &string_turn),
        Err("conversations[0]: expected an object, found a string".to_owned())
    );
    assert_eq!(
        decode(Format::Sharegpt, &json!({"conversations": {}})),
        Err("field \"conversations\" is an object, expected an array".to_owned())
    );
    assert_eq!(
        decode(Format::Sharegpt, &json!({"messages": []})),
        Err("missing field \"conversations\"".to_owned())
    );
}

#[test]
fn messages_join_text_parts_and_skip_other_parts() {
    let value = json!({
        "id": "m-1",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "系统"}]},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "x.png"}},
                {"type": "text", "text": "这张图"},
                {"type": "text", "text": "是什么？"}
            ]},
            {"role": "assistant", "content": "一只猫。"}
        ]
    });
    assert_eq!(
        decode(Format::Messages, &value),
        Ok(record(
            Some("m-1"),
            Some("系统"),
            Some("这张图是什么？"),
            Some("一只猫。")
        ))
    );
}

#[test]
fn messages_wrap_separate_reasoning_in_think_tags() {
    let value = json!({"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": null, "tool_calls": []},
        {"role": "tool", "content": "42"},
        {"role": "assistant", "content": "a", "reasoning_content": "r"}
    ]});
    assert_eq!(
        decode(Format::Messages, &value),
        Ok(record(
            None,
            None,
            Some("q"),
            Some("<think>\nr\n</think>\n\na")
        ))
    );
}

#[test]
fn messages_shape_errors_name_the_problem() {
    let no_answer = json!({"messages": [{"role": "user", "content": "q"}]});
    assert_eq!(
        decode(Format::Messages, &no_answer),
        Err("no assistant turn in \"messages\"".to_owned())
    );
    let bad_part = json!({"messages": [{"role": "user", "content": [{"type": "text"}]}]});
    assert_eq!(
        decode(Format::Messages, &bad_part),
        Err("messages[0]: content part 0: missing field \"text\"".to_owned())
    );
    let no_role = json!({"messages": [{"content": "q"}]});
    assert_eq!(
        decode(Format::Messages, &no_role),
        Err("messages[0]: missing field \"role\"".to_owned())
    );
}

#[test]
fn alpaca_appends_a_non_empty_input_to_the_instruction() {
    let with_input =
        json!({"instruction": "翻译", "input": "hello", "output": "你好", "system": "s"});
    assert_eq!(
        decode(Format::Alpaca, &with_input),
        Ok(record(None, Some("s"), Some("翻译\n\nhello"), Some("你好")))
    );
    let empty_input = json!({"instruction": "i", "input": "", "output": "o", "id": -7});
    assert_eq!(
        decode(Format::Alpaca, &empty_input),
        Ok(record(Some("-7"), None, Some("i"), Some("o")))
    );
    assert_eq!(
        decode(
            Format::Alpaca,
            &json!({"instruction": "i", "input": null, "output": "o"})
        ),
        Ok(record(None, None, Some("i"), Some("o")))
    );
}

#[test]
fn alpaca_shape_errors_name_the_field() {
    assert_eq!(
        decode(Format::Alpaca, &json!({"instruction": "i"})),
        Err("missing field \"output\"".to_owned())
    );
    assert_eq!(
        decode(Format::Alpaca, &json!({"instruction": "i", "output": 3})),
        Err("field \"output\" is a number, expected a string".to_owned())
    );
    assert_eq!(
        decode(Format::Alpaca, &json!([1, 2])),
        Err("expected a JSON object, found an array".to_owned())
    );
}

#[test]
fn r1_reads_both_variants() {
    let sft = json!({
        "instruction": "1+1=?", "input": "",
        "output": "<think>\n简单\n</think>\n\n2",
        "repo_name": "ruozhiba", "prompt_tokens_len": 5, "score": 9
    });
    assert_eq!(
        decode(Format::R1, &sft),
        Ok(record(
            None,
            None,
            Some("1+1=?"),
            Some("<think>\n简单\n</think>\n\n2")
        ))
    );
    let split = json!({
        "input": "1+1=?", "reasoning_content": "简单", "content": "2",
        "repo_name": "ruozhiba", "score": 9
    });
    assert_eq!(
        decode(Format::R1, &split),
        Ok(record(
            None,
            None,
            Some("1+1=?"),
            Some("<think>\n简单\n</think>\n\n2")
        ))
    );
    assert_eq!(
        decode(Format::R1, &json!({"input": "q", "reasoning_content": "r"})),
        Err("missing field \"content\"".to_owned())
    );
    assert_eq!(
        decode(Format::R1, &json!({"input": "q"})),
        Err("missing field \"instruction\"".to_owned())
    );
}

#[test]
fn text_is_a_string_or_an_object_with_text() {
    assert_eq!(
        Format::Text.decode(br#""<think>\u6211</think>\n\nok""#),
        Ok(record(None, None, None, Some("<think>我</think>\n\nok")))
    );
    assert_eq!(
        decode(Format::Text, &json!({"id": 1, "text": "t"})),
        Ok(record(Some("1"), None, None, Some("t")))
    );
    assert_eq!(
        decode(Format::Text, &json!(5)),
        Err("expected a JSON string or an object with a \"text\" field, found a number".to_owned())
    );
}

#[test]
fn questions_have_no_answer() {
    let value = json!({"id": 3, "question": "为什么天是蓝的？", "tags": ["物理", 7, "zh"]});
    assert_eq!(
        decode(Format::Questions, &value),
        Ok(Record {
            tags: vec!["物理".to_owned(), "zh".to_owned()],
            ..record(Some("3"), None, Some("为什么天是蓝的？"), None)
        }),
        "string tags are kept, others dropped"
    );
    let one = json!({"question": "q", "tags": "solo"});
    assert_eq!(
        decode(Format::Questions, &one).map(|r| r.tags),
        Ok(vec!["solo".to_owned()])
    );
    let odd = json!({"question": "q", "tags": {"a": 1}});
    assert_eq!(
        decode(Format::Questions, &odd).map(|r| r.tags),
        Ok(Vec::new()),
        "tags of another shape are no tags, not a bad record"
    );
    assert_eq!(
        decode(Format::Questions, &json!({"id": "x"})),
        Err("missing field \"question\"".to_owned())
    );
}

#[test]
fn invalid_json_reports_the_column() {
    let raw = br#"{"instruction": "i", "output": "unterminated"#;
    assert_eq!(
        Format::Alpaca.decode(raw),
        Err(format!(
            "invalid JSON: EOF while parsing a string at column {}",
            raw.len()
        ))
    );
    assert_eq!(
        Format::Alpaca.decode(b"{\"output\": \"o\"} x"),
        Err("invalid JSON: trailing characters at column 17".to_owned())
    );
    assert_eq!(
        Format::Alpaca.decode(b"{\n\"output\": nul}"),
        Err("invalid JSON: expected ident at line 2 column 14 of the record".to_owned())
    );
    assert_eq!(Format::Alpaca.decode(b""), Err("empty record".to_owned()));
}

// ---------------------------------------------------------------------------------------------
// Detection

#[test]
fn detection_follows_the_telling_fields() {
    let cases = [
        (
            json!({"conversations": [], "messages": []}),
            Some(Format::Sharegpt),
        ),
        (
            json!({"messages": [], "output": "x"}),
            Some(Format::Messages),
        ),
        (
            json!({"input": "q", "reasoning_content": "r", "content": "c"}),
            Some(Format::R1),
        ),
        (
            json!({"instruction": "i", "output": "<think>x</think>y"}),
            Some(Format::R1),
        ),
        (
            json!({"instruction": "i", "output": "y", "repo_name": "z"}),
            Some(Format::R1),
        ),
        (
            json!({"instruction": "i", "input": "", "output": "y"}),
            Some(Format::Alpaca),
        ),
        (
            json!({"id": 1, "question": "q", "tags": []}),
            Some(Format::Questions),
        ),
        (json!({"text": "t"}), Some(Format::Text)),
        (json!("a transcript"), Some(Format::Text)),
        (json!({"content": "c"}), None),
        (json!(12), None),
    ];
    for (value, expected) in cases {
        assert_eq!(detect(value.to_string().as_bytes()), expected, "{value}");
    }
    assert_eq!(detect(b"{\"conversations\": [}"), None);
}

#[test]
fn undetected_records_are_explained() {
    assert!(explain_undetected(b"{\"a\": ").starts_with("invalid JSON: EOF"));
    assert_eq!(
        explain_undetected(b"[1]"),
        "expected a JSON object or string, found an array"
    );
    assert!(explain_undetected(b"{\"a\": 1}").starts_with("unrecognised record"));
}

// ---------------------------------------------------------------------------------------------
// JSONL

#[test]
fn jsonl_handles_bom_crlf_and_blank_lines() {
    let input = b"\xEF\xBB\xBF{\"a\":1}\r\n\r\n   \n{\"b\":2}\r\n\n{\"c\":3}";
    let read = read(input, 8, usize::MAX);
    assert!(read.error.is_none());
    assert_eq!(
        read.records,
        [
            (1, "{\"a\":1}".to_owned()),
            (4, "{\"b\":2}".to_owned()),
            (6, "{\"c\":3}".to_owned()),
        ]
    );
}

#[test]
fn long_lines_survive_a_small_read_buffer() {
    let long = "长".repeat(100_000);
    let input = format!("{}\n{}\n", json!({"text": long}), json!({"text": "short"}));
    let read = read(input.as_bytes(), 4096, 1);
    assert_eq!(read.batches.len(), 2);
    assert_eq!(
        Format::Text.decode(read.records[0].1.as_bytes()),
        Ok(record(None, None, None, Some(&long)))
    );
    assert_eq!(lines(&read.records), [1, 2]);
}

#[test]
fn a_malformed_line_is_reported_at_its_line_and_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(
        &dir,
        "data.jsonl",
        "{\"instruction\":\"a\",\"output\":\"1\"}\n\n{\"instruction\":\"b\",\"output\":\"2\n\
         {\"instruction\":\"c\",\"output\":\"3\"}\n"
            .as_bytes(),
    );
    let items: Vec<_> = records(&path, None)
        .expect("open")
        .collect::<Result<_, _>>()
        .expect("no fatal error");
    assert_eq!(items.len(), 3);
    assert_eq!(items[0], Ok((1, record(None, None, Some("a"), Some("1")))));
    let bad = items[1].clone().expect_err("line 3 is cut short");
    assert_eq!(bad.line, 3);
    assert_eq!(
        bad.to_string(),
        format!(
            "{}:3: invalid JSON: EOF while parsing a string at column 30",
            path.display()
        )
    );
    assert_eq!(items[2], Ok((4, record(None, None, Some("c"), Some("3")))));
}

#[test]
fn records_detect_the_format_from_the_first_recognisable_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(
        &dir,
        "q.jsonl",
        b"{\"note\": 1}\n{\"id\": 1, \"question\": \"q1\"}\n{\"id\": 2, \"output\": \"x\"}\n",
    );
    let mut records = records(&path, None).expect("open");
    assert_eq!(records.format(), None);
    let first = records.next().expect("item").expect("not fatal");
    assert!(
        first
            .expect_err("undetectable")
            .reason
            .starts_with("unrecognised record")
    );
    let second = records.next().expect("item").expect("not fatal");
    assert_eq!(second, Ok((2, record(Some("1"), None, Some("q1"), None))));
    assert_eq!(records.format(), Some(Format::Questions));
    let third = records.next().expect("item").expect("not fatal");
    assert_eq!(
        third.expect_err("no question").reason,
        "missing field \"question\""
    );
    assert!(records.next().is_none());
}

// ---------------------------------------------------------------------------------------------
// JSON arrays

#[test]
fn pretty_array_elements_start_at_their_own_line() {
    let input = br#"
[
  {
    "instruction": "a, [b]",
    "output": "}{"
  },
  {"instruction": "c", "output": "d"},

  {
    "instruction":
      "e"
  }
]
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(&dir, "data.json", input);
    let reader = RecordReader::open(&path).expect("open");
    assert_eq!(reader.layout(), Layout::JsonArray);
    let read = read_with(reader, 1);
    assert!(read.error.is_none());
    assert_eq!(lines(&read.records), [3, 7, 9]);
    let decoded: Vec<_> = read
        .records
        .iter()
        .map(|(_, raw)| Format::Alpaca.decode(raw.as_bytes()))
        .collect();
    assert_eq!(
        decoded[0],
        Ok(record(None, None, Some("a, [b]"), Some("}{")))
    );
    assert_eq!(decoded[1], Ok(record(None, None, Some("c"), Some("d"))));
    assert_eq!(decoded[2], Err("missing field \"output\"".to_owned()));
}

#[test]
fn a_malformed_array_element_is_skipped() {
    // Line 6 holds a raw newline inside a string: invalid JSON, but it still starts a line.
    let input = b"[\n{\"text\": \"a\"},\n{\"text\": nope},\n{\"text\": [1}, \n\"b\",\n\
                  {\"text\": \"raw\nnewline\"},\n\"c\"\n]";
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(&dir, "data.json", input);
    let items: Vec<_> = records(&path, Some(Format::Text))
        .expect("open")
        .collect::<Result<_, _>>()
        .expect("no fatal error");
    let summary: Vec<(u64, bool)> = items
        .iter()
        .map(|item| match item {
            Ok((line, _)) => (*line, true),
            Err(bad) => (bad.line, false),
        })
        .collect();
    assert_eq!(
        summary,
        [
            (2, true),
            (3, false),
            (4, false),
            (5, true),
            (6, false),
            (8, true)
        ]
    );
    assert_eq!(items[3], Ok((5, record(None, None, None, Some("b")))));
}

#[test]
fn an_unterminated_array_is_fatal_after_the_good_records() {
    let input = b"[\n{\"text\": \"a\"},\n{\"text\": \"b\"},\n{\"text\": \"c\n";
    let read = read(input, 4, usize::MAX);
    assert_eq!(lines(&read.records), [2, 3]);
    match read.error {
        Some(DatasetError::Syntax { path, line, reason }) => {
            assert_eq!(path, Path::new("mem.jsonl"));
            assert_eq!(line, 4);
            assert!(reason.starts_with("unterminated JSON array"), "{reason}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }

    let read = read_input_ending_between_elements();
    assert_eq!(lines(&read.records), [2]);
    let error = read.error.expect("unterminated");
    assert_eq!(
        error.to_string(),
        "mem.jsonl:2: unterminated JSON array: the file ends before its closing ']' \
         (the array opens at line 1)"
    );
}

fn read_input_ending_between_elements() -> Drained {
    read(b"[\n{\"text\": \"a\"},\n\n", 64, usize::MAX)
}

#[test]
fn layout_is_known_after_open_or_first_fill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let array = write_file(&dir, "a.json", b"\xEF\xBB\xBF \n\t[]");
    assert_eq!(
        RecordReader::open(&array).expect("open").layout(),
        Layout::JsonArray
    );
    let lines_file = write_file(&dir, "b.jsonl", b"\n{}\n");
    assert_eq!(
        RecordReader::open(&lines_file).expect("open").layout(),
        Layout::Jsonl
    );

    let mut reader = RecordReader::new(&b"  [\"x\"]"[..], PathBuf::from("mem"));
    let mut batch = Batch::new();
    assert!(reader.fill(&mut batch, usize::MAX).expect("fill"));
    assert_eq!(reader.layout(), Layout::JsonArray);
    assert_eq!(batch.get(0), Some((1, &b"\"x\""[..])));
    assert!(!reader.fill(&mut batch, usize::MAX).expect("fill"));
}

// ---------------------------------------------------------------------------------------------
// Batching and memory

#[test]
fn batches_stop_at_max_bytes_without_splitting_records() {
    let input: String = (0..200)
        .map(|i| json!({"text": "x".repeat(i % 37)}).to_string() + "\n")
        .collect();
    let whole = read(input.as_bytes(), 1 << 20, usize::MAX);
    assert_eq!(whole.batches.len(), 1);
    assert_eq!(whole.records.len(), 200);
    for max_bytes in [0, 1, 50, 333, 4096] {
        let read = read(input.as_bytes(), 64, max_bytes);
        assert_eq!(read.records, whole.records, "max_bytes {max_bytes}");
        for batch in &read.batches {
            let sizes: Vec<usize> = batch.iter().map(|(_, raw)| raw.len()).collect();
            let before_last: usize = sizes[..sizes.len() - 1].iter().sum();
            assert!(
                before_last < max_bytes || sizes.len() == 1,
                "overfull batch"
            );
        }
        let (last, full) = read.batches.split_last().expect("batches");
        for batch in full {
            assert!(batch.iter().map(|(_, raw)| raw.len()).sum::<usize>() >= max_bytes);
        }
        assert!(!last.is_empty());
    }
}

#[test]
fn a_big_file_streams_in_bounded_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.jsonl");
    let line = format!(
        "{}\n",
        json!({"instruction": "问", "output": "答".repeat(2000)})
    );
    let count = 4_000;
    fs::write(&path, line.repeat(count)).expect("write");
    let mut reader = RecordReader::open(&path).expect("open");
    let mut batch = Batch::new();
    let max_bytes = 64 * 1024;
    let (mut records, mut batches) = (0, 0);
    while reader.fill(&mut batch, max_bytes).expect("fill") {
        assert!(batch.bytes() < max_bytes + line.len());
        records += batch.len();
        batches += 1;
    }
    assert_eq!(records, count);
    assert!(batches > 300, "{batches} batches");
}

// ---------------------------------------------------------------------------------------------
// IO errors

#[test]
fn a_missing_file_names_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("absent.jsonl");
    let error = records(&path, None).expect_err("missing file");
    assert!(matches!(&error, DatasetError::Io { path: p, .. } if *p == path));
    assert!(error.to_string().starts_with(&path.display().to_string()));
}

/// Yields its data, then fails instead of reporting the end.
struct FailingAfter<'a>(&'a [u8]);

impl Read for FailingAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn a_read_error_comes_after_the_complete_records() {
    let data = b"{\"text\":\"a\"}\n{\"text\":\"b\"}\n{\"text\":";
    let reader = RecordReader::new(
        BufReader::with_capacity(5, FailingAfter(data)),
        PathBuf::from("flaky.jsonl"),
    );
    let read = read_with(reader, usize::MAX);
    assert_eq!(lines(&read.records), [1, 2]);
    let error = read.error.expect("read error");
    assert!(matches!(error, DatasetError::Io { .. }));
    assert_eq!(error.to_string(), "flaky.jsonl: disk on fire");
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Strings full of the characters a splitter could trip over.
fn tricky_string() -> impl Strategy<Value = String> {
    let chars = prop::sample::select(vec![
        'a', ' ', '"', '\\', '[', ']', '{', '}', ',', '\n', '\r', '\t', '中', '/', '\u{1}',
    ]);
    prop::collection::vec(chars, 0..12).prop_map(String::from_iter)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        tricky_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(tricky_string(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A pretty-printed JSON array, written by hand so each element's starting line is known.
fn pretty_array(values: &[Value]) -> (String, Vec<u64>) {
    let mut text = String::from("[\n");
    let mut starts = Vec::new();
    let mut line = 2;
    for (index, value) in values.iter().enumerate() {
        let pretty = serde_json::to_string_pretty(value).expect("serialize");
        starts.push(line);
        line += pretty.matches('\n').count() as u64 + 1;
        text.push_str(&pretty);
        text.push_str(if index + 1 == values.len() {
            "\n"
        } else {
            ",\n"
        });
    }
    text.push(']');
    (text, starts)
}

fn parsed(records: &[(u64, String)]) -> Vec<Value> {
    records
        .iter()
        .map(|(_, raw)| serde_json::from_str(raw).expect("each raw record is one JSON value"))
        .collect()
}

/// A JSONL record: anything but an array, since a leading `[` means a JSON array file.
fn jsonl_record() -> impl Strategy<Value = Value> {
    json_value().prop_map(|value| match value {
        Value::Array(_) => json!({ "array": value }),
        other => other,
    })
}

proptest! {
    #[test]
    fn array_splitting_matches_serde_json(
        values in prop::collection::vec(json_value(), 0..8),
        buffer in 1usize..64,
        max_bytes in 0usize..256,
    ) {
        let (pretty, starts) = pretty_array(&values);
        let whole: Vec<Value> = serde_json::from_str(&pretty).expect("valid array");
        let read_pretty = read(pretty.as_bytes(), buffer, max_bytes);
        prop_assert!(read_pretty.error.is_none());
        prop_assert_eq!(parsed(&read_pretty.records), whole.clone());
        prop_assert_eq!(lines(&read_pretty.records), starts);

        let compact = serde_json::to_string(&values).expect("serialize");
        let read_compact = read(compact.as_bytes(), buffer, max_bytes);
        prop_assert!(read_compact.error.is_none());
        prop_assert_eq!(parsed(&read_compact.records), whole);
    }

    #[test]
    fn jsonl_reading_matches_serde_json(
        values in prop::collection::vec(jsonl_record(), 0..8),
        blank in prop::collection::vec(any::<bool>(), 8),
        crlf in any::<bool>(),
        buffer in 1usize..64,
        max_bytes in 0usize..256,
    ) {
        let newline = if crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        let mut starts = Vec::new();
        let mut line = 1;
        for (value, blank) in values.iter().zip(&blank) {
            if *blank {
                text.push_str(newline);
                line += 1;
            }
            starts.push(line);
            text.push_str(&value.to_string());
            text.push_str(newline);
            line += 1;
        }
        let read = read(text.as_bytes(), buffer, max_bytes);
        prop_assert!(read.error.is_none());
        prop_assert_eq!(parsed(&read.records), values);
        prop_assert_eq!(lines(&read.records), starts);
    }

    #[test]
    fn alpaca_strings_survive_decoding(
        instruction in tricky_string(),
        input in tricky_string(),
        output in tricky_string(),
    ) {
        let raw = json!({"instruction": instruction, "input": input, "output": output});
        let question = if input.trim().is_empty() {
            instruction.clone()
        } else {
            format!("{instruction}\n\n{input}")
        };
        prop_assert_eq!(
            Format::Alpaca.decode(raw.to_string().as_bytes()),
            Ok(record(None, None, Some(&question), Some(&output)))
        );
    }
}
