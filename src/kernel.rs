//! The proof kernel: the trusted core.
//!
//! It knows nothing about egg or the prover (a test enforces this). A proof is
//! a chain of expressions from the statement's left side to its right side;
//! each step rewrites one subterm, at a stated position, either by a named
//! rule of [`crate::rules`] (matched here, side conditions re-established
//! here from the proof's own assumptions) or by `ring` (both subterms have
//! the same commutative-ring normal form, [`crate::ring`]). The kernel fails
//! closed and names the failing step.

use crate::ir::{Assumption, Expr, Path, Statement, Symbol};
use crate::ring;
use crate::rules::{self, Binding, Cond, Subst};
use crate::sign::{self, Facts};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Which way a named rule was used: `Forward` rewrites an instance of the
/// rule's left side into its right side, `Backward` the other way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        }
    }
}

/// One step: the whole expression after the step.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub expr: Expr,
    /// A rule name from [`crate::rules`], or `ring`.
    pub rule: String,
    pub direction: Direction,
    /// Path of child indices to the rewritten subterm.
    pub position: Path,
    /// The rule's substitution, when the certificate records it; the kernel
    /// recomputes it by matching and requires agreement.
    pub subst: Option<Subst>,
}

/// A proof of `statement` under `assumptions`.
///
/// `definitions` (ordered, each body using only earlier names) give names
/// to expressions: the statement and the assumptions mean their full
/// inlining, so a proof over names proves the inlined statement. Every
/// defined name is defined once and every use of it carries exactly its
/// body's free axes; `def NAME` steps unfold (forward) or fold (backward)
/// one occurrence.
///
/// `haves` are intermediate facts proved inside the proof, in order, each
/// with the same definitions and assumptions; a `have K` step (K from 1)
/// rewrites an occurrence of have K's left side into its right side
/// (backward: the other way). A have may cite only earlier haves.
///
/// `lemmas` are general facts with their own proofs, cited under a
/// substitution by `lemma NAME` steps ([`Lemma`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Proof {
    pub statement: Statement,
    pub assumptions: Vec<Assumption>,
    pub steps: Vec<Step>,
    pub definitions: Vec<(Symbol, Expr)>,
    pub haves: Vec<Have>,
    pub lemmas: Vec<Lemma>,
}

/// A lemma: a statement under its own assumptions, proved by its own chain
/// with no definitions and no haves in scope, citing only lemmas listed
/// before it. Its name is a label: the kernel never looks anything up.
///
/// A `lemma NAME` step instantiates it: its substitution maps every axis
/// of the lemma's statement and assumptions (free or bound) to an axis of
/// the proof, one-to-one (`i` ↦ `[n]`; an axis may stand for several,
/// `i` ↦ `[h, n, w]`, read as their product as a multi-axis reduction reads
/// them, but no two of the lemma's axes share one), and every symbol to an expression
/// that varies only along the images of the symbol's axes and along axes
/// that are no image at all (so nothing is captured by the lemma's
/// reductions); the instantiated assumptions are re-established by the
/// sign analysis where the lemma is cited.
#[derive(Clone, Debug, PartialEq)]
pub struct Lemma {
    pub name: String,
    pub statement: Statement,
    pub assumptions: Vec<Assumption>,
    pub steps: Vec<Step>,
}

/// The rule name of a step that cites lemma `name`.
pub fn lemma_rule(name: &str) -> String {
    format!("lemma {name}")
}

/// The lemma name of a `lemma NAME` step.
pub fn lemma_name(rule: &str) -> Option<&str> {
    rule.strip_prefix("lemma ")
}

/// An intermediate fact and its proof (a chain from its left side to its
/// right side).
#[derive(Clone, Debug, PartialEq)]
pub struct Have {
    pub statement: Statement,
    pub steps: Vec<Step>,
}

/// The rule name of a step that cites have `k` (1-based).
pub fn have_rule(k: usize) -> String {
    format!("have {k}")
}

/// The 1-based index of a `have K` step.
pub fn have_index(rule: &str) -> Option<usize> {
    rule.strip_prefix("have ")?.parse().ok().filter(|&k| k >= 1)
}

/// The rule name of a step that unfolds (forward) or folds (backward) the
/// definition of `name`.
pub fn def_rule(name: &str) -> String {
    format!("def {name}")
}

