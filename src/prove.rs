//! The prover: an egg e-graph over the IR, the rule table, and a ring
//! normalization pass; explanations become calc-style [`Proof`]s that the
//! kernel must accept before anything is reported proved.
//!
//! Full associativity/distributivity saturation blows up e-graphs, so the
//! ring theory enters differently: before every iteration a hook extracts
//! the cheapest term of each e-class, computes its ring normal form (and a
//! factored form), and unions them with the justification `ring`. The theory
//! rules (mean/sum linearity, variance, field cancellation, roots) do the
//! rest. Side conditions are decided from an e-class analysis (constants,
//! free axes, signs from assumptions and structure) and re-established by
//! the kernel on the concrete terms of the explanation.

use crate::ir::{Assumption, Expr, Fun, Rat, RedOp, Rel, Statement, Symbol};
use crate::kernel::{self, Direction, Proof, Step};
use crate::refute::{self, Counterexample, RefuteOptions, RefuteOutcome};
use crate::ring;
use crate::rules::{self, Cond, Search};
use egg::{
    define_language, Analysis, CostFunction, DidMerge, EGraph, ENodeOrVar, Extractor, Id, Language,
    Pattern, PatternAst, RecExpr, Rewrite, Runner, StopReason, TreeTerm, Var,
};
use num_traits::{One, Signed, Zero};
use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// A set of axes as an e-graph leaf (the first child of a reduction).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AxesLeaf(pub Vec<String>);

impl fmt::Display for AxesLeaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.0.join(","))
    }
}

impl FromStr for AxesLeaf {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let rest = s.strip_prefix('@').ok_or(())?;
        Ok(AxesLeaf(rest.split(',').map(str::to_string).collect()))
    }
}

/// A symbol as an e-graph leaf.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SymLeaf(pub Symbol);

impl fmt::Display for SymLeaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.axes.is_empty() {
            write!(f, "{}", self.0.name)
        } else {
            write!(f, "{}[{}]", self.0.name, self.0.axes.join(","))
        }
    }
}

impl FromStr for SymLeaf {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(SymLeaf(Symbol::new(s, Vec::<String>::new())))
    }
}

define_language! {
    /// The e-graph language: the IR with reductions taking their axes as a
    /// leaf child.
    pub enum Node {
        "+" = Add([Id; 2]),
        "-" = Sub([Id; 2]),
        "*" = Mul([Id; 2]),
        "/" = Div([Id; 2]),
        "^" = Pow([Id; 2]),
        "neg" = Neg([Id; 1]),
        "sqrt" = Sqrt([Id; 1]),
        "exp" = Exp([Id; 1]),
        "log" = Log([Id; 1]),
        "abs" = Abs([Id; 1]),
        "max" = Max([Id; 2]),
        "min" = Min([Id; 2]),
        "detach" = Detach([Id; 1]),
        "mean" = Mean([Id; 2]),
        "sum" = Sum([Id; 2]),
        "var" = Var([Id; 2]),
        Num(Rat),
        Axes(AxesLeaf),
        Sym(SymLeaf),
    }
}

/// Sign facts known of an e-class (each flag: proven).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignFlags {
    pub pos: bool,
    pub nonneg: bool,
    pub nonzero: bool,
}

impl SignFlags {
    fn or(self, o: SignFlags) -> SignFlags {
        let pos = self.pos || o.pos;
        SignFlags {
            pos,
            nonneg: pos || self.nonneg || o.nonneg,
            nonzero: pos || self.nonzero || o.nonzero,
        }
    }
    fn of_rel(rel: Rel) -> SignFlags {
        match rel {
            Rel::Gt => SignFlags {
                pos: true,
                nonneg: true,
                nonzero: true,
            },
            Rel::Ge => SignFlags {
                nonneg: true,
                ..Default::default()
            },
            Rel::Ne => SignFlags {
                nonzero: true,
                ..Default::default()
            },
        }
    }
    fn of_rat(r: &Rat) -> SignFlags {
        SignFlags {
            pos: r.is_positive(),
            nonneg: !r.is_negative(),
            nonzero: !r.is_zero(),
        }
    }
}

/// The e-class analysis: constant value, free axes, signs, and (for axis
/// leaves) the axes themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Data {
    pub constant: Option<Rat>,
    pub free: BTreeSet<String>,
    pub sign: SignFlags,
    pub axes: Option<Vec<String>>,
}

/// The analysis itself.
#[derive(Default)]
pub struct Facts;

impl Analysis<Node> for Facts {
    type Data = Data;

    fn make(egraph: &mut EGraph<Node, Self>, enode: &Node, _id: Id) -> Data {
        let d = |i: &Id| &egraph[*i].data;
        let union = |ids: &[Id]| {
            ids.iter()
                .flat_map(|i| egraph[*i].data.free.clone())
                .collect()
        };
        let c = |i: &Id| egraph[*i].data.constant.clone();
        let s = |i: &Id| egraph[*i].data.sign;
        let mut out = Data {
            constant: None,
            free: BTreeSet::new(),
            sign: SignFlags::default(),
            axes: None,
        };
        match enode {
            Node::Num(r) => {
                out.constant = Some(r.clone());
                out.sign = SignFlags::of_rat(r);
            }
            Node::Axes(a) => out.axes = Some(a.0.clone()),
            Node::Sym(sym) => out.free = sym.0.axes.iter().cloned().collect(),
            Node::Add([a, b]) => {
                out.free = union(&[*a, *b]);
                out.constant = c(a).zip(c(b)).map(|(x, y)| x + y);
                let (x, y) = (s(a), s(b));
                let pos = (x.pos && y.nonneg) || (x.nonneg && y.pos);
                out.sign = SignFlags {
                    pos,
                    nonneg: x.nonneg && y.nonneg,
                    nonzero: pos,
                };
            }
            Node::Sub([a, b]) => {
                out.free = union(&[*a, *b]);
                out.constant = c(a).zip(c(b)).map(|(x, y)| x - y);
            }
            Node::Mul([a, b]) => {
                out.free = union(&[*a, *b]);
                out.constant = c(a).zip(c(b)).map(|(x, y)| x * y);
                let (x, y) = (s(a), s(b));
                out.sign = SignFlags {
                    pos: x.pos && y.pos,
                    nonneg: (x.nonneg && y.nonneg) || a == b,
                    nonzero: x.nonzero && y.nonzero,
                };
            }
            Node::Div([a, b]) => {
                out.free = union(&[*a, *b]);
                out.constant = c(a).zip(c(b)).map(|(x, y)| crate::ir::total_div(&x, &y));
                let (x, y) = (s(a), s(b));
                out.sign = SignFlags {
                    pos: x.pos && y.pos,
                    nonneg: x.nonneg && y.nonneg,
                    nonzero: x.nonzero && y.nonzero,
                };
            }
            Node::Pow([a, b]) => {
                out.free = union(&[*a, *b]);
                if let Some(p) = c(b) {
                    let base = s(a);
                    if let (Some(x), true) = (c(a), p.is_integer()) {
                        out.constant = p
                            .to_integer()
                            .try_into()
                            .ok()
                            .and_then(|n: i64| crate::ir::int_pow(&x, n));
                    }
                    let even = p.is_integer() && (p.to_integer() % 2u32).is_zero();
                    out.sign = SignFlags {
                        pos: base.pos,
                        nonneg: base.nonneg || even || !p.is_integer(),
                        nonzero: (base.nonzero && p.is_integer()) || base.pos,
                    };
                }
            }
            Node::Neg([a]) => {
                out.free = d(a).free.clone();
                out.constant = c(a).map(|x| -x);
                out.sign.nonzero = s(a).nonzero;
            }
            Node::Sqrt([a]) => {
                out.free = d(a).free.clone();
                let x = s(a);
                out.sign = SignFlags {
                    pos: x.pos,
                    nonneg: true,
                    nonzero: x.pos,
                };
            }
            Node::Exp([a]) => {
                out.free = d(a).free.clone();
                out.constant = c(a).filter(|x| x.is_zero()).map(|_| Rat::one());
                out.sign = SignFlags {
                    pos: true,
                    nonneg: true,
                    nonzero: true,
                };
            }
            Node::Log([a]) => {
                out.free = d(a).free.clone();
                // log 0 = log 1 = log (-1) = 0; other values are irrational.
                out.constant = c(a)
                    .filter(|x| x.is_zero() || x.abs().is_one())
                    .map(|_| Rat::zero());
            }
            Node::Abs([a]) => {
                out.free = d(a).free.clone();
                out.constant = c(a).map(|x| x.abs());
                let x = s(a);
                out.sign = SignFlags {
                    pos: x.nonzero,
                    nonneg: true,
                    nonzero: x.nonzero,
                };
            }
            Node::Max([a, b]) | Node::Min([a, b]) => {
                out.free = union(&[*a, *b]);
                let is_max = matches!(enode, Node::Max(_));
                out.constant = c(a)
                    .zip(c(b))
                    .map(|(x, y)| if (x >= y) == is_max { x } else { y });
                let (x, y) = (s(a), s(b));
                // max(a, b) is one of a, b and at least each; min at most each.
                out.sign = if is_max {
                    SignFlags {
                        pos: x.pos || y.pos,
                        nonneg: x.nonneg || y.nonneg || x.pos || y.pos,
                        nonzero: x.pos || y.pos || (x.nonzero && y.nonzero),
                    }
                } else {
                    SignFlags {
                        pos: x.pos && y.pos,
                        nonneg: x.nonneg && y.nonneg,
                        nonzero: x.nonzero && y.nonzero,
                    }
                };
            }
            Node::Detach([a]) => {
                out.free = d(a).free.clone();
                out.constant = c(a);
                out.sign = s(a);
            }
            Node::Mean([ax, b]) | Node::Sum([ax, b]) | Node::Var([ax, b]) => {
                let mut f = d(b).free.clone();
                for a in d(ax).axes.iter().flatten() {
                    f.remove(a);
                }
                out.free = f;
                out.sign = match enode {
                    Node::Var(_) => SignFlags {
                        nonneg: true,
                        ..Default::default()
                    },
                    _ => SignFlags {
                        nonzero: s(b).pos,
                        ..s(b)
                    },
                };
            }
        }
        out
    }

