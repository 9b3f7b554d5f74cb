//! `generate` throughput against the in-process OpenAI-style server (`tests/support/openai_mock.rs`):
//!
//! - `generate 2000x400 c64`: 2,000 samples, each answer streamed as 400 content chunks with no
//!   latency, 64 runs in flight. Reports samples per second, and CPU seconds per 1,000 runs for
//!   the whole process and for moss alone (the server's thread subtracted).
//! - `generate ttft200ms c64`: 640 samples whose first token comes after 200 ms, 64 in flight.
//!   The ideal wall time is N × latency / concurrency = 2.0 s; the report gives the ratio.
//!
//! - `compare 40x2x3 ttft200ms c16`: `moss compare`'s work: 40 samples × 2 prompt versions ×
//!   3 repeats, first token after 200 ms, 16 in flight, then every run judged and the report
//!   built. Ideal: N × latency / concurrency = 240 × 0.2 / 16 = 3.0 s (3.2 s in whole waves of
//!   16, each variant run after the other). Reports wall and CPU seconds.
//!
//! Each pass is a real batch: rules judged, every run appended and synced to `.moss/runs.jsonl`
//! in a fresh workspace. Run without `--bench` (criterion's test mode) the batches are small.

#[path = "../tests/support/openai_mock.rs"]
mod openai_mock;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use moss_thinking::compare::{CompareOptions, VariantSpec, compare};
use moss_thinking::config::Layers;
use moss_thinking::exec::ExecConfig;
use moss_thinking::export::ExportFormat;
use moss_thinking::generate::{GenerateOptions, Sample, generate};
use moss_thinking::prompt::ModelParams;
use moss_thinking::run::{Judge, Pipeline, PromptVersion};
use moss_thinking::store::Workspace;
use moss_thinking::teacher::provider::OpenAiSettings;
use moss_thinking::teacher::{
    ContinuationStyle, OpenAiTeacher, ReasoningField, ReplayTeacher, RetryPolicy, Teacher,
    TeacherRequest, Timeouts,
};
use moss_thinking::transcript::{Rules, RulesConfig};
use openai_mock::{MockServer, Reply, StreamReply};
use tokio_util::sync::CancellationToken;

const CHUNKS: usize = 400;
const CONCURRENCY: usize = 64;
const FIRST_TOKEN: Duration = Duration::from_millis(200);

/// A recorded zh transcript with code and thinks, cut into exactly `CHUNKS` content deltas.
fn answer_reply(first_token: Duration) -> Reply {
    let text = ReplayTeacher::builtin().answer(&TeacherRequest {
        sample_id: "q21".to_owned(),
        system: String::new(),
        question: String::new(),
        params: ModelParams::default(),
        history: Vec::new(),
        continue_from: None,
    });
    let chars = text.chars().count();
    let per_chunk = chars.div_ceil(CHUNKS);
    let mut padded = text.clone();
    // Pad so the text splits into exactly CHUNKS pieces.
    while padded.chars().count() < per_chunk * CHUNKS {
        padded.push('。');
    }
    let reply = StreamReply::text(&padded, per_chunk).with_first_delay(first_token);
    Reply::Prepared(reply.prepare())
}

fn pipeline(base_url: &str) -> Arc<Pipeline> {
    let teacher = OpenAiTeacher::new(OpenAiSettings {
        provider: "mock".to_owned(),
        base_url: base_url.to_owned(),
        model: "mock-model".to_owned(),
        api_key: None,
        reasoning_field: ReasoningField::ReasoningContent,
        continuation: ContinuationStyle::None,
        continuation_base_url: None,
        timeouts: Timeouts {
            connect: Duration::from_secs(10),
            first_token: Duration::from_secs(60),
            idle: Duration::from_secs(60),
        },
        retry: RetryPolicy {
            max_retries: 0,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        },
    })
    .expect("client");
    let rules = Rules::new(RulesConfig::default()).expect("rules");
    Arc::new(Pipeline::new(
        Teacher::OpenAi(teacher),
        ExecConfig::default(),
        Arc::new(rules),
    ))
}

fn samples(n: usize) -> Vec<Sample> {
    (0..n)
        .map(|i| Sample {
            id: format!("s{i}"),
            question: format!("第 {i} 个问题：帮我算一下复利。"),
            tags: Vec::new(),
            interruptions: None,
        })
        .collect()
}

/// One batch in a fresh workspace; returns the wall time.
fn batch(
    runtime: &tokio::runtime::Runtime,
    pipeline: &Arc<Pipeline>,
    samples: &[Sample],
) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let workspace = Workspace::open(dir.path()).expect("workspace");
    let prompt = Arc::new(PromptVersion::new(
        "teacher prompt".to_owned(),
        "teacher prompt".to_owned(),
        ModelParams::default(),
    ));
    let options = GenerateOptions {
        concurrency: CONCURRENCY,
        limit: None,
        out: None,
        out_format: ExportFormat::Sharegpt,
        include_replayed: true,
        repeat: 1,
        interruptions: Vec::new(),
    };
    let start = Instant::now();
    let report = runtime
        .block_on(generate(
            Pipeline::clone(pipeline),
            prompt,
            samples,
            &workspace,
            &options,
            CancellationToken::new(),
            &mut |_| {},
        ))
        .expect("batch");
    let wall = start.elapsed();
    assert_eq!(
        report.complete,
        samples.len(),
        "{:?}",
        report.failures.first()
    );
    wall
}

/// CPU time of this process (user + system).
fn process_cpu() -> Duration {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
    };
    tv(usage.user_time()) + tv(usage.system_time())
}

