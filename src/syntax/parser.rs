//! Recursive-descent parser for expressions, statements and assumptions.
//!
//! Grammar, loosest first:
//!
//! ```text
//! expr  := term (('+' | '-') term)*
//! term  := unary (('*' | '/') unary)*        -- `p/q` of two integer literals folds
//! unary := '-' unary | '-' NUMBER | power    -- `-2` is a literal unless `^`/superscript follows
//! power := atom ('^' unary | SUPERSCRIPT)?   -- right-associative, constant exponent
//! atom  := NUMBER | name | name[axes] | ?a | ( expr ) | √ atom | sqrt(expr)
//!        | exp(expr) | log(expr) | abs(expr) | detach(expr) | max(expr, expr) | min(expr, expr)
//!        | mean[axes](expr) | mean(expr) | sum… | var… | E[expr]
//! ```

use super::error::PErr;
use super::lexer::{lex, Tok, Token};
use crate::ir::{Expr, Fun, RedOp, Symbol};
use num_rational::BigRational;
use num_traits::Zero;
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

/// Stack size of the thread the parser runs on: deep (but admissible)
/// nesting needs more than a default 2 MiB test thread in debug builds.
const PARSER_STACK: usize = 64 << 20;

/// Inputs this short cannot nest deeply enough to need a big stack (each
/// level of nesting takes at least one byte).
const SHORT_INPUT: usize = 64;

/// Run `f` on a thread with a large stack (falling back to the current
/// thread if no thread can be spawned); short inputs run in place, since a
/// thread per rule pattern would dominate the cost of small proofs.
pub(crate) fn with_big_stack<T: Send>(input_len: usize, f: impl FnOnce() -> T + Send) -> T {
    if input_len <= SHORT_INPUT {
        return f();
    }
    let mut f = Some(f);
    let spawned = std::thread::scope(|s| {
        let slot = &mut f;
        let h = std::thread::Builder::new()
            .name("bnproof-parser".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(s, move || slot.take().map(|f| f()));
        match h {
            Ok(h) => match h.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(_) => None,
        }
    });
    match spawned {
        Some(r) => r,
        None => match f.take() {
            Some(f) => f(),
            None => unreachable!("the parser thread ran but returned nothing"),
        },
    }
}

/// Maximum nesting: parser recursion (parentheses, unary operators,
/// exponents, roots) and the nesting of the resulting tree, where a chain
/// `a + b - c + …` or `a * b / c * …` counts one level above its deepest
/// operand, however long it is.
pub const MAX_DEPTH: usize = 500;

/// Most operands of one chain of `+`/`-` or of `*`/`/`. A chain is a
/// left-leaning binary tree (`a + b + c` is `(a + b) + c`, the positions
/// certificates use), one level per operand.
pub const MAX_CHAIN: usize = 10_000;

/// Largest height of the tree itself: a chain as long as [`MAX_CHAIN`]
/// with nesting to spare. Everything that walks expressions recursively
/// must cope with this height (the command line runs on a 256 MiB stack).
pub const MAX_HEIGHT: usize = MAX_CHAIN + MAX_DEPTH;

/// Most operands of one chain in a model file. `derive` differentiates a
/// product of n factors into n products of n − 1 factors (2000 factors
/// took 2.1 GB), so model files keep the limit chains had when they
/// counted as nesting.
pub const MAX_MODEL_CHAIN: usize = MAX_DEPTH;

/// Names known in a model file, used to resolve bare names.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scope {
    /// Declared axes.
    pub axes: BTreeSet<String>,
    /// Declared or defined names with their (sorted) axes.
    pub names: HashMap<String, Vec<String>>,
    /// A name that is not in `names` is an error (model files); otherwise
    /// it is a scalar constant.
    pub strict: bool,
    /// Names declared or defined further down the file, with their line.
    pub later: HashMap<String, usize>,
}

/// The candidate closest to `name` by edit distance, when it is close
/// enough to be a likely typo (at most 2 edits, and fewer than the name's
/// length).
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a String>,
) -> Option<&'a String> {
    let limit = 2.min(name.chars().count().saturating_sub(1));
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(cur)
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[derive(Clone, Copy, Default)]
pub(crate) struct Ctx<'s> {
    pub pattern: bool,
    pub scope: Option<&'s Scope>,
    /// In a model file's `check` lines: `grad NAME` is the derived gradient
    /// with respect to NAME, which must be a key here (value: its axes).
    pub grads: Option<&'s HashMap<String, Vec<String>>>,
}

