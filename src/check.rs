//! `moss check`: lint existing datasets for think-while-speaking compliance.
//!
//! One reader thread per file cuts raw records into batches; worker threads decode, parse and
//! judge them, each reusing its own [`Transcript`]; results come back tagged with their batch
//! number and are put in file order before anything is printed. Memory is bounded by the
//! number of batches in flight, never by the file.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::dataset::{BadRecord, Batch, DatasetError, Format, RecordReader, explain_undetected};
use crate::transcript::rules::Rules;
use crate::transcript::{
    Outcome, RuleContext, RuleId, RuleResult, SegmentKind, StreamParser, Transcript,
};

/// Bytes of raw records per batch: large enough to keep workers busy, small enough that a few
/// batches in flight stay within a few megabytes.
const BATCH_BYTES: usize = 1 << 20;
/// Batches queued for workers beyond those being worked on.
const QUEUED_BATCHES: usize = 2;
/// The path that means standard input, and its name in messages.
pub const STDIN_PATH: &str = "-";
const STDIN_NAME: &str = "<stdin>";
const STDIN_BUFFER: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Record format; detected per file from its first recognisable record when `None`.
    pub format: Option<Format>,
    /// Bad records end the check instead of being skipped.
    pub strict: bool,
    /// Write one JSON object per checked record.
    pub json: bool,
    /// Failing examples kept for the summary.
    pub max_failures: usize,
    /// Worker threads.
    pub threads: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            format: None,
            strict: false,
            json: false,
            max_failures: 10,
            threads: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("{}:{line}: cannot tell the record format ({reason}); name it with --format", path.display())]
    UnknownFormat {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    /// A bad record under `--strict`.
    #[error("{0} (--strict stops at the first bad record)")]
    Strict(BadRecord),
    #[error("{}: holds {format} records, which have no answer to check", path.display())]
    NothingToCheck { path: PathBuf, format: Format },
    #[error("cannot write the report: {0}")]
    Output(#[source] io::Error),
    /// A bug: moss lost track of a batch of records.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A check that stopped early, with what it had found until then.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct CheckFailure {
    #[source]
    pub error: CheckError,
    pub report: Box<CheckReport>,
}

/// Pass / fail / skip counts of one rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub pass: u64,
    pub fail: u64,
    pub skip: u64,
}

impl Tally {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Pass => self.pass += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Skip => self.skip += 1,
        }
    }

    /// Passes among the records the rule applied to; `None` when it applied to none.
    #[must_use]
    pub fn pass_rate(&self) -> Option<f64> {
        let judged = self.pass + self.fail;
        #[allow(clippy::cast_precision_loss)] // counts stay far below 2^52
        (judged > 0).then(|| self.pass as f64 / judged as f64)
    }
}

/// One failing rule of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub path: PathBuf,
    pub line: u64,
    pub rule: RuleId,
    pub message: String,
}

/// What a check found.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    pub files: usize,
    /// Records checked (decoded and judged).
    pub records: u64,
    /// Bad records skipped.
    pub skipped: u64,
    pub bytes: u64,
    pub rules: Vec<(RuleId, Tally)>,
    /// The first failing examples, in file order.
    pub failures: Vec<Failure>,
    /// All rule failures, shown or not.
    pub failure_count: u64,
    pub elapsed: Duration,
}

impl CheckReport {
    #[must_use]
    pub fn any_failure(&self) -> bool {
        self.failure_count > 0
    }

    fn tally(&mut self, rule: RuleId) -> &mut Tally {
        let at = match self.rules.iter().position(|(id, _)| *id == rule) {
            Some(at) => at,
            None => {
                self.rules.push((rule, Tally::default()));
                self.rules.len() - 1
            }
        };
        &mut self.rules[at].1
    }

