//! What the sandbox costs per block: the wall time of running `print(1)` in it, start to result
//! (interpreter resolution, the helper's three stages, namespaces, the new root, the
//! interpreter's start-up, the report, reaping), on the default `[exec]` settings, one block at a
//! time; and the time of `Sandbox::check`, which `generate` and the workbench run once.
//!
//! Run with `cargo bench --bench exec`; criterion reports the median.

use criterion::{Criterion, criterion_group, criterion_main};
use moss_thinking::exec::{ExecConfig, ExecStatus, Sandbox};
use tokio_util::sync::CancellationToken;

fn sandbox_overhead(c: &mut Criterion) {
    moss_thinking::exec::use_helper(env!("CARGO_BIN_EXE_moss"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sandbox = Sandbox::new(ExecConfig::default());
    let cancel = CancellationToken::new();
    let first = runtime.block_on(sandbox.run("print(1)\n", &cancel));
    assert_eq!(first.status, ExecStatus::Success, "{first:?}");
    assert_eq!(first.stdout, "1\n");

    let mut group = c.benchmark_group("exec");
    group.sample_size(40);
    group.bench_function("print(1) block", |b| {
        b.iter(|| runtime.block_on(sandbox.run("print(1)\n", &cancel)));
    });
    group.bench_function("sandbox check", |b| {
        b.iter(|| runtime.block_on(sandbox.check()));
    });
    group.finish();
}

criterion_group!(benches, sandbox_overhead);
criterion_main!(benches);
