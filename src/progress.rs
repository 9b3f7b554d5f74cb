//! `moss generate`'s output on stderr, drawn from the run service's events: a live bar on a
//! terminal, a plain line every few seconds otherwise, then the summary.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use moss_thinking::generate::GenerateReport;
use moss_thinking::run::{RunEvent, RunStatus, ServiceEvent};

/// How often plain progress lines are written when stderr is not a terminal.
const PROGRESS_LINE_INTERVAL: Duration = Duration::from_secs(5);

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A live bar (stderr is a terminal).
    Bar,
    /// A plain line every few seconds (logs, CI).
    Lines,
}

/// The batch as the events tell it.
pub struct Progress {
    started: Instant,
    bar: Option<ProgressBar>,
    /// When the last plain line was written (`Lines`).
    last_line: Option<Instant>,
    total: usize,
    done: usize,
    failed: usize,
    executed: usize,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Self {
        let now = Instant::now();
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} · {msg} · ETA {eta}")
            {
                bar.set_style(style);
            }
            bar.set_message("0 failed");
            bar
        });
        Self {
            started: now,
            bar,
            last_line: (mode == ProgressMode::Lines).then_some(now),
            total: 0,
            done: 0,
            failed: 0,
            executed: 0,
        }
    }

    /// Takes one event of the batch into account.
    pub fn observe(&mut self, event: &ServiceEvent) {
        match event {
            ServiceEvent::Queued { .. } => {
                self.total += 1;
                if let Some(bar) = &self.bar {
                    bar.inc_length(1);
                }
                return;
            }
            ServiceEvent::Run {
                event: RunEvent::ExecFinished { .. },
                ..
            } => {
                self.executed += 1;
                return;
            }
            ServiceEvent::Saved { run, stored, .. } => {
                self.done += 1;
                if let Err(e) = stored {
                    self.failed += 1;
                    self.note(&format!("{}: not recorded: {e}", run.sample_id));
                } else if run.status != RunStatus::Complete {
                    self.failed += 1;
                    self.note(&format!(
                        "{} {}: {}",
                        run.sample_id,
                        run.status.as_str(),
                        run.error.as_deref().unwrap_or_default()
                    ));
                }
            }
            ServiceEvent::Dropped { started, .. } => {
                if *started {
                    self.done += 1;
                } else {
                    self.total = self.total.saturating_sub(1);
                    if let Some(bar) = &self.bar {
                        bar.set_length(u64::try_from(self.total).unwrap_or(u64::MAX));
                    }
                }
            }
            _ => return,
        }
        self.show();
    }

    fn rate(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let done = self.done as f64;
        done / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    fn message(&self) -> String {
        if self.executed > 0 {
            format!("{} failed · {} blocks run", self.failed, self.executed)
        } else {
            format!("{} failed", self.failed)
        }
    }

    fn show(&mut self) {
        if let Some(bar) = &self.bar {
            bar.set_position(u64::try_from(self.done).unwrap_or(u64::MAX));
            bar.set_message(format!("{} · {:.2} runs/s", self.message(), self.rate()));
        }
        if let Some(last) = self.last_line {
            let now = Instant::now();
            if now.duration_since(last) < PROGRESS_LINE_INTERVAL && self.done < self.total {
                return;
            }
            self.last_line = Some(now);
            let rate = self.rate();
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let eta = if rate > 0.0 {
                format_duration(Duration::from_secs(
                    ((self.total - self.done.min(self.total)) as f64 / rate) as u64,
                ))
            } else {
                "?".to_owned()
            };
            // Best effort: stderr may be gone (a closed pipe, a terminal that hung up), and the
            // batch must still record its runs.
            let _ = writeln!(
                io::stderr(),
                "generate: {}/{} done, {}, {rate:.2} runs/s, ETA {eta}",
                self.done,
                self.total,
                self.message()
            );
        }
    }

    fn note(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => {
                let _ = writeln!(io::stderr(), "{message}");
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Each rule's pass rate over the dataset's runs.
fn write_rule_rates(report: &GenerateReport, out: &mut dyn Write) -> io::Result<()> {
    if !report.rules.is_empty() {
        writeln!(out, "rule pass rates over those runs:")?;
        for (id, (pass, fail)) in &report.rules {
            let judged = pass + fail;
            #[allow(clippy::cast_precision_loss)]
            let rate = if judged == 0 {
                100.0
            } else {
                *pass as f64 * 100.0 / judged as f64
            };
            writeln!(
                out,
                "  {:<22} {pass:>6}/{judged:<6} {rate:5.1}%",
                id.as_str()
            )?;
        }
    }
    Ok(())
}

/// The summary of a batch.
///
/// # Errors
/// When writing fails.
pub fn write_summary(report: &GenerateReport, out: &mut dyn Write) -> io::Result<()> {
    let ran = report.complete + report.incomplete + report.failed;
    write!(out, "{} samples: ", report.selected)?;
    if report.resumed > 0 && report.repeat > 1 {
        write!(
            out,
            "{} already have {} complete runs, ",
            report.resumed, report.repeat
        )?;
    } else if report.resumed > 0 {
        write!(out, "{} already complete, ", report.resumed)?;
    }
    writeln!(
        out,
        "{ran} run now ({} complete, {} incomplete, {} failed) in {}",
        report.complete,
        report.incomplete,
        report.failed,
        format_duration(report.elapsed)
    )?;
    if report.interrupted {
        writeln!(
            out,
            "interrupted: {} cancelled runs not recorded, {} samples not started; run the same command again to resume",
            report.cancelled, report.not_started
        )?;
    }
    if report.repeat > 1 {
        writeln!(
            out,
            "{}/{} samples have {} complete runs for this prompt and settings",
            report.dataset_repeated, report.selected, report.repeat
        )?;
    } else {
        writeln!(
            out,
            "{}/{} samples have a complete run for this prompt and settings",
            report.dataset_complete, report.selected
        )?;
    }
    write_rule_rates(report, out)?;
    if let Some(measures) = &report.measures {
        writeln!(
            out,
            "interleaving of the {} complete runs made now: {}",
            report.complete,
            measures.line()
        )?;
    }
    if !report.failures.is_empty() {
        writeln!(out, "runs that did not complete:")?;
        for f in &report.failures {
            writeln!(
                out,
                "  {:<12} {:<10} {}",
                f.sample_id,
                f.status.as_str(),
                f.reason
            )?;
        }
    }
    if let Some(exported) = &report.exported {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        if exported.placeholders > 0 {
            writeln!(
                out,
                "left out {} placeholder{} of the offline replay teacher (no recording for the sample: not a model's answer)",
                exported.placeholders,
                plural(exported.placeholders)
            )?;
        }
        if exported.replayed > 0 {
            writeln!(
                out,
                "left out {} run{} of the offline replay teacher (--include-replayed writes them)",
                exported.replayed,
                plural(exported.replayed)
            )?;
        }
        writeln!(
            out,
            "wrote {} records to {} ({})",
            exported.records,
            exported.path.display(),
            exported.format
        )?;
    }
    Ok(())
}

fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}
