//! Model files (`.bn`): axes, inputs, parameters, constants, assumptions,
//! definitions, outputs, gradient claims and checks, one per line, with `#`
//! comments.
//!
//! Name resolution inside a model file:
//!
//! * Every name is declared: `input`, `param`, `const` (a scalar constant,
//!   not differentiated; `const eps > 0` also assumes), or a definition above
//!   its use. A name that only `assume` lines mention is declared by them as
//!   a constant (with a warning suggesting `const`), so older files keep
//!   their meaning. Any other name is bad input with a did-you-mean hint.
//! * A bare input or parameter name gets its declared axes; a bare defined
//!   name becomes `Sym(name, free axes of its definition)`. A declared name
//!   written with brackets must agree with its declaration.
//! * Every axis in brackets (`mean[n](…)`, `input x[n]`) must be declared
//!   with `axis`.
//! * In a `claim grad NAME = expr` line NAME is an input, a parameter or a
//!   definition, and `d<def>` for every definition is ∂ℓ/∂def with the axes
//!   of that definition (for an output, `dy` is the upstream gradient),
//!   unless a name `d<def>` is declared or defined (then the declaration wins).
//!   A claim may not vary along an axis its gradient does not have.
//! * `check` lines state properties to prove (see [`Check`]); in them
//!   `grad NAME` is the derived gradient. Claims and checks are read after
//!   the whole file, so they may come before `output`.

use super::error::{PErr, ParseError};
use super::lexer::{Tok, Token};
use super::parser::{closest, Ctx, Parser, Scope, GRAD_PREFIX};
use crate::ir::{Assumption, Expr, Symbol};
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

/// A parsed model file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    pub axes: Vec<String>,
    pub inputs: Vec<Symbol>,
    pub params: Vec<Symbol>,
    /// Scalar constants: declared by `const`, or named only in `assume`
    /// lines. They are not differentiated.
    pub consts: Vec<String>,
    pub assumptions: Vec<Assumption>,
    /// Definitions in file order.
    pub defs: Vec<(String, Expr)>,
    pub outputs: Vec<String>,
    pub claims: Vec<Claim>,
    /// Properties to check, in file order.
    pub checks: Vec<Check>,
    /// Derivations to grade step by step (`show EXPR` and `= EXPR` lines).
    pub chains: Vec<Chain>,
    /// The first comment line, if the file starts with a `#` comment.
    pub title: Option<String>,
    /// What the file probably did not mean: unused declarations and
    /// assumptions, names declared only by an assumption.
    pub warnings: Vec<Warning>,
    /// The axes of each input and parameter in the order they are written
    /// (`x[n,c,h,w]`); elsewhere axes are sorted. Arrays are shown so.
    pub declared_axes: std::collections::BTreeMap<String, Vec<String>>,
}

/// A warning about a model file, at a 1-based line.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    pub line: usize,
    pub message: String,
}

/// A `check` line: a property of the derivation to prove.
///
/// ```text
/// check sum[n](grad x) = 0
/// check sum[n](xhat * grad x) = 0 where eps = 0 assuming var[n](x) > 0
/// check false sum[n](xhat * grad x) = 0
/// check symmetric grad x
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// `false` for `check false …`: a refutation is expected.
    pub expect_true: bool,
    pub kind: CheckKind,
    /// 1-based line in the file.
    pub line: usize,
    /// The line as written after `check`.
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CheckKind {
    /// `lhs = rhs where c = e, … assuming a > 0, …`. `grad NAME` is a symbol
    /// named `grad NAME` with the gradient's axes; `subst`
    /// replaces constants (their assumptions in the file are dropped for
    /// this check), `assuming` adds assumptions.
    Equal {
        lhs: Expr,
        rhs: Expr,
        subst: Vec<(String, Expr)>,
        assuming: Vec<Assumption>,
    },
    /// `symmetric grad NAME`: the linear map from the upstream gradient to
    /// ∂ℓ/∂NAME is self-adjoint.
    Symmetric { wrt: String },
}