    fn merge(&mut self, to: &mut Data, from: Data) -> DidMerge {
        let before = to.clone();
        if to.constant.is_none() {
            to.constant = from.constant.clone();
        }
        if to.axes.is_none() {
            to.axes = from.axes.clone();
        }
        to.free = to.free.intersection(&from.free).cloned().collect();
        to.sign = to.sign.or(from.sign);
        DidMerge(*to != before, *to != from)
    }
}

type EG = EGraph<Node, Facts>;

/// Convert an IR expression (possibly a pattern) into an egg pattern AST.
pub fn to_pattern(e: &Expr) -> PatternAst<Node> {
    let mut out = Vec::new();
    add_pattern(e, &mut out);
    out.into()
}

/// Appends the nodes of `e` (children first) and returns the last one's id.
/// (A plain vector: `RecExpr::add` walks the whole expression in debug
/// builds, quadratic on a 10 000-term chain.)
fn add_pattern(e: &Expr, out: &mut Vec<ENodeOrVar<Node>>) -> Id {
    fn push(out: &mut Vec<ENodeOrVar<Node>>, n: ENodeOrVar<Node>) -> Id {
        out.push(n);
        Id::from(out.len() - 1)
    }
    let node = |n: Node, out: &mut Vec<ENodeOrVar<Node>>| push(out, ENodeOrVar::ENode(n));
    match e {
        Expr::PVar(v) => push(
            out,
            ENodeOrVar::Var(Var::from_str(&format!("?{v}")).expect("var")),
        ),
        Expr::Num(r) => node(Node::Num(r.clone()), out),
        Expr::Sym(s) => node(Node::Sym(SymLeaf(s.clone())), out),
        Expr::Neg(a) => {
            let a = add_pattern(a, out);
            node(Node::Neg([a]), out)
        }
        Expr::Sqrt(a) => {
            let a = add_pattern(a, out);
            node(Node::Sqrt([a]), out)
        }
        Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) | Expr::Pow(a, b) => {
            let (a, b) = (add_pattern(a, out), add_pattern(b, out));
            let n = match e {
                Expr::Add(..) => Node::Add([a, b]),
                Expr::Sub(..) => Node::Sub([a, b]),
                Expr::Mul(..) => Node::Mul([a, b]),
                Expr::Div(..) => Node::Div([a, b]),
                _ => Node::Pow([a, b]),
            };
            node(n, out)
        }
        Expr::App(f, args) => {
            let ids: Vec<Id> = args.iter().map(|a| add_pattern(a, out)).collect();
            let n = match (f, ids.as_slice()) {
                (Fun::Exp, [a]) => Node::Exp([*a]),
                (Fun::Log, [a]) => Node::Log([*a]),
                (Fun::Abs, [a]) => Node::Abs([*a]),
                (Fun::Detach, [a]) => Node::Detach([*a]),
                (Fun::Max, [a, b]) => Node::Max([*a, *b]),
                (Fun::Min, [a, b]) => Node::Min([*a, *b]),
                _ => unreachable!("Expr::app checks the arity"),
            };
            node(n, out)
        }
        Expr::Reduce(op, axes, body) => {
            let ax = match axes.as_slice() {
                [v] if v.starts_with('?') => {
                    push(out, ENodeOrVar::Var(Var::from_str(v).expect("axis var")))
                }
                _ => node(Node::Axes(AxesLeaf(axes.clone())), out),
            };
            let b = add_pattern(body, out);
            let n = match op {
                RedOp::Mean => Node::Mean([ax, b]),
                RedOp::Sum => Node::Sum([ax, b]),
                RedOp::Var => Node::Var([ax, b]),
            };
            node(n, out)
        }
    }
}

/// Convert a ground IR expression into an egg term.
pub fn to_rec(e: &Expr) -> RecExpr<Node> {
    let pat = to_pattern(e);
    let nodes: Vec<Node> = pat
        .as_ref()
        .iter()
        .map(|n| match n {
            ENodeOrVar::ENode(n) => n.clone(),
            ENodeOrVar::Var(_) => unreachable!("to_rec is only called on ground expressions"),
        })
        .collect();
    RecExpr::from(nodes)
}

/// Convert an extracted egg term back into the IR.
pub fn from_rec(r: &RecExpr<Node>) -> Option<Expr> {
    fn go(r: &RecExpr<Node>, id: Id) -> Option<Expr> {
        let b = |i: &Id| go(r, *i).map(Box::new);
        Some(match &r[id] {
            Node::Num(x) => Expr::Num(x.clone()),
            Node::Sym(s) => Expr::Sym(s.0.clone()),
            Node::Axes(_) => return None,
            Node::Add([a, c]) => Expr::Add(b(a)?, b(c)?),
            Node::Sub([a, c]) => Expr::Sub(b(a)?, b(c)?),
            Node::Mul([a, c]) => Expr::Mul(b(a)?, b(c)?),
            Node::Div([a, c]) => Expr::Div(b(a)?, b(c)?),
            Node::Pow([a, c]) => Expr::Pow(b(a)?, b(c)?),
            Node::Neg([a]) => Expr::Neg(b(a)?),
            Node::Sqrt([a]) => Expr::Sqrt(b(a)?),
            Node::Exp([a]) => Expr::exp(go(r, *a)?),
            Node::Log([a]) => Expr::log(go(r, *a)?),
            Node::Abs([a]) => Expr::abs(go(r, *a)?),
            Node::Detach([a]) => Expr::detach(go(r, *a)?),
            Node::Max([a, c]) => Expr::max(go(r, *a)?, go(r, *c)?),
            Node::Min([a, c]) => Expr::min(go(r, *a)?, go(r, *c)?),
            Node::Mean([ax, body]) | Node::Sum([ax, body]) | Node::Var([ax, body]) => {
                let axes = match &r[*ax] {
                    Node::Axes(a) => a.0.clone(),
                    _ => return None,
                };
                let op = match &r[id] {
                    Node::Mean(_) => RedOp::Mean,
                    Node::Sum(_) => RedOp::Sum,
                    _ => RedOp::Var,
                };
                Expr::Reduce(op, axes, b(body)?)
            }
        })
    }
    let root = Id::from(r.as_ref().len().checked_sub(1)?);
    go(r, root)
}