/// How a `grad NAME` reference is spelled inside a parsed expression: a
/// symbol whose name no identifier can have (it contains a space), printed
/// back as written.
pub const GRAD_PREFIX: &str = "grad ";

/// A parsed subexpression: the tree, its height and whether it is exactly
/// one integer literal token (possibly with a leading minus).
struct P {
    e: Expr,
    /// Nesting: a chain `a + b + c` (or `a * b / c`) is one level above its
    /// deepest operand, however many terms it has.
    depth: usize,
    /// Height of the tree itself (a chain of n terms is n − 1 levels of
    /// left-leaning binary nodes).
    height: usize,
    int_lit: bool,
    span: Range<usize>,
}

pub(crate) struct Parser<'s> {
    toks: Vec<Token>,
    pos: usize,
    level: usize,
    ctx: Ctx<'s>,
    /// Symbol occurrences in order, for the consistency check.
    pub occurrences: Vec<(Symbol, Range<usize>)>,
}

fn too_deep(span: Range<usize>) -> PErr {
    PErr::new(
        format!("expression nested too deeply (limit {MAX_DEPTH})"),
        span,
        "split the expression into smaller definitions or remove redundant parentheses",
    )
}

fn too_long(span: Range<usize>, limit: usize) -> PErr {
    PErr::new(
        format!("chain of more than {limit} terms or factors"),
        span,
        "split the sum or product into smaller definitions",
    )
}

fn too_high(span: Range<usize>) -> PErr {
    PErr::new(
        format!("expression too deep: its tree would be higher than {MAX_HEIGHT} (each term of a chain is one level)"),
        span,
        "split the expression into smaller definitions",
    )
}

fn red_op(name: &str) -> Option<RedOp> {
    match name {
        "mean" => Some(RedOp::Mean),
        "sum" => Some(RedOp::Sum),
        "var" => Some(RedOp::Var),
        _ => None,
    }
}

/// Largest size (in bits, estimated) of a constant exponent the parser will
/// evaluate; larger constants such as `(10^4000)^4000` are refused so that
/// checking an exponent never exhausts memory.
const MAX_CONST_BITS: u64 = 1 << 20;

/// An upper bound on the bit size of the value of a constant expression,
/// or `None` when it is not a constant or may exceed [`MAX_CONST_BITS`].
fn const_bits(e: &Expr) -> Option<u64> {
    let b = match e {
        Expr::Num(r) => r.numer().bits() + r.denom().bits(),
        Expr::Neg(a) => const_bits(a)?,
        Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) => const_bits(a)?
            .saturating_add(const_bits(b)?)
            .saturating_add(1),
        Expr::Pow(a, b) => {
            if const_bits(b)? > 64 {
                return None;
            }
            let n = b.const_value()?;
            if !n.is_integer() {
                return None;
            }
            let n: u64 = n.to_integer().magnitude().try_into().ok()?;
            let ab = const_bits(a)?;
            if ab <= 2 {
                2
            } else {
                ab.saturating_mul(n.max(1))
            }
        }
        _ => return None,
    };
    (b <= MAX_CONST_BITS).then_some(b)
}

fn contains_pvar(e: &Expr) -> bool {
    matches!(e, Expr::PVar(_)) || e.children().iter().any(|c| contains_pvar(c))
}

pub(crate) fn fmt_axes(axes: &[String]) -> String {
    if axes.is_empty() {
        "no axes".to_string()
    } else {
        format!("[{}]", axes.join(","))
    }
}

pub(crate) fn fmt_sym(s: &Symbol) -> String {
    if s.axes.is_empty() {
        format!("{} (no axes)", s.name)
    } else {
        format!("{}[{}]", s.name, s.axes.join(","))
    }
}

impl<'s> Parser<'s> {
    /// Lex `src` (whose first byte sits at `base` in the whole file).
    pub fn new(src: &str, base: usize, ctx: Ctx<'s>) -> Result<Self, PErr> {
        Ok(Parser {
            toks: lex(src, base)?,
            pos: 0,
            level: 0,
            ctx,
            occurrences: Vec::new(),
        })
    }

    pub fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    pub fn peek_at(&self, k: usize) -> &Tok {
        let i = (self.pos + k).min(self.toks.len() - 1);
        &self.toks[i].tok
    }

