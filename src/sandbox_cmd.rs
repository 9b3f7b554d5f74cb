//! `moss sandbox`: what the sandbox for model-written code gives on this machine, or one
//! piece of code run in it exactly as a `python RUN` block would be.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use moss_thinking::config::Layers;
use moss_thinking::exec::{Protection, Sandbox, SandboxCheck};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Python code to run in the sandbox (`-` reads standard input). Without it, moss checks
    /// the sandbox and lists each protection with why it is missing, if it is.
    #[arg(value_name = "FILE")]
    code: Option<PathBuf>,
    /// Print the whole outcome (status, output, protections) as JSON instead of the block.
    #[arg(long)]
    json: bool,
    /// The workspace whose moss.toml [exec] settings apply (default: the current directory).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
}

/// Exit status when the code failed, or a protection `[exec] require` names is missing.
const EXIT_FAILED: u8 = 1;

pub fn run(args: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let workspace = args.workspace.clone().unwrap_or(cwd);
    let config = Layers::discover(&workspace)?.resolve()?;
    let sandbox = Sandbox::new(config.exec.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let Some(path) = &args.code else {
        let check = runtime.block_on(sandbox.check());
        let mut out = io::stdout().lock();
        if args.json {
            writeln!(out, "{}", check_json(&check))?;
        } else {
            write_check(&check, &config.exec.require, &mut out)?;
        }
        let refused = !check.lacking(&config.exec.require).is_empty();
        return Ok(if check.works() && !refused {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_FAILED)
        });
    };
    let code = if path.as_os_str() == "-" {
        let mut code = String::new();
        io::stdin()
            .read_to_string(&mut code)
            .context("cannot read the code from standard input")?;
        code
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    let outcome = runtime.block_on(sandbox.run(&code, &CancellationToken::new()));
    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&outcome)?)?;
    } else {
        writeln!(out, "{}", outcome.to_block())?;
    }
    Ok(if outcome.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

/// Before a batch runs code: checks the sandbox and says what it lacks here; refuses when
/// Python cannot run or a protection `[exec] require` names is missing.
///
/// # Errors
/// When code cannot run, or may not; and when `out` cannot be written.
pub fn announce(sandbox: &Sandbox, out: &mut impl Write) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let check = runtime.block_on(sandbox.check());
    let interpreter = match &check.interpreter {
        Ok(found) => found,
        Err(why) => anyhow::bail!(
            "the sandbox cannot run Python: {why}\n(set [exec] python, or run with --exec off)"
        ),
    };
    let lacking = check.lacking(&sandbox.config().require);
    if !lacking.is_empty() {
        let list: Vec<String> = lacking
            .iter()
            .map(|m| format!("{} ({})", m.protection, m.reason))
            .collect();
        anyhow::bail!(
            "no code runs: [exec] require names {}, which the sandbox does not have here\n(`moss sandbox` lists every protection)",
            list.join("; ")
        );
    }
    if check.missing.is_empty() {
        writeln!(
            out,
            "moss: code runs in the sandbox with every protection ({interpreter})"
        )?;
    } else {
        writeln!(
            out,
            "moss: code runs in the sandbox ({interpreter}) without these protections:"
        )?;
        for missing in &check.missing {
            writeln!(
                out,
                "moss:   {} ({}): {}",
                missing.protection.describe(),
                missing.protection,
                missing.reason
            )?;
        }
        writeln!(
            out,
            "moss: [exec] require = [\"{}\", …] refuses to run code without one",
            check.missing[0].protection
        )?;
    }
    Ok(())
}

/// One line per protection: `✓ name` or `✗ name: why` (and `required` where `[exec] require`
/// names it).
fn write_check(
    check: &SandboxCheck,
    require: &[Protection],
    out: &mut impl Write,
) -> io::Result<()> {
    match &check.interpreter {
        Ok(found) => writeln!(out, "interpreter: {found}")?,
        Err(why) => writeln!(out, "interpreter: cannot run: {why}")?,
    }
    for protection in Protection::ALL {
        let required = if require.contains(&protection) {
            " (required)"
        } else {
            ""
        };
        match check.missing.iter().find(|m| m.protection == protection) {
            None => writeln!(out, "✓ {protection}{required}: {}", protection.describe())?,
            Some(missing) => writeln!(
                out,
                "✗ {protection}{required}: {}: {}",
                protection.describe(),
                missing.reason
            )?,
        }
    }
    Ok(())
}

fn check_json(check: &SandboxCheck) -> serde_json::Value {
    serde_json::json!({
        "interpreter": match &check.interpreter {
            Ok(found) => serde_json::json!({ "ok": found }),
            Err(why) => serde_json::json!({ "error": why }),
        },
        "protections": check.protections,
        "missing": check.missing,
    })
}
