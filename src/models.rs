//! The built-in model files (`models/*.bn`, embedded in the binary) and
//! loading a model by built-in name or from a user's `.bn` file.
//!
//! Built-in layers are data: they are read by the same parser users use for
//! their own layers ([`crate::syntax::parse_model`]).

use crate::syntax::{parse_model, Model, ParseError};
use std::fmt;

/// Every built-in model: `(name, source text)`, in the order they are listed.
pub const BUILTIN: &[(&str, &str)] = &[
    ("centering", include_str!("../models/centering.bn")),
    ("batchnorm", include_str!("../models/batchnorm.bn")),
    ("batchnorm2d", include_str!("../models/batchnorm2d.bn")),
    (
        "batchnorm-eval",
        include_str!("../models/batchnorm-eval.bn"),
    ),
    ("layernorm", include_str!("../models/layernorm.bn")),
    ("instancenorm", include_str!("../models/instancenorm.bn")),
    ("groupnorm", include_str!("../models/groupnorm.bn")),
    ("rmsnorm", include_str!("../models/rmsnorm.bn")),
    (
        "batchnorm-softmax",
        include_str!("../models/batchnorm-softmax.bn"),
    ),
    ("l2norm", include_str!("../models/l2norm.bn")),
    ("batchrenorm", include_str!("../models/batchrenorm.bn")),
];

/// The source text of a built-in model.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The names of the built-in models.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// A model read and parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The built-in name, or the path as given.
    pub name: String,
    pub source: String,
    pub model: Model,
}

impl Loaded {
    /// The model file's warnings, one `warning: NAME:LINE: message` line
    /// each (empty when there are none).
    pub fn warnings_text(&self) -> String {
        self.model
            .warnings
            .iter()
            .map(|w| format!("warning: {}:{}: {}\n", self.name, w.line, w.message))
            .collect()
    }
}

/// Why a model could not be loaded.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadError {
    /// Not a built-in name and no such file.
    Unknown { name: String },
    /// A file that exists (or seems to) but could not be read.
    Unreadable { path: String, reason: String },
    /// The text does not parse; render with
    /// `error.render(&name, &source)`.
    Parse {
        name: String,
        source: String,
        error: Box<ParseError>,
    },
}

