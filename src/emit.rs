//! `bnproof emit MODEL --lang numpy|torch`: a self-contained Python module
//! with the model's forward pass and its backward pass, written from the
//! derivation that `bnproof derive` proves.
//!
//! Pure string generation: nothing here calls Python, NumPy or LibTorch.
//!
//! # What is written
//!
//! * `forward(<inputs>, <params>, <consts>)` returns the output (a tuple
//!   when the model has several, in `output` order).
//! * `backward(<inputs>, <params>, <consts>, d<output>…)` returns a dict
//!   `{"grad_<name>": …}` for every input and parameter (the names `verify
//!   --against` reads).
//! * Module constants `ARGUMENTS`, `UPSTREAM`, `GRADIENTS`, `OUTPUTS` and
//!   `AXES` list the model's own names, so a caller never depends on how a
//!   name was turned into a Python identifier.
//! * `--lang torch`: the same with torch ops in float64, plus a
//!   `torch.autograd.Function` subclass whose `forward` and `backward` call
//!   those functions.
//!
//! Every local variable is one definition: the model's definitions (the
//! forward pass) and then, for each gradient, the simplified form that
//! [`crate::derive::derive`] proved equal to reverse mode (a proved `claim`,
//! cheapest first) or, where none is cheaper, reverse mode's own program
//! ([`crate::diff::Derivation::program`]) — only the definitions a result
//! needs, in dependency order.
//!
//! # Arrays
//!
//! Arrays are row-major over their axes in the model's declared axis order,
//! as for `verify --against`. Inside the functions every value is held as
//! an array over *all* model axes in declared order, of size 1 along the
//! axes it does not vary along, so broadcasting is NumPy's own; a reduction
//! over axis `a` first broadcasts its body to the full size along `a` (so
//! `sum[n](1)` is the count) and keeps the dimension. The results are
//! reshaped to their declared axes at the end.
//!
//! # Semantics
//!
//! Constant subexpressions are folded exactly under bnproof's total
//! semantics ([`Expr::const_value`]); everything else is plain IEEE
//! arithmetic: `a / 0` is `inf` or `nan` (bnproof: 0) and the square root
//! or a non-integer power of a negative number is `nan` (bnproof: 0). The
//! two agree wherever the model's assumptions hold (e.g. `eps > 0`).

use crate::derive::{self, DeriveOptions, Verdict};
use crate::diff::Derivation;
use crate::ir::{Expr, Fun, Rat, RedOp, Symbol};
use crate::models::Loaded;
use crate::syntax::Model;
use num_traits::{Signed, ToPrimitive};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The target language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// NumPy (float64).
    Numpy,
    /// PyTorch (float64 tensors), with a `torch.autograd.Function`.
    Torch,
}

impl Lang {
    /// The `--lang` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Numpy => "numpy",
            Lang::Torch => "torch",
        }
    }
}

/// Python's reserved words (3.12, including the soft keywords a local may
/// not shadow harmlessly) and the module-level names the generated code
/// uses; a model name equal to one of them gets a trailing `_`.
const RESERVED: &[&str] = &[
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "match",
    "case",
    "type",
    "np",
    "torch",
    "forward",
    "backward",
    "ctx",
    "ARGUMENTS",
    "UPSTREAM",
    "GRADIENTS",
    "OUTPUTS",
    "AXES",
];

/// An ASCII Python identifier for each name, injective, never starting
/// with `_` (the generated code's own names do), never reserved. Names are
/// taken in the given order; a clash gets `_2`, `_3`, ….
fn python_names<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for name in names {
        if out.contains_key(name) {
            continue;
        }
        let mut base = String::new();
        for c in name.chars() {
            if c.is_ascii_alphanumeric() || c == '_' {
                base.push(c);
            } else if c == '\'' || c == '′' {
                base.push_str("_prime");
            } else {
                let _ = write!(base, "u{:x}", c as u32);
            }
        }
        if base.is_empty()
            || base.starts_with('_')
            || base.starts_with(|c: char| c.is_ascii_digit())
        {
            base.insert(0, 'v');
        }
        if RESERVED.contains(&base.as_str()) {
            base.push('_');
        }
        let mut candidate = base.clone();
        let mut k = 2;
        while taken.contains(&candidate) {
            candidate = format!("{base}_{k}");
            k += 1;
        }
        taken.insert(candidate.clone());
        out.insert(name.to_string(), candidate);
    }
    out
}

