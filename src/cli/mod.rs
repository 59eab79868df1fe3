#![allow(clippy::disallowed_macros)]
//! Command-line glue: flags → library calls → printed output and the
//! documented exit codes (0 proved/ok, 1 refuted/failed, 2 bad input,
//! 3 unknown).

use bnproof::cert;
use bnproof::ir::{Assumption, Expr};
use bnproof::junit;
use bnproof::library;
use bnproof::prove::{self, Options, Outcome};
use bnproof::render;
use bnproof::syntax;
use clap::{Parser, Subcommand, ValueEnum};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Exit code when a requested backend or device is not available.
pub const UNAVAILABLE: i32 = 4;

/// Exit codes of SPEC.md.
pub const OK: i32 = 0;
pub const FAILED: i32 = 1;
pub const BAD_INPUT: i32 = 2;
pub const UNKNOWN: i32 = 3;
/// A panic inside bnproof (Rust's own exit code for a panicking program).
pub const INTERNAL: i32 = 101;
/// Standard output closed by its reader (128 + SIGPIPE).
pub const BROKEN_PIPE: i32 = 141;

#[derive(Parser)]
#[command(
    name = "bnproof",
    version,
    about = "Formally checked symbolic explainer for normalization layers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Latex,
    Markdown,
    Html,
    Json,
}

impl Format {
    /// The renderer's preset for this format.
    fn preset(self) -> render::Options {
        render::Options::new(match self {
            Format::Text => render::Format::Text,
            Format::Latex => render::Format::Latex,
            Format::Markdown => render::Format::Markdown,
            Format::Html => render::Format::Html,
            Format::Json => render::Format::Json,
        })
    }
}

/// `derive`'s formats: the renderer's, and JUnit XML.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum DeriveFormat {
    Text,
    Latex,
    Markdown,
    Html,
    Json,
    Junit,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum GradeFormat {
    Text,
    Json,
    Markdown,
    Html,
}

/// `exercises`' formats.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ExercisesFormat {
    Markdown,
    Latex,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum VerifyFormat {
    Text,
    Json,
    Junit,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ExplainFormat {
    Text,
    Latex,
    Markdown,
    Html,
}

#[derive(Subcommand)]
enum Command {
    /// Prove an identity (exit 0), refute it with a counterexample (exit 1),
    /// or say which limit stopped the search (exit 3).
    Prove {
        /// The statement, e.g. 'mean[i](x[i] - mean[i](x[i])) = 0'.
        statement: String,
        /// An assumption `e > 0`, `e >= 0` or `e != 0` (repeatable; a value
        /// may start with `-`).
        #[arg(long = "assume", value_name = "F", allow_hyphen_values = true)]
        assume: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Seconds per statement.
        #[arg(long, default_value_t = 5.0)]
        timeout: f64,
        #[arg(long, default_value_t = 100_000)]
        node_limit: usize,
        #[arg(long, default_value_t = 30)]
        iter_limit: usize,
        /// Seed of the counterexample search.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Grade a derivation written one step per line (model lines, then
    /// `show EXPR` and `= EXPR` lines): each step ok, wrong or unknown.
    CheckDerivation {
        /// The file (any name).
        file: String,
        #[arg(long, value_enum, default_value = "text")]
        format: GradeFormat,
    },
    /// Re-check a saved certificate (or every certificate of a `derive
    /// --format json` file) with the kernel alone.
    CheckProof {
        /// A certificate written by `prove --format json`, or a derivation
        /// written by `derive --format json`.
        file: String,
        /// Give up after this many seconds: exit 3, "not checked" (default:
        /// no limit).
        #[arg(long)]
        timeout: Option<f64>,
    },
    /// Derive a model's gradients by the chain rule, simplify them, and prove
    /// them equal to every form the model file claims (exit 1 if a claim or
    /// check fails).
    Derive {
        /// A built-in model (centering, batchnorm, batchnorm2d, batchnorm-eval,
        /// layernorm, instancenorm, groupnorm, rmsnorm) or a path to a .bn file.
        model: String,
        /// Only these inputs/parameters, comma-separated.
        #[arg(long, value_delimiter = ',')]
        wrt: Option<Vec<String>>,
        /// Output format; `junit`: one test case per claim and check.
        #[arg(long, value_enum, default_value = "text")]
        format: DeriveFormat,
        /// Show every proof in full instead of one line each.
        #[arg(long)]
        proofs: bool,
        /// 1: gradients; 2: also the double backward; 3: also the third
        /// directional derivative.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
        order: u8,
    },
    /// Numerically cross-check every derived gradient and every gradient
    /// claim of one or more models (exit code: the worst over the files, in
    /// the order 2 > 4 > 1 > 3 > 0).
    Verify {
        /// Built-in models or .bn files (or use --all).
        models: Vec<String>,
        /// Every built-in model.
        #[arg(long)]
        all: bool,
        /// Comma-separated: exact, f64, torch.
        #[arg(long, value_delimiter = ',', default_value = "exact,f64")]
        backend: Vec<String>,
        /// Comma-separated: cpu, cuda (torch only).
        #[arg(long, value_delimiter = ',', default_value = "cpu")]
        device: Vec<String>,
        /// LibTorch's dtype for first-order checks: f64 or f32 (orders 2
        /// and 3 always run in f64).
        #[arg(long, default_value = "f64")]
        dtype: String,
        /// Axis sizes, e.g. n=8,c=3,h=4,w=4 (default: several shapes).
        #[arg(long)]
        shape: Option<String>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// 1: gradients; 2: also second order (double backward); 3: also the
        /// third directional derivative.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
        order: u8,
        #[arg(long, value_enum, default_value = "text")]
        format: VerifyFormat,
        /// Compare your implementation's gradients, stored with its inputs
        /// in FILE (.npz or .json; arrays named as the model's inputs,
        /// params, constants, d<output> and grad_<name>, in declared axis
        /// order), with the derived ones at exactly those inputs.
        #[arg(long, value_name = "FILE")]
        against: Option<std::path::PathBuf>,
        /// With --against: relative tolerance (default by dtype: f64 1e-10,
        /// f32 1e-4).
        #[arg(long)]
        rtol: Option<f64>,
        /// With --against: absolute tolerance, a fraction of the largest
        /// reference (default by dtype: f64 1e-12, f32 1e-5).
        #[arg(long)]
        atol: Option<f64>,
        /// Count every skipped check (an oracle that could not decide) as a
        /// failure: exit 1 unless every check passed.
        #[arg(long)]
        strict: bool,
    },
    /// Write reference test vectors: seeded inputs, upstream gradients and
    /// the derived gradients correctly rounded to f64 (for `verify
    /// --against`).
    Vectors {
        /// A built-in model or a .bn file.
        model: String,
        /// The file to write: .npz or .json.
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
        /// Axis sizes, e.g. n=8,c=3,h=4,w=4 (default 4, 3, 2, 3, 2 by
        /// declared position).
        #[arg(long)]
        shape: Option<String>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// 2: also a direction v_<name> per input and parameter and the
        /// second-order gradients grad2_<name> = ∂/∂name Σ_q ⟨grad_q, v_q⟩.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
        order: u8,
    },
    /// Write a self-contained Python module with the model's forward pass and
    /// its simplified backward pass, from the derivation `derive` proves.
    Emit {
        /// A built-in model or a .bn file.
        model: String,
        /// numpy, or torch (also a torch.autograd.Function).
        #[arg(long)]
        lang: String,
        /// Write the module here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
    /// Answer the question bnproof was born from (`seed`), and other topics;
    /// with no topic, list them.
    Explain {
        topic: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: ExplainFormat,
        /// Also draw the topic's plot into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<std::path::PathBuf>,
    },
    /// Prove the built-in library and refute its false neighbours.
    Theorems {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Generate a static coursework site (self-contained HTML with MathML,
    /// and Markdown): every model, theorem and explanation, computed live
    /// (exit 1 if any check on it failed).
    Docs {
        /// The directory to write (created if missing).
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
    },
    /// Write a standalone LaTeX handout of a model (forward pass, graph,
    /// derivation, proofs; certificates in an appendix) or of an `explain`
    /// topic into DIR, and compile it with pdflatex where that is installed
    /// (exit 1 if compiling fails, 2 for bad input or an unwritable DIR).
    Handout {
        /// A built-in model, a .bn file, or an explain topic (seed, scale,
        /// bn-backward).
        #[arg(value_name = "MODEL|TOPIC")]
        subject: String,
        /// The directory to write (created if missing).
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
    },
    /// Write what-if exercises made by structural changes of a model
    /// (unbiased variance, a constant set to 0, a per-feature parameter,
    /// a detached statistic, other reduction axes),
    /// each answer proved by the kernel and one or two tempting wrong
    /// answers refuted with their residuals (exit 1 if one is not).
    Exercises {
        /// A built-in model or a .bn file.
        model: String,
        /// Write DIR/<model>-exercises.md (or .tex) instead of stdout.
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
        /// markdown, or latex (a standalone document).
        #[arg(long, value_enum, default_value = "markdown")]
        format: ExercisesFormat,
        /// Also show every answer's proof and each wrong answer's
        /// counterexample and residual.
        #[arg(long)]
        solutions: bool,
    },
}

/// Parse the arguments and run; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { BAD_INPUT } else { OK };
            let _ = e.print();
            return code;
        }
    };
    // A reader that closes the pipe early (`| head`) is not a bug: stop
    // quietly with the shell's code for a broken pipe (128 + SIGPIPE), as a
    // C tool would, instead of a backtrace.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(BROKEN_PIPE);
        }
        default_hook(info);
    }));
    // Deep but legal inputs recurse; give them room.
    let worker = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || run(cli));
    match worker.map(|h| h.join()) {
        Ok(Ok(code)) => code,
        _ => {
            // A panic is a bug in bnproof, never a verdict: its own exit code.
            eprintln!("bnproof: internal error (a bug; please report the input)");
            INTERNAL
        }
    }
}

fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Prove {
            statement,
            assume,
            format,
            timeout,
            node_limit,
            iter_limit,
            seed,
        } => {
            if !(timeout.is_finite() && timeout > 0.0 && timeout <= 86_400.0) {
                eprintln!("error: --timeout must be a number of seconds between 0 and 86400");
                return BAD_INPUT;
            }
            let opts = Options {
                node_limit,
                iter_limit,
                timeout: Duration::from_secs_f64(timeout),
                seed,
                ..Options::default()
            };
            prove_cmd(&statement, &assume, format, &opts)
        }
        Command::CheckDerivation { file, format } => check_derivation_cmd(&file, format),
        Command::CheckProof { file, timeout } => match timeout {
            None => check_proof_cmd(&file),
            Some(t) if !(t.is_finite() && t > 0.0) => {
                eprintln!("error: --timeout must be a positive number of seconds");
                BAD_INPUT
            }
            Some(t) => {
                // The kernel has no clock of its own: it runs on a thread, and
                // when the limit passes first the verdict is "not checked".
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    let _ = tx.send(check_proof_cmd(&file));
                });
                match rx.recv_timeout(Duration::from_secs_f64(t.min(1e9))) {
                    Ok(code) => code,
                    Err(_) => {
                        println!("not checked: the kernel did not finish within {t} s");
                        UNKNOWN
                    }
                }
            }
        },
        Command::Verify {
            models,
            all,
            backend,
            device,
            dtype,
            shape,
            seed,
            order,
            format,
            against: Some(file),
            rtol,
            atol,
            strict,
        } => {
            let (json, junit_xml) = (format == VerifyFormat::Json, format == VerifyFormat::Junit);
            // A TorchScript module is run on arrays bnproof draws (--shape,
            // --seed, --device, --dtype); a file of arrays brings its own.
            let module = file.extension().is_some_and(|e| e == "pt");
            let flags = [
                (all, "--all"),
                (shape.is_some() && !module, "--shape (a .pt module only)"),
                (order != 1, "--order"),
                (strict, "--strict"),
                (backend != ["exact", "f64"], "--backend"),
                (device != ["cpu"] && !module, "--device (a .pt module only)"),
                (
                    dtype != "f64" && !module,
                    "--dtype (the arrays' own dtype decides)",
                ),
            ];
            let model = match (models.as_slice(), flags.iter().find(|(on, _)| *on)) {
                ([m], None) => m.clone(),
                (_, Some((_, flag))) => {
                    let bad = BadInput::other(
                        &file.display().to_string(),
                        format!("{flag} does not apply to --against"),
                    );
                    return bad_input("verify", &bad, json, junit_xml);
                }
                _ => {
                    let bad = BadInput::other(
                        &file.display().to_string(),
                        "--against takes exactly one model".to_string(),
                    );
                    return bad_input("verify", &bad, json, junit_xml);
                }
            };
            if module {
                let run = ModuleRun {
                    shape: shape.as_deref(),
                    seed,
                    device: &device,
                    dtype: &dtype,
                };
                return module_cmd(&model, &file, &run, rtol, atol, format);
            }
            against_cmd(&model, &file, rtol, atol, format)
        }
        Command::Verify {
            models,
            all,
            backend,
            device,
            dtype,
            shape,
            seed,
            order,
            format,
            against: None,
            rtol,
            atol,
            strict,
        } => {
            if rtol.is_some() || atol.is_some() {
                eprintln!("error: --rtol and --atol apply to --against only");
                return BAD_INPUT;
            }
            verify_cmd(
                models,
                all,
                &backend,
                &device,
                &dtype,
                shape.as_deref(),
                seed,
                order,
                format,
                strict,
            )
        }
        Command::Vectors {
            model,
            out,
            shape,
            seed,
            order,
        } => vectors_cmd(&model, &out, shape.as_deref(), seed, order),
        Command::Emit { model, lang, out } => emit_cmd(&model, &lang, out.as_deref()),
        Command::Explain {
            topic,
            format,
            plot,
        } => explain_cmd(topic.as_deref(), format, plot.as_deref()),
        Command::Derive {
            model,
            wrt,
            format,
            proofs,
            order,
        } => derive_cmd(&model, wrt, format, proofs, order),
        Command::Theorems { format } => theorems_cmd(format),
        Command::Docs { out } => docs_cmd(&out),
        Command::Handout { subject, out } => handout_cmd(&subject, &out),
        Command::Exercises {
            model,
            out,
            format,
            solutions,
        } => exercises_cmd(&model, out.as_deref(), format, solutions),
    }
}