/// A derivation written one step per line:
///
/// ```text
/// show sum[i](x - mu)
///   = sum[i](x) - sum[i](mu)
///   = 0
/// ```
///
/// Each step is an expression claimed equal to the one before it. `grad
/// NAME` and the adjoint names (`dy`, `dxhat`) may be used, as in checks.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    /// The `show` expression, then every step, each with its 1-based line
    /// and its text as written.
    pub lines: Vec<(Expr, usize, String)>,
}

/// The name a `grad NAME` reference parses to, if `e` is one.
pub fn grad_target(s: &Symbol) -> Option<&str> {
    s.name.strip_prefix(GRAD_PREFIX)
}

/// `claim grad wrt = expr`.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    pub wrt: String,
    pub expr: Expr,
    /// 1-based line of the claim in the file.
    pub line: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Input,
    Param,
    Const,
    Def,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Input => "an input",
            Kind::Param => "a parameter",
            Kind::Const => "a constant",
            Kind::Def => "defined",
        }
    }
}

struct Pending {
    wrt: String,
    rest: Range<usize>,
    line: usize,
}

struct PendingCheck {
    rest: Range<usize>,
    line: usize,
}

/// Each line of a chain: where its expression is, and its line.
type PendingChain = Vec<(Range<usize>, usize)>;

/// Parse a model file. Errors carry the line and column in the file.
pub fn parse_model(src: &str) -> Result<Model, ParseError> {
    super::parser::with_big_stack(src.len(), || model(src).map_err(|e| e.locate(src)))
}

fn name_of(t: &Token) -> Option<&str> {
    match &t.tok {
        Tok::Name(n) => Some(n),
        _ => None,
    }
}

/// The lines of a file with their 0-based number, byte offset and code
/// (comment and `\r` removed).
fn code_lines(src: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for (lineno, raw) in src.split('\n').enumerate() {
        let base = offset;
        offset += raw.len() + 1;
        let code = raw.split('#').next().unwrap_or("");
        let code = code.strip_suffix('\r').unwrap_or(code);
        if !code.trim().is_empty() {
            out.push((lineno, base, code));
        }
    }
    out
}

/// Names declared or defined anywhere in the file (with their 1-based
/// line), and the names that `assume` lines use as plain symbols. Read
/// before the file is parsed, so that a name only an assumption mentions is
/// known everywhere, and a use above a definition can say where it is.
fn pre_scan(src: &str) -> (HashMap<String, usize>, Vec<(String, usize)>) {
    let mut declared = HashMap::new();
    let mut assumed = Vec::new();
    for (lineno, base, code) in code_lines(src) {
        let Ok(toks) = super::lexer::lex(code, base) else {
            continue;
        };
        let kw = toks.first().and_then(name_of).unwrap_or("");
        let second_is_eq = toks.get(1).is_some_and(|t| t.tok == Tok::Eq);
        let line = lineno + 1;
        match kw {
            "input" | "param" | "const" if !second_is_eq => {
                // The declared names: outside brackets, before a relation.
                let mut depth = 0i32;
                for t in &toks[1..] {
                    match &t.tok {
                        Tok::LBrack => depth += 1,
                        Tok::RBrack => depth -= 1,
                        Tok::Gt | Tok::Ge | Tok::Lt | Tok::Le | Tok::Ne => break,
                        Tok::Name(n) if depth == 0 => {
                            declared.entry(n.clone()).or_insert(line);
                        }
                        _ => {}
                    }
                }
            }
            "assume" if !second_is_eq => {
                // Plain symbols: outside brackets, and not followed by `[`
                // or `(` (a declared symbol, a reduction or a function).
                let mut depth = 0i32;
                for (k, t) in toks.iter().enumerate().skip(1) {
                    match &t.tok {
                        Tok::LBrack => depth += 1,
                        Tok::RBrack => depth -= 1,
                        Tok::Name(n) if depth == 0 => {
                            let next = toks.get(k + 1).map(|t| &t.tok);
                            if !matches!(next, Some(Tok::LBrack | Tok::LParen)) {
                                assumed.push((n.clone(), line));
                            }
                        }
                        _ => {}
                    }
                }
            }
            "axis" | "output" | "claim" | "check" | "show" if !second_is_eq => {}
            name if second_is_eq && !name.is_empty() => {
                declared.entry(name.to_string()).or_insert(line);
            }
            _ => {}
        }
    }
    (declared, assumed)
}