/// A Python string literal (names may hold any letter).
fn py_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Python tuple of string literals.
fn tuple(items: &[String]) -> String {
    let v: Vec<String> = items.iter().map(|a| py_str(a)).collect();
    match v.len() {
        1 => format!("({},)", v[0]),
        _ => format!("({})", v.join(", ")),
    }
}

/// Text safe inside a `#` comment (one line).
fn comment_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A Python float literal for an exact rational, correctly rounded: a
/// dyadic value as itself, otherwise `(p / q)` of two exact floats, which
/// IEEE division rounds correctly.
fn number(r: &Rat) -> String {
    let lit = |v: f64| -> String {
        if v.is_finite() {
            format!("{v:?}")
        } else if v > 0.0 {
            "float(\"inf\")".to_string()
        } else {
            "float(\"-inf\")".to_string()
        }
    };
    let exact = |b: &num_bigint::BigInt| b.bits() <= 53;
    let den = r.denom();
    let dyadic = den.trailing_zeros() == Some(den.bits() - 1);
    if (dyadic && exact(r.numer())) || r.is_integer() {
        return lit(r.to_f64().unwrap_or(f64::NAN));
    }
    if exact(r.numer()) && exact(den) {
        let (p, q) = (r.numer().to_f64(), den.to_f64());
        if let (Some(p), Some(q)) = (p, q) {
            return format!("({} / {})", lit(p), lit(q));
        }
    }
    lit(r.to_f64().unwrap_or(f64::NAN))
}

/// Precedence of what [`Writer::expr`] returns: 1 `+ -`, 2 `* /`, 3 unary
/// minus (and negative literals), 4 `**`, 5 atoms and calls.
type Prec = u8;

struct Writer<'a> {
    lang: Lang,
    names: &'a BTreeMap<String, String>,
}

