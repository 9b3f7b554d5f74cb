//! Full-screen editors and views, and the dialogs drawn over the main screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr as _;

use crate::curate::SystemChoice;
use crate::export::ExportFormat;
use crate::tui::app::{App, ExportDialog, ExportField, Layer};
use crate::tui::keymap::{Action, Scope};
use crate::tui::style::style;
use crate::tui::theme::Role;

/// The editors and the history take the whole area above the status bar.
pub(super) fn full_screen(frame: &mut Frame<'_>, area: Rect, app: &mut App, layer: usize) {
    let theme = app.settings.theme.clone();
    let border = style(&theme, Role::BorderFocused);
    match app.layers.get_mut(layer) {
        Some(Layer::PromptEditor) => {
            let prompt = &mut app.prompt;
            let mut title = vec![
                Span::styled(" Prompt ", style(&theme, Role::Title)),
                Span::raw(format!("{} ", prompt.path.display())),
            ];
            if prompt.dirty {
                title.push(Span::styled("● unsaved ", style(&theme, Role::Edited)));
            }
            let name = crate::tui::app::version_name(&app.versions, &prompt.version.id);
            title.push(Span::styled(
                format!("version {name} "),
                style(&theme, Role::Muted),
            ));
            prompt.editor.set_block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(border)
                    .title(Line::from(title)),
            );
            prompt
                .editor
                .set_cursor_line_style(ratatui::style::Style::default());
            prompt.editor.set_style(style(&theme, Role::Answer));
            frame.render_widget(&prompt.editor, area);
        }
        Some(Layer::EditOutput(editor)) => {
            let sample = app
                .runs
                .get(editor.run)
                .map(|r| r.sample_id.clone())
                .unwrap_or_default();
            editor.area.set_block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(border)
                    .title(Line::from(vec![
                        Span::styled(" Edit output ", style(&theme, Role::Title)),
                        Span::raw(format!("{sample} ")),
                        Span::styled(
                            "saved text is re-checked by the rules ",
                            style(&theme, Role::Muted),
                        ),
                    ])),
            );
            editor
                .area
                .set_cursor_line_style(ratatui::style::Style::default());
            editor.area.set_style(style(&theme, Role::Answer));
            let preview = edit_preview(&mut editor.preview, &theme, area.width);
            let rows = u16::try_from(preview.len())
                .unwrap_or(u16::MAX)
                .min(area.height / 3);
            let [text_area, preview_area] =
                Layout::vertical([Constraint::Min(3), Constraint::Length(rows)]).areas(area);
            frame.render_widget(&editor.area, text_area);
            frame.render_widget(
                Paragraph::new(preview).wrap(Wrap { trim: false }),
                preview_area,
            );
        }
        Some(Layer::History(history)) => {
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(border)
                .title(Span::styled(" Prompt history ", style(&theme, Role::Title)));
            let inner = block.inner(area);
            frame.render_widget(block, area);
            history.render(inner, frame.buffer_mut(), &theme);
        }
        _ => {}
    }
}

/// What the output editor shows under the text as it changes: each think's words against its
/// budget, then the rules that fail (or that all pass).
fn edit_preview(
    preview: &mut crate::tui::live::LiveView,
    theme: &crate::tui::theme::Theme,
    width: u16,
) -> Vec<Line<'static>> {
    let mut budgets = vec![Span::styled("Thinks ", style(theme, Role::Title))];
    let thinks = preview.budgets();
    if thinks.is_empty() {
        budgets.push(Span::styled("none yet", style(theme, Role::Muted)));
    }
    for (n, budget) in thinks.iter().enumerate() {
        let role = if budget.exceeded() {
            Role::RuleFail
        } else {
            Role::RulePass
        };
        budgets.push(Span::styled(
            format!("#{} {}/{} ", n + 1, budget.used, budget.allowed),
            style(theme, role),
        ));
    }
    let mut lines = vec![Line::from(budgets)];
    let failing: Vec<(String, String)> = preview
        .rules()
        .iter()
        .filter(|r| r.outcome == crate::transcript::Outcome::Fail)
        .map(|r| (r.id.to_string(), r.message.clone()))
        .collect();
    if failing.is_empty() {
        lines.push(Line::from(Span::styled(
            "✓ every rule passes",
            style(theme, Role::RulePass),
        )));
    }
    let room = usize::from(width).saturating_sub(24);
    for (id, message) in failing {
        lines.push(Line::from(vec![
            Span::styled(format!("✗ {id:<20} "), style(theme, Role::RuleFail)),
            Span::styled(
                crate::tui::text::fit(&message, room).into_owned(),
                style(theme, Role::Muted),
            ),
        ]));
    }
    lines
}

