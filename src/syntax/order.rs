//! The axis order a reader sees.
//!
//! Symbols and reductions store their axes sorted ([`crate::ir::Symbol`]);
//! that is the internal, canonical form and never changes. What a person
//! reads follows the order the model or statement declares: an input or
//! parameter declared `x[n,c,h,w]` prints as `x[n,c,h,w]`, other arrays and
//! reduction axis lists follow the `axis` lines (`mean[n,h,w](…)`), and a
//! statement without a model follows the order in which its axes first
//! occur. The order is a printing concern only: an index list means the same
//! set in any order, so `parse(print(e)) == e` holds in every order.
//!
//! The printers ([`super::print()`], [`crate::render`]) read the order of the
//! current thread, set for the span of a rendering by [`AxisOrder::enter`]
//! (a guard restores the previous one). With none set, axes print sorted.
//! Certificates are written with [`canonical`] in force, so they do not
//! depend on who printed them.

use super::lexer::{lex, Tok};
use super::Model;
use crate::eval::Tensor;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Declared axis orders: the global one and each name's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AxisOrder {
    /// Every axis in declared order (a model's `axis` lines, or first
    /// occurrence in a statement). Axes not listed print after these,
    /// sorted.
    pub axes: Vec<String>,
    /// A name's axes as declared (`input x[n,d]`, or as first written in a
    /// statement). Used only where it is a permutation of the symbol's axes.
    pub symbols: BTreeMap<String, Vec<String>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<AxisOrder>>> = const { RefCell::new(None) };
}

/// Restores the previous axis order when dropped.
#[must_use = "the order holds only while the guard lives"]
pub struct OrderGuard {
    previous: Option<Rc<AxisOrder>>,
}

impl Drop for OrderGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

fn set(order: Option<Rc<AxisOrder>>) -> OrderGuard {
    let previous = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), order));
    OrderGuard { previous }
}

/// Print sorted (the canonical form) until the guard drops, whatever order
/// an enclosing rendering set: for certificates.
pub fn canonical() -> OrderGuard {
    set(None)
}

/// The axis order in force on this thread, if any.
pub fn current() -> Option<Rc<AxisOrder>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// `axes` (a sorted axis set) in the order in force.
pub fn shown_axes(axes: &[String]) -> Vec<String> {
    match current() {
        Some(o) => o.order_axes(axes),
        None => axes.to_vec(),
    }
}

/// The axes of the symbol `name` (stored sorted) in the order in force.
pub fn shown_symbol_axes(name: &str, axes: &[String]) -> Vec<String> {
    match current() {
        Some(o) => o.symbol_axes(name, axes),
        None => axes.to_vec(),
    }
}

impl AxisOrder {
    /// The order of a model: its `axis` lines; each input and parameter as
    /// declared, and the gradient `d<name>` of one (when no name of the
    /// model is spelled so) like it.
    pub fn for_model(m: &Model) -> AxisOrder {
        let mut symbols = m.declared_axes.clone();
        let taken = |n: &str| {
            m.inputs.iter().chain(&m.params).any(|s| s.name == n)
                || m.defs.iter().any(|(d, _)| d == n)
                || m.consts.iter().any(|c| c == n)
        };
        for (name, axes) in &m.declared_axes {
            let grad = format!("d{name}");
            if !taken(&grad) {
                symbols.entry(grad).or_insert_with(|| axes.clone());
            }
            symbols.insert(
                format!("{}{name}", super::parser::GRAD_PREFIX),
                axes.clone(),
            );
        }
        AxisOrder {
            axes: m.axes.clone(),
            symbols,
        }
    }

    /// The order of statements and assumptions as written: axes in order of
    /// first occurrence in any index list (`x[i,j]`, `sum[j](…)`), each name
    /// with its axes as first written. Text that does not lex gives what was
    /// read before the error.
    pub fn for_text<'a>(texts: impl IntoIterator<Item = &'a str>) -> AxisOrder {
        let mut o = AxisOrder::default();
        for text in texts {
            let Ok(toks) = lex(text, 0) else { continue };
            let mut k = 0;
            while k + 1 < toks.len() {
                let (Tok::Name(name), Tok::LBrack) = (&toks[k].tok, &toks[k + 1].tok) else {
                    k += 1;
                    continue;
                };
                let mut list = Vec::new();
                let mut j = k + 2;
                while let Some(t) = toks.get(j) {
                    match &t.tok {
                        Tok::Name(a) => list.push(a.clone()),
                        Tok::Comma => {}
                        _ => break,
                    }
                    j += 1;
                }
                // An index list is names and commas up to `]`; anything else
                // (`E[u[i] + b]`, an expectation) is not one.
                if !matches!(toks.get(j).map(|t| &t.tok), Some(Tok::RBrack)) {
                    k += 2;
                    continue;
                }
                for a in &list {
                    if !o.axes.contains(a) {
                        o.axes.push(a.clone());
                    }
                }
                if !matches!(name.as_str(), "mean" | "sum" | "var") {
                    o.symbols.entry(name.clone()).or_insert(list);
                }
                k = j;
            }
        }
        o
    }

    /// Make this the order in force on this thread until the guard drops.
    pub fn enter(self) -> OrderGuard {
        set(Some(Rc::new(self)))
    }

    /// `axes` ordered by the global order; axes it does not list follow,
    /// in their given order.
    pub fn order_axes(&self, axes: &[String]) -> Vec<String> {
        let mut out: Vec<String> = self
            .axes
            .iter()
            .filter(|a| axes.contains(a))
            .cloned()
            .collect();
        out.extend(axes.iter().filter(|a| !self.axes.contains(a)).cloned());
        out
    }

    /// The axes of `name` in its declared order when that is a permutation
    /// of `axes`, else by the global order.
    pub fn symbol_axes(&self, name: &str, axes: &[String]) -> Vec<String> {
        if let Some(d) = self.symbols.get(name) {
            if d.len() == axes.len() && axes.iter().all(|a| d.contains(a)) {
                return d.clone();
            }
        }
        self.order_axes(axes)
    }
}

