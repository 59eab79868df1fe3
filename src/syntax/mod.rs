//! The surface language: lexing, parsing, printing and model files.
//!
//! See `SPEC.md`, "The language". Entry points: [`parse_expr`],
//! [`parse_statement`], [`parse_assumption`], [`parse_pattern`],
//! [`parse_model`], [`check_consistent`] and [`print()`].
//!
//! Reading rules worth knowing:
//!
//! * A minus sign in operand position directly followed by a numeric literal
//!   is part of the literal (`-2` is `Num(-2)`), unless the literal is
//!   followed by `^` or a superscript (`-2^2` is `-(2^2)`).
//! * `p/q` where `p` is an operand consisting of exactly one integer literal
//!   (optionally with its minus) and `q` is an integer literal token not
//!   followed by an exponent is one rational constant (`1/3`, `-2/3`,
//!   `1 / 3`). `p/0` stays a division. `2/3/5` is `(2/3) / 5`.
//! * `0.5` and `1e-5` are exact rationals (scientific exponents up to
//!   10 000 in magnitude).
//! * Nesting (parser recursion and tree height) is limited to
//!   [`MAX_DEPTH`] levels; deeper input is an error, never a stack overflow.
//! * Names are NFC-normalized, so a precomposed and a decomposed `ê` are the
//!   same name.

mod error;
mod lexer;
mod model;
pub mod order;
mod parser;
mod print;

#[cfg(test)]
pub(crate) mod tests;

pub use error::ParseError;
pub use model::{grad_target, parse_model, Chain, Check, CheckKind, Claim, Model, Warning};
pub use parser::{MAX_CHAIN, MAX_DEPTH, MAX_HEIGHT};
pub use print::print;

use crate::ir::{Assumption, Expr, Rel, Statement, Symbol};
use error::PErr;
use lexer::Tok;
use parser::{Ctx, Parser};
use std::collections::HashMap;
use std::fmt;

fn parse_one(src: &str, ctx: Ctx<'_>, what: &str) -> Result<Expr, PErr> {
    let mut p = Parser::new(src, 0, ctx)?;
    let e = p.expr()?;
    if *p.peek() != Tok::Eof {
        return Err(p.trailing(what));
    }
    p.check_occurrences(src, 0)?;
    Ok(e)
}

/// Parse one expression. Every use of a symbol must carry the same axes.
pub fn parse_expr(src: &str) -> Result<Expr, ParseError> {
    parser::with_big_stack(src.len(), || {
        parse_one(src, Ctx::default(), "the expression").map_err(|e| e.locate(src))
    })
}

/// Parse a rule pattern: like [`parse_expr`] but pattern variables `?a` and
/// axis variables (`mean[?i](?a)`, `x[?i]`) are allowed, exponents may be
/// pattern variables, and axis consistency is not checked.
pub fn parse_pattern(src: &str) -> Result<Expr, ParseError> {
    let ctx = Ctx {
        pattern: true,
        ..Ctx::default()
    };
    parser::with_big_stack(src.len(), || {
        parse_one(src, ctx, "the pattern").map_err(|e| e.locate(src))
    })
}

/// Parse a statement `lhs = rhs`; both sides are checked together for
/// consistent axes.
pub fn parse_statement(src: &str) -> Result<Statement, ParseError> {
    parser::with_big_stack(src.len(), || {
        statement(src, false)
            .map(|(s, _)| s)
            .map_err(|e| e.locate(src))
    })
}

/// Parse a statement followed by optional definitions:
/// `lhs = rhs where mu = mean[i](x[i]), xhat = x[i] - mu`. Each definition
/// may use the earlier ones; the statement means its full inlining. A
/// defined name is used with its body's free axes (`xhat[i]`).
pub fn parse_statement_where(src: &str) -> Result<(Statement, Vec<(Symbol, Expr)>), ParseError> {
    parser::with_big_stack(src.len(), || {
        statement(src, true).map_err(|e| e.locate(src))
    })
}

fn statement(src: &str, allow_where: bool) -> Result<(Statement, Vec<(Symbol, Expr)>), PErr> {
    let mut p = Parser::new(src, 0, Ctx::default())?;
    let lhs = p.expr()?;
    match p.peek() {
        Tok::Eq => {
            p.bump();
        }
        Tok::Eof => {
            return Err(PErr::new(
                "expected `=` and a right-hand side",
                p.span(),
                "a statement has the form `lhs = rhs`",
            ))
        }
        Tok::Gt | Tok::Ge | Tok::Lt | Tok::Le | Tok::Ne => return Err(PErr::new(
            format!("expected `=`, found {}", p.peek().describe()),
            p.span(),
            "a statement has the form `lhs = rhs`; comparisons belong in assumptions (--assume)",
        )),
        _ => return Err(p.trailing("the left-hand side")),
    }
    let rhs = p.expr()?;
    let mut defs: Vec<(Symbol, Expr)> = Vec::new();
    if allow_where && matches!(p.peek(), Tok::Name(w) if w == "where") {
        p.bump();
        loop {
            let span = p.span();
            let name = match p.peek() {
                Tok::Name(n) => n.clone(),
                other => {
                    return Err(PErr::new(
                        format!("expected a name to define, found {}", other.describe()),
                        span,
                        "write `where name = expression`",
                    ))
                }
            };
            p.bump();
            if *p.peek() != Tok::Eq {
                return Err(PErr::new(
                    format!("expected `=` after `{name}`"),
                    p.span(),
                    "write `where name = expression`",
                ));
            }
            p.bump();
            let body = p.expr()?;
            if defs.iter().any(|(s, _)| s.name == name) {
                return Err(PErr::new(
                    format!("`{name}` is defined twice"),
                    span,
                    "each name is defined once",
                ));
            }
            defs.push((Symbol::new(name, body.free_axes()), body));
            if *p.peek() == Tok::Comma {
                p.bump();
                continue;
            }
            break;
        }
    }
    if *p.peek() != Tok::Eof {
        return Err(p.trailing("the statement"));
    }
    p.check_occurrences(src, 0)?;
    // Every use of a defined name carries its body's free axes, and a body
    // uses only names defined before it.
    let mut uses = std::collections::BTreeSet::new();
    lhs.symbols(&mut uses);
    rhs.symbols(&mut uses);
    for (k, (_, body)) in defs.iter().enumerate() {
        let mut inner = std::collections::BTreeSet::new();
        body.symbols(&mut inner);
        for u in &inner {
            if defs[k..].iter().any(|(d, _)| d.name == u.name) {
                return Err(PErr::new(
                    format!(
                        "the definition of `{}` uses `{}`, which is not defined before it",
                        defs[k].0.name, u.name
                    ),
                    0..src.len(),
                    "define each name before its use (no cycles)",
                ));
            }
        }
        uses.extend(inner);
    }
    for u in &uses {
        if let Some((d, _)) = defs.iter().find(|(d, _)| d.name == u.name) {
            if d.axes != u.axes {
                return Err(PErr::new(
                    format!(
                        "`{}` is used with axes [{}] but its definition varies along [{}]",
                        u.name,
                        u.axes.join(","),
                        d.axes.join(",")
                    ),
                    0..src.len(),
                    format!(
                        "write `{}` wherever it is used",
                        print(&Expr::Sym(d.clone()))
                    ),
                ));
            }
        }
    }
    Ok((Statement { lhs, rhs }, defs))
}