impl Writer<'_> {
    fn expr(&self, e: &Expr) -> Result<(String, Prec), String> {
        if !matches!(e, Expr::Num(_)) {
            if let Some(v) = e.const_value() {
                return self.expr(&Expr::Num(v));
            }
        }
        let paren = |(s, p): (String, Prec), min: Prec| {
            if p >= min {
                s
            } else {
                format!("({s})")
            }
        };
        Ok(match e {
            Expr::Num(r) => (number(r), if r.is_negative() { 3 } else { 5 }),
            Expr::Sym(s) => (self.name(&s.name)?, 5),
            Expr::Neg(a) => (format!("-{}", paren(self.expr(a)?, 4)), 3),
            Expr::Add(a, b) | Expr::Sub(a, b) => {
                let op = if matches!(e, Expr::Add(..)) { "+" } else { "-" };
                let l = paren(self.expr(a)?, 1);
                let r = paren(self.expr(b)?, 2);
                (format!("{l} {op} {r}"), 1)
            }
            Expr::Mul(a, b) | Expr::Div(a, b) => {
                let op = if matches!(e, Expr::Mul(..)) { "*" } else { "/" };
                let l = paren(self.expr(a)?, 2);
                let r = paren(self.expr(b)?, 3);
                (format!("{l} {op} {r}"), 2)
            }
            Expr::Pow(a, p) => {
                let p = p.const_value().ok_or_else(|| {
                    format!(
                        "the exponent of `{}` is not a rational constant",
                        crate::syntax::print(e)
                    )
                })?;
                if p.is_integer() {
                    (
                        format!("{} ** {}", paren(self.expr(a)?, 5), p.to_integer()),
                        4,
                    )
                } else {
                    let t = self.tensor(a)?;
                    let f = match self.lang {
                        Lang::Numpy => format!("np.power({t}, {})", number(&p)),
                        Lang::Torch => format!("torch.pow({t}, {})", number(&p)),
                    };
                    (f, 5)
                }
            }
            Expr::Sqrt(a) => {
                let t = self.tensor(a)?;
                let f = match self.lang {
                    Lang::Numpy => format!("np.sqrt({t})"),
                    Lang::Torch => format!("torch.sqrt({t})"),
                };
                (f, 5)
            }
            Expr::App(f, args) => {
                let ts: Vec<String> = args
                    .iter()
                    .map(|a| self.tensor(a))
                    .collect::<Result<_, _>>()?;
                let call = match (self.lang, f) {
                    (_, Fun::Log) => format!("_log({})", ts[0]),
                    (Lang::Numpy, Fun::Exp) => format!("np.exp({})", ts[0]),
                    (Lang::Numpy, Fun::Abs) => format!("np.abs({})", ts[0]),
                    (Lang::Numpy, Fun::Max) => format!("np.maximum({}, {})", ts[0], ts[1]),
                    (Lang::Numpy, Fun::Min) => format!("np.minimum({}, {})", ts[0], ts[1]),
                    // The emitted code evaluates values; a stop-gradient is its value.
                    (Lang::Numpy, Fun::Detach) => format!("np.asarray({})", ts[0]),
                    (Lang::Torch, Fun::Exp) => format!("torch.exp({})", ts[0]),
                    (Lang::Torch, Fun::Abs) => format!("torch.abs({})", ts[0]),
                    (Lang::Torch, Fun::Max) => format!("torch.maximum({}, {})", ts[0], ts[1]),
                    (Lang::Torch, Fun::Min) => format!("torch.minimum({}, {})", ts[0], ts[1]),
                    (Lang::Torch, Fun::Detach) => format!("{}.detach()", ts[0]),
                };
                (call, 5)
            }
            Expr::Reduce(op, axes, body) => {
                let f = match op {
                    RedOp::Sum => "_sum",
                    RedOp::Mean => "_mean",
                    RedOp::Var => "_var",
                };
                let body = self.expr(body)?.0;
                (format!("{f}({body}, {}, _R)", tuple(axes)), 5)
            }
            Expr::PVar(v) => return Err(format!("pattern variable `?{v}` in a model")),
        })
    }

    /// `e` as an argument of a torch function: already a tensor when it
    /// mentions a name or a reduction (every argument is lifted to one),
    /// otherwise (a constant such as `sqrt(2)`) converted.
    fn tensor(&self, e: &Expr) -> Result<String, String> {
        fn has_array(e: &Expr) -> bool {
            matches!(e, Expr::Sym(_) | Expr::Reduce(..)) || e.children().into_iter().any(has_array)
        }
        let s = self.expr(e)?.0;
        Ok(
            if self.lang == Lang::Torch && (!has_array(e) || e.const_value().is_some()) {
                format!("_t({s}, _R)")
            } else {
                s
            },
        )
    }

    fn name(&self, n: &str) -> Result<String, String> {
        self.names
            .get(n)
            .cloned()
            .ok_or_else(|| format!("`{n}` is not a name of the model or of its derivation"))
    }
}

/// One line of a function body: `name = expr  # note`.
struct Line {
    name: String,
    expr: Expr,
    note: Option<String>,
}

/// The definitions (from `defs`, in their order) that `roots` need,
/// transitively.
fn needed<'d>(defs: &'d [(Symbol, Expr)], roots: &[&Expr]) -> Vec<&'d (Symbol, Expr)> {
    let by_name: BTreeMap<&str, &Expr> = defs.iter().map(|(s, e)| (s.name.as_str(), e)).collect();
    let mut want: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<&Expr> = roots.to_vec();
    while let Some(e) = stack.pop() {
        let mut syms = BTreeSet::new();
        e.symbols(&mut syms);
        for s in syms {
            if let Some(body) = by_name.get(s.name.as_str()) {
                if want.insert(s.name.clone()) {
                    stack.push(body);
                }
            }
        }
    }
    defs.iter()
        .filter(|(s, _)| want.contains(&s.name))
        .collect()
}

/// The gradient of every input and parameter as it is written: the local
/// it is bound to, and the lines that compute it (after the forward pass).
struct Plan {
    /// `(of, local name in the program)`, inputs then params.
    results: Vec<(String, String)>,
    lines: Vec<Line>,
}

