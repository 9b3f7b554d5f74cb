//! Snapshots of real workbench screens drawn into a `TestBackend`, at 100×30 and 60×20.

#[macro_use]
#[path = "support/workbench.rs"]
mod workbench;

use std::time::Duration;

use moss_thinking::exec::Protection;
use moss_thinking::run::{RunEvent, RunStatus, ServiceEvent, prompt_id};
use moss_thinking::store::Session;
use moss_thinking::tui::update::{Msg, update};
use workbench::{GOOD, PROMPT, app, app_with, press, press_and_start, run, sandbox_check, service};

const CODE: &str = "2的64次方是18446744073709551616。\n<think>用代码核对。</think>\n我用Python算一下：\n```python RUN\nprint(2 ** 64)\n```\n<execute_result>\n18446744073709551616\n</execute_result>\n结果一致。\n<think>再确认。</think>\n没有溢出，Python整数不限长度。";

#[test]
fn start_screen() {
    snapshot!("start", app);
}

#[test]
fn streaming_mid_think_over_budget() {
    snapshot!("streaming_over_budget", || {
        let mut app = app();
        let Some((key, _)) = press_and_start(&mut app, "enter").first().cloned() else {
            panic!("a run starts");
        };
        let text = "是蓝色。\n<think>这里的思考远远超过了前面回答的字数，预算";
        let chars: Vec<char> = text.chars().collect();
        for chunk in chars.chunks(4) {
            service(
                &mut app,
                ServiceEvent::Run {
                    key,
                    elapsed: Duration::from_millis(850),
                    event: RunEvent::Text {
                        text: chunk.iter().collect(),
                        system: false,
                    },
                },
            );
        }
        app
    });
}

#[test]
fn cjk_transcript() {
    snapshot!("cjk_transcript", || {
        app_with(
            vec![run("q01", GOOD, RunStatus::Complete)],
            Vec::new(),
            Session::default(),
        )
    });
}

#[test]
fn code_with_its_result() {
    snapshot!("code_with_result", || {
        let mut app = app_with(
            vec![run("q03", CODE, RunStatus::Complete)],
            Vec::new(),
            Session {
                selected: Some("q03".to_owned()),
                exec_consent: Some(true),
            },
        );
        // The transcript pane has focus, at its top.
        press(&mut app, "tab");
        press(&mut app, "g");
        app
    });
}

#[test]
fn help_overlay() {
    snapshot!("help", || {
        let mut app = app();
        press(&mut app, "?");
        app
    });
}

#[test]
fn export_dialog() {
    snapshot!("export_dialog", || {
        let mut app = app_with(
            vec![run("q01", GOOD, RunStatus::Complete)],
            Vec::new(),
            Session::default(),
        );
        press(&mut app, "o");
        app
    });
}

#[test]
fn prompt_diff() {
    snapshot!("prompt_diff", || {
        let old = "+++\ntemperature = 0.7\n+++\n你是老师。先思考，再回答。\n";
        let mut old_run = run("q01", GOOD, RunStatus::Complete);
        old_run.prompt_id = prompt_id(old);
        old_run.run_id = "old".to_owned();
        // 2026-11-20 and 2026-11-24: the old version ran first.
        old_run.timings.started_at_ms = 1_795_132_800_000;
        let mut new_run = run("q02", GOOD, RunStatus::Complete);
        new_run.timings.started_at_ms = 1_795_478_400_000;
        let mut app = app_with(vec![old_run, new_run], Vec::new(), Session::default());
        app.prompt
            .texts
            .insert(prompt_id(old), std::sync::Arc::from(old));
        assert_ne!(prompt_id(old), prompt_id(PROMPT));
        // The current version is selected: its diff against the one before.
        press(&mut app, "h");
        app
    });
}

