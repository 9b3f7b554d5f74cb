//! Parser + word counting throughput on a ~10 MB synthetic transcript, whole and in 16-byte chunks.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moss_thinking::transcript::{CountMode, StreamParser, Transcript};
use std::hint::black_box;

#[path = "support/synth.rs"]
mod synth;

const SIZE: usize = 10 * 1024 * 1024;

/// As a live run does it: owned events per chunk (they cross a channel), folded into a transcript.
fn parse_chunked(chunks: &[&str]) -> Transcript {
    let mut transcript = Transcript::new(CountMode::Mixed);
    let mut parser = StreamParser::new();
    for chunk in chunks {
        for event in parser.push(chunk) {
            transcript.apply(event);
        }
    }
    for event in parser.finish() {
        transcript.apply(event);
    }
    transcript
}

fn bench(c: &mut Criterion) {
    let text = synth::transcript(&mut synth::Rng::new(7), SIZE);
    let chunks = synth::chunks(&text, 16);
    let mut group = c.benchmark_group("parse+count 10MB");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(10);
    group.bench_function("whole", |b| {
        b.iter(|| black_box(Transcript::parse(black_box(&text), CountMode::Mixed)));
    });
    let mut reused = Transcript::new(CountMode::Mixed);
    let mut parser = StreamParser::new();
    group.bench_function("whole, reused buffers", |b| {
        b.iter(|| {
            reused.parse_into(black_box(&text), &mut parser);
            black_box(reused.segments.len())
        });
    });
    group.bench_function("16-byte chunks, fed to the transcript", |b| {
        b.iter(|| {
            let mut transcript = Transcript::new(CountMode::Mixed);
            let mut parser = StreamParser::new();
            for chunk in black_box(&chunks) {
                parser.feed(chunk, &mut transcript);
            }
            parser.finish_into(&mut transcript);
            black_box(transcript.segments.len())
        });
    });
    group.bench_function("16-byte chunks, owned events", |b| {
        b.iter(|| black_box(parse_chunked(black_box(&chunks))));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