    /// The human summary: counts, the per-rule table, failing examples.
    ///
    /// # Errors
    /// When `out` cannot be written.
    pub fn write_summary(&self, out: &mut impl Write) -> io::Result<()> {
        let plural =
            |n: u64, one: &'static str, many: &'static str| if n == 1 { one } else { many };
        write!(
            out,
            "checked {} {} in {} {}",
            self.records,
            plural(self.records, "record", "records"),
            self.files,
            plural(self.files as u64, "file", "files"),
        )?;
        if self.skipped > 0 {
            write!(
                out,
                ", {} bad {} skipped",
                self.skipped,
                plural(self.skipped, "record", "records")
            )?;
        }
        writeln!(out)?;
        if self.rules.is_empty() {
            return Ok(());
        }
        writeln!(out)?;
        writeln!(
            out,
            "{:<22} {:>8} {:>8} {:>8} {:>10}",
            "rule", "pass", "fail", "skip", "pass rate"
        )?;
        for (id, t) in &self.rules {
            let rate = t
                .pass_rate()
                .map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0));
            writeln!(
                out,
                "{:<22} {:>8} {:>8} {:>8} {:>10}",
                id.as_str(),
                t.pass,
                t.fail,
                t.skip,
                rate
            )?;
        }
        if !self.failures.is_empty() {
            writeln!(out)?;
            writeln!(
                out,
                "failures (first {} of {}):",
                self.failures.len(),
                self.failure_count
            )?;
            for f in &self.failures {
                writeln!(
                    out,
                    "  {}:{}  {}  {}",
                    f.path.display(),
                    f.line,
                    f.rule,
                    f.message
                )?;
            }
        }
        Ok(())
    }
}

/// Checks `paths` in order, writing JSON records (with `json`) to `out` and bad-record notes to
/// `notes` as they come.
///
/// Every file is opened once before any is checked, so a missing file fails at once rather
/// than after hours spent on the ones before it.
///
/// # Errors
/// An unreadable or structurally broken file, a file whose format cannot be told, a bad record
/// under `strict`, or output that cannot be written; the failure carries the report so far.
pub fn check_files(
    paths: &[PathBuf],
    rules: &Rules,
    options: &CheckOptions,
    out: &mut impl Write,
    notes: &mut impl Write,
) -> Result<CheckReport, CheckFailure> {
    let started = Instant::now();
    let mut report = CheckReport::default();
    for id in rules.enabled() {
        report.tally(id);
    }
    let mut run = || -> Result<(), CheckError> {
        for path in paths
            .iter()
            .filter(|p| p.as_path() != Path::new(STDIN_PATH))
        {
            RecordReader::open(path)?;
        }
        for path in paths {
            report.files += 1;
            check_file(path, rules, options, &mut report, out, notes)?;
        }
        out.flush().map_err(CheckError::Output)
    };
    let result = run();
    report.elapsed = started.elapsed();
    match result {
        Ok(()) => Ok(report),
        Err(error) => Err(CheckFailure {
            error,
            report: Box::new(report),
        }),
    }
}

/// What a worker makes of one raw record.
enum Checked {
    Good {
        line: u64,
        /// The rule outcomes, in `Rules::enabled` order.
        outcomes: Vec<Outcome>,
        /// Messages of failing rules.
        failures: Vec<(RuleId, String)>,
        /// The record's JSON line, with `--json`.
        json: Option<String>,
    },
    Bad {
        line: u64,
        reason: String,
    },
}

struct Work {
    seq: u64,
    batch: Batch,
}

struct Done {
    seq: u64,
    records: Vec<Checked>,
    /// The batch, handed back for reuse.
    batch: Batch,
}