type Definitions = Vec<(bnproof::ir::Symbol, Expr)>;

fn parse_inputs(
    statement: &str,
    assume: &[String],
) -> Result<(bnproof::ir::Statement, Vec<Assumption>, Definitions), i32> {
    let (stmt, defs) = syntax::parse_statement_where(statement).map_err(|e| {
        eprint!("{}", e.render("statement", statement));
        BAD_INPUT
    })?;
    let mut assumptions = Vec::new();
    for (k, a) in assume.iter().enumerate() {
        let parsed = syntax::parse_assumption(a).map_err(|e| {
            eprint!("{}", e.render(&format!("--assume #{}", k + 1), a));
            BAD_INPUT
        })?;
        assumptions.push(parsed);
    }
    let mut all: Vec<&Expr> = vec![&stmt.lhs, &stmt.rhs];
    all.extend(assumptions.iter().map(|a| &a.expr));
    all.extend(defs.iter().map(|(_, b)| b));
    if let Err(m) = syntax::check_consistent(&all) {
        eprintln!("error: {m}");
        return Err(BAD_INPUT);
    }
    Ok((stmt, assumptions, defs))
}

/// Said under a proof whose assumptions the sign analysis shows cannot all
/// hold (the proof is valid, and vacuous).
const CONTRADICTORY: &str =
    "warning: the assumptions cannot all hold, so this proves nothing about any value\n";

fn prove_cmd(statement: &str, assume: &[String], format: Format, opts: &Options) -> i32 {
    let (stmt, assumptions, defs) = match parse_inputs(statement, assume) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let start = Instant::now();
    // With `where` definitions: a proof over the names first; otherwise the
    // inlined statement (what the names mean) goes to the prover, so a
    // counterexample is one of the statement as written.
    let named = if defs.is_empty() {
        None
    } else {
        bnproof::named::by_names(&stmt.lhs, &stmt.rhs, &defs, &assumptions)
    };
    let (outcome, stats) = match named {
        Some(p) => (Outcome::Proved(p), prove::Stats::default()),
        None => {
            let inline = |e: &Expr| bnproof::diff::inline_defs(e, &defs);
            let inlined = bnproof::ir::Statement {
                lhs: inline(&stmt.lhs),
                rhs: inline(&stmt.rhs),
            };
            let assumed: Vec<Assumption> = assumptions
                .iter()
                .map(|a| Assumption {
                    expr: inline(&a.expr),
                    rel: a.rel,
                })
                .collect();
            prove::prove(&inlined, &assumed, opts)
        }
    };
    let elapsed = start.elapsed();
    // Shown in the order the statement writes its axes.
    let _order = syntax::order::AxisOrder::for_text(
        std::iter::once(statement).chain(assume.iter().map(String::as_str)),
    )
    .enter();
    let code = match &outcome {
        Outcome::Proved(_) => OK,
        Outcome::Refuted(_) => FAILED,
        Outcome::Unknown { .. } => UNKNOWN,
    };
    let mut out = String::new();
    if matches!(format, Format::Latex | Format::Markdown | Format::Html) {
        let title = format!("bnproof prove {statement}");
        let _ = format.preset().document(&mut out, &title, |page, n| {
            render::proof::outcome(page, &stmt, &assumptions, &outcome, n)
        });
        print!("{out}");
        return code;
    }
    match &outcome {
        Outcome::Proved(p) => match format {
            Format::Json => {
                let c = cert::to_certificate(p, true);
                out = serde_json::to_string_pretty(&c).unwrap_or_default();
                out.push('\n');
            }
            Format::Text => {
                let mut text = String::new();
                let _ = render::proof_text(&mut text, p);
                out = render::text::wrap_lines(&text, render::text::LINE_WIDTH);
                out.push_str(&format!(
                    "proved in {:.1} ms ({} e-nodes, {} iterations)\n",
                    ms(elapsed),
                    stats.nodes,
                    stats.iterations
                ));
                if bnproof::sign::Facts::new(&p.assumptions).is_contradictory() {
                    out.push_str(CONTRADICTORY);
                }
            }
            _ => {}
        },
        Outcome::Refuted(c) => match format {
            Format::Json => {
                out = serde_json::to_string_pretty(&serde_json::json!({
                        "verdict": "refuted",
                        "statement": {"lhs": syntax::print(&stmt.lhs), "rhs": syntax::print(&stmt.rhs)},
                        "assumptions": assumptions.iter().map(cert::assumption_text).collect::<Vec<_>>(),
                        "counterexample": cert::counterexample_json(c),
                        "checked": false,
                    }))
                    .unwrap_or_default();
                out.push('\n');
            }
            Format::Text => {
                out.push_str(&format!(
                    "refuted: {} ≠ {}\n",
                    syntax::print(&stmt.lhs),
                    syntax::print(&stmt.rhs)
                ));
                let _ = render::counterexample_text(&mut out, c);
            }
            _ => {}
        },
        Outcome::Unknown { reason } => {
            match format {
                Format::Json => {
                    out = serde_json::to_string_pretty(&serde_json::json!({"verdict": "unknown", "reason": reason, "checked": false})).unwrap_or_default();
                    out.push('\n');
                }
                Format::Text => out.push_str(&format!("unknown: {reason}\n")),
                _ => {}
            }
        }
    }
    print!("{out}");
    code
}