pub(super) fn reject(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    dialog: &crate::tui::app::RejectDialog,
) {
    let theme = &app.settings.theme;
    let sample = app
        .runs
        .get(dialog.run)
        .map_or("", |r| r.sample_id.as_str());
    let mut lines = vec![
        Line::from(format!("Why is {sample} rejected?")),
        Line::default(),
    ];
    for (i, reason) in app.settings.reject_reasons.iter().enumerate() {
        let selected = dialog.selected == Some(i);
        // The first nine have a number; the others are reached with the arrows.
        let number = if i < 9 {
            format!(" {} ", i + 1)
        } else {
            "   ".to_owned()
        };
        lines.push(Line::from(vec![
            Span::styled(number, style(theme, Role::KeyHint)),
            Span::styled(reason.clone(), choice_style(theme, selected)),
        ]));
    }
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled("Other: ", style(theme, Role::Muted)),
        Span::raw(format!("{}▏", dialog.text)),
    ]));
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        "1-9 pick · type a reason · Enter reject · Esc cancel",
        style(theme, Role::KeyHint),
    )));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let rect = popup(frame, area, 58, height);
    frame.render_widget(
        Paragraph::new(lines)
            .block(dialog_block(app, " Reject "))
            .wrap(Wrap { trim: false }),
        rect,
    );
}

pub(super) fn bulk(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    dialog: &crate::tui::app::BulkDialog,
) {
    let theme = &app.settings.theme;
    let mut lines = vec![
        Line::from(format!(
            "On the {} samples shown (their latest complete runs):",
            app.visible.len()
        )),
        Line::default(),
    ];
    for (i, action) in dialog.actions.iter().enumerate() {
        let selected = i == dialog.selected;
        lines.push(Line::from(Span::styled(
            format!("{} {}", if selected { "▸" } else { " " }, action.label()),
            choice_style(theme, selected),
        )));
    }
    lines.push(Line::default());
    let keys = match dialog.actions.get(dialog.selected) {
        Some(action) if dialog.confirming => {
            format!("{}? y yes · any other key no", action.label())
        }
        _ => "j/k choose · Enter · Esc cancel".to_owned(),
    };
    lines.push(Line::from(Span::styled(
        keys,
        style(
            theme,
            if dialog.confirming {
                Role::Error
            } else {
                Role::KeyHint
            },
        ),
    )));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let rect = popup(frame, area, 64, height);
    frame.render_widget(
        Paragraph::new(lines)
            .block(dialog_block(app, " Bulk decisions "))
            .wrap(Wrap { trim: false }),
        rect,
    );
}

/// The selected sample's whole question, its line breaks kept, wrapped by display width.
pub(super) fn question(frame: &mut Frame<'_>, area: Rect, app: &App, scroll: u16) {
    let Some(sample) = app.selected_sample() else {
        return;
    };
    let width = area.width.saturating_sub(4).min(96);
    let lines: Vec<Line<'static>> = sample
        .question
        .split('\n')
        .map(|line| Line::from(crate::tui::text::printable(line).into_owned()))
        .collect();
    let body = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = body.line_count(width.saturating_sub(2)) + 2;
    let rect = popup(frame, area, width, u16::try_from(rows).unwrap_or(u16::MAX));
    let title = format!(" {} · j/k scroll · any other key closes ", sample.id);
    frame.render_widget(
        body.block(dialog_block(app, &title)).scroll((scroll, 0)),
        rect,
    );
}

/// Breaking in on the streaming run: the line being typed.
pub(super) fn interject(frame: &mut Frame<'_>, area: Rect, app: &App, text: &str) {
    let sample = app.selected_sample().map_or("", |s| s.id.as_str());
    let width = area.width.saturating_sub(4).min(72);
    let room = usize::from(width.saturating_sub(4));
    // The end of what is typed stays in sight.
    let typed = crate::tui::text::printable(text);
    let mut shown = typed.as_ref();
    while crate::tui::text::width(shown) + 1 > room && !shown.is_empty() {
        let next = shown.char_indices().nth(1).map_or(shown.len(), |(i, _)| i);
        shown = &shown[next..];
    }
    let lines = vec![
        Line::from("Held here: the teacher answers what you say."),
        Line::from(""),
        Line::from(format!("› {shown}▏")),
        Line::from(""),
        Line::from("Enter interrupts · Esc lets the run go on"),
    ];
    let rect = popup(frame, area, width, 7);
    let title = format!(" Interrupt {sample} ");
    frame.render_widget(Paragraph::new(lines).block(dialog_block(app, &title)), rect);
}

