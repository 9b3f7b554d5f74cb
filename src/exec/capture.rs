//! Capturing the code's output: the helper's report line, a cap per stream with a marker for
//! what was left out, and secrets redacted.

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use super::protocol::{REPORT_MARKER, Report};
use super::redact::{REDACTED, Redactor};

/// The report line is looked for in at most this many leading bytes of stderr.
const REPORT_MAX: usize = 64 * 1024;

/// Bytes read from a pipe at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Reads `pipe` to its end (or until `stop`), feeding `capture`.
pub(crate) async fn read_stream<R: AsyncRead + Unpin>(
    mut pipe: R,
    mut capture: StreamCapture,
    stop: CancellationToken,
) -> StreamCapture {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            read = pipe.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => capture.push(&buf[..n]),
            },
        }
    }
    capture.end();
    capture
}

/// The capture of a reading task, or `empty` when there was none or it failed.
pub(crate) async fn join_capture(
    task: Option<tokio::task::JoinHandle<StreamCapture>>,
    empty: StreamCapture,
) -> StreamCapture {
    match task {
        Some(task) => task.await.unwrap_or(empty),
        None => empty,
    }
}

/// One output stream: the helper's report lines (on stderr), then the capped output.
///
/// The helper writes one report before the code starts, and a second one only when the
/// interpreter then failed to start; both come before any output of the code. (Code that
/// prints a report line of its own first can only mark its own run as not started.)
#[derive(Debug)]
pub(crate) struct StreamCapture {
    /// Leading bytes held back while they may still be a report line.
    head: Option<Vec<u8>>,
    pub(crate) reports: Vec<Report>,
    output: CappedOutput,
}

/// Report lines read at the start of stderr.
const MAX_REPORTS: usize = 2;

impl StreamCapture {
    /// See [`CappedOutput::new`] for `limit` and `slack`; `report` looks for report lines.
    pub(crate) fn new(limit: usize, slack: usize, report: bool) -> Self {
        Self {
            head: report.then(Vec::new),
            reports: Vec::new(),
            output: CappedOutput::new(limit, slack),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let Some(head) = self.head.as_mut() else {
            self.output.push(bytes);
            return;
        };
        head.extend_from_slice(bytes);
        loop {
            let Some(head) = self.head.as_mut() else {
                return;
            };
            let common = head.len().min(REPORT_MARKER.len());
            if head[..common] != REPORT_MARKER[..common] {
                // Not a report (the helper failed before it could write one, or the code's
                // own output): plain output.
                self.flush_head();
            } else if let Some(newline) = head.iter().position(|&b| b == b'\n') {
                if let Ok(report) = serde_json::from_slice(&head[REPORT_MARKER.len()..newline]) {
                    self.reports.push(report);
                }
                let rest = head.split_off(newline + 1);
                if self.reports.len() < MAX_REPORTS {
                    self.head = Some(rest);
                    continue;
                }
                self.head = None;
                self.output.push(&rest);
            } else if head.len() > REPORT_MAX {
                self.flush_head();
            }
            return;
        }
    }

    /// The stream ended: held-back bytes that are not a partial report are output.
    fn end(&mut self) {
        if self
            .head
            .as_ref()
            .is_some_and(|head| !head.starts_with(REPORT_MARKER))
        {
            self.flush_head();
        }
        self.head = None;
    }

    fn flush_head(&mut self) {
        if let Some(head) = self.head.take() {
            self.output.push(&head);
        }
    }

    pub(crate) fn finish(self, redactor: &Redactor) -> String {
        self.output.finish(redactor)
    }
}

/// Keeps the first `limit` bytes of a stream, with secrets redacted, and counts the rest.
///
/// Secrets are redacted when the stream has ended, so a secret split across reads is found;
/// `slack` more bytes are kept so that a secret starting before the limit is seen whole
/// (`slack` = the longest secret's length - 1). Memory stays bounded by `limit + slack`.
#[derive(Debug)]
struct CappedOutput {
    limit: usize,
    slack: usize,
    kept: Vec<u8>,
    dropped: u64,
}

impl CappedOutput {
    fn new(limit: usize, slack: usize) -> Self {
        Self {
            limit,
            slack,
            kept: Vec::new(),
            dropped: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = self
            .limit
            .saturating_add(self.slack)
            .saturating_sub(self.kept.len());
        let (keep, drop) = bytes.split_at(room.min(bytes.len()));
        self.kept.extend_from_slice(keep);
        self.dropped = self
            .dropped
            .saturating_add(u64::try_from(drop.len()).unwrap_or(u64::MAX));
    }

    /// The kept text with secrets redacted (invalid UTF-8 replaced): what the first `limit`
    /// bytes of the stream show, a redacted secret that starts among them whole, cut on a
    /// character boundary and followed by a `[truncated N bytes]` line, N counting the bytes
    /// of the stream not shown, when anything was left out.
    fn finish(self, redactor: &Redactor) -> String {
        let limit = self.limit.min(self.kept.len());
        let mut shown = Vec::with_capacity(limit);
        let mut pos = 0;
        for (start, end) in redactor.covered(&self.kept) {
            if start >= limit {
                break;
            }
            shown.extend_from_slice(&self.kept[pos..start]);
            shown.extend_from_slice(REDACTED.as_bytes());
            pos = end;
        }
        if pos < limit {
            shown.extend_from_slice(&self.kept[pos..limit]);
            pos = limit;
        }
        let unshown = u64::try_from(self.kept.len() - pos)
            .unwrap_or(u64::MAX)
            .saturating_add(self.dropped);
        if unshown == 0 {
            return String::from_utf8_lossy(&shown).into_owned();
        }
        let cut = utf8_boundary(&shown);
        let cut_off = u64::try_from(shown.len() - cut).unwrap_or(u64::MAX);
        let mut text = String::from_utf8_lossy(&shown[..cut]).into_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&truncation_marker(unshown.saturating_add(cut_off)));
        text
    }
}

/// The line that stands for dropped output.
fn truncation_marker(dropped: u64) -> String {
    format!("[truncated {dropped} bytes]")
}

/// The length of `bytes` without a UTF-8 sequence cut off at its end.
fn utf8_boundary(bytes: &[u8]) -> usize {
    // A sequence is at most 4 bytes: look for the last lead byte among the last 4.
    for back in 1..=bytes.len().min(4) {
        let at = bytes.len() - back;
        let byte = bytes[at];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte
        }
        let needed = match byte {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return bytes.len(), // not a lead byte: invalid anyway, keep it
        };
        return if back < needed { at } else { bytes.len() };
    }
    bytes.len()
}