#[test]
fn a_dialog_over_wide_characters_keeps_its_border() {
    let mut app = app();
    service(&mut app, ServiceEvent::ConsentNeeded);
    // Chinese questions run under the dialog's left edge, at odd and even columns.
    app.samples = (0..30)
        .map(|i| moss_thinking::generate::Sample {
            id: format!("q{i:02}"),
            question: "很长的中文问题".repeat(8),
            tags: Vec::new(),
            interruptions: None,
        })
        .collect();
    app.visible = (0..app.samples.len()).collect();
    for width in [101, 102] {
        let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, 30))
            .expect("terminal");
        terminal
            .draw(|frame| moss_thinking::tui::view::draw(frame, &mut app))
            .expect("draws");
        let buf = terminal.backend().buffer();
        let (x, top) = (0..buf.area.height)
            .find_map(|y| {
                (0..buf.area.width)
                    .find(|&x| buf[(x, y)].symbol() == "┌" && buf[(x + 2, y)].symbol() == "R")
                    .map(|x| (x, y))
            })
            .expect("the dialog is drawn");
        let mut y = top + 1;
        while buf[(x, y)].symbol() != "└" {
            assert_eq!(buf[(x, y)].symbol(), "│", "row {y} at width {width}");
            // Nothing wide sits just left of the border, where it would cover it.
            let left = buf[(x - 1, y)].symbol();
            assert!(
                unicode_width::UnicodeWidthStr::width(left) <= 1,
                "{left:?} covers the border on row {y}"
            );
            y += 1;
        }
    }
}

#[test]
fn a_long_question_wraps_within_the_pane() {
    snapshot!("long_question", || {
        let mut app = app();
        app.samples[0].question =
            "本金10万元，年化利率3.5%，按月复利，存10年后本息合计多少？和按年复利差多少？如果每年再追加一万元，结果又如何？请分别列出。".to_owned();
        app
    });
}

#[test]
fn consent_while_the_sandbox_is_checked() {
    snapshot!("consent_checking", || {
        let mut app = app();
        service(&mut app, ServiceEvent::ConsentNeeded);
        app
    });
}

#[test]
fn consent_with_every_protection() {
    snapshot!("consent_every_protection", || {
        let mut app = app();
        update(
            &mut app,
            Msg::SandboxChecked(Box::new(sandbox_check(
                Ok("Python 3.12.3 (/usr/bin/python3.12)"),
                &[],
            ))),
        );
        service(&mut app, ServiceEvent::ConsentNeeded);
        app
    });
}

#[test]
fn consent_lists_the_protections_this_machine_refuses() {
    snapshot!("consent_missing_protections", || {
        let mut app = app();
        update(
            &mut app,
            Msg::SandboxChecked(Box::new(sandbox_check(
                Ok("Python 3.12.3 (/usr/bin/python3.12)"),
                &[
                    (
                        Protection::FilesystemIsolated,
                        "user namespaces are disabled (kernel.unprivileged_userns_clone = 0)",
                    ),
                    (
                        Protection::DiskLimit,
                        "user namespaces are disabled (kernel.unprivileged_userns_clone = 0)",
                    ),
                    (Protection::NetworkIsolated, "需要用户命名空间"),
                    (
                        Protection::ProcessLimit,
                        "moss runs as root without a user namespace",
                    ),
                ],
            ))),
        );
        service(&mut app, ServiceEvent::ConsentNeeded);
        app
    });
}

#[test]
fn consent_says_require_refuses_every_block() {
    snapshot!("consent_refused_by_require", || {
        let mut app = app();
        app.settings.require = vec![Protection::FilesystemIsolated];
        update(
            &mut app,
            Msg::SandboxChecked(Box::new(sandbox_check(
                Ok("Python 3.12.3 (/usr/bin/python3.12)"),
                &[(
                    Protection::FilesystemIsolated,
                    "user namespaces are disabled",
                )],
            ))),
        );
        service(&mut app, ServiceEvent::ConsentNeeded);
        app
    });
}

/// A 169-character Chinese think, the kind a curator trims: far over its budget.
const LONG_THINK: &str = "天空是蓝色的。\n<think>这里需要解释瑞利散射：太阳光包含各种波长的可见光，大气中的氮气和氧气分子尺寸远小于光的波长，散射强度与波长的四次方成反比，所以短波长的蓝光和紫光被散射得最多；人眼对紫光不如对蓝光敏感，而且部分紫光在高层大气被吸收，因此我们看到的是蓝色。日落时光线斜穿更厚的大气层，蓝光在途中几乎被散射殆尽，剩下红橙色的光到达眼睛，所以天边发红。</think>\n这就是原因。";

#[test]
fn output_editor_wraps_chinese_and_shows_budgets_as_you_type() {
    snapshot!("output_editor", || {
        let mut app = app_with(
            vec![run("q01", LONG_THINK, RunStatus::Complete)],
            Vec::new(),
            Session::default(),
        );
        press(&mut app, "e");
        // Typed into the first answer: the think's budget grows with it at once (6 → 10),
        // before any save.
        press(&mut app, "end");
        workbench::type_text(&mut app, "补充一句。");
        app
    });
}

