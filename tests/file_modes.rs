//! Files moss writes for people get the mode an editor would give them: a new file 0666 less
//! the umask, a replaced file its own mode, a symbolic link written through. Each `moss` here is
//! started under its own umask (by `sh`), since this process's umask is shared by every test.

#[path = "support/moss_cli.rs"]
mod moss_cli;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use moss_cli::{Bench, FAST_REPLAY, jsonl_lines, run, stderr};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `moss generate` over two samples under `umask`, with `out_args` added.
fn generate(bench: &Bench, umask: &str, out_args: &[&str]) {
    let mut args = Bench::generate_args("2");
    if !out_args.is_empty() {
        // The replay teacher answers here: its runs go to --out only when asked.
        args.push("--include-replayed".to_owned());
    }
    args.extend(out_args.iter().map(|a| (*a).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(bench.moss_with_umask(Some(umask), &args));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

fn export(bench: &Bench, umask: &str, out: &str) {
    let output =
        run(bench.moss_with_umask(Some(umask), &["export", "--out", out, "--include-replayed"]));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn new_out_files_and_exports_get_0666_less_the_umask() {
    let bench = Bench::new(FAST_REPLAY);
    generate(&bench, "022", &["--out", "out-022.jsonl"]);
    bench.accept_all();
    for (umask, expected) in [
        ("022", 0o644),
        ("027", 0o640),
        ("077", 0o600),
        ("002", 0o664),
    ] {
        let out = format!("out-{umask}.jsonl");
        if umask != "022" {
            // A rerun resumes (nothing is run again) and still writes --out.
            generate(&bench, umask, &["--out", &out]);
        }
        assert_eq!(
            mode(&bench.path(&out)),
            expected,
            "--out under umask {umask}"
        );
        assert_eq!(jsonl_lines(&bench.path(&out)), 2);
        let curated = format!("curated-{umask}.jsonl");
        export(&bench, umask, &curated);
        assert_eq!(
            mode(&bench.path(&curated)),
            expected,
            "export under umask {umask}"
        );
        assert_eq!(jsonl_lines(&bench.path(&curated)), 2);
    }
    // The workspace's own files follow the umask too (so another user can export from it).
    let snapshots: Vec<_> = std::fs::read_dir(bench.path(".moss/prompts"))
        .expect("snapshots")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(snapshots.len(), 1);
    assert_eq!(mode(&snapshots[0]), 0o644);
    assert_eq!(mode(&bench.path(".moss/runs.jsonl")), 0o644);
}

#[test]
fn a_replaced_out_file_or_export_keeps_its_mode() {
    let bench = Bench::new(FAST_REPLAY);
    for (name, kept) in [("out.jsonl", 0o640), ("curated.jsonl", 0o604)] {
        std::fs::write(bench.path(name), "old\n").expect("old file");
        chmod(&bench.path(name), kept);
    }
    generate(&bench, "022", &["--out", "out.jsonl"]);
    bench.accept_all();
    export(&bench, "077", "curated.jsonl");
    for (name, kept) in [("out.jsonl", 0o640), ("curated.jsonl", 0o604)] {
        assert_eq!(mode(&bench.path(name)), kept, "{name}");
        assert_eq!(jsonl_lines(&bench.path(name)), 2, "{name} replaced");
    }
}

#[test]
fn an_export_through_a_symlink_replaces_its_target_and_keeps_the_link() {
    let bench = Bench::new(FAST_REPLAY);
    generate(&bench, "022", &[]);
    bench.accept_all();
    std::fs::create_dir(bench.path("shared")).expect("mkdir");
    let target = bench.path("shared/curated.jsonl");
    std::fs::write(&target, "old\n").expect("old file");
    chmod(&target, 0o640);
    symlink("shared/curated.jsonl", bench.path("curated.jsonl")).expect("link");

    export(&bench, "077", "curated.jsonl");
    let link = std::fs::symlink_metadata(bench.path("curated.jsonl")).expect("lstat");
    assert!(link.file_type().is_symlink(), "the link stays a link");
    assert_eq!(jsonl_lines(&target), 2, "the target has the export");
    assert_eq!(mode(&target), 0o640);
    let names: Vec<_> = std::fs::read_dir(bench.path("shared"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["curated.jsonl"], "no temporary file left");
}