/// `-` reads standard input, named `<stdin>` in messages.
fn check_file(
    path: &Path,
    rules: &Rules,
    options: &CheckOptions,
    report: &mut CheckReport,
    out: &mut impl Write,
    notes: &mut impl Write,
) -> Result<(), CheckError> {
    if path == Path::new(STDIN_PATH) {
        let stdin = io::BufReader::with_capacity(STDIN_BUFFER, io::stdin());
        let reader = RecordReader::new(stdin, PathBuf::from(STDIN_NAME));
        return check_reader(reader, rules, options, report, out, notes);
    }
    check_reader(
        RecordReader::open(path)?,
        rules,
        options,
        report,
        out,
        notes,
    )
}

fn check_reader<R: io::BufRead + Send>(
    mut reader: RecordReader<R>,
    rules: &Rules,
    options: &CheckOptions,
    report: &mut CheckReport,
    out: &mut impl Write,
    notes: &mut impl Write,
) -> Result<(), CheckError> {
    let path = reader.path().to_owned();
    let path = path.as_path();
    let mut first = Batch::new();
    if !reader.fill(&mut first, BATCH_BYTES)? {
        return Ok(());
    }
    let Some(format) = options.format.or_else(|| first.detect_format()) else {
        let (line, reason) = first.get(0).map_or_else(
            || (1, "no records".to_owned()),
            |(line, raw)| (line, explain_undetected(raw)),
        );
        return Err(CheckError::UnknownFormat {
            path: path.to_owned(),
            line,
            reason,
        });
    };
    if format == Format::Questions {
        return Err(CheckError::NothingToCheck {
            path: path.to_owned(),
            format,
        });
    }
    let display = path.display().to_string();
    let threads = options.threads.max(1);
    // Every batch is one of these few: the reader waits for one to come back rather than make
    // another, so a slow record holds the others back instead of letting memory grow.
    let max_batches = threads + QUEUED_BATCHES + 2;
    let (work_tx, work_rx) = sync_channel::<Work>(QUEUED_BATCHES);
    let (done_tx, done_rx) = sync_channel::<Done>(threads + QUEUED_BATCHES);
    let (spare_tx, spare_rx) = sync_channel::<Batch>(max_batches);
    let work_rx = Arc::new(Mutex::new(work_rx));

    std::thread::scope(|scope| -> Result<(), CheckError> {
        let reader_handle =
            scope.spawn(move || read_batches(&mut reader, first, max_batches, &work_tx, &spare_rx));
        for _ in 0..threads {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            let display = display.as_str();
            scope.spawn(move || work(&work_rx, &done_tx, format, rules, options.json, display));
        }
        // Only the workers hold these now, so the channels close when they are done.
        drop(done_tx);
        drop(work_rx);
        let collected = collect(path, &done_rx, &spare_tx, options, report, out, notes);
        // Stop the reader and workers if collecting ended early: dropping the receivers makes
        // their sends fail.
        drop(done_rx);
        drop(spare_tx);
        let read = reader_handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        collected?;
        read.map_err(CheckError::from)
    })
}

/// Reader thread: fills batches until the file ends, making at most `max_batches` and then
/// reusing those handed back.
fn read_batches<R: io::BufRead>(
    reader: &mut RecordReader<R>,
    first: Batch,
    max_batches: usize,
    work_tx: &SyncSender<Work>,
    spare_rx: &Receiver<Batch>,
) -> Result<(), DatasetError> {
    if work_tx
        .send(Work {
            seq: 0,
            batch: first,
        })
        .is_err()
    {
        return Ok(());
    }
    let mut seq = 1;
    let mut made = 1;
    loop {
        let mut batch = match spare_rx.try_recv() {
            Ok(batch) => batch,
            Err(_) if made < max_batches => {
                made += 1;
                Batch::new()
            }
            Err(_) => match spare_rx.recv() {
                Ok(batch) => batch,
                // The collector has stopped.
                Err(_) => return Ok(()),
            },
        };
        if !reader.fill(&mut batch, BATCH_BYTES)? {
            return Ok(());
        }
        if work_tx.send(Work { seq, batch }).is_err() {
            return Ok(());
        }
        seq += 1;
    }
}