fn check_proof_cmd(file: &str) -> i32 {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {file}: {e}");
            return BAD_INPUT;
        }
    };
    let file_cert = match cert::read_file(&text) {
        Ok(f) => f,
        Err(e) => {
            println!("invalid: {e}");
            return FAILED;
        }
    };
    let certs: Vec<(Option<String>, cert::Certificate)> = match file_cert {
        cert::CertFile::One(c) => vec![(None, *c)],
        cert::CertFile::Derivation(list) => {
            if list.is_empty() {
                println!("invalid: the derivation holds no certificate");
                return FAILED;
            }
            list.into_iter().map(|(t, c)| (Some(t), c)).collect()
        }
    };
    let mut all_valid = true;
    for (title, c) in &certs {
        if let Some(t) = title {
            println!("{t}");
        }
        match cert::check_certificate(c) {
            Ok(p) => {
                let assuming = if p.assumptions.is_empty() {
                    String::new()
                } else {
                    let a: Vec<String> = p.assumptions.iter().map(|a| a.to_string()).collect();
                    format!(" assuming {}", a.join(", "))
                };
                println!(
                    "valid: {} = {}{assuming} ({} steps checked by the kernel)",
                    syntax::print(&p.statement.lhs),
                    syntax::print(&p.statement.rhs),
                    p.steps.len()
                );
                if bnproof::sign::Facts::new(&p.assumptions).is_contradictory() {
                    print!("  {CONTRADICTORY}");
                }
                if !p.definitions.is_empty() {
                    println!("  where");
                    for (s, b) in &p.definitions {
                        println!("    {}", cert::definition_text(s, b));
                    }
                }
                for l in &p.lemmas {
                    let a: Vec<String> = l.assumptions.iter().map(|a| a.to_string()).collect();
                    println!(
                        "  lemma {}: {} = {}{} ({} steps checked)",
                        l.name,
                        syntax::print(&l.statement.lhs),
                        syntax::print(&l.statement.rhs),
                        if a.is_empty() {
                            String::new()
                        } else {
                            format!(" assuming {}", a.join(", "))
                        },
                        l.steps.len()
                    );
                }
            }
            Err(e) => {
                all_valid = false;
                println!("invalid: {e}");
            }
        }
    }
    if all_valid {
        OK
    } else {
        FAILED
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn theorems_cmd(format: Format) -> i32 {
    let opts = Options::default();
    let start = Instant::now();
    let runs: Vec<library::Run> = library::THEOREMS
        .iter()
        .map(|t| library::run(t, &opts))
        .collect();
    let total = start.elapsed();
    let all_ok = runs.iter().all(|r| r.as_expected());
    match format {
        Format::Latex | Format::Markdown | Format::Html => {
            let mut out = String::new();
            let _ = format
                .preset()
                .document(&mut out, "bnproof theorems", |page, _| {
                    page.heading(1, "The theorem library", None)?;
                    render::theorems::table(page, &runs, |_| None)
                });
            print!("{out}");
        }
        Format::Json => {
            let rows: Vec<_> = runs
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "name": r.theorem.name,
                        "source": r.theorem.source,
                        "statement": r.theorem.statement,
                        "assumptions": r.theorem.assume,
                        "expected": r.theorem.expect.as_str(),
                        "verdict": r.verdict(),
                        "ms": ms(r.elapsed),
                        "steps": match &r.outcome { Outcome::Proved(p) => Some(p.steps.len()), _ => None },
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({"theorems": rows, "total_ms": ms(total), "all_as_expected": all_ok})).unwrap_or_default());
        }
        Format::Text => {
            for r in &runs {
                let mark = if r.as_expected() { "ok " } else { "BAD" };
                let detail = match &r.outcome {
                    Outcome::Proved(p) => format!("{} steps", p.steps.len()),
                    Outcome::Refuted(_) => "counterexample".to_string(),
                    Outcome::Unknown { reason } => reason.clone(),
                };
                let assume = if r.theorem.assume.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", r.theorem.assume.join(", "))
                };
                println!(
                    "{mark} {:<34} {:<8} {:>8.2} ms  {}{}  ({detail})",
                    r.theorem.name,
                    r.verdict(),
                    ms(r.elapsed),
                    r.theorem.statement,
                    assume
                );
            }
            let n_ok = runs.iter().filter(|r| r.as_expected()).count();
            println!("{n_ok}/{} as expected in {:.1} ms", runs.len(), ms(total));
        }
    }
    if all_ok {
        OK
    } else {
        FAILED
    }
}

/// How bad the exit code `code` is, for combining several: 2 > 4 > 1 > 3 > 0
/// (an internal error above all).
fn severity(code: i32) -> u8 {
    match code {
        OK => 0,
        UNKNOWN => 1,
        FAILED => 2,
        UNAVAILABLE => 3,
        BAD_INPUT => 4,
        _ => 5,
    }
}

/// The worst of several exit codes (`OK` for none).
fn worst(codes: impl IntoIterator<Item = i32>) -> i32 {
    codes.into_iter().max_by_key(|&c| severity(c)).unwrap_or(OK)
}

/// A model that could not be derived or verified (exit 2), with what
/// JSON and JUnit report of it.
struct BadInput {
    file: String,
    message: String,
    line: Option<usize>,
    column: Option<usize>,
    hint: Option<String>,
    /// The report for a reader: a caret under the span for a parse error.
    report: String,
}

impl BadInput {
    fn load(file: &str, e: &bnproof::models::LoadError) -> BadInput {
        match e {
            bnproof::models::LoadError::Parse { error, .. } => BadInput {
                file: file.to_string(),
                message: error.message.clone(),
                line: Some(error.line),
                column: Some(error.col),
                hint: error.hint.clone(),
                report: e.render(),
            },
            other => BadInput::other(file, other.to_string()),
        }
    }

    fn other(file: &str, message: String) -> BadInput {
        BadInput {
            file: file.to_string(),
            report: format!("error: {file}: {message}\n"),
            message,
            line: None,
            column: None,
            hint: None,
        }
    }