/// A box of `width`×`height` (at most the area) in the middle of `area`, cleared.
pub(super) fn popup(frame: &mut Frame<'_>, area: Rect, width: u16, height: u16) -> Rect {
    let rect = area.centered(
        Constraint::Length(width.min(area.width)),
        Constraint::Length(height.min(area.height)),
    );
    frame.render_widget(Clear, rect);
    // A wide character just left of the box would be drawn over its left border: blank it.
    if let Some(left) = rect.x.checked_sub(1) {
        let buf = frame.buffer_mut();
        for y in rect.top()..rect.bottom() {
            let cell = &mut buf[(left, y)];
            if cell.symbol().width() > 1 {
                cell.set_symbol(" ");
            }
        }
    }
    rect
}

pub(super) fn dialog_block<'a>(app: &App, title: &'a str) -> Block<'a> {
    let theme = &app.settings.theme;
    Block::default()
        .borders(Borders::ALL)
        .border_style(style(theme, Role::BorderFocused))
        .title(Span::styled(title, style(theme, Role::Title)))
}

pub(super) fn help(frame: &mut Frame<'_>, area: Rect, app: &App, scroll: u16) {
    let theme = &app.settings.theme;
    let keymap = &app.settings.keymap;
    let mut lines = Vec::new();
    for (scope, heading) in [
        (Scope::Main, "Main screen"),
        (Scope::Editor, "Editors (prompt, output)"),
        (Scope::History, "Prompt history"),
        (Scope::Runs, "Run list (l)"),
        (Scope::Compare, "Side by side (v)"),
        (Scope::Grid, "Grid (c)"),
        (Scope::Demo, "Presentation mode (D)"),
    ] {
        if !lines.is_empty() {
            lines.push(Line::default());
        }
        lines.push(Line::from(Span::styled(heading, style(theme, Role::Title))));
        for &action in Action::ALL {
            let keys = keymap.keys(scope, action);
            if keys.is_empty() {
                continue;
            }
            lines.push(Line::from(vec![
                Span::styled(
                    format!("{:>12}  ", keys.join(" ")),
                    style(theme, Role::KeyHint),
                ),
                Span::raw(action.description()),
            ]));
        }
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        "Filter (/): words match id or question; is:unreviewed is:passed is:failed is:incomplete \
         is:new is:accepted is:rejected is:edited; fails:RULE tag:TAG answer:TEXT; -TERM negates",
        style(theme, Role::Muted),
    )));
    if let Some(log) = &app.settings.log_path {
        lines.push(Line::from(Span::styled(
            format!("Log: {}", log.display()),
            style(theme, Role::Muted),
        )));
    }
    let rect = popup(
        frame,
        area,
        78,
        u16::try_from(lines.len() + 2).unwrap_or(u16::MAX),
    );
    frame.render_widget(
        Paragraph::new(lines)
            .block(dialog_block(
                app,
                " Help · j/k scroll · any other key closes ",
            ))
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        rect,
    );
}

/// A list entry, highlighted when it is the one chosen.
pub(super) fn choice_style(
    theme: &crate::tui::theme::Theme,
    selected: bool,
) -> ratatui::style::Style {
    style(
        theme,
        if selected {
            Role::Selection
        } else {
            Role::Answer
        },
    )
}

/// What each layout or consumer is for, in the dialog.
fn format_note(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::Sharegpt => "conversations from/value",
        ExportFormat::Messages => "messages role/content",
        ExportFormat::Alpaca => "instruction/output (the original script)",
        ExportFormat::Trl => "messages + reasoning_content (TRL)",
        ExportFormat::LlamaFactory => "sharegpt + dataset_info.json",
        ExportFormat::MsSwift => "messages (ms-swift)",
        ExportFormat::Openai => "messages only (OpenAI)",
    }
}