/// Worker thread: decodes, parses and judges each record of each batch it takes.
fn work(
    work_rx: &Mutex<Receiver<Work>>,
    done_tx: &SyncSender<Done>,
    format: Format,
    rules: &Rules,
    json: bool,
    display: &str,
) {
    let mut transcript = Transcript::new(rules.config().count_mode);
    let mut parser = StreamParser::new();
    loop {
        let next = match work_rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(Work { seq, batch }) = next else {
            return;
        };
        let records = batch
            .iter()
            .map(|(line, raw)| {
                // A bug on one record must not hang the pipeline or lose the others.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    check_record(
                        line,
                        raw,
                        format,
                        rules,
                        &mut transcript,
                        &mut parser,
                        json.then_some(display),
                    )
                }))
                .unwrap_or_else(|_| Checked::Bad {
                    line,
                    reason: "moss failed on this record (a bug: please report it)".to_owned(),
                })
            })
            .collect();
        if done_tx
            .send(Done {
                seq,
                records,
                batch,
            })
            .is_err()
        {
            return;
        }
    }
}

fn check_record(
    line: u64,
    raw: &[u8],
    format: Format,
    rules: &Rules,
    transcript: &mut Transcript,
    parser: &mut StreamParser,
    json_file: Option<&str>,
) -> Checked {
    let record = match format.decode(raw) {
        Ok(record) => record,
        Err(reason) => return Checked::Bad { line, reason },
    };
    let Some(answer) = record.answer else {
        return Checked::Bad {
            line,
            reason: format!("no assistant answer to check in this {format} record"),
        };
    };
    transcript.parse_into(&answer, parser);
    let results = rules.evaluate(transcript, RuleContext::Dataset);
    let json = json_file.map(|file| record_json(file, line, transcript, &results));
    let outcomes = results.iter().map(|r| r.outcome).collect();
    let failures = results
        .into_iter()
        .filter(|r| r.outcome == Outcome::Fail)
        .map(|r| (r.id, r.message))
        .collect();
    Checked::Good {
        line,
        outcomes,
        failures,
        json,
    }
}

#[derive(Serialize)]
struct JsonSegment {
    kind: SegmentKind,
    words: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<bool>,
}

#[derive(Serialize)]
struct JsonRecord<'a> {
    file: &'a str,
    line: u64,
    segments: Vec<JsonSegment>,
    rules: JsonRules<'a>,
}

/// Rule outcomes as a JSON object, in report order.
struct JsonRules<'a>(&'a [RuleResult]);

impl Serialize for JsonRules<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for r in self.0 {
            map.serialize_entry(r.id.as_str(), &r.outcome)?;
        }
        map.end()
    }
}

fn record_json(file: &str, line: u64, transcript: &Transcript, results: &[RuleResult]) -> String {
    let segments = transcript
        .segments
        .iter()
        .filter(|s| !s.is_blank_answer())
        .map(|s| JsonSegment {
            kind: s.kind,
            words: s.words,
            run: (s.kind == SegmentKind::Code).then(|| s.is_executable()),
        })
        .collect();
    serde_json::to_string(&JsonRecord {
        file,
        line,
        segments,
        rules: JsonRules(results),
    })
    .unwrap_or_else(|e| unreachable!("a record of strings and numbers serialises: {e}"))
}

/// Puts finished batches back in file order and folds them into the report.
fn collect(
    path: &Path,
    done_rx: &Receiver<Done>,
    spare_tx: &SyncSender<Batch>,
    options: &CheckOptions,
    report: &mut CheckReport,
    out: &mut impl Write,
    notes: &mut impl Write,
) -> Result<(), CheckError> {
    let enabled: Vec<RuleId> = report.rules.iter().map(|(id, _)| *id).collect();
    let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    for done in done_rx {
        pending.insert(done.seq, done);
        while let Some(done) = pending.remove(&next) {
            next += 1;
            report.bytes += done.batch.bytes() as u64;
            for checked in done.records {
                fold(path, checked, &enabled, options, report, out, notes)?;
            }
            let mut batch = done.batch;
            batch.clear();
            // Never full (it holds every batch there is); fails only once the reader is done.
            let _ = spare_tx.try_send(batch);
        }
    }
    if pending.is_empty() {
        Ok(())
    } else {
        Err(CheckError::Internal(format!(
            "batch {next} of {} never came back from the workers",
            path.display()
        )))
    }
}