    /// `file:line:column: message (hint)`, one line.
    fn one_line(&self) -> String {
        let mut at = self.file.clone();
        if let Some(l) = self.line {
            at.push_str(&format!(":{l}"));
            if let Some(c) = self.column {
                at.push_str(&format!(":{c}"));
            }
        }
        match &self.hint {
            Some(h) => format!("{at}: {} (hint: {h})", self.message),
            None => format!("{at}: {}", self.message),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
        })
    }

    /// A suite with one failing test case that carries the error.
    fn junit_suite(&self, command: &str) -> junit::Suite {
        let mut case = junit::Case::new(self.file.clone(), format!("{}: bad input", self.file));
        case.file = Some(self.file.clone());
        case.line = self.line;
        case.outcome = junit::Outcome::Failure {
            message: self.one_line(),
            text: self.report.clone(),
        };
        junit::Suite {
            name: format!("bnproof {command} {}", self.file),
            cases: vec![case],
        }
    }
}

/// Bad input under `format`: the report on stderr always; JSON or JUnit
/// on stdout when asked for. Returns [`BAD_INPUT`].
fn bad_input(command: &str, bad: &BadInput, json: bool, junit_xml: bool) -> i32 {
    eprint!("{}", bad.report);
    if json {
        let v = serde_json::json!({ "file": bad.file, "error": bad.to_json() });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if junit_xml {
        let mut out = String::new();
        let _ = junit::write(
            &mut out,
            &format!("bnproof {command}"),
            &[bad.junit_suite(command)],
        );
        print!("{out}");
    }
    BAD_INPUT
}

fn derive_cmd(
    model: &str,
    wrt: Option<Vec<String>>,
    format: DeriveFormat,
    expand: bool,
    order: u8,
) -> i32 {
    let (json, junit_xml) = (format == DeriveFormat::Json, format == DeriveFormat::Junit);
    let loaded = match bnproof::models::load(model) {
        Ok(l) => l,
        Err(e) => return bad_input("derive", &BadInput::load(model, &e), json, junit_xml),
    };
    eprint!("{}", loaded.warnings_text());
    let report = match bnproof::derive::derive(&loaded, &derive_options(wrt, order)) {
        Ok(r) => r,
        Err(e) => {
            let bad = BadInput::other(model, e.to_string());
            return bad_input("derive", &bad, json, junit_xml);
        }
    };
    let mut out = String::new();
    match format {
        DeriveFormat::Text => {
            let mut text = String::new();
            let _ = bnproof::derive::write_text(&mut text, &report, expand);
            out = render::text::wrap_lines(&text, render::text::LINE_WIDTH);
        }
        DeriveFormat::Junit => {
            let _ = bnproof::derive::write_junit(&mut out, &report);
        }
        DeriveFormat::Json => {
            out = serde_json::to_string_pretty(&bnproof::derive::to_json(&report))
                .unwrap_or_default();
            out.push('\n');
        }
        DeriveFormat::Latex | DeriveFormat::Markdown | DeriveFormat::Html => {
            let preset = match format {
                DeriveFormat::Latex => Format::Latex,
                DeriveFormat::Markdown => Format::Markdown,
                _ => Format::Html,
            };
            let title = format!("bnproof derive {}", report.name);
            let _ = preset.preset().document(&mut out, &title, |page, _| {
                render::derivation::derivation(page, &report, expand)
            });
        }
    }
    print!("{out}");
    // 1 when a verdict is not the expected one, 3 when none is wrong but
    // one is unknown.
    worst(report.equalities.iter().map(|eq| match &eq.verdict {
        _ if eq.as_expected() => OK,
        bnproof::derive::Verdict::Unknown(_) => UNKNOWN,
        _ => FAILED,
    }))
}

fn check_derivation_cmd(file: &str, format: GradeFormat) -> i32 {
    use bnproof::grade;
    let loaded = match bnproof::models::load_any(file) {
        Ok(l) => l,
        Err(e) => {
            eprint!("{}", e.render());
            return BAD_INPUT;
        }
    };
    eprint!("{}", loaded.warnings_text());
    let g = match grade::grade(&loaded.model) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {file}: {e}");
            return BAD_INPUT;
        }
    };
    let mut out = String::new();
    match format {
        GradeFormat::Text => {
            let mut text = String::new();
            let _ = grade::write_text(&mut text, &g);
            out = render::text::wrap_lines(&text, render::text::LINE_WIDTH);
        }
        GradeFormat::Json => {
            out = serde_json::to_string_pretty(&grade::to_json(&g)).unwrap_or_default();
            out.push('\n');
        }
        GradeFormat::Markdown | GradeFormat::Html => {
            let preset = if format == GradeFormat::Markdown {
                Format::Markdown
            } else {
                Format::Html
            };
            let title = format!("bnproof check-derivation {}", loaded.name);
            let _ = preset.preset().document(&mut out, &title, |page, _| {
                grade::page(page, &loaded.name, &g)
            });
        }
    }
    print!("{out}");
    if g.wrong() {
        FAILED
    } else if g.unknown() {
        UNKNOWN
    } else {
        OK
    }
}

fn explain_cmd(topic: Option<&str>, format: ExplainFormat, plot: Option<&std::path::Path>) -> i32 {
    use bnproof::explain;
    let Some(topic) = topic else {
        println!("topics:");
        for (name, what) in explain::TOPICS {
            println!("  {name:<12} {what}");
        }
        return OK;
    };
    let format = match format {
        ExplainFormat::Text => explain::Format::Text,
        ExplainFormat::Latex => explain::Format::Latex,
        ExplainFormat::Markdown => explain::Format::Markdown,
        ExplainFormat::Html => explain::Format::Html,
    };
    let mut out = String::new();
    let report = match explain::explain(topic, format, &mut out) {
        Ok(r) => r,
        Err(e @ explain::ExplainError::UnknownTopic(_)) => {
            eprintln!("error: {e}");
            return BAD_INPUT;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return FAILED;
        }
    };
    if format == explain::Format::Html {
        let mut page = String::new();
        let title = format!("bnproof explain {topic}");
        let _ = render::html::document(&mut page, &title, &[], None, &out);
        out = page;
    }
    print!("{out}");
    if let Some(path) = plot {
        if let Err(e) = explain::plot(topic, path) {
            eprintln!("error: {e}");
            return FAILED;
        }
        eprintln!("plot written to {}", path.display());
    }
    if report.all_held() {
        OK
    } else {
        FAILED
    }
}