/// Why an explanation was not turned into steps.
#[derive(Debug)]
enum ExplainError {
    /// The deadline passed.
    Time,
    /// More steps or more copied nodes than [`MAX_EXPLANATION_STEPS`] or
    /// [`MAX_EXPLANATION_WORK`].
    TooLarge,
    /// A shape egg does not produce (a rewrite inside an axis set, a chain
    /// starting with a rewrite): the explanation is not used.
    Malformed,
}

/// Largest e-graph (in e-nodes) for which egg looks for the shortest
/// explanation; the library's e-graphs have a few hundred.
const EXPLAIN_SHORTEST_NODES: usize = 20_000;

/// Most steps an explanation may have before it is abandoned (no reader
/// follows a longer calc chain, and the kernel checks each).
const MAX_EXPLANATION_STEPS: usize = 5_000;

/// Most expression nodes built while turning an explanation into steps.
const MAX_EXPLANATION_WORK: usize = 20_000_000;

/// One rewrite of an explanation: the whole expression after it, the rule,
/// whether it was applied forward, and where (an IR path).
type RawStep = (Expr, String, bool, Vec<usize>);

/// Turns egg's tree explanation into rewrite steps over whole expressions,
/// in the order egg's own flattening would list them, without egg's
/// flattening: that copies every intermediate term at every level of
/// nesting (71.7 s on `((…(x)^1…)^1 = x` 250 deep) and cannot be
/// interrupted. Here every step costs one copy of the expression, the work
/// is counted, and the deadline is checked as it goes.
struct Flatten {
    until: Instant,
    work: usize,
    current: Expr,
    raw: Vec<RawStep>,
}

impl Flatten {
    fn charge(&mut self, nodes: usize) -> Result<(), ExplainError> {
        let before = self.work;
        self.work = self.work.saturating_add(nodes);
        if self.work > MAX_EXPLANATION_WORK {
            return Err(ExplainError::TooLarge);
        }
        // The clock is read every few thousand nodes.
        if before >> 12 != self.work >> 12 && Instant::now() > self.until {
            return Err(ExplainError::Time);
        }
        Ok(())
    }

    /// The first term of a tree term (its node over the first terms of its
    /// children's chains).
    fn initial(&mut self, t: &TreeTerm<Node>) -> Result<Expr, ExplainError> {
        self.charge(1)?;
        let mut kids = Vec::with_capacity(t.child_proofs.len());
        let is_reduce = matches!(t.node, Node::Mean(_) | Node::Sum(_) | Node::Var(_));
        let mut axes = None;
        for (k, chain) in t.child_proofs.iter().enumerate() {
            let first = chain.first().ok_or(ExplainError::Malformed)?;
            if is_reduce && k == 0 {
                match &first.node {
                    Node::Axes(a) => axes = Some(a.0.clone()),
                    _ => return Err(ExplainError::Malformed),
                }
            } else {
                kids.push(Box::new(self.initial(first)?));
            }
        }
        let mut kids = kids.into_iter();
        let mut next = || kids.next().ok_or(ExplainError::Malformed);
        Ok(match &t.node {
            Node::Num(x) => Expr::Num(x.clone()),
            Node::Sym(s) => Expr::Sym(s.0.clone()),
            Node::Axes(_) => return Err(ExplainError::Malformed),
            Node::Add(_) => Expr::Add(next()?, next()?),
            Node::Sub(_) => Expr::Sub(next()?, next()?),
            Node::Mul(_) => Expr::Mul(next()?, next()?),
            Node::Div(_) => Expr::Div(next()?, next()?),
            Node::Pow(_) => Expr::Pow(next()?, next()?),
            Node::Neg(_) => Expr::Neg(next()?),
            Node::Sqrt(_) => Expr::Sqrt(next()?),
            Node::Exp(_) => Expr::exp(*next()?),
            Node::Log(_) => Expr::log(*next()?),
            Node::Abs(_) => Expr::abs(*next()?),
            Node::Detach(_) => Expr::detach(*next()?),
            Node::Max(_) => Expr::max(*next()?, *next()?),
            Node::Min(_) => Expr::min(*next()?, *next()?),
            Node::Mean(_) | Node::Sum(_) | Node::Var(_) => {
                let op = match &t.node {
                    Node::Mean(_) => RedOp::Mean,
                    Node::Sum(_) => RedOp::Sum,
                    _ => RedOp::Var,
                };
                Expr::Reduce(op, axes.ok_or(ExplainError::Malformed)?, next()?)
            }
        })
    }

    /// The rewrites of one chain (its first term is the current subterm at
    /// `path`).
    fn chain(
        &mut self,
        chain: &[std::rc::Rc<TreeTerm<Node>>],
        path: &mut Vec<usize>,
    ) -> Result<(), ExplainError> {
        for (j, t) in chain.iter().enumerate() {
            let rule = match (&t.forward_rule, &t.backward_rule) {
                (Some(r), None) => Some((r.to_string(), true)),
                (None, Some(r)) => Some((r.to_string(), false)),
                (None, None) => None,
                (Some(_), Some(_)) => return Err(ExplainError::Malformed),
            };
            if let Some((name, fwd)) = rule {
                if j == 0 {
                    return Err(ExplainError::Malformed);
                }
                let sub = self.initial(t)?;
                let next = self
                    .current
                    .replace_at(path, sub)
                    .ok_or(ExplainError::Malformed)?;
                let size = next.size();
                self.charge(size.saturating_mul(2))?;
                if next != self.current {
                    if self.raw.len() >= MAX_EXPLANATION_STEPS {
                        return Err(ExplainError::TooLarge);
                    }
                    let (name, fwd) = match name.strip_suffix(REVERSED) {
                        Some(base) => (base.to_string(), !fwd),
                        None => (name, fwd),
                    };
                    self.raw.push((next.clone(), name, fwd, path.clone()));
                    self.current = next;
                }
            }
            let is_reduce = matches!(t.node, Node::Mean(_) | Node::Sum(_) | Node::Var(_));
            for (k, child) in t.child_proofs.iter().enumerate() {
                if child.len() <= 1 {
                    continue;
                }
                if is_reduce && k == 0 {
                    return Err(ExplainError::Malformed);
                }
                path.push(if is_reduce { k - 1 } else { k });
                let r = self.chain(child, path);
                path.pop();
                r?;
            }
        }
        Ok(())
    }
}

/// The steps of an explanation from `lhs`, by [`Flatten`].
fn explanation_steps(
    expl: &egg::Explanation<Node>,
    lhs: &Expr,
    until: Instant,
) -> Result<Vec<RawStep>, ExplainError> {
    let mut f = Flatten {
        until,
        work: 0,
        current: lhs.clone(),
        raw: Vec::new(),
    };
    let first = expl
        .explanation_trees
        .first()
        .ok_or(ExplainError::Malformed)?;
    if f.initial(first)? != *lhs {
        return Err(ExplainError::Malformed);
    }
    f.chain(&expl.explanation_trees, &mut Vec::new())?;
    if Instant::now() > until {
        return Err(ExplainError::Time);
    }
    Ok(f.raw)
}

