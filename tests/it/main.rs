//! All integration tests in one binary (faster to build and link).

use std::process::{Command, Output};

/// Run the bnproof binary with `args`.
pub fn bnproof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bnproof"))
        .args(args)
        .output()
        .unwrap()
}

/// Everything a run printed: stdout, then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

mod adversarial;
mod against;
mod cli;
mod completeness;
mod derive;
mod edge;
mod emit;
mod exercises;
mod explain;
mod functions;
mod grade;
mod graph;
mod handout;
mod higher;
mod independence;
mod interval_oracle;
mod kernel;
mod kinks;
mod library;
mod prove;
mod readable;
mod render;
mod rules;
mod simplify;
mod soundness;
mod tamper;
mod torch;
mod user_models;