#[allow(clippy::too_many_arguments)]
fn verify_cmd(
    models: Vec<String>,
    all: bool,
    backends: &[String],
    devices: &[String],
    dtype: &str,
    shape: Option<&str>,
    seed: u64,
    order: u8,
    format: VerifyFormat,
    strict: bool,
) -> i32 {
    use bnproof::torch::{Device, Dtype};
    use bnproof::verify::{self, Backend, VerifyOptions};
    let mut chosen = Vec::new();
    for b in backends {
        match b.as_str() {
            "exact" => chosen.push(Backend::Exact),
            "f64" => chosen.push(Backend::F64),
            "torch" => chosen.push(Backend::Torch),
            other => {
                eprintln!("error: unknown backend {other:?}; use exact, f64 or torch");
                return BAD_INPUT;
            }
        }
    }
    let mut torch = bnproof::torch::TorchOptions {
        devices: Vec::new(),
        dtype: match dtype {
            "f64" => Dtype::F64,
            "f32" => Dtype::F32,
            other => {
                eprintln!("error: unknown dtype {other:?}; use f64 or f32");
                return BAD_INPUT;
            }
        },
    };
    for d in devices {
        let device = match d.as_str() {
            "cpu" => Device::Cpu,
            "cuda" => Device::Cuda,
            other => {
                eprintln!("error: unknown device {other:?}; use cpu or cuda");
                return BAD_INPUT;
            }
        };
        if !torch.devices.contains(&device) {
            torch.devices.push(device);
        }
    }
    let uses_torch = chosen.contains(&Backend::Torch);
    if !uses_torch && (torch.devices != [Device::Cpu] || torch.dtype != Dtype::F64) {
        eprintln!(
            "error: --device and --dtype apply to the torch backend only; add --backend torch"
        );
        return BAD_INPUT;
    }
    // An unavailable backend or device: exit 4, unless a file is bad input
    // (2 > 4), so every file is still read.
    let mut unavailable = false;
    if uses_torch {
        for &d in &torch.devices {
            if let Err(why) = bnproof::torch::available(d) {
                eprintln!(
                    "error: the torch backend on {} is unavailable: {why}",
                    d.name()
                );
                unavailable = true;
                break;
            }
        }
    }
    let shape = match shape.map(verify::parse_shape) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            eprintln!("error: --shape {e}");
            return BAD_INPUT;
        }
    };
    let names: Vec<String> = match (models.is_empty(), all) {
        (false, true) => {
            eprintln!("error: give models or --all, not both");
            return BAD_INPUT;
        }
        (false, false) => models,
        (true, true) => bnproof::models::builtin_names()
            .into_iter()
            .map(str::to_string)
            .collect(),
        (true, false) => {
            eprintln!("error: give a model (built-in name or .bn file), several, or --all");
            return BAD_INPUT;
        }
    };
    let opts = VerifyOptions {
        backends: chosen,
        shape,
        seed,
        order,
        torch,
        strict,
    };
    // Each file verified on its own; a bad one does not stop the others.
    let mut files: Vec<(String, Result<Vec<verify::Row>, BadInput>)> = Vec::new();
    for name in names {
        let result = match bnproof::models::load(&name) {
            Err(e) => Err(BadInput::load(&name, &e)),
            Ok(_) if unavailable => Ok(Vec::new()),
            Ok(loaded) => {
                eprint!("{}", loaded.warnings_text());
                verify::verify(&loaded, &opts).map_err(|e| BadInput::other(&name, e.to_string()))
            }
        };
        if let Err(bad) = &result {
            eprint!("{}", bad.report);
        }
        files.push((name, result));
    }
    let code_of = |r: &Result<Vec<verify::Row>, BadInput>| match r {
        Err(_) => BAD_INPUT,
        Ok(_) if unavailable => UNAVAILABLE,
        Ok(rows) if verify::all_pass(rows) => OK,
        Ok(_) => FAILED,
    };
    let code = worst(files.iter().map(|(_, r)| code_of(r)));
    if unavailable {
        return code;
    }
    // Every row of the files that could be verified.
    let all: Vec<verify::Row> = files
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flatten()
        .cloned()
        .collect();
    let mut out = String::new();
    match format {
        VerifyFormat::Text => {
            let several = files.len() > 1;
            for (name, result) in &files {
                if several {
                    let _ = writeln!(out, "== {name} ==");
                }
                match result {
                    Ok(rows) => {
                        let _ = verify::write_text(&mut out, rows);
                    }
                    Err(bad) if several => {
                        let _ = writeln!(out, "bad input: {}", bad.one_line());
                    }
                    Err(_) => {}
                }
                if several {
                    out.push('\n');
                }
            }
            if several {
                let bad = files.iter().filter(|(_, r)| r.is_err()).count();
                let _ = write!(out, "{} files ({bad} bad input), ", files.len());
                let _ = verify::write_summary(&mut out, &all);
            }
        }
        VerifyFormat::Json => {
            let mut v = verify::to_json(&all);
            v["ok"] = (code == OK).into();
            v["files"] = files
                .iter()
                .map(|(name, r)| {
                    serde_json::json!({
                        "file": name,
                        "exit_code": code_of(r),
                        "error": r.as_ref().err().map(BadInput::to_json),
                    })
                })
                .collect();
            if let Some(bad) = files.iter().find_map(|(_, r)| r.as_ref().err()) {
                v["error"] = bad.to_json();
            }
            out = serde_json::to_string_pretty(&v).unwrap_or_default();
            out.push('\n');
        }
        VerifyFormat::Junit => {
            let suites: Vec<junit::Suite> = files
                .iter()
                .map(|(name, r)| match r {
                    Ok(rows) => verify::junit_suite(name, rows),
                    Err(bad) => bad.junit_suite("verify"),
                })
                .collect();
            let _ = junit::write(&mut out, "bnproof verify", &suites);
        }
    }
    print!("{out}");
    code
}

/// `verify MODEL --against FILE`: exit 0 when every tensor agrees, 1 on a
/// mismatch, 2 for bad input (the file, an array, an axis, a tolerance).
fn against_cmd(
    model: &str,
    file: &std::path::Path,
    rtol: Option<f64>,
    atol: Option<f64>,
    format: VerifyFormat,
) -> i32 {
    against_report(model, file, rtol, atol, format, |loaded, shown, opts| {
        bnproof::against::arrays::read(file)
            .and_then(|given| bnproof::against::check(loaded, shown, &given, opts))
    })
}

/// How `verify --against module.pt` draws the module's arguments and where
/// it runs it.
struct ModuleRun<'a> {
    shape: Option<&'a str>,
    seed: u64,
    device: &'a [String],
    dtype: &'a str,
}