/// Cost used to pick the representative of an e-class for ring
/// normalization: tree size, with reductions charged by the size of their
/// body so that forms with reductions pushed inward win.
struct PushCost;

impl CostFunction<Node> for PushCost {
    type Cost = usize;
    fn cost<C>(&mut self, enode: &Node, mut costs: C) -> usize
    where
        C: FnMut(Id) -> usize,
    {
        match enode {
            Node::Axes(_) => 0,
            Node::Mean([_, b]) | Node::Sum([_, b]) | Node::Var([_, b]) => {
                1usize.saturating_add(costs(*b).saturating_mul(4))
            }
            _ => enode.fold(1usize, |acc, id| acc.saturating_add(costs(id))),
        }
    }
}

/// Limits of one proof search.
#[derive(Clone, Debug)]
pub struct Options {
    pub node_limit: usize,
    pub iter_limit: usize,
    pub timeout: Duration,
    pub seed: u64,
    pub samples: usize,
    /// Subterm normalizations the e-graph's ring passes may take in all
    /// (`None`: only the time limit bounds them).
    pub ring_work: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            node_limit: 100_000,
            iter_limit: 30,
            timeout: Duration::from_secs(5),
            seed: 0,
            samples: 300,
            ring_work: None,
        }
    }
}

/// The verdict on a statement.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// A proof the kernel accepted.
    Proved(Proof),
    /// A double-checked counterexample.
    Refuted(Counterexample),
    /// Neither, within the limits; the reason names the limit.
    Unknown { reason: String },
}

/// Statistics of one search, for reports and benchmarks.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Time in the counterexample searches.
    pub refute_time: Duration,
    /// Time in the e-graph search, explanation, kernel check and polish.
    pub search_time: Duration,
    pub nodes: usize,
    pub classes: usize,
    pub iterations: usize,
    pub stop: String,
}

struct Conditions {
    conds: Vec<Cond>,
    vars: Vec<(String, Var)>,
}

impl Conditions {
    fn var(&self, name: &str) -> Option<Var> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

impl egg::Condition<Node, Facts> for Conditions {
    fn check(&self, egraph: &mut EG, _eclass: Id, subst: &egg::Subst) -> bool {
        self.conds.iter().all(|c| {
            let data = |v: &str| {
                self.var(v)
                    .and_then(|v| subst.get(v))
                    .map(|id| &egraph[*id].data)
            };
            match c {
                Cond::Pos(v) => data(v).is_some_and(|d| d.sign.pos),
                Cond::NonNeg(v) => data(v).is_some_and(|d| d.sign.nonneg),
                Cond::NonZero(v) => data(v).is_some_and(|d| d.sign.nonzero),
                Cond::Const(v) => data(v).is_some_and(|d| d.constant.is_some()),
                Cond::Int(v) => data(v)
                    .and_then(|d| d.constant.as_ref())
                    .is_some_and(|c| c.is_integer()),
                Cond::Ge(a, b) => {
                    let id = |v: &str| {
                        self.var(v)
                            .and_then(|v| subst.get(v))
                            .map(|i| egraph.find(*i))
                    };
                    let (Some(x), Some(y)) = (id(a), id(b)) else {
                        return false;
                    };
                    ge_known(egraph, x, y)
                }
                Cond::Indep(v, i) => match (data(v), data(i).and_then(|d| d.axes.clone())) {
                    (Some(d), Some(axes)) => !axes.iter().any(|a| d.free.contains(a)),
                    _ => false,
                },
            }
        })
    }
}

/// Whether `x >= y` follows from what the e-graph knows: one class, two
/// constants, a non-negative `x` over a constant `y <= 0`, or an existing
/// class of `x - y` known non-negative (an assumption `x >= y` makes one).
/// The kernel proves the condition again on the concrete terms.
fn ge_known(egraph: &EG, x: Id, y: Id) -> bool {
    let (dx, dy) = (&egraph[x].data, &egraph[y].data);
    x == y
        || match (&dx.constant, &dy.constant) {
            (Some(a), Some(b)) => a >= b,
            (_, Some(b)) => !b.is_positive() && dx.sign.nonneg,
            _ => false,
        }
        || egraph
            .lookup(Node::Sub([x, y]))
            .is_some_and(|d| egraph[d].data.sign.nonneg)
}

const REVERSED: &str = "<-";

fn rewrites() -> Vec<Rewrite<Node, Facts>> {
    let mut out = Vec::new();
    for rule in rules::all() {
        let dirs: &[bool] = match rule.search {
            Search::Off => &[],
            Search::Forward => &[true],
            Search::Both => &[true, false],
        };
        for &fwd in dirs {
            let (from, to) = if fwd {
                (&rule.lhs, &rule.rhs)
            } else {
                (&rule.rhs, &rule.lhs)
            };
            let mut names = Vec::new();
            rules::pattern_vars(from, &mut names);
            let vars = names
                .iter()
                .map(|n| (n.clone(), Var::from_str(&format!("?{n}")).expect("var")))
                .collect();
            let applier = egg::ConditionalApplier {
                condition: Conditions {
                    conds: rule.conds.clone(),
                    vars,
                },
                applier: Pattern::new(to_pattern(to)),
            };
            let name = if fwd {
                rule.name.to_string()
            } else {
                format!("{}{REVERSED}", rule.name)
            };
            // A reversed rule whose right side has variables the left lacks is skipped.
            if let Ok(rw) = Rewrite::new(name, Pattern::new(to_pattern(from)), applier) {
                out.push(rw);
            }
        }
    }
    out
}

/// Largest representative term the ring hook normalizes.
const RING_TERM_LIMIT: usize = 400;

/// Whether the term `extractor.find_best(id)` would build has more than
/// `limit` nodes (one per e-class it reaches), found without building it.
fn best_term_exceeds(
    extractor: &Extractor<PushCost, Node, Facts>,
    egraph: &EG,
    id: Id,
    limit: usize,
) -> bool {
    let mut seen = HashSet::new();
    let mut todo = vec![egraph.find(id)];
    while let Some(c) = todo.pop() {
        if !seen.insert(c) {
            continue;
        }
        if seen.len() > limit {
            return true;
        }
        todo.extend(
            extractor
                .find_best_node(c)
                .children()
                .iter()
                .map(|&k| egraph.find(k)),
        );
    }
    false
}

/// Unites every small class with its ring normal forms. `work`, when
/// given, is what is left of the search's budget of subterm normalizations
/// (a bound that, unlike the deadline, is the same under any load).
fn ring_pass(
    egraph: &mut EG,
    seen: &mut HashSet<RecExpr<Node>>,
    deadline: Instant,
    work: &mut Option<u64>,
) {
    let mut unions = Vec::new();
    {
        let extractor = Extractor::new(egraph, PushCost);
        for class in egraph.classes() {
            if class.data.axes.is_some() {
                continue;
            }
            // Normalizing every class can take long on big powers: stop at
            // the search's deadline (the runner then stops too).
            if Instant::now() > deadline || *work == Some(0) {
                break;
            }
            let before = ring::work_done();
            let _charge = Charge {
                work: &mut *work,
                before,
            };
            // Count the term's nodes before building it: building every
            // class's term is quadratic on a long chain (10 000 terms).
            if best_term_exceeds(&extractor, egraph, class.id, RING_TERM_LIMIT) {
                continue;
            }
            let (_, term) = extractor.find_best(class.id);
            if term.as_ref().len() > RING_TERM_LIMIT || !seen.insert(term.clone()) {
                continue;
            }
            let Some(e) = from_rec(&term) else { continue };
            let mut targets = Vec::new();
            if let Ok(c) = ring::canonical(&e) {
                targets.push(c);
            }
            if let Ok(Some(f)) = ring::factored(&e) {
                targets.push(f);
            }
            for t in targets {
                if t != e && t.depth() <= kernel::MAX_DEPTH / 2 {
                    unions.push((term.clone(), to_rec(&t)));
                }
            }
        }
    }
    let ground = |r: &RecExpr<Node>| -> PatternAst<Node> {
        r.as_ref()
            .iter()
            .cloned()
            .map(ENodeOrVar::ENode)
            .collect::<Vec<_>>()
            .into()
    };
    for (from, to) in unions {
        egraph.union_instantiations(&ground(&from), &ground(&to), &Default::default(), "ring");
    }
    egraph.rebuild();
}

/// Charges the ring work done while it lived to a budget (also on `continue`).
struct Charge<'a> {
    work: &'a mut Option<u64>,
    before: u64,
}