fn plan(report: &derive::Report, model: &Model, command: &str) -> Plan {
    let d: &Derivation = &report.derivation;
    let defs = d.all_definitions(model);
    let forward: BTreeSet<&str> = model.defs.iter().map(|(n, _)| n.as_str()).collect();
    let mut results = Vec::new();
    // For each gradient: its root expression and, for a simplified one, the
    // line of the claim it came from.
    let mut roots: Vec<(String, Expr, Option<usize>)> = Vec::new();
    for g in &d.gradients {
        let chosen = report.gradients.iter().find(|r| r.name == g.of);
        let claim_line = chosen.and_then(|r| {
            if r.simplified == r.raw {
                return None;
            }
            let proved = |line: usize| {
                report.equalities.iter().any(|q| {
                    q.line == Some(line) && q.expect_true && matches!(q.verdict, Verdict::Proved(_))
                })
            };
            model
                .claims
                .iter()
                .find(|c| c.wrt == g.of && c.expr == r.simplified && proved(c.line))
                .map(|c| c.line)
        });
        // A claim that mentions the gradient's own name cannot stand in
        // for its definition.
        let claim_line = claim_line.filter(|_| {
            let mut syms = BTreeSet::new();
            if let Some(r) = chosen {
                r.simplified.symbols(&mut syms);
            }
            !syms.iter().any(|s| s.name == g.name.name)
        });
        match (claim_line, chosen) {
            (Some(line), Some(r)) => {
                roots.push((g.name.name.clone(), r.simplified.clone(), Some(line)))
            }
            _ => roots.push((g.name.name.clone(), Expr::Sym(g.name.clone()), None)),
        }
        results.push((g.of.clone(), g.name.name.clone()));
    }
    let root_exprs: Vec<&Expr> = roots.iter().map(|(_, e, _)| e).collect();
    let mut lines = Vec::new();
    for (s, e) in needed(&defs, &root_exprs) {
        if forward.contains(s.name.as_str()) {
            continue;
        }
        // A gradient written by its simplified form is not also defined
        // by reverse mode.
        if roots.iter().any(|(n, _, l)| l.is_some() && *n == s.name) {
            continue;
        }
        let of = d
            .adjoints
            .iter()
            .chain(&d.gradients)
            .find(|a| a.name.name == s.name)
            .map(|a| format!("∂ℓ/∂{}", a.of));
        lines.push(Line {
            name: s.name.clone(),
            expr: e.clone(),
            note: Some(match of {
                Some(of) => format!("{of}, reverse mode (`{command}`: the backward pass)"),
                None => format!(
                    "{} = {}: the number of positions reduced over",
                    s.name,
                    crate::syntax::print(e)
                ),
            }),
        });
    }
    for (name, e, line) in roots {
        if let Some(line) = line {
            let of = results
                .iter()
                .find(|(_, n)| *n == name)
                .map(|(o, _)| o.clone())
                .unwrap_or_default();
            lines.push(Line {
                name,
                expr: e,
                note: Some(format!(
                    "∂ℓ/∂{of}: the claim on line {line}, proved equal to reverse mode by `{command}` (kernel-checked)"
                )),
            });
        }
    }
    Plan { results, lines }
}

/// A CamelCase class-name stem from a model name or path.
fn class_stem(name: &str) -> String {
    let stem = std::path::Path::new(name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(name);
    let mut out = String::new();
    let mut upper = true;
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "Model");
    }
    out
}

const NUMPY_HELPERS: &str = r#"class _Ref:
    """Axis sizes in declared order; every value is an array over all of them."""

    def __init__(self, sizes):
        self.sizes = tuple(int(s) for s in sizes)
        self.pos = {a: k for k, a in enumerate(AXES)}

    def shape(self, axes):
        return tuple(self.sizes[k] if a in axes else 1 for k, a in enumerate(AXES))


def _lift(a, axes, R):
    """An argument (axes in declared order) as an array over all axes."""
    return np.asarray(a, dtype=np.float64).reshape(R.shape(axes))


def _full(a, axes, R):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        a = a.reshape((1,) * len(AXES))
    dims = tuple(R.pos[x] for x in axes)
    shape = tuple(R.sizes[k] if k in dims else n for k, n in enumerate(a.shape))
    return np.broadcast_to(a, shape), dims


def _sum(a, axes, R):
    a, dims = _full(a, axes, R)
    return a.sum(axis=dims, keepdims=True)


def _mean(a, axes, R):
    a, dims = _full(a, axes, R)
    return a.mean(axis=dims, keepdims=True)


def _var(a, axes, R):
    return _mean((a - _mean(a, axes, R)) ** 2, axes, R)


def _log(a):
    """log |a| with log 0 = 0, bnproof's total logarithm."""
    a = np.abs(np.asarray(a, dtype=np.float64))
    return np.where(a == 0, 0.0, np.log(np.where(a == 0, 1.0, a)))