/// `verify MODEL --against module.pt`: the user's TorchScript backward on
/// seeded arrays (exit 4 without the `torch` feature).
fn module_cmd(
    model: &str,
    file: &std::path::Path,
    run: &ModuleRun,
    rtol: Option<f64>,
    atol: Option<f64>,
    format: VerifyFormat,
) -> i32 {
    use bnproof::against::arrays::{Array, Dtype as ArrayDtype};
    use bnproof::torch::{Device, Dtype, ModuleArg};
    if let Some(why) = bnproof::torch::unavailable_reason() {
        eprintln!("error: a TorchScript module needs LibTorch: {why}");
        return UNAVAILABLE;
    }
    let device = match run.device {
        [d] if d == "cpu" => Device::Cpu,
        [d] if d == "cuda" => Device::Cuda,
        _ => {
            eprintln!("error: --device with a .pt module: cpu or cuda (one of them)");
            return BAD_INPUT;
        }
    };
    let f32_args = match run.dtype {
        "f64" => false,
        "f32" => true,
        other => {
            eprintln!("error: unknown dtype {other:?}; use f64 or f32");
            return BAD_INPUT;
        }
    };
    if let Err(why) = bnproof::torch::available(device) {
        eprintln!("error: {why}");
        return UNAVAILABLE;
    }
    let shape = match run.shape.map(bnproof::verify::parse_shape).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --shape {e}");
            return BAD_INPUT;
        }
    };
    against_report(model, file, rtol, atol, format, |loaded, shown, opts| {
        let mut sizes = bnproof::against::default_sizes(&loaded.model);
        sizes.extend(shape.clone().unwrap_or_default());
        let call = |args: &[(String, Array)]| {
            let args: Vec<ModuleArg> = args
                .iter()
                .map(|(_, a)| ModuleArg {
                    shape: a.shape.clone(),
                    data: a.data.clone(),
                    dtype: match a.dtype {
                        ArrayDtype::F64 => Dtype::F64,
                        ArrayDtype::F32 => Dtype::F32,
                    },
                })
                .collect();
            let results = bnproof::torch::run_module(file, &args, device)?;
            Ok(results
                .into_iter()
                .map(|r| Array {
                    shape: r.shape,
                    data: r.data,
                    dtype: match r.dtype {
                        Dtype::F64 => ArrayDtype::F64,
                        Dtype::F32 => ArrayDtype::F32,
                    },
                })
                .collect())
        };
        bnproof::against::check_module(loaded, shown, &sizes, run.seed, f32_args, call, opts)
    })
}

/// Load the model, check the tolerances, get the report from `compare`,
/// and print it: exit 0 when every tensor agrees, 1 on a mismatch, 2 for
/// bad input.
fn against_report(
    model: &str,
    file: &std::path::Path,
    rtol: Option<f64>,
    atol: Option<f64>,
    format: VerifyFormat,
    compare: impl FnOnce(
        &bnproof::models::Loaded,
        &str,
        &bnproof::against::Options,
    ) -> Result<bnproof::against::Report, String>,
) -> i32 {
    use bnproof::against;
    let (json, junit_xml) = (format == VerifyFormat::Json, format == VerifyFormat::Junit);
    let shown = file.display().to_string();
    let loaded = match bnproof::models::load(model) {
        Ok(l) => l,
        Err(e) => return bad_input("verify", &BadInput::load(model, &e), json, junit_xml),
    };
    eprint!("{}", loaded.warnings_text());
    for (flag, v) in [("--rtol", rtol), ("--atol", atol)] {
        if v.is_some_and(|t| !(t.is_finite() && t >= 0.0)) {
            let bad = BadInput::other(&shown, format!("{flag} must be a number ≥ 0"));
            return bad_input("verify", &bad, json, junit_xml);
        }
    }
    let report = compare(&loaded, &shown, &against::Options { rtol, atol });
    let report = match report {
        Ok(r) => r,
        Err(message) => {
            return bad_input("verify", &BadInput::other(&shown, message), json, junit_xml)
        }
    };
    let mut out = String::new();
    match format {
        VerifyFormat::Text => {
            let _ = against::write_text(&mut out, &report);
        }
        VerifyFormat::Json => {
            out = serde_json::to_string_pretty(&against::to_json(&report)).unwrap_or_default();
            out.push('\n');
        }
        VerifyFormat::Junit => {
            let _ = junit::write(
                &mut out,
                "bnproof verify --against",
                &[against::junit_suite(&report)],
            );
        }
    }
    print!("{out}");
    if report.passed() {
        OK
    } else {
        FAILED
    }
}

/// `vectors MODEL --out FILE`: exit 0, or 2 for bad input or an
/// unwritable path.
fn vectors_cmd(
    model: &str,
    out: &std::path::Path,
    shape: Option<&str>,
    seed: u64,
    order: u8,
) -> i32 {
    use bnproof::against;
    let loaded = match bnproof::models::load(model) {
        Ok(l) => l,
        Err(e) => return bad_input("vectors", &BadInput::load(model, &e), false, false),
    };
    eprint!("{}", loaded.warnings_text());
    if let Err(e) = against::arrays::format_of(out) {
        eprintln!("error: --out {e}");
        return BAD_INPUT;
    }
    let mut sizes = against::default_sizes(&loaded.model);
    if let Some(s) = shape {
        match bnproof::verify::parse_shape(s) {
            Ok(given) => sizes.extend(given),
            Err(e) => {
                eprintln!("error: --shape {e}");
                return BAD_INPUT;
            }
        }
    }
    let written = against::vectors(&loaded, &sizes, seed, order)
        .and_then(|arrays| against::arrays::write(out, &arrays).map(|()| arrays));
    match written {
        Ok(arrays) => {
            let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
            let shape: Vec<String> = loaded
                .model
                .axes
                .iter()
                .map(|a| format!("{a}={}", sizes[a]))
                .collect();
            println!(
                "wrote {} ({}; {}; seed {seed})",
                out.display(),
                shape.join(","),
                names.join(", ")
            );
            OK
        }
        Err(e) => {
            eprintln!("error: {model}: {e}");
            BAD_INPUT
        }
    }
}

/// `emit MODEL --lang numpy|torch [--out FILE]`: exit 0, or 2 for bad
/// input (unknown model or language, a model that cannot be written, an
/// unwritable path).
fn emit_cmd(model: &str, lang: &str, out: Option<&std::path::Path>) -> i32 {
    use bnproof::emit::{self, Lang};
    let lang = match lang {
        "numpy" => Lang::Numpy,
        "torch" => Lang::Torch,
        other => {
            eprintln!("error: --lang {other}: unknown language; use numpy or torch");
            return BAD_INPUT;
        }
    };
    let loaded = match bnproof::models::load(model) {
        Ok(l) => l,
        Err(e) => return bad_input("emit", &BadInput::load(model, &e), false, false),
    };
    eprint!("{}", loaded.warnings_text());
    let module = match emit::emit(&loaded, lang) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {model}: {e}");
            return BAD_INPUT;
        }
    };
    match out {
        None => print!("{module}"),
        Some(path) => {
            if let Err(e) = std::fs::write(path, module) {
                eprintln!("error: --out {}: {e}", path.display());
                return BAD_INPUT;
            }
            eprintln!("wrote {}", path.display());
        }
    }
    OK
}