impl Drop for Charge<'_> {
    fn drop(&mut self) {
        if let Some(w) = self.work.as_mut() {
            *w = w.saturating_sub(ring::work_done() - self.before);
        }
    }
}

/// Search for a proof with the e-graph; `Err` carries why none was found.
pub fn search(
    stmt: &Statement,
    assumptions: &[Assumption],
    opts: &Options,
) -> (Result<Proof, String>, Stats) {
    search_until(stmt, assumptions, opts, Instant::now() + opts.timeout)
}

/// [`search`] whose e-graph stops after `opts.timeout` and whose
/// explanation, conversion into steps, kernel checks and polishing stop at
/// `finish_by` (the caller's whole time limit).
fn search_until(
    stmt: &Statement,
    assumptions: &[Assumption],
    opts: &Options,
    finish_by: Instant,
) -> (Result<Proof, String>, Stats) {
    // Normal forms (the ring hook, the kernel's checks) stop there too.
    let _ring_deadline = ring::deadline(finish_by);
    let mut stats = Stats::default();
    if stmt.lhs == stmt.rhs {
        let proof = Proof {
            statement: stmt.clone(),
            assumptions: assumptions.to_vec(),
            steps: vec![],
            definitions: Vec::new(),
            haves: Vec::new(),
            lemmas: Vec::new(),
        };
        return (Ok(proof), stats);
    }
    let mut egraph = EG::new(Facts).with_explanations_enabled();
    for a in assumptions {
        let id = egraph.add_expr(&to_rec(&a.expr));
        let flags = SignFlags::of_rel(a.rel);
        let data = &mut egraph[id].data;
        data.sign = data.sign.or(flags);
    }
    let lhs = to_rec(&stmt.lhs);
    let rhs = to_rec(&stmt.rhs);
    let (l, r) = (egraph.add_expr(&lhs), egraph.add_expr(&rhs));
    egraph.rebuild();
    let deadline = (Instant::now() + opts.timeout).min(finish_by);
    let mut seen = HashSet::new();
    let mut ring_work = opts.ring_work;
    let runner = Runner::default()
        .with_egraph(egraph)
        .with_node_limit(opts.node_limit)
        .with_iter_limit(opts.iter_limit)
        .with_time_limit(opts.timeout)
        .with_hook(move |runner| {
            if runner.egraph.find(l) == runner.egraph.find(r) {
                return Err("proved".into());
            }
            if Instant::now() > deadline {
                return Err("time".into());
            }
            ring_pass(&mut runner.egraph, &mut seen, deadline, &mut ring_work);
            if runner.egraph.find(l) == runner.egraph.find(r) {
                return Err("proved".into());
            }
            Ok(())
        })
        .run(&rewrites());
    let mut runner = runner;
    stats.nodes = runner.egraph.total_size();
    stats.classes = runner.egraph.number_of_classes();
    stats.iterations = runner.iterations.len();
    stats.stop = match &runner.stop_reason {
        Some(StopReason::Saturated) => "saturated".into(),
        Some(StopReason::IterationLimit(n)) => format!("iteration limit {n}"),
        Some(StopReason::NodeLimit(n)) => format!("node limit {n}"),
        Some(StopReason::TimeLimit(t)) => format!("time limit {t:.1} s"),
        Some(StopReason::Other(s)) if s == "time" => {
            format!("time limit {:.1} s", opts.timeout.as_secs_f64())
        }
        Some(StopReason::Other(s)) => s.clone(),
        None => "stopped".into(),
    };
    if runner.egraph.find(l) != runner.egraph.find(r) {
        let reason = match stats.stop.as_str() {
            "saturated" => {
                "the rules are exhausted (saturated) without connecting the two sides".to_string()
            }
            s => format!("{s} reached"),
        };
        return (Err(reason), stats);
    }
    if Instant::now() > finish_by {
        return (Err(time_limit_reached("before the explanation")), stats);
    }
    // egg shortens explanations with a pass over the whole e-graph
    // (congruence neighbours, common ancestors, greedy search); on a large
    // e-graph that pass, which cannot be interrupted, is skipped.
    if stats.nodes > EXPLAIN_SHORTEST_NODES {
        runner.egraph =
            std::mem::take(&mut runner.egraph).without_explanation_length_optimization();
    }
    let expl = runner.explain_equivalence(&lhs, &rhs);
    let raw = match explanation_steps(&expl, &stmt.lhs, finish_by) {
        Ok(raw) => raw,
        Err(ExplainError::Time) => return (Err(time_limit_reached("in the explanation")), stats),
        Err(ExplainError::TooLarge) => {
            return (
                Err(format!(
                    "the explanation is too large (more than {MAX_EXPLANATION_STEPS} steps or \
                     {MAX_EXPLANATION_WORK} copied nodes)"
                )),
                stats,
            )
        }
        Err(ExplainError::Malformed) => {
            return (
                Err("the explanation could not be converted into a proof".into()),
                stats,
            )
        }
    };
    drop(expl);
    drop(runner);
    let ctx = Steps {
        stmt,
        assumptions,
        until: finish_by,
    };
    match ctx.proof(&raw) {
        Ok(proof) => (Ok(proof), stats),
        Err(e) => (Err(e), stats),
    }
}

/// The reason given when the search's time ran out after the e-graph
/// connected the two sides.
fn time_limit_reached(when: &str) -> String {
    format!("time limit reached {when} (the e-graph had connected the two sides)")
}

/// Turning the rewrites of an explanation into a proof the kernel accepts,
/// within a deadline.
struct Steps<'a> {
    stmt: &'a Statement,
    assumptions: &'a [Assumption],
    until: Instant,
}