def _out(a, axes, R):
    """A result over its own axes (declared order): size 1 elsewhere is dropped."""
    a = np.broadcast_to(np.asarray(a, dtype=np.float64), R.shape(axes))
    return np.array(a.reshape(tuple(R.sizes[R.pos[x]] for x in axes)))
"#;

const TORCH_HELPERS: &str = r#"class _Ref:
    """Axis sizes in declared order and the device; every value is a float64
    tensor over all axes."""

    def __init__(self, sizes, device):
        self.sizes = tuple(int(s) for s in sizes)
        self.pos = {a: k for k, a in enumerate(AXES)}
        self.device = device

    def shape(self, axes):
        return tuple(self.sizes[k] if a in axes else 1 for k, a in enumerate(AXES))


def _device(*args):
    """The device of the first argument that is a tensor (else the default)."""
    return next((a.device for a in args if isinstance(a, torch.Tensor)), None)


def _t(a, R):
    return torch.as_tensor(a, dtype=torch.float64, device=R.device)


def _lift(a, axes, R):
    """An argument (axes in declared order) as a tensor over all axes."""
    return _t(a, R).reshape(R.shape(axes))


def _full(a, axes, R):
    a = _t(a, R)
    if a.dim() == 0:
        a = a.reshape((1,) * len(AXES))
    dims = tuple(R.pos[x] for x in axes)
    shape = tuple(R.sizes[k] if k in dims else n for k, n in enumerate(a.shape))
    return a.expand(shape), dims


def _sum(a, axes, R):
    a, dims = _full(a, axes, R)
    return a.sum(dim=dims, keepdim=True)


def _mean(a, axes, R):
    a, dims = _full(a, axes, R)
    return a.mean(dim=dims, keepdim=True)


def _var(a, axes, R):
    return _mean((a - _mean(a, axes, R)) ** 2, axes, R)


def _log(a):
    """log |a| with log 0 = 0, bnproof's total logarithm."""
    a = torch.abs(a)
    one = torch.ones_like(a)
    return torch.where(a == 0, torch.zeros_like(a), torch.log(torch.where(a == 0, one, a)))


def _out(a, axes, R):
    """A result over its own axes (declared order): size 1 elsewhere is dropped."""
    a = _t(a, R).expand(R.shape(axes))
    return a.reshape(tuple(R.sizes[R.pos[x]] for x in axes)).clone()
"#;