/// Parse an assumption: `e > 0`, `e >= 0`, `e != 0` (also `≥`, `≠`).
/// `a > b` means `a - b > 0` (just `a` when `b` is the literal 0);
/// `a < b` and `a <= b` are read as `b - a > 0` and `b - a >= 0`.
pub fn parse_assumption(src: &str) -> Result<Assumption, ParseError> {
    parser::with_big_stack(src.len(), || {
        assumption(src, 0, Ctx::default()).map_err(|e| e.locate(src))
    })
}

pub(crate) fn assumption(line: &str, base: usize, ctx: Ctx<'_>) -> Result<Assumption, PErr> {
    let mut p = Parser::new(line, base, ctx)?;
    let a = assumption_in(&mut p)?;
    if *p.peek() != Tok::Eof {
        return Err(p.trailing("the assumption"));
    }
    if ctx.scope.is_none() && !ctx.pattern {
        parser::check_occurrences(&p.occurrences, line, base)?;
    }
    Ok(a)
}

/// An assumption read from where the parser stands, up to the first token
/// that cannot continue its right-hand side.
pub(crate) fn assumption_in(p: &mut Parser<'_>) -> Result<Assumption, PErr> {
    let lhs = p.expr()?;
    let rel = p.peek().clone();
    match rel {
        Tok::Gt | Tok::Ge | Tok::Ne | Tok::Lt | Tok::Le => {
            p.bump();
        }
        Tok::Eq => {
            return Err(PErr::new(
                "an assumption cannot be an equation",
                p.span(),
                "assumptions have the form `e > 0`, `e >= 0` or `e != 0`",
            ))
        }
        Tok::Eof => {
            return Err(PErr::new(
                "expected `>`, `>=` or `!=` and a right-hand side",
                p.span(),
                "assumptions have the form `e > 0`, `e >= 0` or `e != 0`",
            ))
        }
        _ => return Err(p.trailing("the assumption's left-hand side")),
    }
    let rhs = p.expr()?;
    let zero = |e: &Expr| matches!(e, Expr::Num(r) if *r == crate::ir::Rat::from_integer(0.into()));
    let diff = |a: Expr, b: Expr| {
        if zero(&b) {
            a
        } else if zero(&a) {
            match b {
                Expr::Neg(inner) => *inner,
                b => Expr::neg(b),
            }
        } else {
            Expr::sub(a, b)
        }
    };
    let (expr, rel) = match rel {
        Tok::Gt => (diff(lhs, rhs), Rel::Gt),
        Tok::Ge => (diff(lhs, rhs), Rel::Ge),
        Tok::Ne => (diff(lhs, rhs), Rel::Ne),
        Tok::Lt => (diff(rhs, lhs), Rel::Gt),
        _ => (diff(rhs, lhs), Rel::Ge),
    };
    Ok(Assumption { expr, rel })
}

/// Check that every symbol name is used with one set of axes across all
/// the given expressions. The message names the symbol and both axis sets.
pub fn check_consistent(exprs: &[&Expr]) -> Result<(), String> {
    fn walk<'a>(e: &'a Expr, seen: &mut HashMap<&'a str, &'a Symbol>) -> Result<(), String> {
        if let Expr::Sym(s) = e {
            match seen.get(s.name.as_str()) {
                None => {
                    seen.insert(&s.name, s);
                }
                Some(f) if f.axes != s.axes => {
                    return Err(format!(
                        "symbol {} is used with inconsistent axes: as {} and as {}",
                        s.name,
                        parser::fmt_sym(f),
                        parser::fmt_sym(s)
                    ))
                }
                Some(_) => {}
            }
        }
        for c in e.children() {
            walk(c, seen)?;
        }
        Ok(())
    }
    let mut seen = HashMap::new();
    for e in exprs {
        walk(e, &mut seen)?;
    }
    Ok(())
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", print(&self.lhs), print(&self.rhs))
    }
}

impl fmt::Display for Assumption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} 0", print(&self.expr), self.rel.as_str())
    }
}
