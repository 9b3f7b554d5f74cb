//! `moss export --check-template` on 10,000 records: every record rendered with a chat template
//! three ways (the prompt, the prompt with the answer, and for failures a character diff of the
//! cut answer), as the export does before writing.
//!
//! - `template check 10k trl`: the answers survive (the common case, what an export that passes
//!   costs);
//! - `template check 10k messages`: the template splits every answer on `</think>`, so each
//!   record fails and its cut text is diffed (the worst case).
//!
//! The template is the test fixture `tests/fixtures/templates/split_think.jinja`; answers are
//! synthetic transcripts of about 1.5 KB (see `support/synth.rs`).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moss_thinking::export::template::{ChatTemplate, CheckRecord, check};
use moss_thinking::export::{Example, ExportFormat};

#[path = "support/synth.rs"]
mod synth;

const RECORDS: usize = 10_000;
const ANSWER_BYTES: usize = 1_500;

fn bench_template_check(c: &mut Criterion) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/templates/split_think.jinja");
    let template = ChatTemplate::load(&path).expect("the fixture template compiles");
    let mut rng = synth::Rng::new(7);
    let questions: Vec<String> = (0..RECORDS)
        .map(|i| format!("问题 {i}：请解释一下。"))
        .collect();
    let answers: Vec<String> = (0..RECORDS)
        .map(|_| synth::transcript(&mut rng, ANSWER_BYTES))
        .collect();
    let ids: Vec<String> = (0..RECORDS).map(|i| format!("s{i:05}")).collect();
    let examples: Vec<Example<'_>> = questions
        .iter()
        .zip(&answers)
        .map(|(question, answer)| Example {
            system: Some("你是一位老师。"),
            question,
            answer,
            earlier: Vec::new(),
            extra: None,
        })
        .collect();
    let records = |format: ExportFormat| {
        examples
            .iter()
            .zip(&ids)
            .enumerate()
            .map(move |(at, (example, id))| CheckRecord {
                line: at + 1,
                sample_id: id,
                messages: example.chat(format),
            })
    };

    let mut group = c.benchmark_group("template check");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(RECORDS as u64));
    for (name, format, passes) in [
        ("10k trl", ExportFormat::Trl, true),
        ("10k messages", ExportFormat::Messages, false),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let report = check(&template, records(format)).expect("renders");
                assert_eq!(report.passed(), passes);
                black_box(report)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_template_check);
criterion_main!(benches);