#[test]
fn prompt_editor_wraps_long_lines() {
    snapshot!("prompt_editor", || {
        let mut app = app();
        press(&mut app, "p");
        workbench::type_text(
            &mut app,
            "每一段思考的字数都不能超过它前面那段回答的字数，思考要短，回答要先行，代码之前先想一想再写，运行结果会自动放在代码块后面。",
        );
        app
    });
}

#[test]
fn review_list_shows_decisions_beside_rule_state() {
    snapshot!("review_list", || {
        let accepted = run("q01", GOOD, RunStatus::Complete);
        let over = run("q02", LONG_THINK, RunStatus::Complete);
        let mut rejected = moss_thinking::store::Decision::new(
            &over.run_id,
            "q02",
            moss_thinking::store::Verdict::Rejected,
            2,
        );
        rejected.reason = Some("思考超出预算".to_owned());
        let decisions = vec![
            moss_thinking::store::Decision::new(
                &accepted.run_id,
                "q01",
                moss_thinking::store::Verdict::Accepted,
                1,
            ),
            rejected,
        ];
        let mut app = app_with(
            vec![accepted, over, run("q03", LONG_THINK, RunStatus::Complete)],
            decisions,
            Session {
                selected: Some("q02".to_owned()),
                exec_consent: None,
            },
        );
        app.focus = moss_thinking::tui::app::Pane::Rules;
        app
    });
}

#[test]
fn reject_and_bulk_dialogs() {
    snapshot!("reject_dialog", || {
        let mut app = app_with(
            vec![run("q02", LONG_THINK, RunStatus::Complete)],
            Vec::new(),
            Session {
                selected: Some("q02".to_owned()),
                exec_consent: None,
            },
        );
        press(&mut app, "x");
        workbench::type_text(&mut app, "回答太短");
        app
    });
    snapshot!("bulk_dialog", || {
        let mut app = app_with(
            vec![
                run("q01", GOOD, RunStatus::Complete),
                run("q02", LONG_THINK, RunStatus::Complete),
                run("q03", GOOD, RunStatus::Complete),
            ],
            Vec::new(),
            Session::default(),
        );
        press(&mut app, "b");
        press(&mut app, "enter");
        app
    });
}

#[test]
fn export_summary_before_writing() {
    snapshot!("export_summary", || {
        let mut app = app();
        press(&mut app, "o");
        press(&mut app, "left"); // openai
        press(&mut app, "left"); // ms-swift
        press(&mut app, "left"); // llama-factory
        press(&mut app, "enter");
        let workspace = app.settings.workspace.clone();
        update(
            &mut app,
            Msg::ExportPlanned(Ok(moss_thinking::curate::ExportPlan {
                records: 12,
                edited: 3,
                anyway: 1,
                refused: vec![
                    "q07 (run 1a2b): fails think-budget (accept it anyway in the workbench, A, to export it)".to_owned(),
                    "q09 (run 3c4d): the offline replay's placeholder, not a model's answer".to_owned(),
                ],
                replayed: 4,
                files: vec![
                    workspace.join("curated.jsonl"),
                    workspace.join("dataset_info.json"),
                ],
                existing: vec![workspace.join("dataset_info.json")],
                warnings: Vec::new(),
            })),
        );
        app
    });
}

#[test]
fn whole_question() {
    snapshot!("whole_question", || {
        let mut app = app();
        app.samples[0].question =
            "下面是一份员工工资表（CSV）：\nname,dept,salary\n张三,研发,18000\n李四,销售,12000\n\n请按部门算平均工资，并指出最高的部门。".to_owned();
        press(&mut app, "i");
        app
    });
}

/// An answer in markdown, a think, and a table still arriving.
const MARKDOWN: &str = "## 各部门平均工资\n研发部**最高**，财务部最低；用 `csv` 模块算的。\n<think>按部门分组求平均，再排序。</think>\n| 部门 | 平均工资 |\n|:--|--:|\n| 研发 | 21166.67 |\n| 市场 | 15900 |\n| 财";

#[test]
fn markdown_renders_in_the_stream() {
    snapshot!("streaming_markdown", || {
        let mut app = app();
        let Some((key, _)) = press_and_start(&mut app, "enter").first().cloned() else {
            panic!("a run starts");
        };
        let chars: Vec<char> = MARKDOWN.chars().collect();
        for chunk in chars.chunks(5) {
            service(
                &mut app,
                ServiceEvent::Run {
                    key,
                    elapsed: Duration::from_millis(850),
                    event: RunEvent::Text {
                        text: chunk.iter().collect(),
                        system: false,
                    },
                },
            );
        }
        app
    });
}