fn docs_cmd(dir: &std::path::Path) -> i32 {
    if dir.exists() && !dir.is_dir() {
        eprintln!(
            "error: --out {}: exists and is not a directory",
            dir.display()
        );
        return BAD_INPUT;
    }
    let start = Instant::now();
    match bnproof::docs::generate(dir) {
        Ok(report) => {
            println!(
                "wrote {} pages ({} files) to {} in {:.1} s",
                report.pages,
                report.files.len(),
                dir.display(),
                start.elapsed().as_secs_f64()
            );
            if report.all_held() {
                println!("every check held");
                OK
            } else {
                for f in &report.failures {
                    println!("FAILED: {f}");
                }
                FAILED
            }
        }
        Err(e @ bnproof::docs::DocsError::Io { .. }) => {
            eprintln!("error: {e}");
            BAD_INPUT
        }
        Err(e) => {
            eprintln!("error: {e}");
            FAILED
        }
    }
}

/// `handout MODEL|TOPIC --out DIR`: 0 written (and compiled where
/// pdflatex is installed), 1 pdflatex failed, 2 bad input or an unwritable
/// DIR.
fn handout_cmd(subject: &str, dir: &std::path::Path) -> i32 {
    use bnproof::handout::{self, Compiled};
    // The input first (a model file that does not parse leaves no empty
    // DIR behind), then DIR (an unwritable one is found before the
    // derivation, not after it).
    let loaded = if handout::is_topic(subject) {
        None
    } else {
        match bnproof::models::load(subject) {
            Ok(l) => Some(l),
            Err(e @ bnproof::models::LoadError::Unknown { .. }) => {
                let topics: Vec<&str> = bnproof::explain::TOPICS.iter().map(|(t, _)| *t).collect();
                let message = format!("{e}; nor an explain topic ({})", topics.join(", "));
                return bad_input("handout", &BadInput::other(subject, message), false, false);
            }
            Err(e) => return bad_input("handout", &BadInput::load(subject, &e), false, false),
        }
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!(
            "error: --out {}: cannot create the directory: {e}",
            dir.display()
        );
        return BAD_INPUT;
    }
    let made = match &loaded {
        None => match handout::for_topic(subject) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("error: {e}");
                return FAILED;
            }
        },
        Some(loaded) => {
            eprint!("{}", loaded.warnings_text());
            match handout::for_model(loaded, &derive_options(None, 1)) {
                Ok(h) => h,
                Err(e @ handout::HandoutError::Derive(_)) => {
                    let bad = BadInput::other(subject, e.to_string());
                    return bad_input("handout", &bad, false, false);
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return FAILED;
                }
            }
        }
    };
    if !made.all_held {
        eprintln!("warning: {subject}: not every check held as expected; the handout marks which");
    }
    let (tex, compiled) = match handout::write(dir, &made) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: --out {e}");
            return BAD_INPUT;
        }
    };
    println!("wrote {}", tex.display());
    match compiled {
        Compiled::Pdf(pdf) => {
            println!("wrote {}", pdf.display());
            OK
        }
        Compiled::NoPdflatex => {
            eprintln!("pdflatex is not installed (not on PATH): wrote the .tex only");
            OK
        }
        Compiled::Failed { log, error } => {
            eprintln!(
                "error: pdflatex failed on {}{}; see its log {}",
                tex.display(),
                error.map(|e| format!(" ({e})")).unwrap_or_default(),
                log.display()
            );
            FAILED
        }
    }
}

/// `exercises MODEL [--out DIR]`: 0 written with every answer proved and
/// every wrong answer refuted, 1 one was not, 2 bad input or an unwritable
/// DIR.
fn exercises_cmd(
    model: &str,
    dir: Option<&std::path::Path>,
    format: ExercisesFormat,
    solutions: bool,
) -> i32 {
    use bnproof::exercises;
    let loaded = match bnproof::models::load(model) {
        Ok(l) => l,
        Err(e) => return bad_input("exercises", &BadInput::load(model, &e), false, false),
    };
    if let Some(dir) = dir {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!(
                "error: --out {}: cannot create the directory: {e}",
                dir.display()
            );
            return BAD_INPUT;
        }
    }
    eprint!("{}", loaded.warnings_text());
    let made = match exercises::build(&loaded, &derive_options(None, 1)) {
        Ok(x) => x,
        Err(e) => {
            let bad = BadInput::other(model, e.to_string());
            return bad_input("exercises", &bad, false, false);
        }
    };
    let markup = match format {
        ExercisesFormat::Markdown => render::Markup::Markdown,
        ExercisesFormat::Latex => render::Markup::Latex,
    };
    let Ok(doc) = exercises::document(&made, markup, solutions) else {
        eprintln!("error: could not write the exercises");
        return FAILED;
    };
    match dir {
        None => print!("{doc}"),
        Some(dir) => {
            let path = dir.join(exercises::file_name(&loaded.name, markup));
            if let Err(e) = std::fs::write(&path, doc) {
                eprintln!("error: --out {}: {e}", path.display());
                return BAD_INPUT;
            }
            println!("wrote {}", path.display());
        }
    }
    for f in &made.failures {
        eprintln!("FAILED: {f}");
    }
    if made.ok() {
        OK
    } else {
        FAILED
    }
}

/// `derive`'s options (a handout's too: every input and parameter, first
/// order): the prover's limits with 2 s per statement.
fn derive_options(wrt: Option<Vec<String>>, order: u8) -> bnproof::derive::DeriveOptions {
    bnproof::derive::DeriveOptions {
        wrt,
        prover: Options {
            timeout: Duration::from_secs(2),
            ..Options::default()
        },
        order,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_exit_code_follows_2_4_1_3_0() {
        let order = [BAD_INPUT, UNAVAILABLE, FAILED, UNKNOWN, OK];
        for (i, &a) in order.iter().enumerate() {
            for &b in &order[i..] {
                assert_eq!(worst([a, b]), a, "{a} vs {b}");
                assert_eq!(worst([b, a]), a, "{b} vs {a}");
            }
        }
        assert_eq!(worst([OK, UNKNOWN, OK]), UNKNOWN);
        assert_eq!(worst([]), OK);
    }
}