/// The defined name of a `def NAME` step.
pub fn def_name(rule: &str) -> Option<&str> {
    rule.strip_prefix("def ")
}

/// Why the kernel rejected a proof. `step` is 1-based; 0 means the proof as a
/// whole (e.g. it does not end at the right side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelError {
    pub step: usize,
    pub message: String,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.step == 0 {
            write!(f, "proof rejected: {}", self.message)
        } else {
            write!(f, "step {} rejected: {}", self.step, self.message)
        }
    }
}

impl std::error::Error for KernelError {}

/// Deepest nesting the kernel walks, counted as the parser counts it (a
/// chain of `+`/`-` or `*`/`/` is one level); deeper input is rejected rather
/// than risking the stack.
pub const MAX_DEPTH: usize = crate::syntax::MAX_DEPTH;

/// Tallest tree the kernel walks: the parser's chains of up to
/// [`crate::syntax::MAX_CHAIN`] operands, nested up to [`MAX_DEPTH`].
pub const MAX_HEIGHT: usize = crate::syntax::MAX_HEIGHT;

/// Check a proof. `Ok(())` only if every step is valid and the chain runs
/// from `statement.lhs` to `statement.rhs`.
pub fn check(proof: &Proof) -> Result<(), KernelError> {
    let whole = |message: String| KernelError { step: 0, message };
    let lemma_exprs = proof.lemmas.iter().flat_map(|l| {
        [&l.statement.lhs, &l.statement.rhs]
            .into_iter()
            .chain(l.assumptions.iter().map(|a| &a.expr))
            .chain(l.steps.iter().map(|s| &s.expr))
    });
    for e in [&proof.statement.lhs, &proof.statement.rhs]
        .into_iter()
        .chain(proof.assumptions.iter().map(|a| &a.expr))
        .chain(proof.steps.iter().map(|s| &s.expr))
        .chain(proof.definitions.iter().map(|(_, b)| b))
        .chain(proof.haves.iter().flat_map(|h| {
            [&h.statement.lhs, &h.statement.rhs]
                .into_iter()
                .chain(h.steps.iter().map(|s| &s.expr))
        }))
        .chain(lemma_exprs)
    {
        if e.nesting() > MAX_DEPTH {
            return Err(whole(format!(
                "an expression is nested deeper than {MAX_DEPTH}"
            )));
        }
        if e.depth() > MAX_HEIGHT {
            return Err(whole(format!(
                "an expression's tree is taller than {MAX_HEIGHT} (a chain of more than {} operands)",
                crate::syntax::MAX_CHAIN
            )));
        }
        if !e.is_ground() {
            return Err(whole("an expression contains a pattern variable".into()));
        }
    }
    let defs = Definitions::new(&proof.definitions).map_err(whole)?;
    for e in [&proof.statement.lhs, &proof.statement.rhs]
        .into_iter()
        .chain(proof.assumptions.iter().map(|a| &a.expr))
    {
        defs.check_uses(e).map_err(whole)?;
    }
    check_lemmas(&proof.lemmas, &defs).map_err(whole)?;
    // Signs are decided on the full inlining: the assumptions mean theirs,
    // and a side condition about `var + eps` is about var's definition.
    let assumptions: Vec<Assumption> = proof
        .assumptions
        .iter()
        .map(|a| Assumption {
            expr: defs.inline(&a.expr),
            rel: a.rel,
        })
        .collect();
    let facts = Facts::new(&assumptions);
    // Side conditions answered under the same assumptions and definitions
    // before (the prover checks many one-step proofs in one context).
    let keep = !facts.is_cut_short();
    let kept = if keep {
        answers::take(&assumptions, &proof.definitions).map(|(context, answers)| {
            *defs.answers.borrow_mut() = answers;
            context
        })
    } else {
        None
    };
    let verdict = check_in(proof, &defs, &facts);
    if keep {
        let context = kept.unwrap_or_else(|| (assumptions, proof.definitions.clone()));
        answers::keep(context, defs.answers.take());
    }
    verdict
}