fn model(src: &str) -> Result<Model, PErr> {
    let mut m = Model {
        title: src
            .lines()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim().strip_prefix('#'))
            .map(|t| t.trim_start_matches('#').trim().to_string())
            .filter(|t| !t.is_empty()),
        ..Model::default()
    };
    let mut scope = Scope {
        strict: true,
        ..Scope::default()
    };
    let mut kinds: HashMap<String, Kind> = HashMap::new();
    let (declared, assumed) = pre_scan(src);
    // Names only assumptions mention are constants, declared by them.
    for (name, line) in &assumed {
        if declared.contains_key(name) || kinds.contains_key(name) {
            continue;
        }
        kinds.insert(name.clone(), Kind::Const);
        scope.names.insert(name.clone(), Vec::new());
        m.consts.push(name.clone());
        m.warnings.push(Warning {
            line: *line,
            message: format!(
                "{name} is declared only by this assumption; declare it with `const {name}` \
                 (or `const {name} > 0`, which also assumes)"
            ),
        });
    }
    scope.later = declared;
    let mut pending: Vec<Pending> = Vec::new();
    let mut pending_checks: Vec<PendingCheck> = Vec::new();
    let mut pending_chains: Vec<PendingChain> = Vec::new();
    // Whether the previous code line belongs to a chain (a `= …` line may
    // only follow one).
    let mut in_chain = false;
    // 1-based line of each declaration and assumption, for warnings.
    let mut decl_line: HashMap<String, usize> = HashMap::new();
    let mut assume_lines: Vec<usize> = Vec::new();

    for (lineno, base, code) in code_lines(src) {
        let ctx = Ctx {
            scope: Some(&scope),
            ..Ctx::default()
        };
        let mut p = Parser::new(code, base, ctx)?;
        let first = p.bump();
        let second_is_eq = *p.peek() == Tok::Eq;
        let kw = name_of(&first).unwrap_or("").to_string();
        let rest_of = |t: &Range<usize>| t.end..base + code.len();
        let continues = first.tok == Tok::Eq;
        if continues {
            match pending_chains.last_mut() {
                Some(chain) if in_chain => chain.push((rest_of(&first.span), lineno + 1)),
                _ => {
                    return Err(PErr::new(
                        "a `= …` line continues a derivation, but none is open here",
                        first.span.clone(),
                        "start the derivation with `show EXPRESSION` on the line above",
                    ))
                }
            }
            continue;
        }
        in_chain = kw == "show" && !second_is_eq;
        match kw.as_str() {
            "show" if !second_is_eq => {
                drop(p);
                pending_chains.push(vec![(rest_of(&first.span), lineno + 1)]);
            }
            "axis" if !second_is_eq => {
                let mut new = Vec::new();
                loop {
                    let t = p.bump();
                    match &t.tok {
                        Tok::Name(a) => new.push(a.clone()),
                        other => {
                            return Err(PErr::new(
                                format!("expected an axis name, found {}", other.describe()),
                                t.span.clone(),
                                "declare axes as `axis n, c, h, w`",
                            ))
                        }
                    }
                    if !list_sep(&mut p, "axis n, c, h, w")? {
                        break;
                    }
                }
                drop(p);
                for a in new {
                    if scope.axes.insert(a.clone()) {
                        m.axes.push(a);
                    }
                }
            }
            "input" | "param" if !second_is_eq => {
                let kind = if kw == "input" {
                    Kind::Input
                } else {
                    Kind::Param
                };
                let mut decls = Vec::new();
                loop {
                    let t = p.bump();
                    let Some(name) = name_of(&t).map(str::to_string) else {
                        return Err(PErr::new(
                            format!("expected a name, found {}", t.tok.describe()),
                            t.span.clone(),
                            format!("declare names as `{kw} x[n,c], y[c]`"),
                        ));
                    };
                    let axes = if *p.peek() == Tok::LBrack {
                        let (axes, span) = p.axis_list()?;
                        // The order as written, for showing arrays.
                        let written: Vec<String> = src[span]
                            .trim_matches(|c| c == '[' || c == ']')
                            .split(',')
                            .map(|a| a.trim().to_string())
                            .collect();
                        m.declared_axes.insert(name.clone(), written);
                        axes
                    } else {
                        Vec::new()
                    };
                    decls.push((name, axes, t.span.clone()));
                    if !list_sep(&mut p, &format!("{kw} x[n,c], y[c]"))? {
                        break;
                    }
                }
                drop(p);
                for (name, axes, span) in decls {
                    declare(&name, kind, &span, &kinds)?;
                    kinds.insert(name.clone(), kind);
                    scope.names.insert(name.clone(), axes.clone());
                    decl_line.insert(name.clone(), lineno + 1);
                    let s = Symbol::new(name, axes);
                    if kind == Kind::Input {
                        m.inputs.push(s);
                    } else {
                        m.params.push(s);
                    }
                }
            }
            "const" if !second_is_eq => {
                // `const a, b` or `const eps > 0` (one name and an assumption).
                let mut names = Vec::new();
                let mut with_assumption = false;
                loop {
                    let t = p.bump();
                    let Some(name) = name_of(&t).map(str::to_string) else {
                        return Err(PErr::new(
                            format!("expected a constant's name, found {}", t.tok.describe()),
                            t.span.clone(),
                            "declare constants as `const eps > 0` or `const a, b`",
                        ));
                    };
                    if *p.peek() == Tok::LBrack {
                        return Err(PErr::new(
                            format!("a constant is a scalar: {name}[...]"),
                            p.span(),
                            format!("declare it as `const {name}`, or as `param {name}[...]` if it varies along axes"),
                        ));
                    }
                    names.push((name, t.span.clone()));
                    if names.len() == 1
                        && matches!(p.peek(), Tok::Gt | Tok::Ge | Tok::Lt | Tok::Le | Tok::Ne)
                    {
                        with_assumption = true;
                        break;
                    }
                    if !list_sep(&mut p, "const a, b")? {
                        break;
                    }
                }
                drop(p);
                for (name, span) in &names {
                    declare(name, Kind::Const, span, &kinds)?;
                    kinds.insert(name.clone(), Kind::Const);
                    scope.names.insert(name.clone(), Vec::new());
                    decl_line.insert(name.clone(), lineno + 1);
                    m.consts.push(name.clone());
                }
                if with_assumption {
                    let r = rest_of(&first.span);
                    let ctx = Ctx {
                        scope: Some(&scope),
                        ..Ctx::default()
                    };
                    m.assumptions
                        .push(super::assumption(&src[r.clone()], r.start, ctx)?);
                    assume_lines.push(lineno + 1);
                }
            }
            "assume" if !second_is_eq => {
                let r = rest_of(&first.span);
                let a = super::assumption(&src[r.clone()], r.start, ctx)?;
                m.assumptions.push(a);
                assume_lines.push(lineno + 1);
            }
            "output" if !second_is_eq => loop {
                let t = p.bump();
                match name_of(&t) {
                    Some(y) if kinds.get(y) == Some(&Kind::Def) => m.outputs.push(y.to_string()),
                    Some(y) => {
                        return Err(PErr::new(
                            format!("output {y} is not defined"),
                            t.span.clone(),
                            format!("define it above with `{y} = ...`"),
                        ))
                    }
                    None => {
                        return Err(PErr::new(
                            format!("expected a name, found {}", t.tok.describe()),
                            t.span.clone(),
                            "list outputs as `output y`",
                        ))
                    }
                }
                if !list_sep(&mut p, "output y, z")? {
                    break;
                }
            },
            "claim" if !second_is_eq => {
                let g = p.bump();
                if name_of(&g) != Some("grad") {
                    return Err(PErr::new(
                        format!("expected `grad`, found {}", g.tok.describe()),
                        g.span.clone(),
                        "claims have the form `claim grad x = expression`",
                    ));
                }
                let t = p.bump();
                let Some(wrt) = name_of(&t).map(str::to_string) else {
                    return Err(PErr::new(
                        format!(
                            "expected an input or parameter name, found {}",
                            t.tok.describe()
                        ),
                        t.span.clone(),
                        "claims have the form `claim grad x = expression`",
                    ));
                };
                if !matches!(kinds.get(&wrt), Some(Kind::Input | Kind::Param | Kind::Def)) {
                    let what = match kinds.get(&wrt) {
                        Some(Kind::Const) => {
                            format!("{wrt} is a constant, which is not differentiated")
                        }
                        _ => format!("{wrt} is not an input, parameter or definition"),
                    };
                    return Err(PErr::new(
                        what,
                        t.span.clone(),
                        format!("declare it with `input {wrt}` or `param {wrt}`, or define it above; gradients are taken with respect to those"),
                    ));
                }
                let eq = p.bump();
                if eq.tok != Tok::Eq {
                    return Err(PErr::new(
                        format!("expected `=`, found {}", eq.tok.describe()),
                        eq.span.clone(),
                        "claims have the form `claim grad x = expression`",
                    ));
                }
                pending.push(Pending {
                    wrt,
                    rest: rest_of(&eq.span),
                    line: lineno + 1,
                });
            }
            "check" if !second_is_eq => {
                drop(p);
                pending_checks.push(PendingCheck {
                    rest: rest_of(&first.span),
                    line: lineno + 1,
                });
            }
            _ => {
                let Some(name) = name_of(&first).map(str::to_string) else {
                    return Err(unknown_line(&first));
                };
                if !second_is_eq {
                    if *p.peek() == Tok::LBrack {
                        return Err(PErr::new(
                            format!("definitions take no axes: {name}[...]"),
                            p.span(),
                            format!("write `{name} = ...`; its axes follow from the definition"),
                        ));
                    }
                    return Err(unknown_line(&first));
                }
                let eq = p.bump();
                drop(p);
                let r = rest_of(&eq.span);
                let e = expr_at(src, r.clone(), ctx)?;
                declare(&name, Kind::Def, &first.span, &kinds)?;
                kinds.insert(name.clone(), Kind::Def);
                decl_line.insert(name.clone(), lineno + 1);
                scope
                    .names
                    .insert(name.clone(), e.free_axes().into_iter().collect());
                m.defs.push((name, e));
            }
        }
    }

    // In claims, `d<name>` is the gradient of the loss with respect to a
    // definition (for an output: the upstream gradient), with its axes.
    let mut claim_scope = scope.clone();
    claim_scope.later.clear();
    for (name, _) in &m.defs {
        let d = format!("d{name}");
        let axes = scope.names.get(name).cloned().unwrap_or_default();
        claim_scope.names.entry(d).or_insert(axes);
    }
    for c in pending {
        let ctx = Ctx {
            scope: Some(&claim_scope),
            ..Ctx::default()
        };
        let expr = expr_at(src, c.rest.clone(), ctx)?;
        let want: BTreeSet<String> = scope
            .names
            .get(&c.wrt)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let extra: Vec<String> = expr.free_axes().difference(&want).cloned().collect();
        if !extra.is_empty() {
            return Err(PErr::new(
                format!(
                    "the claim varies along {} but ∂ℓ/∂{} has axes {}",
                    fmt_axes(&extra),
                    c.wrt,
                    fmt_axes(&want.iter().cloned().collect::<Vec<_>>())
                ),
                c.rest,
                "reduce over the extra axes (sum[...], mean[...]) or claim the gradient of another name",
            ));
        }
        m.claims.push(Claim {
            wrt: c.wrt,
            expr,
            line: c.line,
        });
    }
    // In checks, `grad NAME` is the derived gradient of an input, a
    // parameter or a definition.
    let grads: HashMap<String, Vec<String>> = kinds
        .iter()
        .filter(|(_, k)| matches!(k, Kind::Input | Kind::Param | Kind::Def))
        .map(|(n, _)| (n.clone(), scope.names.get(n).cloned().unwrap_or_default()))
        .collect();
    for c in pending_checks {
        let ctx = Ctx {
            scope: Some(&claim_scope),
            grads: Some(&grads),
            ..Ctx::default()
        };
        let check = check_at(src, c.rest, c.line, ctx, &m.consts)?;
        m.checks.push(check);
    }
    for chain in pending_chains {
        let ctx = Ctx {
            scope: Some(&claim_scope),
            grads: Some(&grads),
            ..Ctx::default()
        };
        let pending_start = chain[0].0.clone();
        // A line may hold several steps: `show a = b = c`.
        let mut lines = Vec::new();
        for (r, line) in chain {
            let mut p = Parser::new(&src[r.clone()], r.start, ctx)?;
            loop {
                let start = p.span().start;
                let e = p.expr()?;
                let end = p.span().start;
                lines.push((e, line, src[start..end].trim().to_string()));
                match p.peek() {
                    Tok::Eq => {
                        p.bump();
                    }
                    Tok::Eof => break,
                    _ => return Err(p.trailing("the step")),
                }
            }
        }
        if lines.len() < 2 {
            return Err(PErr::new(
                "a derivation needs at least one step",
                pending_start,
                "write each step on its own line below, as `  = expression`",
            ));
        }
        m.chains.push(Chain { lines });
    }
    warn_unused(&mut m, &decl_line, &assume_lines);
    Ok(m)
}

