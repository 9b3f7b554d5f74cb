//! `moss check` throughput on generated r1-shaped datasets (see `support/synth.rs`):
//!
//! - `check r1 110k`: the whole ~700 MB, 110,000-record file the performance goal is about
//!   (≥ 150 MB/s on 2 cores), ten full passes;
//! - `check r1 5k`: 5,000 records (~31 MB) for a quick signal, with every core and with one.
//!
//! The files are generated under `<target>/bench-data/` (the target directory is
//! `$CARGO_TARGET_DIR` or `target/` beside `Cargo.toml`) and reused while the generator version,
//! record count, seed and size match the stamp written beside them. Throughput is in decimal
//! MB/s, as the goal states it.
//!
//! Run without `--bench` (`cargo test --benches`, criterion's test mode), only the 5k group
//! runs, so tests never write the 700 MB file.

use std::fs;
use std::hint::black_box;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use moss_thinking::check::{CheckOptions, CheckReport, check_files};
use moss_thinking::transcript::{Rules, RulesConfig};

#[path = "support/synth.rs"]
mod synth;

const SEED: u64 = 1;
const SMALL_RECORDS: usize = 5_000;
/// Full passes over the 110k file.
const FULL_PASSES: u32 = 10;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    )
}

/// The generated dataset of `records` records, made unless a current one is already there.
fn dataset(records: usize) -> (PathBuf, u64) {
    let dir = target_dir().join("bench-data");
    let name = if records.is_multiple_of(1000) {
        format!("r1-{}k.jsonl", records / 1000)
    } else {
        format!("r1-{records}.jsonl")
    };
    let path = dir.join(&name);
    let stamp_path = dir.join(format!("{name}.stamp"));
    let stamp = |bytes: u64| {
        format!(
            "generator={} records={records} seed={SEED} bytes={bytes}\n",
            synth::R1_GENERATOR_VERSION
        )
    };
    if let (Ok(meta), Ok(found)) = (fs::metadata(&path), fs::read_to_string(&stamp_path))
        && found == stamp(meta.len())
    {
        return (path, meta.len());
    }
    fs::create_dir_all(&dir).expect("create the bench-data directory");
    let started = Instant::now();
    // Written aside and renamed, so an interrupted run never leaves a file that looks complete.
    let partial = dir.join(format!("{name}.partial"));
    let file = fs::File::create(&partial).expect("create the dataset file");
    let mut out = io::BufWriter::with_capacity(1 << 20, file);
    let bytes = synth::write_r1_jsonl(&mut out, records, SEED).expect("write the dataset");
    let file = out.into_inner().expect("flush the dataset");
    drop(file);
    fs::rename(&partial, &path).expect("rename the dataset into place");
    fs::write(&stamp_path, stamp(bytes)).expect("write the dataset stamp");
    eprintln!(
        "generated {} ({bytes} bytes, {records} records) in {:.1?}",
        path.display(),
        started.elapsed()
    );
    (path, bytes)
}

fn check(paths: &[PathBuf], rules: &Rules, options: &CheckOptions) -> CheckReport {
    check_files(paths, rules, options, &mut io::sink(), &mut io::sink()).expect("check the dataset")
}

/// One checked pass that must see every record: it validates the file, fills the page cache and
/// times a pass.
fn validate(paths: &[PathBuf], bytes: u64, records: usize, rules: &Rules) -> Duration {
    let started = Instant::now();
    let report = check(paths, rules, &CheckOptions::default());
    let elapsed = started.elapsed();
    assert_eq!(report.records, records as u64, "records checked");
    assert_eq!(report.skipped, 0, "bad records");
    // `bytes` counts raw records, without the newlines between them.
    assert!(
        report.bytes <= bytes && bytes - report.bytes <= records as u64,
        "read {} of {bytes} bytes",
        report.bytes
    );
    elapsed
}

fn bench(c: &mut Criterion) {
    let rules = Rules::new(RulesConfig::default()).expect("default rules");
    let benching = std::env::args().any(|arg| arg == "--bench");

    if benching {
        let (path, bytes) = dataset(synth::R1_RECORDS);
        let paths = [path];
        let pass = validate(&paths, bytes, synth::R1_RECORDS, &rules);
        #[allow(clippy::cast_precision_loss)] // file sizes stay far below 2^52
        let rate = bytes as f64 / pass.as_secs_f64() / 1e6;
        eprintln!("check r1 110k: first pass {pass:.2?} ({rate:.0} MB/s)");

        let mut group = c.benchmark_group("check r1 110k");
        group.throughput(Throughput::BytesDecimal(bytes));
        // One pass per sample: flat sampling, the one warm-up pass the shortest warm-up allows,
        // and a target a little under ten passes, so a warm-up pass that runs slightly faster
        // than the timed one does not double the samples. (Criterion warns that it cannot
        // complete ten samples in that target whenever a sample is a single iteration.)
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(FULL_PASSES as usize);
        group.warm_up_time(Duration::from_millis(1));
        group.measurement_time((pass * FULL_PASSES).mul_f64(0.8));
        group.bench_function("default rules, all cores", |b| {
            b.iter(|| black_box(check(&paths, &rules, &CheckOptions::default())));
        });
        group.finish();
    }

    let (path, bytes) = dataset(SMALL_RECORDS);
    let paths = [path];
    validate(&paths, bytes, SMALL_RECORDS, &rules);
    let mut group = c.benchmark_group("check r1 5k");
    group.throughput(Throughput::BytesDecimal(bytes));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("default rules, all cores", |b| {
        b.iter(|| black_box(check(&paths, &rules, &CheckOptions::default())));
    });
    let one_thread = CheckOptions {
        threads: 1,
        ..CheckOptions::default()
    };
    group.bench_function("default rules, 1 worker", |b| {
        b.iter(|| black_box(check(&paths, &rules, &one_thread)));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