/// [`check`] once the definitions and the facts are established.
fn check_in(proof: &Proof, defs: &Definitions<'_>, facts: &Facts) -> Result<(), KernelError> {
    // One set of field checks for the whole proof: their answers depend on
    // the assumptions only, and large proofs ask the same questions again.
    let checks = ring::FieldChecks::new(
        |e| defs.proves(e, facts, Want::NonZero),
        |e| defs.proves(e, facts, Want::NonNeg),
    );
    // Each have is a chain of its own, citing only earlier haves; the
    // proof's steps may cite them all.
    let ctx = StepContext {
        facts,
        checks: &checks,
        defs,
        lemmas: &proof.lemmas,
    };
    for (h, have) in proof.haves.iter().enumerate() {
        let at = |step: usize, message: String| KernelError {
            step: 0,
            message: if step == 0 {
                format!("have {}: {message}", h + 1)
            } else {
                format!("have {}, step {step}: {message}", h + 1)
            },
        };
        for e in [&have.statement.lhs, &have.statement.rhs] {
            defs.check_uses(e).map_err(|m| at(0, m))?;
        }
        chain(&have.statement, &have.steps, &proof.haves[..h], &ctx)
            .map_err(|(step, m)| at(step, m))?;
    }
    chain(&proof.statement, &proof.steps, &proof.haves, &ctx)
        .map_err(|(step, message)| KernelError { step, message })
}

/// Each lemma in order: a one-word name listed once, a statement that
/// mentions none of the certificate's defined names, and a chain checked
/// under its own assumptions alone, citing only the lemmas before it (so
/// no lemma cites itself, directly or through another).
fn check_lemmas(lemmas: &[Lemma], defs: &Definitions<'_>) -> Result<(), String> {
    let no_definitions = Definitions::new(&[])?;
    for (k, lemma) in lemmas.iter().enumerate() {
        let at = |m: String| format!("lemma {}: {m}", lemma.name);
        if lemma.name.is_empty() || lemma.name.chars().any(char::is_whitespace) {
            return Err(format!("lemma name {:?} is not one word", lemma.name));
        }
        if lemmas[..k].iter().any(|l| l.name == lemma.name) {
            return Err(at("listed twice".into()));
        }
        let sig = Signature::of(lemma).map_err(at)?;
        if let Some(name) = sig
            .symbols
            .keys()
            .find(|n| defs.by_name.contains_key(n.as_str()))
        {
            return Err(at(format!(
                "its statement mentions `{name}`, a name the certificate defines"
            )));
        }
        let facts = Facts::new(&lemma.assumptions);
        let checks = sign::field_checks(&facts);
        let ctx = StepContext {
            facts: &facts,
            checks: &checks,
            defs: &no_definitions,
            lemmas: &lemmas[..k],
        };
        chain(&lemma.statement, &lemma.steps, &[], &ctx).map_err(|(step, m)| {
            if step == 0 {
                at(m)
            } else {
                at(format!("step {step}: {m}"))
            }
        })?;
    }
    Ok(())
}

/// What a lemma quantifies over: its symbols (each with the one list of
/// axes it is used with) and its axes, free or bound, in its statement and
/// assumptions. No name is both.
struct Signature {
    symbols: BTreeMap<String, Vec<String>>,
    axes: BTreeSet<String>,
}

impl Signature {
    fn of(lemma: &Lemma) -> Result<Signature, String> {
        let mut syms = BTreeSet::new();
        let mut axes = BTreeSet::new();
        for e in [&lemma.statement.lhs, &lemma.statement.rhs]
            .into_iter()
            .chain(lemma.assumptions.iter().map(|a| &a.expr))
        {
            e.symbols(&mut syms);
            e.all_axes(&mut axes);
        }
        let mut symbols = BTreeMap::new();
        for s in syms {
            if let Some(other) = symbols.insert(s.name.clone(), s.axes.clone()) {
                return Err(format!(
                    "`{}` is used with axes [{}] and [{}]",
                    s.name,
                    other.join(","),
                    s.axes.join(",")
                ));
            }
        }
        if let Some(name) = symbols.keys().find(|n| axes.contains(*n)) {
            return Err(format!("`{name}` names both a symbol and an axis"));
        }
        Ok(Signature { symbols, axes })
    }
}