/// A `check` line after the keyword.
fn check_at(
    src: &str,
    r: Range<usize>,
    line: usize,
    ctx: Ctx<'_>,
    consts: &[String],
) -> Result<Check, PErr> {
    const FORMS: &str = "checks have the form `check lhs = rhs [where c = e] [assuming e > 0]`, \
                         `check false lhs = rhs` or `check symmetric grad x`";
    let mut p = Parser::new(&src[r.clone()], r.start, ctx)?;
    let mut expect_true = true;
    let opens_expr = |t: &Tok| {
        matches!(
            t,
            Tok::Eq
                | Tok::Plus
                | Tok::Minus
                | Tok::Star
                | Tok::Slash
                | Tok::Caret
                | Tok::LBrack
                | Tok::LParen
                | Tok::Eof
        )
    };
    let mut r = r;
    if matches!(p.peek(), Tok::Name(w) if w == "false") && !opens_expr(p.peek_at(1)) {
        r.start = p.bump().span.end;
        expect_true = false;
    }
    if matches!(p.peek(), Tok::Name(w) if w == "symmetric")
        && matches!(p.peek_at(1), Tok::Name(g) if g == "grad")
    {
        p.bump();
        let g = p.bump();
        let t = p.bump();
        let Some(wrt) = name_of(&t).map(str::to_string) else {
            return Err(PErr::new(
                format!("expected a name after `grad`, found {}", t.tok.describe()),
                t.span,
                FORMS,
            ));
        };
        if !ctx.grads.is_some_and(|g| g.contains_key(&wrt)) {
            return Err(PErr::new(
                format!("grad {wrt}: {wrt} is not an input, parameter or definition"),
                g.span.start..t.span.end,
                FORMS,
            ));
        }
        if *p.peek() != Tok::Eof {
            return Err(p.trailing("`check symmetric grad NAME`"));
        }
        return Ok(Check {
            expect_true,
            kind: CheckKind::Symmetric { wrt },
            line,
            text: src[r].trim().to_string(),
        });
    }
    let lhs = p.expr()?;
    if *p.peek() != Tok::Eq {
        return Err(PErr::new(
            format!("expected `=`, found {}", p.peek().describe()),
            p.span(),
            FORMS,
        ));
    }
    p.bump();
    let rhs = p.expr()?;
    let mut subst: Vec<(String, Expr)> = Vec::new();
    if matches!(p.peek(), Tok::Name(w) if w == "where") {
        p.bump();
        loop {
            let t = p.bump();
            let Some(c) = name_of(&t).map(str::to_string) else {
                return Err(PErr::new(
                    format!("expected a constant's name, found {}", t.tok.describe()),
                    t.span,
                    "write `where eps = 0`",
                ));
            };
            if !consts.contains(&c) {
                return Err(PErr::new(
                    format!("{c} is not a constant; `where` substitutes constants"),
                    t.span,
                    match closest(&c, consts) {
                        Some(k) => format!("did you mean `{k}`?"),
                        None => "declare it with `const` first".to_string(),
                    },
                ));
            }
            if *p.peek() != Tok::Eq {
                return Err(PErr::new(
                    format!("expected `=` after `{c}`"),
                    p.span(),
                    "write `where eps = 0`",
                ));
            }
            p.bump();
            let e = p.expr()?;
            if !e.free_axes().is_empty() {
                return Err(PErr::new(
                    format!("{c} is a scalar constant; its value may not vary along an axis"),
                    t.span,
                    "substitute a scalar expression",
                ));
            }
            subst.push((c, e));
            if *p.peek() != Tok::Comma {
                break;
            }
            p.bump();
        }
    }
    let mut assuming = Vec::new();
    if matches!(p.peek(), Tok::Name(w) if w == "assuming") {
        p.bump();
        loop {
            assuming.push(super::assumption_in(&mut p)?);
            if *p.peek() != Tok::Comma {
                break;
            }
            p.bump();
        }
    }
    if *p.peek() != Tok::Eof {
        return Err(p.trailing("the check"));
    }
    Ok(Check {
        expect_true,
        kind: CheckKind::Equal {
            lhs,
            rhs,
            subst,
            assuming,
        },
        line,
        text: src[r].trim().to_string(),
    })
}