/// `t` (stored row-major over sorted axes) with its axes reordered to
/// `want`, a permutation of them, and its data permuted to match
/// (row-major over `want`); unchanged when `want` is not a permutation.
pub fn reorder_tensor(t: &Tensor, want: &[String], sizes: &BTreeMap<String, usize>) -> Tensor {
    let mut sorted = want.to_vec();
    sorted.sort();
    let mut have = t.axes.clone();
    have.sort();
    if sorted != have || want == t.axes.as_slice() {
        return t.clone();
    }
    let size = |x: &String| sizes.get(x).copied().unwrap_or(1);
    // Row-major strides of the stored layout.
    let mut stride = vec![1usize; t.axes.len()];
    for k in (0..t.axes.len().saturating_sub(1)).rev() {
        stride[k] = stride[k + 1] * size(&t.axes[k + 1]);
    }
    let pos: Vec<usize> = want
        .iter()
        .map(|x| t.axes.iter().position(|y| y == x).unwrap_or(0))
        .collect();
    let dims: Vec<usize> = want.iter().map(size).collect();
    let mut data = Vec::with_capacity(t.data.len());
    let mut idx = vec![0usize; want.len()];
    for _ in 0..t.data.len() {
        let off: usize = idx.iter().zip(&pos).map(|(i, p)| i * stride[*p]).sum();
        data.push(t.data.get(off).cloned().unwrap_or_default());
        for k in (0..idx.len()).rev() {
            idx[k] += 1;
            if idx[k] < dims[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    Tensor {
        axes: want.to_vec(),
        data,
    }
}

/// The tensor `t` of the symbol `name` in the order in force.
pub fn shown_tensor(name: &str, t: &Tensor, sizes: &BTreeMap<String, usize>) -> Tensor {
    let want = shown_symbol_axes(name, &t.axes);
    reorder_tensor(t, &want, sizes)
}

/// Entries (already written as text) of an array with the given dimensions,
/// row-major, as nested brackets: one level per axis (`[[0, 1], [1, -1]]`).
pub fn nested(entries: &[String], dims: &[usize]) -> String {
    fn go(entries: &[String], dims: &[usize], out: &mut String) {
        out.push('[');
        match dims {
            [] | [_] => out.push_str(&entries.join(", ")),
            [_, rest @ ..] => {
                let step: usize = rest.iter().product::<usize>().max(1);
                for (k, chunk) in entries.chunks(step).enumerate() {
                    if k > 0 {
                        out.push_str(", ");
                    }
                    go(chunk, rest, out);
                }
            }
        }
        out.push(']');
    }
    let mut out = String::new();
    go(entries, dims, &mut out);
    out
}

/// A map keyed by axis (sizes, an index) as `a = v` items in the order in
/// force.
pub fn axis_items<V: std::fmt::Display>(m: &BTreeMap<String, V>) -> Vec<String> {
    let keys: Vec<String> = m.keys().cloned().collect();
    shown_axes(&keys)
        .iter()
        .map(|a| format!("{a} = {}", m[a]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn statement_order_is_first_occurrence() {
        let o = AxisOrder::for_text(["sum[j](x[i,j]) = sum[i](x[j,i]) + E[u[m] + b]", "y[k] > 0"]);
        assert_eq!(o.axes, s(&["j", "i", "m", "k"]));
        assert!(!o.symbols.contains_key("E"));
        assert_eq!(o.symbols["x"], s(&["i", "j"]));
        assert_eq!(o.symbols["y"], s(&["k"]));
        assert!(!o.symbols.contains_key("sum"));
    }

    #[test]
    fn declared_orders_apply_only_to_permutations() {
        let o = AxisOrder {
            axes: s(&["n", "d"]),
            symbols: BTreeMap::from([("x".to_string(), s(&["d", "n"]))]),
        };
        assert_eq!(o.symbol_axes("x", &s(&["d", "n"])), s(&["d", "n"]));
        assert_eq!(o.symbol_axes("y", &s(&["d", "n"])), s(&["n", "d"]));
        // x with other axes: the global order, unknown axes after.
        assert_eq!(o.symbol_axes("x", &s(&["d", "q"])), s(&["d", "q"]));
        assert_eq!(o.order_axes(&s(&["a", "d", "n"])), s(&["n", "d", "a"]));
    }

    #[test]
    fn guards_nest_and_restore() {
        assert!(current().is_none());
        {
            let _g = AxisOrder {
                axes: s(&["n", "d"]),
                ..AxisOrder::default()
            }
            .enter();
            assert_eq!(shown_axes(&s(&["d", "n"])), s(&["n", "d"]));
            {
                let _c = canonical();
                assert_eq!(shown_axes(&s(&["d", "n"])), s(&["d", "n"]));
            }
            assert_eq!(shown_axes(&s(&["d", "n"])), s(&["n", "d"]));
        }
        assert!(current().is_none());
    }

    #[test]
    fn nested_brackets_per_axis() {
        let e = s(&["0", "1", "2", "3", "4", "5"]);
        assert_eq!(nested(&e, &[6]), "[0, 1, 2, 3, 4, 5]");
        assert_eq!(nested(&e, &[2, 3]), "[[0, 1, 2], [3, 4, 5]]");
        assert_eq!(
            nested(&e, &[3, 2, 1]),
            "[[[0], [1]], [[2], [3]], [[4], [5]]]"
        );
    }
}