/// CPU time of the mock server's thread, from /proc (clock ticks of 10 ms).
fn server_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "openai-mock" {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the ")" of the command name: utime is the 12th, stime the 13th.
        let after = stat.rsplit(')').next().unwrap_or_default();
        let fields: Vec<u64> = after
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
        return Duration::from_millis(ticks * 10);
    }
    Duration::ZERO
}

fn bench_generate(c: &mut Criterion) {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // No latency: how fast moss itself goes.
    let n = if benching { 2_000 } else { 100 };
    let reply = answer_reply(Duration::ZERO);
    let server = MockServer::start_background(move |_| reply.clone());
    let pipe = pipeline(&server.base_url);
    let work = samples(n);
    batch(&runtime, &pipe, &work); // warm up connections and caches
    let (cpu0, server0) = (process_cpu(), server_cpu());
    let wall = batch(&runtime, &pipe, &work);
    let cpu = process_cpu().saturating_sub(cpu0);
    let server_cpu_used = server_cpu().saturating_sub(server0);
    #[allow(clippy::cast_precision_loss)]
    let per_thousand = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
    #[allow(clippy::cast_precision_loss)]
    let rate = n as f64 / wall.as_secs_f64();
    eprintln!(
        "generate {n}x{CHUNKS} c{CONCURRENCY}: {rate:.0} samples/s ({:.2} s wall); CPU per 1,000 runs: {:.2} s in all, {:.2} s moss, {:.2} s server",
        wall.as_secs_f64(),
        per_thousand(cpu),
        per_thousand(cpu.saturating_sub(server_cpu_used)),
        per_thousand(server_cpu_used),
    );
    let mut group = c.benchmark_group("generate");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(format!("{n}x{CHUNKS} c{CONCURRENCY}"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| batch(&runtime, &pipe, &work)).sum());
    });
    drop(server);

    // 200 ms to the first token: concurrency should hide the latency.
    let n = if benching { 640 } else { 128 };
    let reply = answer_reply(FIRST_TOKEN);
    let server = MockServer::start_background(move |_| reply.clone());
    let pipe = pipeline(&server.base_url);
    let work = samples(n);
    #[allow(clippy::cast_possible_truncation)]
    let ideal = FIRST_TOKEN * (n / CONCURRENCY) as u32;
    let wall = batch(&runtime, &pipe, &work);
    eprintln!(
        "generate {n} with {} ms first token c{CONCURRENCY}: {:.3} s wall, ideal {:.3} s ({:+.1}%)",
        FIRST_TOKEN.as_millis(),
        wall.as_secs_f64(),
        ideal.as_secs_f64(),
        (wall.as_secs_f64() / ideal.as_secs_f64() - 1.0) * 100.0
    );
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(format!("ttft200ms {n} c{CONCURRENCY}"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| batch(&runtime, &pipe, &work)).sum());
    });
    group.finish();
}

/// One comparison of two prompt versions in a fresh workspace; returns the wall time.
fn comparison(
    runtime: &tokio::runtime::Runtime,
    pipeline: &Arc<Pipeline>,
    samples: &[Sample],
    repeat: usize,
) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let workspace = Workspace::open(dir.path()).expect("workspace");
    let variants = ["v1", "v2"]
        .map(|label| VariantSpec {
            label: label.to_owned(),
            pipeline: Pipeline::clone(pipeline),
            prompt: Arc::new(PromptVersion::new(
                format!("teacher prompt {label}"),
                format!("teacher prompt {label}"),
                ModelParams::default(),
            )),
        })
        .into_iter()
        .collect();
    let mut judge = Judge::new(Layers::default()).expect("judge");
    let options = CompareOptions {
        concurrency: 16,
        limit: None,
        repeat,
    };
    let start = Instant::now();
    let comparison = runtime
        .block_on(compare(
            variants,
            samples,
            &workspace,
            &mut judge,
            &options,
            CancellationToken::new(),
            &mut |_, _| {},
        ))
        .expect("comparison");
    let wall = start.elapsed();
    assert_eq!(comparison.report.variants[1].runs, samples.len() * repeat);
    wall
}

fn bench_compare(c: &mut Criterion) {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (n, repeat) = if benching { (40, 3) } else { (8, 2) };
    let reply = answer_reply(FIRST_TOKEN);
    let server = MockServer::start_background(move |_| reply.clone());
    let pipe = pipeline(&server.base_url);
    let work = samples(n);
    let cpu0 = process_cpu();
    let wall = comparison(&runtime, &pipe, &work, repeat);
    let cpu = process_cpu().saturating_sub(cpu0);
    let runs = n * 2 * repeat;
    #[allow(clippy::cast_possible_truncation)]
    let ideal = FIRST_TOKEN * (runs / 16) as u32;
    eprintln!(
        "compare {n}x2x{repeat} with {} ms first token c16: {:.3} s wall, ideal {:.3} s; {:.2} s CPU (server included)",
        FIRST_TOKEN.as_millis(),
        wall.as_secs_f64(),
        ideal.as_secs_f64(),
        cpu.as_secs_f64(),
    );
    let mut group = c.benchmark_group("compare");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.throughput(Throughput::Elements(runs as u64));
    group.bench_function(format!("{n}x2x{repeat} ttft200ms c16"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| comparison(&runtime, &pipe, &work, repeat))
                .sum()
        });
    });
    group.finish();
}

criterion_group!(benches, bench_generate, bench_compare);
criterion_main!(benches);