fn fold(
    path: &Path,
    checked: Checked,
    enabled: &[RuleId],
    options: &CheckOptions,
    report: &mut CheckReport,
    out: &mut impl Write,
    notes: &mut impl Write,
) -> Result<(), CheckError> {
    match checked {
        Checked::Bad { line, reason } => {
            let bad = BadRecord {
                path: path.to_owned(),
                line,
                reason,
            };
            if options.strict {
                return Err(CheckError::Strict(bad));
            }
            report.skipped += 1;
            writeln!(notes, "{bad}").map_err(CheckError::Output)?;
        }
        Checked::Good {
            line,
            outcomes,
            failures,
            json,
        } => {
            report.records += 1;
            for (i, outcome) in outcomes.into_iter().enumerate() {
                if let Some(id) = enabled.get(i) {
                    report.tally(*id).add(outcome);
                }
            }
            for (rule, message) in failures {
                report.failure_count += 1;
                if report.failures.len() < options.max_failures {
                    report.failures.push(Failure {
                        path: path.to_owned(),
                        line,
                        rule,
                        message,
                    });
                }
            }
            if let Some(json) = json {
                out.write_all(json.as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(CheckError::Output)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good(line: u64) -> Checked {
        Checked::Good {
            line,
            outcomes: Vec::new(),
            failures: Vec::new(),
            json: Some(format!("{{\"line\":{line}}}")),
        }
    }

    #[test]
    fn batches_are_folded_in_file_order_whatever_order_they_finish_in() {
        let (done_tx, done_rx) = sync_channel::<Done>(4);
        let (spare_tx, spare_rx) = sync_channel::<Batch>(4);
        for (seq, lines) in [(2, [5, 6]), (0, [1, 2]), (1, [3, 4])] {
            done_tx
                .send(Done {
                    seq,
                    records: lines.into_iter().map(good).collect(),
                    batch: Batch::new(),
                })
                .expect("send");
        }
        drop(done_tx);
        let options = CheckOptions {
            json: true,
            ..CheckOptions::default()
        };
        let mut report = CheckReport::default();
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        collect(
            Path::new("f"),
            &done_rx,
            &spare_tx,
            &options,
            &mut report,
            &mut out,
            &mut notes,
        )
        .expect("collected");
        let lines: Vec<String> = String::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(str::to_owned)
            .collect();
        let expected: Vec<String> = (1..=6).map(|l| format!("{{\"line\":{l}}}")).collect();
        assert_eq!(lines, expected);
        assert_eq!(report.records, 6);
        assert_eq!(spare_rx.try_iter().count(), 3, "every batch is handed back");
    }

    #[test]
    fn a_batch_that_never_comes_back_is_an_error_not_silence() {
        let (done_tx, done_rx) = sync_channel::<Done>(4);
        let (spare_tx, _spare_rx) = sync_channel::<Batch>(4);
        done_tx
            .send(Done {
                seq: 1,
                records: vec![good(9)],
                batch: Batch::new(),
            })
            .expect("send");
        drop(done_tx);
        let mut report = CheckReport::default();
        let err = collect(
            Path::new("f"),
            &done_rx,
            &spare_tx,
            &CheckOptions::default(),
            &mut report,
            &mut Vec::new(),
            &mut Vec::new(),
        )
        .expect_err("batch 0 is missing");
        assert!(matches!(err, CheckError::Internal(_)), "{err}");
    }
}