/// The module for `loaded` in `lang`. `Err` with a message when the model
/// cannot be differentiated or written (bad input).
pub fn emit(loaded: &Loaded, lang: Lang) -> Result<String, String> {
    let model = &loaded.model;
    let report = derive::derive(loaded, &DeriveOptions::default()).map_err(|e| e.to_string())?;
    let d = &report.derivation;
    let command = format!("bnproof derive {}", comment_safe(&loaded.name));
    let plan = plan(&report, model, &command);

    // Arguments in the order `verify --against` lists them.
    let inputs: Vec<&Symbol> = model.inputs.iter().chain(&model.params).collect();
    let upstream: Vec<Symbol> = model
        .outputs
        .iter()
        .map(|y| crate::diff::upstream(model, y))
        .collect();
    let mut order: Vec<&str> = Vec::new();
    order.extend(inputs.iter().map(|s| s.name.as_str()));
    order.extend(model.consts.iter().map(String::as_str));
    order.extend(upstream.iter().map(|s| s.name.as_str()));
    order.extend(model.defs.iter().map(|(n, _)| n.as_str()));
    let program = d.program();
    order.extend(program.iter().map(|(s, _)| s.name.as_str()));
    order.extend(plan.lines.iter().map(|l| l.name.as_str()));
    let names = python_names(order);
    let w = Writer {
        lang,
        names: &names,
    };
    let py = |n: &str| names[n].clone();
    let declared = |axes: &[String]| -> Vec<String> {
        model
            .axes
            .iter()
            .filter(|a| axes.contains(a))
            .cloned()
            .collect()
    };
    let axes_tuple = |axes: &[String]| tuple(&declared(axes));
    let list = |v: &[&str]| -> String {
        let v: Vec<String> = v.iter().map(|s| py_str(s)).collect();
        format!("[{}]", v.join(", "))
    };

    // Where each axis size is read: the first argument that has the axis.
    let forward_args: Vec<(String, Vec<String>)> = inputs
        .iter()
        .map(|s| (s.name.clone(), declared(&s.axes)))
        .chain(model.consts.iter().map(|c| (c.clone(), Vec::new())))
        .collect();
    let backward_args: Vec<(String, Vec<String>)> = forward_args
        .iter()
        .cloned()
        .chain(upstream.iter().map(|s| (s.name.clone(), declared(&s.axes))))
        .collect();
    let size_source = |args: &[(String, Vec<String>)]| -> Result<Vec<String>, String> {
        model
            .axes
            .iter()
            .map(|a| {
                args.iter()
                    .find_map(|(n, axes)| {
                        axes.iter()
                            .position(|x| x == a)
                            .map(|k| match lang {
                                Lang::Numpy => format!("np.shape({})[{k}]", py(n)),
                                Lang::Torch => format!("_t({}, _R0).shape[{k}]", py(n)),
                            })
                    })
                    .ok_or_else(|| {
                        format!(
                            "the size of axis `{a}` is not the size of any input, parameter or upstream gradient"
                        )
                    })
            })
            .collect()
    };

    let mut out = String::new();
    let title = model.title.as_deref().map(comment_safe).unwrap_or_default();
    let _ = writeln!(
        out,
        "# Generated by `bnproof emit {} --lang {}` (bnproof {}).",
        comment_safe(&loaded.name),
        lang.name(),
        env!("CARGO_PKG_VERSION")
    );
    if !title.is_empty() {
        let _ = writeln!(out, "# Model: {title}");
    }
    let _ = writeln!(
        out,
        "#\n\
         # The formulas come from `{command}`: the forward pass is the model's own\n\
         # definitions; each gradient is either reverse mode's program (the\n\
         # definitions `{command}` prints as \"the backward pass\") or a\n\
         # simplified form that `{command}` proved equal to it, each proof\n\
         # re-checked by bnproof's kernel. Re-check them with:\n\
         #\n\
         #     {command} --proofs\n\
         #\n\
         # Arrays are row-major over their axes in the model's declared axis order\n\
         # (axis {}); constants are scalars. Float semantics: plain IEEE division,\n\
         # square roots and powers (bnproof's total semantics, x/0 = 0 and\n\
         # sqrt(negative) = 0, agree with them wherever the model's assumptions\n\
         # hold); constant subexpressions are folded exactly.",
        comment_safe(&model.axes.join(", "))
    );
    if lang == Lang::Torch {
        let _ = writeln!(
            out,
            "# Torch: float64 tensors on the device of the first argument that is a tensor."
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{}\n\n",
        match lang {
            Lang::Numpy => "import numpy as np",
            Lang::Torch => "import torch",
        }
    );
    let all_args: Vec<&str> = forward_args.iter().map(|(n, _)| n.as_str()).collect();
    let ups: Vec<&str> = upstream.iter().map(|s| s.name.as_str()).collect();
    let grads: Vec<String> = plan
        .results
        .iter()
        .map(|(of, _)| format!("grad_{of}"))
        .collect();
    let grad_refs: Vec<&str> = grads.iter().map(String::as_str).collect();
    let axes_refs: Vec<&str> = model.axes.iter().map(String::as_str).collect();
    let _ = writeln!(out, "# The model's names, in argument order.");
    let _ = writeln!(out, "AXES = {}", list(&axes_refs));
    let _ = writeln!(out, "ARGUMENTS = {}", list(&all_args));
    let _ = writeln!(out, "UPSTREAM = {}", list(&ups));
    let _ = writeln!(out, "GRADIENTS = {}", list(&grad_refs));
    let outputs: Vec<&str> = model.outputs.iter().map(String::as_str).collect();
    let _ = writeln!(out, "OUTPUTS = {}", list(&outputs));
    out.push_str("\n\n");
    out.push_str(match lang {
        Lang::Numpy => NUMPY_HELPERS,
        Lang::Torch => TORCH_HELPERS,
    });

    // The prologue both functions share: sizes, then every argument lifted.
    let prologue = |out: &mut String, args: &[(String, Vec<String>)]| -> Result<(), String> {
        let sizes = size_source(args)?;
        let sizes = if sizes.len() == 1 {
            format!("({},)", sizes[0])
        } else {
            format!("({})", sizes.join(", "))
        };
        match lang {
            Lang::Numpy => {
                let _ = writeln!(out, "    _R = _Ref({sizes})");
            }
            Lang::Torch => {
                let like: Vec<String> = args.iter().map(|(n, _)| py(n)).collect();
                let _ = writeln!(out, "    _R0 = _Ref((), _device({}))", like.join(", "));
                let _ = writeln!(out, "    _R = _Ref({sizes}, _R0.device)");
            }
        }
        for (n, axes) in args {
            let _ = writeln!(
                out,
                "    {} = _lift({}, {}, _R)",
                py(n),
                py(n),
                axes_tuple(axes)
            );
        }
        Ok(())
    };
    let forward_lines = |out: &mut String, roots: &[&Expr]| -> Result<(), String> {
        let defs: Vec<(Symbol, Expr)> = model
            .defs
            .iter()
            .map(|(n, e)| (Symbol::new(n.clone(), e.free_axes()), e.clone()))
            .collect();
        let lines = needed(&defs, roots);
        if !lines.is_empty() {
            let _ = writeln!(out, "    # forward pass: the model's definitions");
        }
        for (s, e) in lines {
            let _ = writeln!(out, "    {} = {}", py(&s.name), w.expr(e)?.0);
        }
        Ok(())
    };
    let arg_list = |args: &[(String, Vec<String>)]| -> String {
        args.iter()
            .map(|(n, _)| py(n))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let doc_args = |args: &[(String, Vec<String>)]| -> String {
        args.iter()
            .map(|(n, axes)| {
                let shape = if axes.is_empty() {
                    "scalar".to_string()
                } else {
                    format!("[{}]", declared(axes).join(", "))
                };
                if py(n) == *n {
                    format!("{n} {shape}")
                } else {
                    format!("{} (the model's {n}) {shape}", py(n))
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    };

    // forward
    let output_syms: Vec<Expr> = model
        .outputs
        .iter()
        .map(|y| Expr::Sym(Symbol::new(y.clone(), Vec::<String>::new())))
        .collect();
    let output_refs: Vec<&Expr> = output_syms.iter().collect();
    let _ = writeln!(out, "\n\ndef forward({}):", arg_list(&forward_args));
    let _ = writeln!(
        out,
        "    \"\"\"The forward pass. Arguments: {}.\"\"\"",
        comment_safe(&doc_args(&forward_args)).replace('"', "'")
    );
    prologue(&mut out, &forward_args)?;
    forward_lines(&mut out, &output_refs)?;
    let results: Vec<String> = upstream
        .iter()
        .zip(&model.outputs)
        .map(|(u, y)| format!("_out({}, {}, _R)", py(y), axes_tuple(&u.axes)))
        .collect();
    if results.len() == 1 {
        let _ = writeln!(out, "    return {}", results[0]);
    } else {
        let _ = writeln!(out, "    return ({},)", results.join(", "));
    }

    // backward
    let _ = writeln!(out, "\n\ndef backward({}):", arg_list(&backward_args));
    let _ = writeln!(
        out,
        "    \"\"\"The gradients of sum(<output> * d<output>), as {{\"grad_<name>\": array}}. Arguments: {}.\"\"\"",
        comment_safe(&doc_args(&backward_args)).replace('"', "'")
    );
    prologue(&mut out, &backward_args)?;
    let mut roots: Vec<&Expr> = plan.lines.iter().map(|l| &l.expr).collect();
    let result_syms: Vec<Expr> = plan
        .results
        .iter()
        .map(|(_, n)| Expr::Sym(Symbol::new(n.clone(), Vec::<String>::new())))
        .collect();
    roots.extend(result_syms.iter());
    forward_lines(&mut out, &roots)?;
    let _ = writeln!(out, "    # backward pass");
    for l in &plan.lines {
        if let Some(note) = &l.note {
            let _ = writeln!(out, "    # {}", comment_safe(note));
        }
        let _ = writeln!(out, "    {} = {}", py(&l.name), w.expr(&l.expr)?.0);
    }
    let _ = writeln!(out, "    return {{");
    for (of, local) in &plan.results {
        let axes = inputs
            .iter()
            .find(|s| s.name == *of)
            .map(|s| s.axes.clone())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "        {}: _out({}, {}, _R),",
            py_str(&format!("grad_{of}")),
            py(local),
            axes_tuple(&axes)
        );
    }
    let _ = writeln!(out, "    }}");

    if lang == Lang::Torch {
        let class = format!("{}Function", class_stem(&loaded.name));
        let tensors: Vec<String> = inputs.iter().map(|s| py(&s.name)).collect();
        let consts: Vec<String> = model.consts.iter().map(|c| py(c)).collect();
        let ups: Vec<String> = upstream.iter().map(|s| py(&s.name)).collect();
        let _ = writeln!(out, "\n\nclass {class}(torch.autograd.Function):");
        let _ = writeln!(
            out,
            "    \"\"\"`{class}.apply({})`: forward() above, differentiated by backward() above.\n\
             \n    Constants are not differentiated (their gradient is None).\"\"\"",
            arg_list(&forward_args)
        );
        let _ = writeln!(out, "\n    @staticmethod");
        let _ = writeln!(out, "    def forward(ctx, {}):", arg_list(&forward_args));
        let _ = writeln!(
            out,
            "        ctx.save_for_backward({})",
            tensors
                .iter()
                .map(|t| format!("torch.as_tensor({t})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(out, "        ctx.constants = ({})", {
            let mut s = consts.join(", ");
            if consts.len() == 1 {
                s.push(',');
            }
            s
        });
        let _ = writeln!(out, "        return forward({})", arg_list(&forward_args));
        let _ = writeln!(out, "\n    @staticmethod");
        let _ = writeln!(out, "    def backward(ctx, {}):", ups.join(", "));
        let unpack = if tensors.len() == 1 {
            format!("{},", tensors[0])
        } else {
            tensors.join(", ")
        };
        let _ = writeln!(out, "        {unpack} = ctx.saved_tensors");
        let _ = writeln!(
            out,
            "        _g = backward({}, *ctx.constants, {})",
            tensors.join(", "),
            ups.join(", ")
        );
        let mut rets: Vec<String> = inputs
            .iter()
            .map(|s| format!("_g[{}]", py_str(&format!("grad_{}", s.name))))
            .collect();
        rets.extend(consts.iter().map(|_| "None".to_string()));
        let _ = writeln!(out, "        return {}", {
            let mut s = rets.join(", ");
            if rets.len() == 1 {
                s.push(',');
            }
            s
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_injective_ascii_and_not_reserved() {
        let m = python_names(["x", "lambda", "lambda_", "_x", "x'", "σ2", "σ2", "np", "1a"]);
        assert_eq!(m["x"], "x");
        assert_eq!(m["lambda"], "lambda_");
        assert_eq!(m["lambda_"], "lambda__2");
        assert_eq!(m["_x"], "v_x");
        assert_eq!(m["x'"], "x_prime");
        assert_eq!(m["σ2"], "u3c32");
        assert_eq!(m["np"], "np_");
        let values: BTreeSet<&String> = m.values().collect();
        assert_eq!(values.len(), m.len());
        assert!(m.values().all(|v| v.is_ascii() && !v.starts_with('_')));
    }

    #[test]
    fn numbers_are_exact_or_correctly_rounded() {
        let r = |p: i64, q: i64| Rat::new(p.into(), q.into());
        assert_eq!(number(&r(2, 1)), "2.0");
        assert_eq!(number(&r(-3, 2)), "-1.5");
        assert_eq!(number(&r(1, 3)), "(1.0 / 3.0)");
        assert_eq!(number(&r(0, 1)), "0.0");
    }

    #[test]
    fn precedence_keeps_the_tree() {
        let names: BTreeMap<String, String> = ["a", "b", "c"]
            .iter()
            .map(|s| (s.to_string(), s.to_string()))
            .collect();
        let w = Writer {
            lang: Lang::Numpy,
            names: &names,
        };
        let e = |s: &str| crate::syntax::parse_expr(s).unwrap();
        let py = |s: &str| w.expr(&e(s)).unwrap().0;
        assert_eq!(py("a - (b - c)"), "a - (b - c)");
        assert_eq!(py("a / (b * c)"), "a / (b * c)");
        assert_eq!(py("(-a)^2"), "(-a) ** 2");
        assert_eq!(py("-(a^2)"), "-a ** 2");
        assert_eq!(py("(a + b)^(-3/2)"), "np.power(a + b, -1.5)");
        assert_eq!(py("a^(-1)"), "a ** -1");
        assert_eq!(py("-1/2 * a"), "-0.5 * a");
        assert_eq!(py("mean[n](a)"), "_mean(a, (\"n\",), _R)");
    }
}