/// A lemma's statement and assumptions under a substitution (see
/// [`Lemma`]), or why the substitution is not an instance.
pub fn instantiate(lemma: &Lemma, subst: &Subst) -> Result<(Statement, Vec<Assumption>), String> {
    let sig = Signature::of(lemma)?;
    let mut axes: BTreeMap<&str, &[String]> = BTreeMap::new();
    let mut exprs: BTreeMap<&str, &Expr> = BTreeMap::new();
    for (key, b) in subst {
        match b {
            Binding::Axes(a) if sig.axes.contains(key) => {
                if a.is_empty() || a.iter().any(|x| x.is_empty() || x.starts_with('?')) {
                    return Err(format!("axis `{key}` must be renamed to one or more axes"));
                }
                axes.insert(key, a);
            }
            // `"i": "n"` as well as `"i": "[n]"`: a lemma name is never both
            // an axis and a symbol, so a bare name for an axis is unambiguous.
            Binding::Expr(Expr::Sym(s)) if sig.axes.contains(key) && s.axes.is_empty() => {
                axes.insert(key, std::slice::from_ref(&s.name));
            }
            Binding::Expr(e) if sig.symbols.contains_key(key) => {
                if !e.is_ground() {
                    return Err(format!("the expression for `{key}` has a pattern variable"));
                }
                exprs.insert(key, e);
            }
            _ => {
                return Err(format!(
                "`{key}` is not a symbol of the lemma given an expression, nor an axis given axes"
            ))
            }
        }
    }
    if let Some(a) = sig.axes.iter().find(|a| !axes.contains_key(a.as_str())) {
        return Err(format!("the substitution does not rename axis `{a}`"));
    }
    if let Some(s) = sig.symbols.keys().find(|s| !exprs.contains_key(s.as_str())) {
        return Err(format!("the substitution gives no expression for `{s}`"));
    }
    // An axis may stand for several (their product, as a multi-axis
    // reduction reads them), but no axis of the proof for two of the lemma's.
    let images: BTreeSet<&str> = axes
        .values()
        .flat_map(|a| a.iter().map(String::as_str))
        .collect();
    if images.len() != axes.values().map(|a| a.len()).sum::<usize>() {
        return Err("the axis renaming is not one-to-one".into());
    }
    for (name, own) in &sig.symbols {
        let allowed: BTreeSet<&str> = own
            .iter()
            .flat_map(|a| axes[a.as_str()].iter().map(String::as_str))
            .collect();
        if let Some(a) = exprs[name.as_str()]
            .free_axes()
            .into_iter()
            .find(|a| images.contains(a.as_str()) && !allowed.contains(a.as_str()))
        {
            return Err(format!(
                "the expression for `{name}` varies along `{a}`, which the lemma uses \
                 otherwise (it may vary along [{}] and axes the lemma does not mention)",
                allowed.into_iter().collect::<Vec<_>>().join(",")
            ));
        }
    }
    let inst = |e: &Expr| rename(e, &axes, &exprs);
    Ok((
        Statement {
            lhs: inst(&lemma.statement.lhs),
            rhs: inst(&lemma.statement.rhs),
        },
        lemma
            .assumptions
            .iter()
            .map(|a| Assumption {
                expr: inst(&a.expr),
                rel: a.rel,
            })
            .collect(),
    ))
}

/// `e` with its axes renamed and its symbols replaced (both total on `e`'s
/// signature).
fn rename(e: &Expr, axes: &BTreeMap<&str, &[String]>, exprs: &BTreeMap<&str, &Expr>) -> Expr {
    let b = |x: &Expr| Box::new(rename(x, axes, exprs));
    match e {
        Expr::Sym(s) => exprs[s.name.as_str()].clone(),
        Expr::Num(_) | Expr::PVar(_) => e.clone(),
        Expr::Neg(a) => Expr::Neg(b(a)),
        Expr::Sqrt(a) => Expr::Sqrt(b(a)),
        Expr::Add(x, y) => Expr::Add(b(x), b(y)),
        Expr::Sub(x, y) => Expr::Sub(b(x), b(y)),
        Expr::Mul(x, y) => Expr::Mul(b(x), b(y)),
        Expr::Div(x, y) => Expr::Div(b(x), b(y)),
        Expr::Pow(x, y) => Expr::Pow(b(x), b(y)),
        Expr::App(..) => e.map_children(|c| rename(c, axes, exprs)),
        Expr::Reduce(op, over, body) => {
            let mut renamed: Vec<String> = over
                .iter()
                .flat_map(|a| axes[a.as_str()].iter().cloned())
                .collect();
            renamed.sort();
            Expr::Reduce(*op, renamed, b(body))
        }
    }
}