impl Steps<'_> {
    fn late(&self) -> bool {
        Instant::now() > self.until
    }

    /// The kernel's verdict on one step from `before` (a proof of
    /// `before = step.expr` with this step only).
    fn step_ok(&self, before: &Expr, step: &Step) -> bool {
        let one = Proof {
            statement: Statement {
                lhs: before.clone(),
                rhs: step.expr.clone(),
            },
            assumptions: self.assumptions.to_vec(),
            steps: vec![step.clone()],
            definitions: Vec::new(),
            haves: Vec::new(),
            lemmas: Vec::new(),
        };
        kernel::check(&one).is_ok()
    }

    fn whole(&self, steps: Vec<Step>) -> Proof {
        Proof {
            statement: self.stmt.clone(),
            assumptions: self.assumptions.to_vec(),
            steps,
            definitions: Vec::new(),
            haves: Vec::new(),
            lemmas: Vec::new(),
        }
    }

    /// The proof: runs of ring-like rewrites merged into one `ring` step
    /// where the kernel accepts it, loops cut (a rule followed by its own
    /// inverse at the same place, or any detour back to an earlier
    /// expression), adjacent `ring` steps merged, then polished. Every
    /// shortening is kept only if the kernel accepts the result; the proof
    /// with every rewrite as its own step is the last resort.
    fn proof(&self, raw: &[RawStep]) -> Result<Proof, String> {
        let late = || time_limit_reached("while checking the proof");
        let merged = self.merged(raw).ok_or_else(late)?;
        let cleaned = self.merge_rings(cut_loops(&self.stmt.lhs, merged));
        if self.late() {
            return Err(late());
        }
        let proof = self.whole(cleaned);
        let proof = match kernel::check(&proof) {
            Ok(()) => proof,
            Err(e) => {
                if self.late() {
                    return Err(late());
                }
                let single = self.whole(cut_loops(&self.stmt.lhs, self.unmerged(raw)));
                if kernel::check(&single).is_err() {
                    return Err(if self.late() {
                        late()
                    } else {
                        format!("a proof was found but the kernel rejected it ({e})")
                    });
                }
                single
            }
        };
        if self.late() {
            return Ok(proof);
        }
        // A shorter proof is used only if the kernel accepts it too.
        let polished = polish(&proof, self.until);
        if polished.steps.len() < proof.steps.len()
            && !self.late()
            && kernel::check(&polished).is_ok()
        {
            return Ok(polished);
        }
        Ok(proof)
    }

    /// One step per rewrite: named rules (ring-like ones too) as named
    /// steps, each `ring` union at the place egg made it.
    fn unmerged(&self, raw: &[RawStep]) -> Vec<Step> {
        let mut before = &self.stmt.lhs;
        let mut steps = Vec::with_capacity(raw.len());
        for (e, name, fwd, path) in raw {
            steps.push(self.named(before, e, name, *fwd, path));
            before = e;
        }
        steps
    }

    fn named(&self, before: &Expr, e: &Expr, name: &str, fwd: bool, path: &[usize]) -> Step {
        let direction = if fwd {
            Direction::Forward
        } else {
            Direction::Backward
        };
        let subst = if name == "ring" {
            None
        } else {
            rule_subst(name, direction, before, e, path)
        };
        Step {
            expr: e.clone(),
            rule: name.to_string(),
            direction,
            position: path.to_vec(),
            subst,
        }
    }

    /// Runs of ring-like rewrites collapse into one `ring` step at the place
    /// where the two ends first differ, or where egg's rewrites of the run
    /// meet, whichever the kernel accepts; a run the kernel rejects either
    /// way stays as its rewrites. `None`: the deadline passed.
    fn merged(&self, raw: &[RawStep]) -> Option<Vec<Step>> {
        let mut steps: Vec<Step> = Vec::new();
        let mut before = self.stmt.lhs.clone();
        let mut k = 0;
        while k < raw.len() {
            if self.late() {
                return None;
            }
            if !rules::is_ring_like(&raw[k].1) {
                let (e, name, fwd, path) = &raw[k];
                steps.push(self.named(&before, e, name, *fwd, path));
                before = e.clone();
                k += 1;
                continue;
            }
            let mut j = k;
            while j + 1 < raw.len() && rules::is_ring_like(&raw[j + 1].1) {
                j += 1;
            }
            let after = &raw[j].0;
            if *after != before {
                let meet = raw[k..=j]
                    .iter()
                    .map(|r| r.3.as_slice())
                    .reduce(common_prefix)
                    .unwrap_or_default()
                    .to_vec();
                let mut places = vec![rules::diff_position(&before, after).unwrap_or_default()];
                if !places.contains(&meet) {
                    places.push(meet);
                }
                let ring = |position: Vec<usize>| Step {
                    expr: after.clone(),
                    rule: "ring".into(),
                    direction: Direction::Forward,
                    position,
                    subst: None,
                };
                let accepted = places
                    .into_iter()
                    .map(ring)
                    .find(|s| self.step_ok(&before, s));
                match accepted {
                    Some(step) => steps.push(step),
                    None => {
                        let mut b = &before;
                        for (e, name, fwd, path) in &raw[k..=j] {
                            steps.push(self.named(b, e, name, *fwd, path));
                            b = e;
                        }
                    }
                }
            }
            before = after.clone();
            k = j + 1;
        }
        Some(steps)
    }
}

impl Steps<'_> {
    /// Adjacent `ring` steps become one, at the place where the two ends
    /// differ, when the kernel accepts the merged step.
    fn merge_rings(&self, steps: Vec<Step>) -> Vec<Step> {
        let mut out: Vec<Step> = Vec::with_capacity(steps.len());
        // The expression before each step of `out`.
        let mut befores: Vec<Expr> = Vec::with_capacity(steps.len());
        for s in steps {
            let before = out.last().map_or(&self.stmt.lhs, |p| &p.expr).clone();
            if s.rule == "ring" && out.last().is_some_and(|p| p.rule == "ring") && !self.late() {
                let start = &befores[befores.len() - 1];
                let merged = Step {
                    position: rules::diff_position(start, &s.expr).unwrap_or_default(),
                    ..s.clone()
                };
                if self.step_ok(start, &merged) {
                    *out.last_mut().expect("a previous step") = merged;
                    continue;
                }
            }
            befores.push(before);
            out.push(s);
        }
        out
    }
}

fn common_prefix<'a>(a: &'a [usize], b: &'a [usize]) -> &'a [usize] {
    let n = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    &a[..n]
}

/// Cut every detour: when a step returns to an expression met earlier in
/// the chain (the statement's left side included), the steps in between go.
/// This drops a rule followed by its own inverse at the same place, and
/// longer loops too. Each remaining step starts from the same expression as
/// before, so the chain stays valid step by step.
fn cut_loops(lhs: &Expr, steps: Vec<Step>) -> Vec<Step> {
    let mut seen: std::collections::HashMap<Expr, usize> = std::collections::HashMap::new();
    seen.insert(lhs.clone(), 0);
    let mut out: Vec<Step> = Vec::with_capacity(steps.len());
    for s in steps {
        if let Some(&n) = seen.get(&s.expr) {
            for gone in out.drain(n..) {
                seen.remove(&gone.expr);
            }
            continue;
        }
        seen.insert(s.expr.clone(), out.len() + 1);
        out.push(s);
    }
    out
}

fn rule_subst(
    name: &str,
    dir: Direction,
    before: &Expr,
    after: &Expr,
    path: &[usize],
) -> Option<rules::Subst> {
    let rule = rules::get(name)?;
    let (from, to) = match dir {
        Direction::Forward => (&rule.lhs, &rule.rhs),
        Direction::Backward => (&rule.rhs, &rule.lhs),
    };
    let mut s = rules::Subst::new();
    (rules::match_pattern(from, before.at(path)?, &mut s)
        && rules::match_pattern(to, after.at(path)?, &mut s))
    .then_some(s)
}

