//! Writes a synthetic dataset shaped like the public Chinese DeepSeek-R1 110k SFT set, for
//! benchmarking `moss check` without committing or downloading data:
//!
//! ```text
//! cargo run --release --example gen_r1 -- OUT.jsonl [--records N] [--seed S]
//! ```
//!
//! The defaults (110,000 records, seed 1) make the ~700 MB file `benches/check.rs` uses.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;

#[path = "../benches/support/synth.rs"]
mod synth;

/// Write an r1-shaped JSONL dataset.
#[derive(Debug, Parser)]
struct Args {
    /// Output file.
    out: PathBuf,
    /// Records to write.
    #[arg(long, default_value_t = synth::R1_RECORDS)]
    records: usize,
    /// Generator seed; the same records and seed give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let file =
        File::create(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let bytes = synth::write_r1_jsonl(&mut out, args.records, args.seed)
        .and_then(|bytes| out.flush().map(|()| bytes))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let secs = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)] // file sizes stay far below 2^52
    let mb = bytes as f64 / 1e6;
    println!(
        "wrote {bytes} bytes ({mb:.1} MB, {} records) to {} in {secs:.1} s",
        args.records,
        args.out.display()
    );
    Ok(())
}
