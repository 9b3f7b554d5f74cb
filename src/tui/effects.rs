//! What the workbench's [`Command`]s do outside the screen: runs and every write to the
//! workspace go to the run service; a prompt save and an export run on a blocking thread.
//! Each result comes back to the event loop as a [`Msg`].

use tokio::sync::mpsc;

use super::update::{Command, Msg};
use crate::run::Service;
use crate::store::{Entry, Workspace};

/// Carries out commands; owns the run service.
pub struct Effects {
    service: Service,
    workspace: Workspace,
    tx: mpsc::UnboundedSender<Msg>,
}

impl Effects {
    #[must_use]
    pub fn new(service: Service, workspace: Workspace, tx: mpsc::UnboundedSender<Msg>) -> Self {
        Self {
            service,
            workspace,
            tx,
        }
    }

    #[must_use]
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Where results are sent.
    #[must_use]
    pub fn sender(&self) -> &mpsc::UnboundedSender<Msg> {
        &self.tx
    }

    /// Sends `msg` to the event loop (dropped when the loop is gone).
    pub fn send(&self, msg: Msg) {
        let _ = self.tx.send(msg);
    }

    /// Carries out `command` (not the terminal's own: quitting and `$EDITOR`).
    pub fn execute(&mut self, command: Command) {
        match command {
            Command::Submit { key, job, next } => {
                if next {
                    self.service.submit_next(key, job);
                } else {
                    self.service.submit(key, job);
                }
            }
            Command::CancelRun(key) => self.service.cancel(key),
            Command::Hold { interrupter } => interrupter.hold(),
            Command::Release { interrupter } => interrupter.release(),
            Command::Interrupt { interrupter, text } => interrupter.interrupt(text),
            Command::DropQueued => self.service.drop_queued(),
            Command::CancelAll => self.service.cancel_all(),
            Command::AnswerConsent(answer) => self.service.answer_consent(answer),
            Command::SaveDecision(mut decision) => {
                decision.at_ms = crate::run::epoch_ms();
                tracing::info!(
                    sample = %decision.sample_id,
                    run = %decision.run_id,
                    verdict = ?decision.verdict,
                    "decision"
                );
                self.service.record(Entry::Decision(decision));
            }
            Command::SaveSession(session) => self.service.record(Entry::Session(session)),
            Command::SaveVersion { prompt, mut label } => {
                label.at_ms = crate::run::epoch_ms();
                // The snapshot first: a label's id then resolves by prefix, run or not.
                self.service.record(Entry::Prompt(prompt));
                self.service.record(Entry::Version(label));
            }
            Command::SavePrompt { path, text } => {
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || {
                    // Through a symbolic link to its target, keeping the file's mode.
                    let result =
                        crate::atomic_file::replace(&path, |out| out.write_all(text.as_bytes()))
                            .map_err(|e| format!("{}: {e}", path.display()));
                    let _ = tx.send(Msg::PromptSaved { text, result });
                });
            }
            Command::PlanExport(options) => {
                let tx = self.tx.clone();
                let workspace = self.workspace.clone();
                tokio::task::spawn_blocking(move || {
                    let result =
                        crate::curate::plan_export(&workspace, &options).map_err(|e| e.to_string());
                    let _ = tx.send(Msg::ExportPlanned(result));
                });
            }
            Command::Export(options) => {
                let tx = self.tx.clone();
                let workspace = self.workspace.clone();
                tokio::task::spawn_blocking(move || {
                    let result = crate::curate::export_accepted(&workspace, &options)
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Exported(result));
                });
            }
            // The event loop's own: it owns the terminal.
            Command::Quit | Command::EditExternally { .. } => {}
        }
    }

    /// Waits until the runs still in flight are recorded and everything sent is written.
    pub async fn finish(self) {
        self.service.finish().await;
    }
}