/// What every step of one proof is checked against.
struct StepContext<'a, 'f> {
    facts: &'a Facts,
    checks: &'a ring::FieldChecks<'f>,
    defs: &'a Definitions<'a>,
    /// The lemmas this chain may cite.
    lemmas: &'a [Lemma],
}

/// A chain of steps from `statement.lhs` to `statement.rhs`, citing
/// `haves`; on failure the 1-based step (0: the chain as a whole).
fn chain(
    statement: &Statement,
    steps: &[Step],
    haves: &[Have],
    ctx: &StepContext<'_, '_>,
) -> Result<(), (usize, String)> {
    let mut current = &statement.lhs;
    for (k, step) in steps.iter().enumerate() {
        ctx.defs.check_uses(&step.expr).map_err(|m| (k + 1, m))?;
        check_step(current, step, ctx, haves).map_err(|m| (k + 1, m))?;
        current = &step.expr;
    }
    if *current != statement.rhs {
        return Err((
            0,
            "the last expression is not the statement's right-hand side".into(),
        ));
    }
    Ok(())
}

/// A proof's definitions, checked once: fresh, acyclic, used with their
/// axes.
struct Definitions<'a> {
    by_name: BTreeMap<&'a str, (usize, &'a Symbol, &'a Expr)>,
    /// Full inlinings computed so far (only names a sign question reaches:
    /// a chain of definitions may inline to an exponentially large tree).
    inlined: std::cell::RefCell<BTreeMap<String, Expr>>,
    /// The size of each name's full inlining, computed without building it.
    sizes: std::cell::RefCell<BTreeMap<String, usize>>,
    /// Side conditions decided so far under these definitions and the
    /// proof's assumptions ([`answers`]).
    answers: std::cell::RefCell<answers::Answers>,
}

/// What a side condition asks of an expression's sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Want {
    Pos,
    NonNeg,
    NonZero,
}

impl Want {
    fn of(self, s: &sign::Sign) -> bool {
        match self {
            Want::Pos => s.pos,
            Want::NonNeg => s.nonneg,
            Want::NonZero => s.nonzero,
        }
    }
}

/// Side-condition answers kept between checks on this thread, per context
/// (the inlined assumptions and the definitions, compared in full). An
/// answer is kept only when no normalization was refused while it was
/// decided, so it is the answer any check in that context computes.
mod answers {
    use super::Want;
    use crate::ir::{Assumption, Expr, Symbol};
    use std::cell::RefCell;
    use std::collections::HashMap;

    pub type Answers = HashMap<(Expr, Want), bool>;

    pub type Context = (Vec<Assumption>, Vec<(Symbol, Expr)>);

    /// Contexts kept; the oldest goes first.
    const KEPT: usize = 8;

    thread_local! {
        static KEPT_ANSWERS: RefCell<Vec<(Context, Answers)>> = const { RefCell::new(Vec::new()) };
    }

    /// The context kept equal to this one, with its answers (removed until
    /// [`keep`] returns them: handing the context back saves copying it).
    pub fn take(
        assumptions: &[Assumption],
        definitions: &[(Symbol, Expr)],
    ) -> Option<(Context, Answers)> {
        KEPT_ANSWERS.with(|k| {
            let mut k = k.borrow_mut();
            let at = k
                .iter()
                .position(|((a, d), _)| a.as_slice() == assumptions && d.as_slice() == definitions);
            at.map(|i| k.remove(i))
        })
    }

    pub fn keep(context: Context, answers: Answers) {
        KEPT_ANSWERS.with(|k| {
            let mut k = k.borrow_mut();
            if k.len() >= KEPT {
                k.remove(0);
            }
            k.push((context, answers));
        });
    }
}

/// Largest full inlining (nodes) the sign analysis is run on after the
/// analysis through names has failed: a stack of layers inlines to a tree
/// exponentially larger than its definitions. Beyond it a side condition
/// must follow through the names; refusing it is never unsound.
pub const MAX_SIGN_INLINE: usize = 300;