/// Prove or refute `stmt` under `assumptions`: a quick exact counterexample
/// search, then the e-graph, then the full counterexample search, all
/// within `opts.timeout` together.
pub fn prove(stmt: &Statement, assumptions: &[Assumption], opts: &Options) -> (Outcome, Stats) {
    let start = Instant::now();
    let deadline = start + opts.timeout;
    // Normal forms (here, in the e-graph's ring hook and in the kernel's
    // check) stop at the deadline too.
    let _ring_deadline = ring::deadline(deadline);
    let quick = RefuteOptions {
        seed: opts.seed,
        samples: opts.samples.min(8),
        max_axis_size: 3,
        deadline: Some(start + opts.timeout / 10),
    };
    let quick_result = refute::refute(stmt, assumptions, &quick);
    let quick_time = start.elapsed();
    if let RefuteOutcome::Refuted(c) = quick_result {
        let stats = Stats {
            stop: "counterexample".into(),
            refute_time: quick_time,
            ..Default::default()
        };
        return (Outcome::Refuted(c), stats);
    }
    // The normal forms are cheap and decide most identities at once. Large
    // statements (derivations) take their proof as it is; small ones prefer
    // the e-graph's proof by named rules (it reads like a textbook) when it
    // comes within a short budget, and keep the normal-form proof otherwise.
    let big = stmt.lhs.size() + stmt.rhs.size() > NF_FIRST_SIZE;
    let nf = by_normal_form(stmt, assumptions);
    let nf_stats = |start: Instant| Stats {
        refute_time: quick_time,
        search_time: start.elapsed() - quick_time,
        stop: "normal form".into(),
        ..Default::default()
    };
    if let Some(p) = &nf {
        if big {
            return (Outcome::Proved(p.clone()), nf_stats(start));
        }
    }
    // With a normal-form proof in hand the e-graph gets a small node and
    // iteration budget (not a time budget, so which proof is shown does not
    // depend on the machine's load); otherwise most of what is left, the
    // full search the rest. When the normal forms of a large statement
    // already differ, the e-graph rarely helps and the counterexample search
    // gets the larger share.
    let remaining = deadline.saturating_duration_since(Instant::now());
    let search_opts = match (&nf, big) {
        (Some(_), _) => Options {
            timeout: remaining,
            node_limit: opts.node_limit.min(NAMED_PROOF_NODES),
            iter_limit: opts.iter_limit.min(NAMED_PROOF_ITERATIONS),
            ring_work: Some(
                opts.ring_work
                    .map_or(NAMED_PROOF_RING_WORK, |w| w.min(NAMED_PROOF_RING_WORK)),
            ),
            ..opts.clone()
        },
        (None, true) => Options {
            timeout: remaining.mul_f64(0.25),
            ..opts.clone()
        },
        (None, false) => Options {
            timeout: remaining.mul_f64(0.6),
            ..opts.clone()
        },
    };
    let search_start = Instant::now();
    let (res, mut stats) = search_until(stmt, assumptions, &search_opts, deadline);
    stats.search_time = search_start.elapsed();
    stats.refute_time = quick_time;
    let reason = match (res, nf) {
        (Ok(p), _) => return (Outcome::Proved(p), stats),
        (Err(_), Some(p)) => return (Outcome::Proved(p), nf_stats(start)),
        (Err(r), None) => r,
    };
    let full = RefuteOptions {
        seed: opts.seed,
        samples: opts.samples,
        max_axis_size: 5,
        deadline: Some(deadline),
    };
    let full_start = Instant::now();
    let full_result = refute::refute(stmt, assumptions, &full);
    stats.refute_time += full_start.elapsed();
    match full_result {
        RefuteOutcome::Refuted(c) => (Outcome::Refuted(c), stats),
        RefuteOutcome::NotFound { tried, skipped } => {
            let out_of_time = Instant::now() >= deadline;
            let reason = format!(
                "no proof: {reason}; no counterexample in {tried} exact samples{}{}",
                if skipped > 0 {
                    format!(" ({skipped} undecidable samples skipped)")
                } else {
                    String::new()
                },
                if out_of_time {
                    format!(
                        " before the time limit of {:.1} s",
                        opts.timeout.as_secs_f64()
                    )
                } else {
                    String::new()
                }
            );
            (Outcome::Unknown { reason }, stats)
        }
    }
}

/// How far the e-graph may look for a proof by named rules when a
/// normal-form proof is already in hand: over the prover's tests every such
/// proof found took at most 1 288 e-nodes and 6 iterations, and 99% of them
/// at most 6 066 subterm normalizations in ring passes (about 7 µs each in
/// a release build); the three that took more (up to 80 348) fall back to
/// the normal-form proof.
const NAMED_PROOF_NODES: usize = 5_000;
const NAMED_PROOF_ITERATIONS: usize = 10;
const NAMED_PROOF_RING_WORK: u64 = 20_000;

/// Statements larger than this (in nodes, both sides) take a normal-form
/// proof without trying the e-graph.
const NF_FIRST_SIZE: usize = 120;

/// Prove by normal forms: both sides reach the same polynomial once
/// reductions are expanded by linearity (`linear`), and if needed once
/// factors proven non-zero cancel (`field`). The proof shows the common
/// normal form in the middle; the kernel recomputes both comparisons.
pub fn by_normal_form(stmt: &Statement, assumptions: &[Assumption]) -> Option<Proof> {
    let facts = crate::sign::Facts::new(assumptions);
    if facts.is_contradictory() {
        return by_contradiction(stmt, assumptions);
    }
    let checks = crate::sign::field_checks(&facts);
    let modes = [("linear", ring::Mode::LINEAR), ("field", checks.mode())];
    for (name, mode) in modes {
        let (Ok(l), Ok(r)) = (
            ring::normalize_with(&stmt.lhs, &mode),
            ring::normalize_with(&stmt.rhs, &mode),
        ) else {
            continue;
        };
        let cleared = l != r
            && name == "field"
            && l.plus(&r.negate())
                .is_ok_and(|d| ring::clears_to_zero(&d, &mode) == Ok(true));
        if l != r && !cleared {
            continue;
        }
        // Equal normal forms: show the common one in the middle. Equal only
        // once denominators are cleared, or a middle too deep for the kernel
        // (the normal form of a sum of n atoms is a chain of n terms): one
        // step from side to side.
        let middle = match cleared {
            true => stmt.rhs.clone(),
            false => Some(ring::to_expr(&l))
                .filter(|m| m.nesting() <= kernel::MAX_DEPTH && m.depth() <= kernel::MAX_HEIGHT)
                .unwrap_or_else(|| stmt.rhs.clone()),
        };
        let mut steps = Vec::new();
        for target in [&middle, &stmt.rhs] {
            let before = steps.last().map_or(&stmt.lhs, |s: &Step| &s.expr);
            if before != target {
                let position = nf_position(before, target, &mode);
                steps.push(Step {
                    expr: target.clone(),
                    rule: name.into(),
                    direction: Direction::Forward,
                    position,
                    subst: None,
                });
            }
        }
        let proof = Proof {
            statement: stmt.clone(),
            assumptions: assumptions.to_vec(),
            steps,
            definitions: Vec::new(),
            haves: Vec::new(),
            lemmas: Vec::new(),
        };
        if kernel::check(&proof).is_ok() {
            return Some(proof);
        }
    }
    None
}

/// Under assumptions the sign analysis shows unsatisfiable every statement
/// holds vacuously, and the kernel accepts `0 != 0` as a side condition:
/// `lhs = rhs + (lhs − rhs)·1` (ring), `1 = 0/0` (`div-self` backward, its
/// condition `0 != 0` established from the contradiction), then
/// `rhs + (lhs − rhs)·(0/0) = rhs` (ring, as `0/0 = 0`).
fn by_contradiction(stmt: &Statement, assumptions: &[Assumption]) -> Option<Proof> {
    let (l, r) = (&stmt.lhs, &stmt.rhs);
    let with = |k: Expr| Expr::add(r.clone(), Expr::mul(Expr::sub(l.clone(), r.clone()), k));
    let step = |expr: Expr, rule: &str, direction: Direction, position: Vec<usize>| Step {
        expr,
        rule: rule.into(),
        direction,
        position,
        subst: None,
    };
    let proof = Proof {
        statement: stmt.clone(),
        assumptions: assumptions.to_vec(),
        steps: vec![
            step(with(Expr::num(1)), "ring", Direction::Forward, vec![]),
            step(
                with(Expr::div(Expr::num(0), Expr::num(0))),
                "div-self",
                Direction::Backward,
                vec![1, 1],
            ),
            step(r.clone(), "ring", Direction::Forward, vec![]),
        ],
        definitions: Vec::new(),
        haves: Vec::new(),
        lemmas: Vec::new(),
    };
    kernel::check(&proof).is_ok().then_some(proof)
}

/// Where a normal-form step from `before` to `after` goes: the first
/// position where they differ, moved up until the two subterms there have
/// the same normal form (`(-x)^2` to `x^2` differ only at `-x` vs `x`, but
/// only the whole powers are equal). The root when none is found.
fn nf_position(before: &Expr, after: &Expr, mode: &ring::Mode) -> Vec<usize> {
    let mut pos = rules::diff_position(before, after).unwrap_or_default();
    while !pos.is_empty() {
        let same = before.at(&pos).zip(after.at(&pos)).is_some_and(|(a, b)| {
            matches!(
                (ring::normalize_with(a, mode), ring::normalize_with(b, mode)),
                (Ok(x), Ok(y)) if x == y
            )
        });
        if same {
            break;
        }
        pos.pop();
    }
    pos
}