/// Warnings for declarations that no definition (nor derivation to grade)
/// uses, and for assumptions about such names only.
fn warn_unused(m: &mut Model, decl_line: &HashMap<String, usize>, assume_lines: &[usize]) {
    let mut used = BTreeSet::new();
    for (_, e) in &m.defs {
        e.symbols(&mut used);
    }
    // Names a derivation to grade uses count too.
    for c in &m.chains {
        for (e, _, _) in &c.lines {
            e.symbols(&mut used);
        }
    }
    let used: BTreeSet<String> = used.into_iter().map(|s| s.name).collect();
    let names = m
        .inputs
        .iter()
        .chain(&m.params)
        .map(|s| s.name.clone())
        .chain(m.consts.iter().cloned());
    let mut warnings = Vec::new();
    for name in names {
        if !used.contains(&name) {
            if let Some(&line) = decl_line.get(&name) {
                warnings.push(Warning {
                    line,
                    message: format!("{name} is declared but no definition uses it"),
                });
            }
        }
    }
    for (a, &line) in m.assumptions.iter().zip(assume_lines) {
        let mut syms = BTreeSet::new();
        a.expr.symbols(&mut syms);
        if !syms.is_empty() && syms.iter().all(|s| !used.contains(&s.name)) {
            warnings.push(Warning {
                line,
                message: format!("the assumption {a} is about names no definition uses"),
            });
        }
    }
    m.warnings.extend(warnings);
    m.warnings.sort_by_key(|w| w.line);
}