impl<'a> Definitions<'a> {
    fn new(list: &'a [(Symbol, Expr)]) -> Result<Self, String> {
        let mut by_name = BTreeMap::new();
        for (k, (s, body)) in list.iter().enumerate() {
            if by_name.insert(s.name.as_str(), (k, s, body)).is_some() {
                return Err(format!("`{}` is defined twice", s.name));
            }
            let free: Vec<String> = body.free_axes().into_iter().collect();
            if free != s.axes {
                return Err(format!(
                    "`{}` is declared with axes [{}] but its body varies along [{}]",
                    s.name,
                    s.axes.join(","),
                    free.join(",")
                ));
            }
        }
        let defs = Definitions {
            by_name,
            inlined: std::cell::RefCell::new(BTreeMap::new()),
            sizes: std::cell::RefCell::new(BTreeMap::new()),
            answers: std::cell::RefCell::new(answers::Answers::new()),
        };
        for (k, (s, body)) in list.iter().enumerate() {
            // A body may use only names defined before it: no cycles, and a
            // name appears in no earlier body.
            let mut syms = std::collections::BTreeSet::new();
            body.symbols(&mut syms);
            for u in &syms {
                if let Some((j, _, _)) = defs.by_name.get(u.name.as_str()) {
                    if *j >= k {
                        return Err(format!(
                            "the definition of `{}` uses `{}`, which is not defined before it",
                            s.name, u.name
                        ));
                    }
                }
            }
            defs.check_uses(body)?;
        }
        Ok(defs)
    }

    fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Every use of a defined name carries exactly its definition's axes.
    fn check_uses(&self, e: &Expr) -> Result<(), String> {
        if self.is_empty() {
            return Ok(());
        }
        let mut syms = std::collections::BTreeSet::new();
        e.symbols(&mut syms);
        for u in syms {
            if let Some((_, s, _)) = self.by_name.get(u.name.as_str()) {
                if u.axes != s.axes {
                    return Err(format!(
                        "`{}` is used with axes [{}] but defined with [{}]",
                        u.name,
                        u.axes.join(","),
                        s.axes.join(",")
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether the sign analysis proves `want` of `e`: first through the
    /// names (each has its body's sign; linear in the definitions), then
    /// on the full inlining, which can cancel across definitions.
    fn proves(&self, e: &Expr, facts: &Facts, want: Want) -> bool {
        let key = (e.clone(), want);
        if let Some(&known) = self.answers.borrow().get(&key) {
            return known;
        }
        let refused = ring::refusals();
        let answer = self.decide(e, facts, want);
        if ring::refusals() == refused {
            self.answers.borrow_mut().insert(key, answer);
        }
        answer
    }

    fn decide(&self, e: &Expr, facts: &Facts, want: Want) -> bool {
        if self.is_empty() {
            return want.of(&sign::sign(e, facts));
        }
        let lookup = |n: &str| self.by_name.get(n).map(|(_, _, body)| *body);
        want.of(&sign::sign_through(e, facts, &lookup))
            || (self.inlined_size(e) <= MAX_SIGN_INLINE
                && want.of(&sign::sign(&self.inline(e), facts)))
    }

    /// The node count of `e`'s full inlining (saturating), without building it.
    fn inlined_size(&self, e: &Expr) -> usize {
        match e {
            Expr::Sym(s) => match self.by_name.get(s.name.as_str()) {
                Some((_, _, body)) => {
                    if let Some(n) = self.sizes.borrow().get(&s.name) {
                        return *n;
                    }
                    let n = self.inlined_size(body);
                    self.sizes.borrow_mut().insert(s.name.clone(), n);
                    n
                }
                None => 1,
            },
            _ => e
                .children()
                .iter()
                .fold(1usize, |acc, c| acc.saturating_add(self.inlined_size(c))),
        }
    }

    /// `e` with every defined name replaced by its full inlining.
    fn inline(&self, e: &Expr) -> Expr {
        if self.is_empty() {
            e.clone()
        } else {
            self.substitute(e)
        }
    }

    fn substitute(&self, e: &Expr) -> Expr {
        let b = |x: &Expr| Box::new(self.substitute(x));
        match e {
            Expr::Sym(s) => match self.by_name.get(s.name.as_str()) {
                Some((_, _, body)) => {
                    if let Some(done) = self.inlined.borrow().get(&s.name) {
                        return done.clone();
                    }
                    let full = self.substitute(body);
                    self.inlined
                        .borrow_mut()
                        .insert(s.name.clone(), full.clone());
                    full
                }
                None => e.clone(),
            },
            Expr::Num(_) | Expr::PVar(_) => e.clone(),
            Expr::Neg(a) => Expr::Neg(b(a)),
            Expr::Sqrt(a) => Expr::Sqrt(b(a)),
            Expr::Add(x, y) => Expr::Add(b(x), b(y)),
            Expr::Sub(x, y) => Expr::Sub(b(x), b(y)),
            Expr::Mul(x, y) => Expr::Mul(b(x), b(y)),
            Expr::Div(x, y) => Expr::Div(b(x), b(y)),
            Expr::Pow(x, y) => Expr::Pow(b(x), b(y)),
            Expr::Reduce(op, axes, body) => Expr::Reduce(*op, axes.clone(), b(body)),
            Expr::App(..) => e.map_children(|c| self.substitute(c)),
        }
    }
}

fn check_step(
    before: &Expr,
    step: &Step,
    ctx: &StepContext<'_, '_>,
    haves: &[Have],
) -> Result<(), String> {
    let (facts, checks, defs) = (ctx.facts, ctx.checks, ctx.defs);
    let pos = &step.position;
    let old = before
        .at(pos)
        .ok_or_else(|| format!("position {pos:?} does not exist in the previous expression"))?;
    let new = step
        .expr
        .at(pos)
        .ok_or_else(|| format!("position {pos:?} does not exist in the step's expression"))?;
    // Everything outside the rewritten subterm must be unchanged.
    if before.replace_at(pos, new.clone()).as_ref() != Some(&step.expr) {
        return Err(format!(
            "the step changes the expression outside position {pos:?}"
        ));
    }
    if rules::normal_form_step(&step.rule).is_some() {
        if step.subst.as_ref().is_some_and(|s| !s.is_empty()) {
            return Err(format!("a {} step takes no substitution", step.rule));
        }
        checks.reset_seen();
        let mode = match step.rule.as_str() {
            "ring" => ring::Mode::RING,
            "linear" => ring::Mode::LINEAR,
            _ => checks.mode(),
        };
        let same = ring::normalize_with(old, &mode).and_then(|a| {
            let b = ring::normalize_with(new, &mode)?;
            // `field` may also clear denominators proven non-zero.
            Ok(a == b
                || (step.rule == "field" && ring::clears_to_zero(&a.plus(&b.negate())?, &mode)?))
        });
        return match same {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "the two sides do not have the same {} normal form",
                step.rule
            )),
            Err(e) => Err(format!("normalization refused: {e}")),
        };
    }
    if let Some(k) = have_index(&step.rule) {
        if step.subst.as_ref().is_some_and(|s| !s.is_empty()) {
            return Err("a have step takes no substitution".into());
        }
        let have = haves
            .get(k - 1)
            .ok_or_else(|| format!("have {k} is not among the facts proved before this step"))?;
        let (from, to) = match step.direction {
            Direction::Forward => (&have.statement.lhs, &have.statement.rhs),
            Direction::Backward => (&have.statement.rhs, &have.statement.lhs),
        };
        return if old == from && new == to {
            Ok(())
        } else {
            Err(format!("the step is not an instance of have {k}"))
        };
    }
    if let Some(name) = lemma_name(&step.rule) {
        let lemma = ctx.lemmas.iter().find(|l| l.name == name).ok_or_else(|| {
            format!("lemma `{name}` is not among the lemmas listed before this step")
        })?;
        let subst = step
            .subst
            .as_ref()
            .ok_or_else(|| format!("a lemma step needs its substitution (lemma `{name}`)"))?;
        let (inst, conditions) =
            instantiate(lemma, subst).map_err(|m| format!("lemma `{name}`: {m}"))?;
        let (from, to) = match step.direction {
            Direction::Forward => (&inst.lhs, &inst.rhs),
            Direction::Backward => (&inst.rhs, &inst.lhs),
        };
        if old != from || new != to {
            return Err(format!("the step is not this instance of lemma `{name}`"));
        }
        for a in &conditions {
            let e = defs.inline(&a.expr);
            let ok = match a.rel {
                crate::ir::Rel::Gt => sign::is_pos(&e, facts),
                crate::ir::Rel::Ge => sign::is_nonneg(&e, facts),
                crate::ir::Rel::Ne => sign::is_nonzero(&e, facts),
            };
            if !ok {
                return Err(format!(
                    "lemma `{name}`: its assumption {} {} 0 is not established here",
                    crate::syntax::print(&a.expr),
                    a.rel.as_str()
                ));
            }
        }
        return Ok(());
    }
    if let Some(name) = def_name(&step.rule) {
        if step.subst.as_ref().is_some_and(|s| !s.is_empty()) {
            return Err("a def step takes no substitution".into());
        }
        let (_, sym, body) = defs
            .by_name
            .get(name)
            .ok_or_else(|| format!("`{name}` is not one of the proof's definitions"))?;
        let use_ = Expr::Sym((*sym).clone());
        let (from, to) = match step.direction {
            Direction::Forward => (&use_, *body),
            Direction::Backward => (*body, &use_),
        };
        return if old == from && new == to {
            Ok(())
        } else {
            Err(format!(
                "the step does not {} one occurrence of `{name}`",
                if step.direction == Direction::Forward {
                    "unfold"
                } else {
                    "fold"
                }
            ))
        };
    }
    let rule = rules::get(&step.rule).ok_or_else(|| format!("unknown rule {:?}", step.rule))?;
    let (from, to) = match step.direction {
        Direction::Forward => (&rule.lhs, &rule.rhs),
        Direction::Backward => (&rule.rhs, &rule.lhs),
    };
    let mut subst = Subst::new();
    if !rules::match_pattern(from, old, &mut subst) {
        return Err(format!(
            "the rewritten subterm is not an instance of the {} side of rule {}",
            if step.direction == Direction::Forward {
                "left"
            } else {
                "right"
            },
            rule.name
        ));
    }
    if !rules::match_pattern(to, new, &mut subst) {
        return Err(format!(
            "the result is not the corresponding instance of rule {}",
            rule.name
        ));
    }
    if let Some(given) = &step.subst {
        if *given != subst {
            return Err(format!(
                "the recorded substitution does not agree with the match of rule {}",
                rule.name
            ));
        }
    }
    for cond in &rule.conds {
        check_cond(cond, &subst, facts, defs).map_err(|m| {
            format!(
                "side condition {} of rule {}: {m}",
                cond.describe(),
                rule.name
            )
        })?;
    }
    Ok(())
}

fn bound_expr<'a>(subst: &'a Subst, v: &str) -> Result<&'a Expr, String> {
    match subst.get(v) {
        Some(Binding::Expr(e)) => Ok(e),
        _ => Err(format!("?{v} is not bound to an expression")),
    }
}

fn check_cond(
    cond: &Cond,
    subst: &Subst,
    facts: &Facts,
    defs: &Definitions<'_>,
) -> Result<(), String> {
    let ok = match cond {
        Cond::Pos(v) => defs.proves(bound_expr(subst, v)?, facts, Want::Pos),
        Cond::NonNeg(v) => defs.proves(bound_expr(subst, v)?, facts, Want::NonNeg),
        Cond::NonZero(v) => defs.proves(bound_expr(subst, v)?, facts, Want::NonZero),
        Cond::Const(v) => bound_expr(subst, v)?.const_value().is_some(),
        Cond::Int(v) => bound_expr(subst, v)?
            .const_value()
            .is_some_and(|c| c.is_integer()),
        // Proven on the difference, as an assumption `a >= b` is read.
        Cond::Ge(a, b) => {
            let d = Expr::sub(bound_expr(subst, a)?.clone(), bound_expr(subst, b)?.clone());
            defs.proves(&d, facts, Want::NonNeg)
        }
        Cond::Indep(v, i) => {
            let e = bound_expr(subst, v)?;
            let axes = match subst.get(*i) {
                Some(Binding::Axes(a)) => a,
                _ => return Err(format!("?{i} is not bound to axes")),
            };
            let free = e.free_axes();
            !axes.iter().any(|a| free.contains(a))
        }
    };
    if ok {
        Ok(())
    } else {
        Err("not established".into())
    }
}
