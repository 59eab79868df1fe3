//! JUnit XML, shared by `verify` (one test case per checked gradient) and
//! `derive` (one test case per checked equality): a `<testsuites>` document
//! with one `<testsuite>` per model file.

use std::fmt::{self, Write};

/// How one test case ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Pass,
    /// The checked code is wrong: `message` is one line, `text` the detail
    /// (a counterexample, the worst point).
    Failure {
        message: String,
        text: String,
    },
    /// The check could not be decided (an `unknown` verdict, bad input).
    Error {
        message: String,
        text: String,
    },
    /// Not run, with the reason.
    Skipped(String),
}

/// One test case.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub classname: String,
    pub name: String,
    /// The model file (or built-in name) the case comes from.
    pub file: Option<String>,
    /// The 1-based line in that file, when the case checks one line.
    pub line: Option<usize>,
    pub outcome: Outcome,
    /// Shown as `<system-out>` (e.g. a known upstream bug on a passing case).
    pub output: Option<String>,
}

impl Case {
    /// A passing case named `name` in class `classname`.
    pub fn new(classname: impl Into<String>, name: impl Into<String>) -> Case {
        Case {
            classname: classname.into(),
            name: name.into(),
            file: None,
            line: None,
            outcome: Outcome::Pass,
            output: None,
        }
    }
}

/// One test suite: the cases of one model file.
#[derive(Clone, Debug, PartialEq)]
pub struct Suite {
    pub name: String,
    pub cases: Vec<Case>,
}

/// `s` escaped for an XML attribute or text node; characters XML 1.0 does
/// not allow (control characters other than tab and newlines) are dropped.
pub fn escape(s: &str) -> String {
    let allowed: String = s
        .chars()
        .filter(|&c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .collect();
    crate::render::mathml::escape(&allowed)
}

/// Counts of one suite: (tests, failures, errors, skipped).
fn counts(cases: &[Case]) -> (usize, usize, usize, usize) {
    let mut n = (cases.len(), 0, 0, 0);
    for c in cases {
        match c.outcome {
            Outcome::Pass => {}
            Outcome::Failure { .. } => n.1 += 1,
            Outcome::Error { .. } => n.2 += 1,
            Outcome::Skipped(_) => n.3 += 1,
        }
    }
    n
}

/// The whole document: `<testsuites>` with one `<testsuite>` per suite.
pub fn write(out: &mut impl Write, name: &str, suites: &[Suite]) -> fmt::Result {
    let all: Vec<Case> = suites.iter().flat_map(|s| s.cases.clone()).collect();
    let (tests, failures, errors, skipped) = counts(&all);
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="{}" tests="{tests}" failures="{failures}" errors="{errors}" skipped="{skipped}">"#,
        escape(name)
    )?;
    for s in suites {
        let (tests, failures, errors, skipped) = counts(&s.cases);
        writeln!(
            out,
            r#"  <testsuite name="{}" tests="{tests}" failures="{failures}" errors="{errors}" skipped="{skipped}">"#,
            escape(&s.name)
        )?;
        for c in &s.cases {
            write_case(out, c)?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

fn write_case(out: &mut impl Write, c: &Case) -> fmt::Result {
    write!(
        out,
        r#"    <testcase classname="{}" name="{}""#,
        escape(&c.classname),
        escape(&c.name)
    )?;
    if let Some(f) = &c.file {
        write!(out, r#" file="{}""#, escape(f))?;
    }
    if let Some(l) = c.line {
        write!(out, r#" line="{l}""#)?;
    }
    if c.outcome == Outcome::Pass && c.output.is_none() {
        return writeln!(out, "/>");
    }
    writeln!(out, ">")?;
    match &c.outcome {
        Outcome::Pass => {}
        Outcome::Failure { message, text } => writeln!(
            out,
            "      <failure message=\"{}\">{}</failure>",
            escape(message),
            escape(text)
        )?,
        Outcome::Error { message, text } => writeln!(
            out,
            "      <error message=\"{}\">{}</error>",
            escape(message),
            escape(text)
        )?,
        Outcome::Skipped(why) => writeln!(out, "      <skipped message=\"{}\"/>", escape(why))?,
    }
    if let Some(o) = &c.output {
        writeln!(out, "      <system-out>{}</system-out>", escape(o))?;
    }
    writeln!(out, "    </testcase>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_escapes() {
        let mut failing = Case::new("m", "a <b> & \"c\"");
        failing.outcome = Outcome::Failure {
            message: "x ≠ y".into(),
            text: "1 < 2\u{1}".into(),
        };
        failing.file = Some("m.bn".into());
        failing.line = Some(7);
        let mut skipped = Case::new("m", "s");
        skipped.outcome = Outcome::Skipped("why".into());
        let suites = [
            Suite {
                name: "one".into(),
                cases: vec![Case::new("m", "ok"), failing],
            },
            Suite {
                name: "two".into(),
                cases: vec![skipped],
            },
        ];
        let mut s = String::new();
        write(&mut s, "all", &suites).unwrap();
        assert!(
            s.contains(r#"<testsuites name="all" tests="3" failures="1" errors="0" skipped="1">"#)
        );
        assert!(s.contains(r#"<testsuite name="one" tests="2" failures="1""#));
        assert!(s.contains(r#"name="a &lt;b&gt; &amp; &quot;c&quot;" file="m.bn" line="7">"#));
        assert!(s.contains("<failure message=\"x ≠ y\">1 &lt; 2</failure>"));
        assert_eq!(s.matches("<testcase").count(), 3);
        assert_eq!(s.matches("</testsuite>").count(), 2);
        assert!(s.trim_end().ends_with("</testsuites>"));
    }
}