fn unknown_line(first: &Token) -> PErr {
    PErr::new(
        format!("expected a declaration or a definition, found {}", first.tok.describe()),
        first.span.clone(),
        "lines are `axis n`, `input x[n]`, `param g`, `const eps > 0`, `assume e > 0`, `name = expr`, `output y`, `claim grad x = expr`, `check lhs = rhs` or `show expr` followed by `= expr` lines",
    )
}

/// After a list item: `true` on `,`, `false` at the end of the line.
fn list_sep(p: &mut Parser<'_>, example: &str) -> Result<bool, PErr> {
    let t = p.bump();
    match t.tok {
        Tok::Comma => Ok(true),
        Tok::Eof => Ok(false),
        other => Err(PErr::new(
            format!(
                "expected `,` or the end of the line, found {}",
                other.describe()
            ),
            t.span,
            format!("separate items with commas: `{example}`"),
        )),
    }
}

fn expr_at(src: &str, r: Range<usize>, ctx: Ctx<'_>) -> Result<Expr, PErr> {
    let mut p = Parser::new(&src[r.clone()], r.start, ctx)?;
    let e = p.expr()?;
    if *p.peek() != Tok::Eof {
        return Err(p.trailing("the expression"));
    }
    Ok(e)
}

fn declare(
    name: &str,
    kind: Kind,
    span: &Range<usize>,
    kinds: &HashMap<String, Kind>,
) -> Result<(), PErr> {
    if let Some(k) = kinds.get(name) {
        let what = if kind == Kind::Def {
            "defined"
        } else {
            "declared"
        };
        return Err(PErr::new(
            format!("{name} is already {}; it cannot be {what} again", k.word()),
            span.clone(),
            "choose another name",
        ));
    }
    Ok(())
}

fn fmt_axes(axes: &[String]) -> String {
    if axes.is_empty() {
        "none (a scalar)".to_string()
    } else {
        format!("[{}]", axes.join(","))
    }
}