pub(super) fn export(frame: &mut Frame<'_>, area: Rect, app: &App, dialog: &ExportDialog) {
    if let Some(plan) = &dialog.plan {
        return export_summary(frame, area, app, dialog, plan);
    }
    let theme = &app.settings.theme;
    let option = |selected: bool, label: &str| {
        if selected {
            Span::styled(format!("[{label}]"), style(theme, Role::Selection))
        } else {
            Span::styled(format!(" {label} "), style(theme, Role::Muted))
        }
    };
    let field = |f: ExportField, label: &'static str| {
        let role = if dialog.field == f {
            Role::KeyHint
        } else {
            Role::Answer
        };
        let marker = if dialog.field == f { "▸ " } else { "  " };
        Span::styled(format!("{marker}{label:<15}"), style(theme, role))
    };
    let format_line = vec![
        field(ExportField::Format, "Format"),
        Span::styled(
            format!("◂ {} ▸ ", dialog.format.as_str()),
            style(theme, Role::Selection),
        ),
        Span::styled(format_note(dialog.format), style(theme, Role::Muted)),
    ];
    let system_line = vec![
        field(ExportField::System, "System prompt"),
        option(dialog.system == SystemChoice::None, "none"),
        option(dialog.system == SystemChoice::Teacher, "teacher"),
    ];
    let meta_line = vec![
        field(ExportField::Meta, "Metadata"),
        option(
            dialog.with_meta,
            if dialog.with_meta {
                "✓ with meta"
            } else {
                "without"
            },
        ),
    ];
    let replayed_line = vec![
        field(ExportField::Replayed, "Replayed runs"),
        option(!dialog.include_replayed, "exclude"),
        option(dialog.include_replayed, "include"),
    ];
    let cursor = if dialog.field == ExportField::Path {
        "▏"
    } else {
        ""
    };
    let path_line = vec![
        field(ExportField::Path, "File"),
        Span::raw(format!("{}{cursor}", dialog.path)),
    ];
    let lines = vec![
        Line::from(Span::styled(
            "Accepted, complete outputs that pass their rules (or accepted anyway).",
            style(theme, Role::Muted),
        )),
        Line::default(),
        Line::from(format_line),
        Line::from(system_line),
        Line::from(meta_line),
        Line::from(replayed_line),
        Line::from(path_line),
        Line::default(),
        Line::from(Span::styled(
            if dialog.busy {
                "working out what to write…"
            } else {
                "Tab field · ←→ change · Enter review · Esc cancel"
            },
            style(theme, Role::KeyHint),
        )),
    ];
    let width = 72.min(area.width);
    let body = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = body.line_count(width.saturating_sub(2)) + 2;
    let rect = popup(frame, area, width, u16::try_from(rows).unwrap_or(u16::MAX));
    frame.render_widget(
        body.block(dialog_block(app, " Export accepted outputs ")),
        rect,
    );
}

/// What the export would write, before it is written: records, refusals and why, replayed
/// runs left out, the files (and which it would replace).
fn export_summary(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    dialog: &ExportDialog,
    plan: &crate::curate::ExportPlan,
) {
    let theme = &app.settings.theme;
    let muted = style(theme, Role::Muted);
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut lines = vec![Line::from(vec![
        Span::styled(
            plural(plan.records, "record", "records"),
            style(theme, Role::Title),
        ),
        Span::raw(format!(
            " as {} ({} edited, {} accepted anyway)",
            dialog.format.as_str(),
            plan.edited,
            plan.anyway
        )),
    ])];
    if !plan.refused.is_empty() {
        lines.push(Line::from(Span::styled(
            format!(
                "{} refused:",
                plural(plan.refused.len(), "output", "outputs")
            ),
            style(theme, Role::RuleFail),
        )));
        for refused in plan.refused.iter().take(5) {
            lines.push(Line::from(Span::styled(format!("  {refused}"), muted)));
        }
        if plan.refused.len() > 5 {
            lines.push(Line::from(Span::styled(
                format!("  … and {} more", plan.refused.len() - 5),
                muted,
            )));
        }
    }
    if plan.replayed > 0 {
        lines.push(Line::from(Span::styled(
            format!(
                "{} of the offline replay teacher left out (Replayed runs: include takes them)",
                plural(plan.replayed, "run", "runs")
            ),
            muted,
        )));
    }
    lines.push(Line::from("Writes:"));
    for file in &plan.files {
        let name = file
            .strip_prefix(&app.settings.workspace)
            .unwrap_or(file)
            .display()
            .to_string();
        let exists = if !plan.existing.contains(file) {
            ""
        } else if file.ends_with(crate::export::consumer::DATASET_INFO) {
            "  (exists: its entry for this file is replaced, the others kept)"
        } else {
            "  (exists: replaced)"
        };
        lines.push(Line::from(vec![
            Span::raw(format!("  {name}")),
            Span::styled(exists, style(theme, Role::Error)),
        ]));
    }
    if let Some(first) = plan.warnings.first() {
        lines.push(Line::from(Span::styled(format!("warning: {first}"), muted)));
    }
    lines.push(Line::default());
    let keys = if dialog.busy {
        "writing…".to_owned()
    } else if plan.records == 0 {
        "nothing to write · any key goes back".to_owned()
    } else if plan.existing.is_empty() {
        "Enter write · Esc back".to_owned()
    } else {
        "Overwrite? y write · any other key goes back".to_owned()
    };
    lines.push(Line::from(Span::styled(keys, style(theme, Role::KeyHint))));
    let width = 72.min(area.width);
    let body = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = body.line_count(width.saturating_sub(2)) + 2;
    let rect = popup(frame, area, width, u16::try_from(rows).unwrap_or(u16::MAX));
    frame.render_widget(body.block(dialog_block(app, " Export: review ")), rect);
}