impl LoadError {
    /// A caret report for parse errors, the plain message otherwise.
    pub fn render(&self) -> String {
        match self {
            LoadError::Parse {
                name,
                source,
                error,
            } => error.render(name, source),
            other => format!("{other}\n"),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = builtin_names().join(", ");
        match self {
            LoadError::Unknown { name } => write!(
                f,
                "unknown model `{name}`: not a built-in model and no such file (built-in models: {list})"
            ),
            LoadError::Unreadable { path, reason } => write!(
                f,
                "cannot read model file `{path}`: {reason} (built-in models: {list})"
            ),
            LoadError::Parse { name, error, .. } => write!(f, "{name}: {error}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Load a model: a built-in name wins; otherwise `name_or_path` is read as
/// the path of a `.bn` file.
pub fn load(name_or_path: &str) -> Result<Loaded, LoadError> {
    let (name, source) = read(name_or_path)?;
    parse_source(name, source)
}

/// The model, or its parse error with the text to show it in.
fn loaded(
    name: String,
    source: String,
    parsed: Result<Model, ParseError>,
) -> Result<Loaded, LoadError> {
    match parsed {
        Ok(model) => Ok(Loaded {
            name,
            source,
            model,
        }),
        Err(error) => Err(LoadError::Parse {
            name,
            source,
            error: Box::new(error),
        }),
    }
}

/// Load a file that need not have an `output` (a derivation to grade with
/// `check-derivation`, which needs one only when it speaks of gradients).
pub fn load_any(name_or_path: &str) -> Result<Loaded, LoadError> {
    let (name, source) = read(name_or_path)?;
    let parsed = parse_model(&source);
    loaded(name, source, parsed)
}

/// The name and text of a built-in model or a file.
fn read(name_or_path: &str) -> Result<(String, String), LoadError> {
    Ok(match builtin(name_or_path) {
        Some(src) => (name_or_path.to_string(), src.to_string()),
        None => {
            let path = std::path::Path::new(name_or_path);
            match std::fs::read_to_string(path) {
                Ok(s) => (name_or_path.to_string(), s),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(LoadError::Unknown {
                        name: name_or_path.to_string(),
                    })
                }
                Err(e) => {
                    return Err(LoadError::Unreadable {
                        path: name_or_path.to_string(),
                        reason: e.to_string(),
                    })
                }
            }
        }
    })
}

/// Parse model text that was obtained elsewhere.
/// A model without an `output` line is bad input, reported at the file's
/// last line (nothing else can be derived or verified from it).
pub fn parse_source(name: String, source: String) -> Result<Loaded, LoadError> {
    let parsed = parse_model(&source).and_then(|model| {
        if model.outputs.is_empty() {
            Err(no_output(&source))
        } else {
            Ok(model)
        }
    });
    loaded(name, source, parsed)
}

/// "No output", pointing at the last line that is not blank.
fn no_output(source: &str) -> ParseError {
    let trimmed = source.trim_end();
    let start = trimmed.rfind('\n').map_or(0, |k| k + 1);
    ParseError {
        message: "the model has no output: no line says which definition the layer returns".into(),
        start,
        end: trimmed.len(),
        hint: Some("add a line such as \"output y\" naming the layer's result".into()),
        line: trimmed.matches('\n').count() + 1,
        col: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Expr;
    use crate::syntax::check_consistent;

    #[test]
    fn every_builtin_parses_and_is_consistent() {
        for (name, _) in BUILTIN {
            let l = load(name).unwrap_or_else(|e| panic!("{}", e.render()));
            let m = &l.model;
            assert!(m.title.is_some(), "{name}: no title");
            assert!(!m.outputs.is_empty(), "{name}: no output");
            assert!(!m.claims.is_empty(), "{name}: no claims");
            // Every use of a name agrees with its declaration or definition.
            let mut exprs: Vec<Expr> = Vec::new();
            for s in m.inputs.iter().chain(&m.params) {
                exprs.push(Expr::Sym(s.clone()));
            }
            for (d, e) in &m.defs {
                let axes: Vec<String> = e.free_axes().into_iter().collect();
                exprs.push(Expr::Sym(crate::ir::Symbol::new(d.clone(), axes)));
                exprs.push(e.clone());
            }
            for a in &m.assumptions {
                exprs.push(a.expr.clone());
            }
            for c in &m.claims {
                exprs.push(c.expr.clone());
            }
            let refs: Vec<&Expr> = exprs.iter().collect();
            check_consistent(&refs).unwrap_or_else(|e| panic!("{name}: {e}"));
            // Every axis used is declared; every claim has its variable's axes.
            for e in &exprs {
                let mut axes = std::collections::BTreeSet::new();
                e.all_axes(&mut axes);
                for a in axes {
                    assert!(m.axes.contains(&a), "{name}: undeclared axis {a}");
                }
            }
            for c in &m.claims {
                // A claim is about an input, a parameter or a definition.
                let axes: Vec<String> =
                    match m.inputs.iter().chain(&m.params).find(|s| s.name == c.wrt) {
                        Some(w) => w.axes.clone(),
                        None => {
                            let (_, def) = m.defs.iter().find(|(n, _)| *n == c.wrt).unwrap();
                            def.free_axes().into_iter().collect()
                        }
                    };
                let free: Vec<String> = c.expr.free_axes().into_iter().collect();
                assert_eq!(free, axes, "{name}: claim for {}", c.wrt);
            }
        }
    }

    #[test]
    fn builtin_names_and_errors() {
        assert!(builtin("batchnorm").unwrap().contains("claim grad x"));
        assert!(builtin("nope").is_none());
        let e = load("no-such-model-or-file").unwrap_err();
        assert!(matches!(e, LoadError::Unknown { .. }));
        let msg = e.to_string();
        for n in builtin_names() {
            assert!(msg.contains(n), "{msg}");
        }
        let e = parse_source("bad.bn".into(), "axis n\ninput x[m]\n".into()).unwrap_err();
        match &e {
            LoadError::Parse { error, .. } => assert_eq!(error.line, 2),
            other => panic!("{other:?}"),
        }
        assert!(e.render().contains("bad.bn"));
    }

    #[test]
    fn a_model_without_output_is_a_located_parse_error() {
        let src = "axis n\ninput x[n]\ny = 2 * x\n\n";
        let e = parse_source("noout.bn".into(), src.into()).unwrap_err();
        match &e {
            LoadError::Parse { error, .. } => {
                assert_eq!((error.line, error.col), (3, 1));
                assert!(error.message.contains("no output"), "{}", error.message);
                assert!(error.hint.as_deref().unwrap_or("").contains("output y"));
            }
            other => panic!("{other:?}"),
        }
        let report = e.render();
        assert!(
            report.contains("noout.bn") && report.contains("y = 2 * x"),
            "{report}"
        );
    }

    #[test]
    fn loads_a_user_file() {
        let dir = std::env::temp_dir().join(format!("bnproof-models-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("mine.bn");
        std::fs::write(&p, builtin("rmsnorm").unwrap()).unwrap();
        let l = load(p.to_str().unwrap()).unwrap();
        assert_eq!(l.model.outputs, vec!["y".to_string()]);
        let _ = std::fs::remove_file(&p);
        let _ = std::fs::remove_dir(&dir);
    }
}