/// Appends `line` on a line of its own.
pub(crate) fn push_line(text: &mut String, line: &str) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Redactor {
        Redactor::default()
    }

    #[test]
    fn output_under_the_limit_is_kept_whole() {
        let mut out = CappedOutput::new(10, 0);
        out.push(b"hello\n");
        assert_eq!(out.finish(&none()), "hello\n");
    }

    #[test]
    fn output_over_the_limit_is_cut_and_counted() {
        let mut out = CappedOutput::new(4, 0);
        out.push(b"abc");
        out.push(b"defgh");
        assert_eq!(out.finish(&none()), "abcd\n[truncated 4 bytes]");
    }

    #[test]
    fn truncation_never_splits_a_character() {
        let mut out = CappedOutput::new(5, 0);
        out.push("a中文b".as_bytes()); // 1 + 3 + 3 + 1 = 8 bytes
        // Kept: "a中" + first byte of "文": the partial byte is counted as dropped.
        assert_eq!(out.finish(&none()), "a中\n[truncated 4 bytes]");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_lost() {
        let mut out = CappedOutput::new(100, 0);
        out.push(b"ok \xff end");
        assert_eq!(out.finish(&none()), "ok \u{fffd} end");
    }

    #[test]
    fn utf8_boundary_finds_cut_sequences() {
        let s = "é中😀".as_bytes(); // 2 + 3 + 4 bytes
        assert_eq!(utf8_boundary(s), s.len());
        assert_eq!(utf8_boundary(&s[..8]), 5);
        assert_eq!(utf8_boundary(&s[..6]), 5);
        assert_eq!(utf8_boundary(&s[..4]), 2);
        assert_eq!(utf8_boundary(&s[..1]), 0);
        assert_eq!(utf8_boundary(b""), 0);
        assert_eq!(utf8_boundary(b"abc"), 3);
    }

    #[test]
    fn truncation_marker_text() {
        assert_eq!(truncation_marker(1234), "[truncated 1234 bytes]");
    }

    #[test]
    fn report_line_is_stripped_from_stderr() {
        let mut capture = StreamCapture::new(100, 0, true);
        // Split across reads on purpose.
        let mut report = Report::default();
        report.protections.rlimits = true;
        report.protections.pid_namespace = true;
        report.error = Some("中文 reason".to_owned());
        let line = report.to_line();
        let (a, b) = line.split_at(5);
        capture.push(a);
        capture.push(b);
        capture.push(b"Trace");
        capture.push(b"back\n");
        capture.end();
        assert_eq!(capture.reports, [report]);
        assert_eq!(capture.finish(&none()), "Traceback\n");
    }

    #[test]
    fn stderr_without_a_report_is_plain_output() {
        let mut capture = StreamCapture::new(100, 0, true);
        capture.push(b"pyenv: python3: command not found\n");
        capture.end();
        assert!(capture.reports.is_empty());
        assert_eq!(
            capture.finish(&none()),
            "pyenv: python3: command not found\n"
        );

        let mut short = StreamCapture::new(100, 0, true);
        short.push(b"x");
        short.end();
        assert_eq!(short.finish(&none()), "x");
    }

    #[test]
    fn the_report_does_not_count_against_the_limit() {
        let mut capture = StreamCapture::new(3, 0, true);
        capture.push(b"\0moss-sandbox {\"protections\":{}}\nabcdef");
        capture.end();
        assert_eq!(capture.finish(&none()), "abc\n[truncated 3 bytes]");
    }

    #[test]
    fn stdout_is_never_parsed_for_a_report() {
        let mut capture = StreamCapture::new(100, 0, false);
        capture.push(b"\0moss-sandbox {\"protections\":{}}\n");
        capture.end();
        assert!(capture.reports.is_empty());
        assert!(capture.finish(&none()).contains("moss-sandbox"));
    }

    fn secret_redactor() -> Redactor {
        Redactor::new(["SECRET-12345"])
    }

    #[test]
    fn a_secret_split_across_reads_is_redacted() {
        let redactor = secret_redactor();
        let mut out = CappedOutput::new(100, redactor.longest() - 1);
        out.push(b"xx SECR");
        out.push(b"ET-12");
        out.push(b"345 yy\n");
        assert_eq!(out.finish(&redactor), "xx *** yy\n");
    }

    #[test]
    fn a_secret_across_the_limit_is_redacted_whole() {
        let redactor = secret_redactor();
        let mut out = CappedOutput::new(10, redactor.longest() - 1);
        out.push(b"abcdefgSECRET-12345xyz");
        assert_eq!(out.finish(&redactor), "abcdefg***\n[truncated 3 bytes]");
    }

    #[test]
    fn no_part_of_a_secret_after_the_limit_is_shown() {
        let redactor = secret_redactor();
        // Starts after the limit and is cut off by the capture: not matched, not shown.
        let mut out = CappedOutput::new(10, redactor.longest() - 1);
        out.push(b"0123456789xxxxSECRET-12345");
        assert_eq!(out.finish(&redactor), "0123456789\n[truncated 16 bytes]");

        // Redacting a secret shortens the text, but the limit still counts the stream's
        // bytes: the start of the second secret, cut off by the capture, stays hidden.
        let mut out = CappedOutput::new(14, redactor.longest() - 1);
        out.push(b"SECRET-12345abSECRET-12345");
        assert_eq!(out.finish(&redactor), "***ab\n[truncated 12 bytes]");
    }

    #[test]
    fn redaction_keeps_the_whole_output_when_it_fits() {
        let redactor = secret_redactor();
        let mut out = CappedOutput::new(12, redactor.longest() - 1);
        out.push(b"SECRET-12345");
        assert_eq!(out.finish(&redactor), "***");
        let mut capture = StreamCapture::new(100, redactor.longest() - 1, true);
        capture.push(b"\0moss-sandbox {\"protections\":{}}\nSECRET-");
        capture.push(b"12345\n");
        capture.end();
        assert_eq!(capture.finish(&redactor), "***\n");
    }
}