    pub fn span(&self) -> Range<usize> {
        self.toks[self.pos].span.clone()
    }

    pub fn bump(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    /// Most operands of one chain here: model files have their own limit.
    fn max_chain(&self) -> usize {
        if self.ctx.scope.is_some() {
            MAX_MODEL_CHAIN
        } else {
            MAX_CHAIN
        }
    }

    fn enter(&mut self) -> Result<(), PErr> {
        self.level += 1;
        if self.level > MAX_DEPTH {
            return Err(too_deep(self.span()));
        }
        Ok(())
    }

    fn mk(&self, e: Expr, (depth, height): (usize, usize), span: Range<usize>) -> Result<P, PErr> {
        if depth > MAX_DEPTH {
            return Err(too_deep(span));
        }
        if height > MAX_HEIGHT {
            return Err(too_high(span));
        }
        Ok(P {
            e,
            depth,
            height,
            int_lit: false,
            span,
        })
    }

    /// Error for a token that cannot follow a complete expression.
    pub fn trailing(&self, what: &str) -> PErr {
        let t = self.peek();
        let hint = match t {
            Tok::RParen => "this `)` has no matching `(`".to_string(),
            Tok::RBrack => "this `]` has no matching `[`".to_string(),
            Tok::Name(_) | Tok::Num { .. } | Tok::LParen | Tok::PVar(_) | Tok::Root => {
                "an operator is missing here; write `2 * x`, not `2 x`".to_string()
            }
            Tok::Eq => format!("{what} cannot contain `=`"),
            Tok::Gt | Tok::Ge | Tok::Lt | Tok::Le | Tok::Ne => {
                format!("{what} cannot contain a comparison")
            }
            _ => "remove it or add an operand".to_string(),
        };
        PErr::new(
            format!(
                "unexpected {} after the end of {what}",
                t.describe().trim_start_matches("a ")
            ),
            self.span(),
            hint,
        )
    }

    /// `expr := term (('+' | '-') term)*`
    pub fn expr(&mut self) -> Result<Expr, PErr> {
        Ok(self.additive()?.e)
    }

    fn additive(&mut self) -> Result<P, PErr> {
        let mut l = self.term()?;
        // The chain's nesting: its deepest operand so far.
        let mut nest = l.depth;
        let mut terms = 1;
        loop {
            let add = match self.peek() {
                Tok::Plus => true,
                Tok::Minus => false,
                _ => break,
            };
            self.bump();
            let r = self.term()?;
            let span = l.span.start..r.span.end;
            terms += 1;
            if terms > self.max_chain() {
                return Err(too_long(span, self.max_chain()));
            }
            nest = nest.max(r.depth);
            let height = l.height.max(r.height) + 1;
            let e = if add {
                Expr::add(l.e, r.e)
            } else {
                Expr::sub(l.e, r.e)
            };
            l = self.mk(e, (nest + 1, height), span)?;
        }
        Ok(l)
    }

    fn exponent_follows(&self, k: usize) -> bool {
        matches!(self.peek_at(k), Tok::Caret | Tok::Sup(_))
    }

    fn term(&mut self) -> Result<P, PErr> {
        let mut l = self.unary()?;
        let mut nest = l.depth;
        let mut factors = 1;
        loop {
            let mul = match self.peek() {
                Tok::Star => true,
                Tok::Slash => false,
                _ => break,
            };
            self.bump();
            if !mul && l.int_lit {
                if let Tok::Num { value, int: true } = self.peek().clone() {
                    if !self.exponent_follows(1) {
                        let t = self.bump();
                        let span = l.span.start..t.span.end;
                        let p = match &l.e {
                            Expr::Num(p) => p.clone(),
                            _ => BigRational::zero(),
                        };
                        let (e, depth) = if value.is_zero() {
                            (Expr::div(Expr::Num(p), Expr::Num(value)), 2)
                        } else {
                            (Expr::Num(p / value), 1)
                        };
                        nest = depth;
                        l = self.mk(e, (depth, depth), span)?;
                        continue;
                    }
                }
            }
            let r = self.unary()?;
            let span = l.span.start..r.span.end;
            factors += 1;
            if factors > self.max_chain() {
                return Err(too_long(span, self.max_chain()));
            }
            nest = nest.max(r.depth);
            let height = l.height.max(r.height) + 1;
            let e = if mul {
                Expr::mul(l.e, r.e)
            } else {
                Expr::div(l.e, r.e)
            };
            l = self.mk(e, (nest + 1, height), span)?;
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<P, PErr> {
        if let Tok::Minus = self.peek() {
            let minus = self.bump();
            match self.peek().clone() {
                Tok::Num { value, int } if !self.exponent_follows(1) => {
                    let t = self.bump();
                    Ok(P {
                        e: Expr::Num(-value),
                        depth: 1,
                        height: 1,
                        int_lit: int,
                        span: minus.span.start..t.span.end,
                    })
                }
                _ => {
                    self.enter()?;
                    let a = self.unary()?;
                    self.level -= 1;
                    let span = minus.span.start..a.span.end;
                    self.mk(Expr::neg(a.e), (a.depth + 1, a.height + 1), span)
                }
            }
        } else {
            self.power()
        }
    }

    fn power(&mut self) -> Result<P, PErr> {
        let base = self.atom()?;
        match self.peek().clone() {
            Tok::Caret => {
                self.bump();
                self.enter()?;
                let x = self.unary()?;
                self.level -= 1;
                let ok = (const_bits(&x.e).is_some() && x.e.const_value().is_some())
                    || (self.ctx.pattern && contains_pvar(&x.e));
                if !ok {
                    return Err(PErr::new(
                        "exponent must be a constant rational number",
                        x.span,
                        "write a number such as 2, -1 or 1/2 (in parentheses when negative or fractional: x^(1/2))",
                    ));
                }
                let span = base.span.start..x.span.end;
                let depth = base.depth.max(x.depth) + 1;
                let height = base.height.max(x.height) + 1;
                self.mk(Expr::pow(base.e, x.e), (depth, height), span)
            }
            Tok::Sup(n) => {
                let t = self.bump();
                let span = base.span.start..t.span.end;
                self.mk(
                    Expr::pow(base.e, Expr::Num(BigRational::from_integer(n))),
                    (base.depth + 1, base.height + 1),
                    span,
                )
            }
            _ => Ok(base),
        }
    }

    fn expect(&mut self, want: Tok, open: &Token, what: &str) -> Result<Token, PErr> {
        if *self.peek() == want {
            return Ok(self.bump());
        }
        let closer = want.describe();
        if *self.peek() == Tok::Eof {
            return Err(PErr::new(
                format!("unclosed {}: missing {closer}", open.tok.describe()),
                open.span.clone(),
                format!("add {closer} to close {what}"),
            ));
        }
        Err(PErr::new(
            format!(
                "expected {closer} to close {what}, found {}",
                self.peek().describe()
            ),
            self.span(),
            format!(
                "add {closer} to close the {} opened earlier, or check for a missing operator",
                open.tok.describe()
            ),
        ))
    }

    fn atom(&mut self) -> Result<P, PErr> {
        let t = self.bump();
        let span = t.span.clone();
        match t.tok {
            Tok::Num { value, int } => Ok(P {
                e: Expr::Num(value),
                depth: 1,
                height: 1,
                int_lit: int,
                span,
            }),
            Tok::PVar(name) => {
                if !self.ctx.pattern {
                    return Err(PErr::new(
                        format!("pattern variable `?{name}` outside a rule pattern"),
                        span,
                        "`?a` is only allowed in rule patterns; use a plain name",
                    ));
                }
                Ok(P {
                    e: Expr::PVar(name),
                    depth: 1,
                    height: 1,
                    int_lit: false,
                    span,
                })
            }
            Tok::LParen => {
                self.enter()?;
                let inner = self.additive()?;
                self.level -= 1;
                let close = self.expect(Tok::RParen, &t, "the parenthesis")?;
                Ok(P {
                    e: inner.e,
                    depth: inner.depth,
                    height: inner.height,
                    int_lit: false,
                    span: span.start..close.span.end,
                })
            }
            Tok::Root => {
                self.enter()?;
                let a = self.atom()?;
                self.level -= 1;
                let span = span.start..a.span.end;
                self.mk(Expr::sqrt(a.e), (a.depth + 1, a.height + 1), span)
            }
            Tok::Name(name) => self.name(name, span),
            Tok::Eof => {
                if self.pos == 0 || self.toks.len() == 1 {
                    Err(PErr::new(
                        "empty input; expected an expression",
                        span,
                        "write an expression such as `mean[i](x[i])`",
                    ))
                } else {
                    Err(PErr::new(
                        "expected an expression, found the end of the input",
                        span,
                        "the expression is incomplete; add an operand",
                    ))
                }
            }
            Tok::RParen => Err(PErr::new(
                "expected an expression, found `)`",
                span,
                "empty parentheses or a `)` without a matching `(`",
            )),
            other => Err(PErr::new(
                format!("expected an expression, found {}", other.describe()),
                span,
                "an operand (a name, a number or a parenthesized expression) is missing here",
            )),
        }
    }

    /// `[a, b, c]` after the `[` has been seen (not consumed).
    pub fn axis_list(&mut self) -> Result<(Vec<String>, Range<usize>), PErr> {
        let open = self.bump();
        let mut axes = Vec::new();
        loop {
            let t = self.bump();
            let ax = match &t.tok {
                Tok::Name(a) => a.clone(),
                Tok::PVar(a) if self.ctx.pattern => format!("?{a}"),
                Tok::PVar(a) => {
                    return Err(PErr::new(
                        format!("pattern variable `?{a}` outside a rule pattern"),
                        t.span.clone(),
                        "`?i` is only allowed in rule patterns; use a plain axis name",
                    ))
                }
                Tok::RBrack if axes.is_empty() => {
                    return Err(PErr::new(
                        "empty axis list",
                        open.span.start..t.span.end,
                        "write at least one axis, as in `x[i]`, or drop the brackets",
                    ))
                }
                Tok::Eof => {
                    return Err(PErr::new(
                        "unclosed `[`: missing `]`",
                        open.span.clone(),
                        "close the axis list with `]`",
                    ))
                }
                other => {
                    return Err(PErr::new(
                        format!("expected an axis name, found {}", other.describe()),
                        t.span.clone(),
                        "axis lists hold names separated by commas, as in `x[n,c]`",
                    ))
                }
            };
            if let Some(scope) = self.ctx.scope {
                if !scope.axes.contains(&ax) {
                    return Err(PErr::new(
                        format!("undeclared axis {ax}"),
                        t.span.clone(),
                        format!("declare it with `axis {ax}`"),
                    ));
                }
            }
            axes.push(ax);
            let sep = self.bump();
            match sep.tok {
                Tok::Comma => continue,
                Tok::RBrack => {
                    axes.sort();
                    axes.dedup();
                    return Ok((axes, open.span.start..sep.span.end));
                }
                Tok::Eof => {
                    return Err(PErr::new(
                        "unclosed `[`: missing `]`",
                        open.span.clone(),
                        "close the axis list with `]`",
                    ))
                }
                other => {
                    return Err(PErr::new(
                        format!("expected `,` or `]`, found {}", other.describe()),
                        sep.span.clone(),
                        "separate axes with commas, as in `x[n,c]`",
                    ))
                }
            }
        }
    }

    fn infer_axis(
        &self,
        body: &Expr,
        kw: &str,
        shown: &str,
        span: Range<usize>,
    ) -> Result<Vec<String>, PErr> {
        let free = body.free_axes();
        if free.len() == 1 {
            return Ok(free.into_iter().collect());
        }
        let (varies, example) = if free.is_empty() {
            ("does not vary along any axis".to_string(), "i".to_string())
        } else {
            let v: Vec<String> = free.iter().cloned().collect();
            (format!("varies along {}", v.join(", ")), v[0].clone())
        };
        Err(PErr::new(
            format!("{shown} needs an explicit axis here: the argument {varies}; write {kw}[{example}](...)"),
            span,
            "name the axis (or axes) to reduce over in brackets",
        ))
    }

    fn name(&mut self, name: String, span: Range<usize>) -> Result<P, PErr> {
        let next = self.peek().clone();
        if let Some(op) = red_op(&name) {
            if matches!(next, Tok::LBrack | Tok::LParen) {
                let explicit = if next == Tok::LBrack {
                    Some(self.axis_list()?.0)
                } else {
                    None
                };
                let open = self.span();
                let ends_operand = !matches!(
                    self.peek(),
                    Tok::LParen | Tok::Name(_) | Tok::Num { .. } | Tok::PVar(_) | Tok::Root
                );
                if let (Some(axes), true) = (&explicit, ends_operand) {
                    // `var[g,n]` with no argument is a symbol that happens to
                    // be named like a reduction (a model's `var`), as the
                    // printer writes it.
                    if self.ctx.pattern
                        || self.ctx.scope.is_none_or(|s| s.names.contains_key(&name))
                    {
                        let full = span.start..open.start;
                        let sym = self.resolve(&name, Some(axes.clone()), &full)?;
                        if self.ctx.scope.is_none() && !self.ctx.pattern {
                            self.occurrences.push((sym.clone(), full.clone()));
                        }
                        return Ok(P {
                            e: Expr::Sym(sym),
                            depth: 1,
                            height: 1,
                            int_lit: false,
                            span: full,
                        });
                    }
                }
                if *self.peek() != Tok::LParen {
                    return Err(PErr::new(
                        format!(
                            "expected `(` after {name}[...], found {}",
                            self.peek().describe()
                        ),
                        open,
                        format!("write {name}[i](expression)"),
                    ));
                }
                let open = self.bump();
                self.enter()?;
                let body = self.additive()?;
                self.level -= 1;
                let close = self.expect(Tok::RParen, &open, "the reduction")?;
                let full = span.start..close.span.end;
                let axes = match explicit {
                    Some(a) => a,
                    None => {
                        self.infer_axis(&body.e, &name, &format!("{name}(...)"), full.clone())?
                    }
                };
                return self.mk(
                    Expr::Reduce(op, axes, Box::new(body.e)),
                    (body.depth + 1, body.height + 1),
                    full,
                );
            }
        }
        if name == "E" && next == Tok::LBrack {
            let open = self.bump();
            self.enter()?;
            let body = self.additive()?;
            self.level -= 1;
            let close = self.expect(Tok::RBrack, &open, "the expectation E[...]")?;
            let full = span.start..close.span.end;
            let axes = self.infer_axis(&body.e, "mean", "E[...]", full.clone())?;
            return self.mk(
                Expr::Reduce(RedOp::Mean, axes, Box::new(body.e)),
                (body.depth + 1, body.height + 1),
                full,
            );
        }
        if let (Some(grads), "grad", Tok::Name(target)) = (self.ctx.grads, name.as_str(), &next) {
            let target = target.clone();
            let t = self.bump();
            let Some(axes) = grads.get(&target) else {
                let hint = match closest(&target, grads.keys()) {
                    Some(c) => format!("did you mean `grad {c}`?"),
                    None => {
                        "gradients are taken with respect to inputs, parameters and definitions"
                            .to_string()
                    }
                };
                return Err(PErr::new(
                    format!("grad {target}: {target} is not an input, parameter or definition"),
                    t.span,
                    hint,
                ));
            };
            let mut full = span.start..t.span.end;
            if *self.peek() == Tok::LBrack {
                let (used, s) = self.axis_list()?;
                if used != *axes {
                    return Err(PErr::new(
                        format!(
                            "grad {target} has axes {} but is used with axes {} here",
                            fmt_axes(axes),
                            fmt_axes(&used)
                        ),
                        span.start..s.end,
                        format!("write `grad {target}`"),
                    ));
                }
                full = span.start..s.end;
            }
            return Ok(P {
                e: Expr::Sym(Symbol::new(format!("{GRAD_PREFIX}{target}"), axes.clone())),
                depth: 1,
                height: 1,
                int_lit: false,
                span: full,
            });
        }
        if next == Tok::LParen {
            if name == "sqrt" {
                let open = self.bump();
                self.enter()?;
                let body = self.additive()?;
                self.level -= 1;
                let close = self.expect(Tok::RParen, &open, "sqrt(...)")?;
                return self.mk(
                    Expr::sqrt(body.e),
                    (body.depth + 1, body.height + 1),
                    span.start..close.span.end,
                );
            }
            if let Some(f) = Fun::from_keyword(&name) {
                let open = self.bump();
                self.enter()?;
                let mut args = vec![self.additive()?];
                while args.len() < f.arity() {
                    if *self.peek() != Tok::Comma {
                        self.level -= 1;
                        return Err(PErr::new(
                            format!(
                                "{name} takes {} arguments; expected `,`, found {}",
                                f.arity(),
                                self.peek().describe()
                            ),
                            self.span(),
                            format!("write {name}(a, b)"),
                        ));
                    }
                    self.bump();
                    args.push(self.additive()?);
                }
                self.level -= 1;
                let what = if f.arity() == 2 {
                    format!("{name}(a, b)")
                } else {
                    format!("{name}(...)")
                };
                let close = self.expect(Tok::RParen, &open, &what)?;
                let depth = args.iter().map(|a| a.depth).max().unwrap_or(0);
                let height = args.iter().map(|a| a.height).max().unwrap_or(0);
                return self.mk(
                    Expr::app(f, args.into_iter().map(|a| a.e).collect()),
                    (depth + 1, height + 1),
                    span.start..close.span.end,
                );
            }
            return Err(PErr::new(
                format!(
                    "unknown function {name}; bnproof knows sqrt, exp, log, abs, max, min, \
                     detach, mean, sum, var, E"
                ),
                span,
                "use one of the known functions, or write `*` for a product: `a * (b + c)`",
            ));
        }
        let (axes, full) = if next == Tok::LBrack {
            let (a, s) = self.axis_list()?;
            (Some(a), span.start..s.end)
        } else {
            (None, span.clone())
        };
        let sym = self.resolve(&name, axes, &full)?;
        if self.ctx.scope.is_none() && !self.ctx.pattern {
            self.occurrences.push((sym.clone(), full.clone()));
        }
        Ok(P {
            e: Expr::Sym(sym),
            depth: 1,
            height: 1,
            int_lit: false,
            span: full,
        })
    }

    fn resolve(
        &self,
        name: &str,
        axes: Option<Vec<String>>,
        span: &Range<usize>,
    ) -> Result<Symbol, PErr> {
        let Some(scope) = self.ctx.scope else {
            return Ok(Symbol::new(name, axes.unwrap_or_default()));
        };
        match (scope.names.get(name), axes) {
            (Some(decl), None) => Ok(Symbol::new(name, decl.clone())),
            (Some(decl), Some(used)) => {
                if *decl == used {
                    Ok(Symbol::new(name, used))
                } else {
                    Err(PErr::new(
                        format!(
                            "{name} has axes {} but is used with axes {} here",
                            fmt_axes(decl),
                            fmt_axes(&used)
                        ),
                        span.clone(),
                        format!("in a model file names are used bare; write `{name}`"),
                    ))
                }
            }
            (None, None) if scope.strict => Err(PErr::new(
                match scope.later.get(name) {
                    Some(line) => format!("{name} is used here but declared or defined only below, on line {line}"),
                    None => format!("unknown name {name}"),
                },
                span.clone(),
                match closest(name, scope.names.keys()) {
                    _ if scope.later.contains_key(name) => "declare or define every name above its first use".to_string(),
                    Some(c) => format!("did you mean `{c}`? Every name is declared: `input`, `param`, `const {name}` or a definition above its use"),
                    None => format!("declare it (`input {name}[...]`, `param {name}`, `const {name}`) or define it above its use"),
                },
            )),
            (None, None) => Ok(Symbol::new(name, Vec::<String>::new())),
            (None, Some(_)) => Err(PErr::new(
                format!("{name} is used with axes but was never declared"),
                span.clone(),
                format!(
                    "declare it with `input {name}[...]` or `param {name}[...]`; undeclared names are scalar constants"
                ),
            )),
        }
    }

    /// Check that every symbol is used with one set of axes.
    pub fn check_occurrences(&self, src: &str, base: usize) -> Result<(), PErr> {
        check_occurrences(&self.occurrences, src, base)
    }
}

pub(crate) fn check_occurrences(
    occ: &[(Symbol, Range<usize>)],
    src: &str,
    base: usize,
) -> Result<(), PErr> {
    let mut first: HashMap<&str, (&Symbol, &Range<usize>)> = HashMap::new();
    for (s, span) in occ {
        match first.get(s.name.as_str()) {
            None => {
                first.insert(&s.name, (s, span));
            }
            Some((f, fspan)) if f.axes != s.axes => {
                let (l, c) = super::error::line_col(src, fspan.start.saturating_sub(base));
                let here = if src.contains('\n') {
                    format!("line {l}, column {c}")
                } else {
                    format!("column {c}")
                };
                return Err(PErr::new(
                    format!(
                        "symbol {} is used with inconsistent axes: {} at {here}, but {} here",
                        s.name,
                        fmt_sym(f),
                        fmt_sym(s)
                    ),
                    span.clone(),
                    "every use of a symbol must carry the same axes (a name without brackets is constant along every axis)",
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}