/// Shorten a proof by moving `ring` steps past the named steps that follow
/// them: when the named rule applies at some position of the expression
/// *before* the ring step and the result is ring-equal to the expression
/// after the named step, the two steps swap, and adjacent ring steps merge.
/// (egg's explanations often reorder operands just to line a rule up.)
/// Past `until` it gives up and returns the proof unchanged.
fn polish(proof: &Proof, until: Instant) -> Proof {
    let mut steps = proof.steps.clone();
    let mut changed = true;
    let mut rounds = 0;
    while changed && rounds < 32 {
        changed = false;
        rounds += 1;
        let mut before = proof.statement.lhs.clone();
        let mut k = 0;
        while k + 1 < steps.len() {
            if Instant::now() > until {
                return proof.clone();
            }
            if steps[k].rule == "ring" && steps[k + 1].rule != "ring" {
                if let Some(named) = replay(&before, &steps[k + 1], until) {
                    let target = steps[k + 1].expr.clone();
                    let mut new = vec![named.clone()];
                    if named.expr != target {
                        let position =
                            rules::diff_position(&named.expr, &target).unwrap_or_default();
                        new.push(Step {
                            expr: target,
                            rule: "ring".into(),
                            direction: Direction::Forward,
                            position,
                            subst: None,
                        });
                    }
                    steps.splice(k..k + 2, new);
                    changed = true;
                    before = named.expr;
                    k += 1;
                    continue;
                }
            }
            if steps[k].rule == "ring" && steps[k + 1].rule == "ring" {
                let target = steps[k + 1].expr.clone();
                if target == before {
                    steps.drain(k..k + 2);
                } else {
                    let position = rules::diff_position(&before, &target).unwrap_or_default();
                    steps.splice(
                        k..k + 2,
                        [Step {
                            expr: target,
                            rule: "ring".into(),
                            direction: Direction::Forward,
                            position,
                            subst: None,
                        }],
                    );
                }
                changed = true;
                continue;
            }
            before = steps[k].expr.clone();
            k += 1;
        }
    }
    Proof {
        statement: proof.statement.clone(),
        assumptions: proof.assumptions.clone(),
        steps,
        definitions: proof.definitions.clone(),
        haves: proof.haves.clone(),
        lemmas: proof.lemmas.clone(),
    }
}

/// Apply the named step's rule (same direction, same substitution for the
/// variables the match does not fix) somewhere in `before` so that the
/// result is ring-equal to the step's result.
fn replay(before: &Expr, step: &Step, until: Instant) -> Option<Step> {
    let rule = rules::get(&step.rule)?;
    let (from, to) = match step.direction {
        Direction::Forward => (&rule.lhs, &rule.rhs),
        Direction::Backward => (&rule.rhs, &rule.lhs),
    };
    let mut paths = Vec::new();
    collect_paths(before, &mut vec![], &mut paths);
    for path in paths {
        if Instant::now() > until {
            return None;
        }
        let sub = before.at(&path)?;
        let mut s = rules::Subst::new();
        if !rules::match_pattern(from, sub, &mut s) {
            continue;
        }
        for (k, v) in step.subst.iter().flatten() {
            s.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let Some(new_sub) = rules::instantiate(to, &s) else {
            continue;
        };
        let Some(expr) = before.replace_at(&path, new_sub) else {
            continue;
        };
        if ring::ring_eq(&expr, &step.expr) == Ok(true) {
            let subst = rule_subst(&step.rule, step.direction, before, &expr, &path);
            return Some(Step {
                expr,
                rule: step.rule.clone(),
                direction: step.direction,
                position: path,
                subst,
            });
        }
    }
    None
}

fn collect_paths(e: &Expr, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    out.push(cur.clone());
    for (k, c) in e.children().into_iter().enumerate() {
        cur.push(k);
        collect_paths(c, cur, out);
        cur.pop();
    }
}

/// Operations per element: arithmetic nodes and reductions count one each,
/// numbers, symbols and axis sets nothing (the cost `derive` reports).
struct FlopCost;

impl CostFunction<Node> for FlopCost {
    type Cost = usize;
    fn cost<C>(&mut self, enode: &Node, mut costs: C) -> usize
    where
        C: FnMut(Id) -> usize,
    {
        match enode {
            Node::Num(_) | Node::Sym(_) | Node::Axes(_) => 0,
            _ => enode.fold(1usize, |acc, id| acc.saturating_add(costs(id))),
        }
    }
}

/// The cheapest form (in operations per element) of a set of expressions
/// already known to be equal: they are put in one e-class, the rule table
/// runs a few bounded iterations, and the cheapest term is extracted. The
/// caller must prove the result equal to the original (the e-graph's
/// unions of the inputs are trusted here, not by the kernel).
pub fn cheapest(equal: &[Expr], assumptions: &[Assumption]) -> Option<Expr> {
    let (first, rest) = equal.split_first()?;
    let mut egraph = EGraph::<Node, Facts>::new(Facts);
    for a in assumptions {
        let id = egraph.add_expr(&to_rec(&a.expr));
        let data = &mut egraph[id].data;
        data.sign = data.sign.or(SignFlags::of_rel(a.rel));
    }
    let root = egraph.add_expr(&to_rec(first));
    for e in rest {
        let id = egraph.add_expr(&to_rec(e));
        egraph.union(root, id);
    }
    egraph.rebuild();
    let runner = Runner::default()
        .with_egraph(egraph)
        .with_node_limit(20_000)
        .with_iter_limit(6)
        .with_time_limit(Duration::from_millis(300))
        .run(&rewrites());
    let root = runner.egraph.find(root);
    let (_, best) = Extractor::new(&runner.egraph, FlopCost).find_best(root);
    from_rec(&best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax;

    fn e(s: &str) -> Expr {
        syntax::parse_expr(s).unwrap()
    }

    fn step(expr: &str, rule: &str, direction: Direction) -> Step {
        Step {
            expr: e(expr),
            rule: rule.into(),
            direction,
            position: vec![],
            subst: None,
        }
    }

    #[test]
    fn a_rule_and_its_inverse_at_the_same_place_vanish() {
        let lhs = e("var[i](x[i])");
        let steps = vec![
            step(
                "mean[i]((x[i] - mean[i](x[i]))^2)",
                "var-def",
                Direction::Forward,
            ),
            step("var[i](x[i])", "var-def", Direction::Backward),
            step("var[i](x[i]) + 0", "ring", Direction::Forward),
        ];
        let out = cut_loops(&lhs, steps);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].expr, e("var[i](x[i]) + 0"));
    }

    #[test]
    fn longer_detours_are_cut_and_the_rest_kept() {
        let lhs = e("a");
        let steps = vec![
            step("b", "r1", Direction::Forward),
            step("c", "r2", Direction::Forward),
            step("d", "r3", Direction::Forward),
            step("b", "r4", Direction::Forward),
            step("e", "r5", Direction::Forward),
        ];
        let out = cut_loops(&lhs, steps);
        let rules: Vec<_> = out.iter().map(|s| s.rule.as_str()).collect();
        assert_eq!(rules, ["r1", "r5"]);
    }

    #[test]
    fn adjacent_ring_steps_merge_only_where_the_kernel_agrees() {
        let stmt = syntax::parse_statement("(x + y) * 2 = 2 * y + 2 * x").unwrap();
        let ctx = Steps {
            stmt: &stmt,
            assumptions: &[],
            until: Instant::now() + Duration::from_secs(60),
        };
        let steps = vec![
            step("(y + x) * 2", "ring", Direction::Forward),
            step("2 * y + 2 * x", "ring", Direction::Forward),
        ];
        let out = ctx.merge_rings(steps);
        assert_eq!(out.len(), 1);
        assert!(kernel::check(&ctx.whole(out)).is_ok());
    }
}
