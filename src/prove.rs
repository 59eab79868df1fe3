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

use crate::ir::{Assumption, Expr, Rat, RedOp, Rel, Statement, Symbol};
use crate::kernel::{self, Direction, Proof, Step};
use crate::refute::{self, Counterexample, RefuteOptions, RefuteOutcome};
use crate::ring;
use crate::rules::{self, Cond, Search};
use egg::{
    define_language, Analysis, CostFunction, DidMerge, EGraph, ENodeOrVar, Extractor, FlatTerm, Id,
    Language, Pattern, PatternAst, RecExpr, Rewrite, Runner, StopReason, Var,
};
use num_traits::{Signed, Zero};
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
    let mut out = PatternAst::default();
    add_pattern(e, &mut out);
    out
}

fn add_pattern(e: &Expr, out: &mut PatternAst<Node>) -> Id {
    let node = |n: Node, out: &mut PatternAst<Node>| out.add(ENodeOrVar::ENode(n));
    match e {
        Expr::PVar(v) => out.add(ENodeOrVar::Var(
            Var::from_str(&format!("?{v}")).expect("var"),
        )),
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
        Expr::Reduce(op, axes, body) => {
            let ax = match axes.as_slice() {
                [v] if v.starts_with('?') => {
                    out.add(ENodeOrVar::Var(Var::from_str(v).expect("axis var")))
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

fn flat_to_expr(t: &FlatTerm<Node>) -> Option<Expr> {
    let b = |k: usize| flat_to_expr(t.children.get(k)?).map(Box::new);
    Some(match &t.node {
        Node::Num(x) => Expr::Num(x.clone()),
        Node::Sym(s) => Expr::Sym(s.0.clone()),
        Node::Axes(_) => return None,
        Node::Add(_) => Expr::Add(b(0)?, b(1)?),
        Node::Sub(_) => Expr::Sub(b(0)?, b(1)?),
        Node::Mul(_) => Expr::Mul(b(0)?, b(1)?),
        Node::Div(_) => Expr::Div(b(0)?, b(1)?),
        Node::Pow(_) => Expr::Pow(b(0)?, b(1)?),
        Node::Neg(_) => Expr::Neg(b(0)?),
        Node::Sqrt(_) => Expr::Sqrt(b(0)?),
        Node::Mean(_) | Node::Sum(_) | Node::Var(_) => {
            let axes = match &t.children.first()?.node {
                Node::Axes(a) => a.0.clone(),
                _ => return None,
            };
            let op = match &t.node {
                Node::Mean(_) => RedOp::Mean,
                Node::Sum(_) => RedOp::Sum,
                _ => RedOp::Var,
            };
            Expr::Reduce(op, axes, b(1)?)
        }
    })
}

/// Where in a flat term the rewrite of this explanation step happened, as
/// an IR path, with the rule name and whether it was applied forward.
fn flat_rewrite(t: &FlatTerm<Node>) -> Option<(Vec<usize>, String, bool)> {
    if let Some(r) = &t.forward_rule {
        return Some((vec![], r.to_string(), true));
    }
    if let Some(r) = &t.backward_rule {
        return Some((vec![], r.to_string(), false));
    }
    let is_reduce = matches!(t.node, Node::Mean(_) | Node::Sum(_) | Node::Var(_));
    for (k, c) in t.children.iter().enumerate() {
        if let Some((mut p, r, f)) = flat_rewrite(c) {
            let k = if is_reduce { k.checked_sub(1)? } else { k };
            p.insert(0, k);
            return Some((p, r, f));
        }
    }
    None
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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            node_limit: 100_000,
            iter_limit: 30,
            timeout: Duration::from_secs(5),
            seed: 0,
            samples: 300,
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
                Cond::Indep(v, i) => match (data(v), data(i).and_then(|d| d.axes.clone())) {
                    (Some(d), Some(axes)) => !axes.iter().any(|a| d.free.contains(a)),
                    _ => false,
                },
            }
        })
    }
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

fn ring_pass(egraph: &mut EG, seen: &mut HashSet<RecExpr<Node>>, deadline: Instant) {
    let mut unions = Vec::new();
    {
        let extractor = Extractor::new(egraph, PushCost);
        for class in egraph.classes() {
            if class.data.axes.is_some() {
                continue;
            }
            // Normalizing every class can take long on big powers: stop at
            // the search's deadline (the runner then stops too).
            if Instant::now() > deadline {
                break;
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

/// Search for a proof with the e-graph; `Err` carries why none was found.
pub fn search(
    stmt: &Statement,
    assumptions: &[Assumption],
    opts: &Options,
) -> (Result<Proof, String>, Stats) {
    let mut stats = Stats::default();
    if stmt.lhs == stmt.rhs {
        let proof = Proof {
            statement: stmt.clone(),
            assumptions: assumptions.to_vec(),
            steps: vec![],
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
    let deadline = Instant::now() + opts.timeout;
    let mut seen = HashSet::new();
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
            ring_pass(&mut runner.egraph, &mut seen, deadline);
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
    let mut expl = runner.explain_equivalence(&lhs, &rhs);
    let flat = expl.make_flat_explanation().clone();
    let proof = match proof_from_flat(stmt, assumptions, &flat) {
        Some(p) => p,
        None => {
            return (
                Err("the explanation could not be converted into a proof".into()),
                stats,
            )
        }
    };
    match kernel::check(&proof) {
        Ok(()) => {
            // A shorter proof is used only if the kernel accepts it too.
            let polished = polish(&proof);
            let proof =
                if polished.steps.len() < proof.steps.len() && kernel::check(&polished).is_ok() {
                    polished
                } else {
                    proof
                };
            (Ok(proof), stats)
        }
        Err(e) => (
            Err(format!(
                "a proof was found but the kernel rejected it ({e})"
            )),
            stats,
        ),
    }
}

/// Turn egg's flat explanation into calc-style steps: runs of ring-like
/// steps collapse into one `ring` step, no-op steps vanish.
fn proof_from_flat(
    stmt: &Statement,
    assumptions: &[Assumption],
    flat: &[FlatTerm<Node>],
) -> Option<Proof> {
    let mut raw: Vec<(Expr, String, bool, Vec<usize>)> = Vec::new();
    let mut prev = flat_to_expr(flat.first()?)?;
    if prev != stmt.lhs {
        return None;
    }
    for t in &flat[1..] {
        let e = flat_to_expr(t)?;
        if e == prev {
            continue;
        }
        let (path, name, fwd) = flat_rewrite(t)?;
        let (name, fwd) = match name.strip_suffix(REVERSED) {
            Some(base) => (base.to_string(), !fwd),
            None => (name, fwd),
        };
        raw.push((e.clone(), name, fwd, path));
        prev = e;
    }
    let mut steps: Vec<Step> = Vec::new();
    let mut before = stmt.lhs.clone();
    let mut k = 0;
    while k < raw.len() {
        if rules::is_ring_like(&raw[k].1) {
            let mut j = k;
            while j + 1 < raw.len() && rules::is_ring_like(&raw[j + 1].1) {
                j += 1;
            }
            let after = raw[j].0.clone();
            if after != before {
                let position = rules::diff_position(&before, &after).unwrap_or_default();
                steps.push(Step {
                    expr: after.clone(),
                    rule: "ring".into(),
                    direction: Direction::Forward,
                    position,
                    subst: None,
                });
            }
            before = after;
            k = j + 1;
        } else {
            let (e, name, fwd, path) = raw[k].clone();
            let direction = if fwd {
                Direction::Forward
            } else {
                Direction::Backward
            };
            let subst = rule_subst(&name, direction, &before, &e, &path);
            steps.push(Step {
                expr: e.clone(),
                rule: name,
                direction,
                position: path,
                subst,
            });
            before = e;
            k += 1;
        }
    }
    // Two adjacent ring steps can appear after no-op removal: merge them.
    let mut merged: Vec<Step> = Vec::new();
    let mut cur = stmt.lhs.clone();
    let mut last_expr_before = stmt.lhs.clone();
    for s in steps {
        if s.rule == "ring" && merged.last().is_some_and(|p| p.rule == "ring") {
            let position = rules::diff_position(&last_expr_before, &s.expr).unwrap_or_default();
            let last = merged.last_mut()?;
            last.expr = s.expr.clone();
            last.position = position;
        } else {
            last_expr_before = cur.clone();
            merged.push(s.clone());
        }
        cur = s.expr;
    }
    Some(Proof {
        statement: stmt.clone(),
        assumptions: assumptions.to_vec(),
        steps: merged,
    })
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
    // The e-graph gets most of what is left (a short budget when a normal-form
    // proof is in hand), the full search the rest; when the normal forms of a
    // large statement already differ, the e-graph rarely helps and the
    // counterexample search gets the larger share.
    let remaining = deadline.saturating_duration_since(Instant::now());
    let budget = match (&nf, big) {
        (Some(_), _) => remaining.min(NAMED_PROOF_BUDGET),
        (None, true) => remaining.mul_f64(0.25),
        (None, false) => remaining.mul_f64(0.6),
    };
    let search_opts = Options {
        timeout: budget,
        ..opts.clone()
    };
    let search_start = Instant::now();
    let (res, mut stats) = search(stmt, assumptions, &search_opts);
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

/// How long the e-graph may look for a proof by named rules when a
/// normal-form proof is already in hand.
const NAMED_PROOF_BUDGET: Duration = Duration::from_millis(150);

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
        // once denominators are cleared: one step from side to side.
        let middle = if cleared {
            stmt.rhs.clone()
        } else {
            ring::to_expr(&l)
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
fn polish(proof: &Proof) -> Proof {
    let mut steps = proof.steps.clone();
    let mut changed = true;
    let mut rounds = 0;
    while changed && rounds < 32 {
        changed = false;
        rounds += 1;
        let mut before = proof.statement.lhs.clone();
        let mut k = 0;
        while k + 1 < steps.len() {
            if steps[k].rule == "ring" && steps[k + 1].rule != "ring" {
                if let Some(named) = replay(&before, &steps[k + 1]) {
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
    }
}

/// Apply the named step's rule (same direction, same substitution for the
/// variables the match does not fix) somewhere in `before` so that the
/// result is ring-equal to the step's result.
fn replay(before: &Expr, step: &Step) -> Option<Step> {
    let rule = rules::get(&step.rule)?;
    let (from, to) = match step.direction {
        Direction::Forward => (&rule.lhs, &rule.rhs),
        Direction::Backward => (&rule.rhs, &rule.lhs),
    };
    let mut paths = Vec::new();
    collect_paths(before, &mut vec![], &mut paths);
    for path in paths {
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