pub(super) fn confirm_quit(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let theme = &app.settings.theme;
    let mut lines = Vec::new();
    if app.busy() {
        lines.push(Line::from(format!(
            "{} runs in flight, {} queued: quitting cancels them (what arrived is kept as incomplete).",
            app.active.len(),
            app.queue.pending.len()
        )));
    }
    if app.prompt.dirty {
        lines.push(Line::from(Span::styled(
            "The teacher prompt has unsaved changes: quitting loses them (n, then p and Ctrl-S saves).",
            style(theme, Role::Edited),
        )));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        "y quit · n stay",
        style(theme, Role::KeyHint),
    )));
    let width = 64.min(area.width);
    let body = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = body.line_count(width.saturating_sub(2)) + 2;
    let rect = popup(frame, area, width, u16::try_from(rows).unwrap_or(u16::MAX));
    frame.render_widget(body.block(dialog_block(app, " Quit? ")), rect);
}

pub(super) fn consent(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let theme = &app.settings.theme;
    let error = style(theme, Role::Error);
    let mut lines = vec![
        Line::from("A run wants to execute Python code the model wrote."),
        Line::default(),
    ];
    match &app.sandbox {
        None => lines.push(Line::from(
            "Checking what the sandbox can do on this machine…",
        )),
        Some(check) => match &check.interpreter {
            Err(why) => lines.push(Line::from(Span::styled(
                format!(
                    "The sandbox cannot start Python here: {why}. Blocks get an error \
                     instead of a result."
                ),
                error,
            ))),
            Ok(interpreter) => {
                let lacking = check.lacking(&app.settings.require);
                if !lacking.is_empty() {
                    let named: Vec<String> = lacking
                        .iter()
                        .map(|m| format!("{} ({})", m.protection, m.reason))
                        .collect();
                    lines.push(Line::from(Span::styled(
                        format!(
                            "No code runs: [exec] require names {}, which the sandbox does \
                             not have here. A run that reaches code stops there and is \
                             recorded incomplete.",
                            named.join("; ")
                        ),
                        error,
                    )));
                } else if check.missing.is_empty() {
                    lines.push(Line::from(format!(
                        "It runs in a sandbox with every protection ({interpreter}): a \
                         minimal read-only root with a size-limited private folder and none \
                         of your files, no network, an unprivileged user, time, memory and \
                         process limits, a syscall filter; it dies with moss."
                    )));
                } else {
                    lines.push(Line::from(format!(
                        "It runs in a sandbox ({interpreter}), but this machine does not \
                         give these protections:"
                    )));
                    // Protections refused for one reason (no namespaces, say) share a row.
                    let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
                    for missing in &check.missing {
                        let label = missing.protection.describe();
                        match reasons.iter_mut().find(|(r, _)| *r == missing.reason) {
                            Some((_, names)) => names.push(label),
                            None => reasons.push((&missing.reason, vec![label])),
                        }
                    }
                    for (reason, names) in reasons {
                        lines.push(Line::from(vec![
                            Span::styled("✗ ", error),
                            Span::styled(names.join(", "), error),
                            Span::raw(format!(": {reason}")),
                        ]));
                    }
                    lines.push(Line::from(
                        "[exec] require refuses to run code without the ones you name.",
                    ));
                }
            }
        },
    }
    lines.extend([
        Line::default(),
        Line::from("Allow code execution in this workspace? The answer is remembered."),
    ]);
    let width = 72.min(area.width);
    let body = Paragraph::new(lines).wrap(Wrap { trim: false });
    // Tall enough for every wrapped row (the reasons are what the user must read), with the
    // keys on a row of their own that stays in sight when the screen is too short for the rest.
    let rows = body.line_count(width.saturating_sub(2)) + 4;
    let rect = popup(frame, area, width, u16::try_from(rows).unwrap_or(u16::MAX));
    let block = dialog_block(app, " Run model-written code? ");
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [body_area, _, keys_area] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(body, body_area);
    frame.render_widget(
        Paragraph::new(Span::styled(
            "y allow · n never (blocks stay without results)",
            style(theme, Role::KeyHint),
        )),
        keys_area,
    );
}
