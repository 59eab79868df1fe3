//! Model files (`.bn`): axes, inputs, parameters, assumptions, definitions,
//! outputs and gradient claims, one per line, with `#` comments.
//!
//! Name resolution inside a model file:
//!
//! * A bare input or parameter name gets its declared axes; a bare defined
//!   name becomes `Sym(name, free axes of its definition)`.
//! * A bare name that is never declared nor defined (such as `eps`) is a
//!   **scalar constant**: a symbol with no axes. So there is no "unknown
//!   name" error; instead a name used *with brackets* that was never
//!   declared is an error, and a declared name written with brackets must
//!   agree with its declaration. Defining or declaring a name after it has
//!   been used as a scalar constant is an error.
//! * Every axis in brackets (`mean[n](…)`, `input x[n]`) must be declared
//!   with `axis`.
//! * In a `claim grad NAME = expr` line NAME is an input, a parameter or a
//!   definition, and `d<def>` for every definition is ∂ℓ/∂def with the axes
//!   of that definition (for an output, `dy` is the upstream gradient),
//!   unless a name `d<def>` is declared or defined (then the declaration wins).
//!   Claims are read after the whole file, so they may come before `output`.

use super::error::{PErr, ParseError};
use super::lexer::{Tok, Token};
use super::parser::{Ctx, Parser, Scope};
use crate::ir::{Assumption, Expr, Symbol};
use std::collections::HashMap;
use std::ops::Range;

/// A parsed model file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    pub axes: Vec<String>,
    pub inputs: Vec<Symbol>,
    pub params: Vec<Symbol>,
    pub assumptions: Vec<Assumption>,
    /// Definitions in file order.
    pub defs: Vec<(String, Expr)>,
    pub outputs: Vec<String>,
    pub claims: Vec<Claim>,
    /// The first comment line, if the file starts with a `#` comment.
    pub title: Option<String>,
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
    Def,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Input => "an input",
            Kind::Param => "a parameter",
            Kind::Def => "defined",
        }
    }
}

struct Pending {
    wrt: String,
    rest: Range<usize>,
    line: usize,
}

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
    let mut scope = Scope::default();
    let mut kinds: HashMap<String, Kind> = HashMap::new();
    // Names used as undeclared scalar constants, with where.
    let mut scalars: HashMap<String, Range<usize>> = HashMap::new();
    let mut pending: Vec<Pending> = Vec::new();

    let mut offset = 0;
    for (lineno, raw) in src.split('\n').enumerate() {
        let base = offset;
        offset += raw.len() + 1;
        let code = raw.split('#').next().unwrap_or("");
        let code = code.strip_suffix('\r').unwrap_or(code);
        if code.trim().is_empty() {
            continue;
        }
        let ctx = Ctx {
            pattern: false,
            scope: Some(&scope),
        };
        let mut p = Parser::new(code, base, ctx)?;
        let first = p.bump();
        let second_is_eq = *p.peek() == Tok::Eq;
        let kw = name_of(&first).unwrap_or("").to_string();
        let rest_of = |t: &Range<usize>| t.end..base + code.len();
        match kw.as_str() {
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
                        p.axis_list()?.0
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
                    declare(&name, kind, &span, &kinds, &scalars)?;
                    kinds.insert(name.clone(), kind);
                    scope.names.insert(name.clone(), axes.clone());
                    let s = Symbol::new(name, axes);
                    if kind == Kind::Input {
                        m.inputs.push(s);
                    } else {
                        m.params.push(s);
                    }
                }
            }
            "assume" if !second_is_eq => {
                let r = rest_of(&first.span);
                let a = super::assumption(&src[r.clone()], r.start, ctx)?;
                note_scalars(&a.expr, &scope, &mut scalars, &r);
                m.assumptions.push(a);
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
                    return Err(PErr::new(
                        format!("{wrt} is not an input, parameter or definition"),
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
                declare(&name, Kind::Def, &first.span, &kinds, &scalars)?;
                note_scalars(&e, &scope, &mut scalars, &r);
                kinds.insert(name.clone(), Kind::Def);
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
    for (name, _) in &m.defs {
        let d = format!("d{name}");
        let axes = scope.names.get(name).cloned().unwrap_or_default();
        claim_scope.names.entry(d).or_insert(axes);
    }
    for c in pending {
        let ctx = Ctx {
            pattern: false,
            scope: Some(&claim_scope),
        };
        let expr = expr_at(src, c.rest, ctx)?;
        m.claims.push(Claim {
            wrt: c.wrt,
            expr,
            line: c.line,
        });
    }
    Ok(m)
}

fn unknown_line(first: &Token) -> PErr {
    PErr::new(
        format!("expected a declaration or a definition, found {}", first.tok.describe()),
        first.span.clone(),
        "lines are `axis n`, `input x[n]`, `param g`, `assume e > 0`, `name = expr`, `output y` or `claim grad x = expr`",
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
    scalars: &HashMap<String, Range<usize>>,
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
    if scalars.contains_key(name) {
        return Err(PErr::new(
            format!("{name} was used above as a scalar constant"),
            span.clone(),
            format!("declare or define {name} before its first use"),
        ));
    }
    Ok(())
}

fn note_scalars(
    e: &Expr,
    scope: &Scope,
    scalars: &mut HashMap<String, Range<usize>>,
    r: &Range<usize>,
) {
    let mut syms = std::collections::BTreeSet::new();
    e.symbols(&mut syms);
    for s in syms {
        if !scope.names.contains_key(&s.name) {
            scalars.entry(s.name).or_insert_with(|| r.clone());
        }
    }
}
