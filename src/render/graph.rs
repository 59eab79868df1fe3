//! The computational graph of a model's forward pass, as a figure: one node
//! per input, parameter, constant and definition, and the loss ℓ; an edge
//! "B uses A" labelled with the local derivative ∂B/∂A (the derivation's
//! own chain-rule steps, [`crate::diff::DiffStep`]), each node with its
//! adjoint ∂ℓ/∂A. Every path from an input or parameter to the loss is
//! coloured by the first reduction it passes through (a definition whose
//! body contains `mean`, `sum` or `var`), or as direct when it passes
//! through none: for batch norm, direct, through μ and through σ².
//!
//! Layout: layered (Sugiyama), top to bottom. bnproof assigns the layers
//! itself (inputs first, each definition one below its deepest operand,
//! parameters and constants just above their first user) and splits every
//! edge into unit edges through a label vertex, sized to its label, and
//! dummy vertices; the `rust-sugiyama` crate orders the vertices within the
//! layers (crossing reduction) and assigns x coordinates (Brandes–Köpf), so
//! labels get room of their own and long edges bend around nodes.
//!
//! Written as SVG (self-contained: no script, font or link; a title and a
//! description) and as a LaTeX `picture` (kernel `\qbezier`, needing the
//! `color` and `graphicx` packages only). Nothing depends on what a name is
//! called: roles come from the definitions, glyphs from [`Notation`].

use super::latex;
use super::layout::{layout, Node, Op, Reducer};
use super::mathml::escape;
use super::notation::{Glyph, Notation};
use crate::diff::{Derivation, LOSS};
use crate::ir::{Expr, Symbol};
use crate::syntax::Model;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// What a node of the graph stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Input,
    Param,
    Const,
    Def,
    Loss,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Input => "input",
            Kind::Param => "param",
            Kind::Const => "const",
            Kind::Def => "definition",
            Kind::Loss => "loss",
        }
    }
}

/// A node: a name of the model (or the loss), its layer, and whether it is
/// a reduction.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphNode {
    pub name: String,
    pub kind: Kind,
    /// Layer, 0 at the top.
    pub rank: usize,
    /// A definition whose body reduces (contains `mean`, `sum` or `var`).
    pub reduces: bool,
}

/// An edge `from → to`: `to` uses `from`.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphEdge {
    pub from: usize,
    pub to: usize,
    /// ∂to/∂from, from the derivation (none for constants, which are not
    /// differentiated, and for definitions the loss does not depend on).
    pub local: Option<Expr>,
    /// Indices into [`Graph::classes`] of the paths through this edge.
    pub classes: Vec<usize>,
}

/// The graph: nodes in model order (inputs, parameters, constants,
/// definitions, the loss), edges, and the path classes: `None` for the
/// direct paths, `Some(node)` for the paths whose first reduction is that
/// node.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
    pub classes: Vec<Option<usize>>,
}

fn has_reduction(e: &Expr) -> bool {
    matches!(e, Expr::Reduce(..)) || e.children().into_iter().any(has_reduction)
}

/// The computational graph of a model and its derivation.
pub fn graph(model: &Model, d: &Derivation) -> Graph {
    let mut nodes: Vec<GraphNode> = Vec::new();
    let mut push = |name: &str, kind: Kind, reduces: bool| {
        nodes.push(GraphNode {
            name: name.to_string(),
            kind,
            rank: 0,
            reduces,
        })
    };
    for s in &model.inputs {
        push(&s.name, Kind::Input, false);
    }
    for s in &model.params {
        push(&s.name, Kind::Param, false);
    }
    for c in &model.consts {
        push(c, Kind::Const, false);
    }
    for (name, e) in &model.defs {
        push(name, Kind::Def, has_reduction(e));
    }
    push(LOSS, Kind::Loss, false);
    let index: BTreeMap<String, usize> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.kind != Kind::Loss)
        .map(|(i, n)| (n.name.clone(), i))
        .collect();
    let loss = nodes.len() - 1;

    // Local derivatives, summed where a definition uses a name twice.
    let mut locals: BTreeMap<(String, String), Expr> = BTreeMap::new();
    for s in &d.steps {
        let key = (s.from.clone(), s.to.clone());
        let v = match locals.remove(&key) {
            Some(prev) => Expr::add(prev, s.local.clone()),
            None => s.local.clone(),
        };
        locals.insert(key, v);
    }
    let mut edges: Vec<GraphEdge> = Vec::new();
    for (name, e) in &model.defs {
        let mut syms: BTreeSet<Symbol> = BTreeSet::new();
        e.symbols(&mut syms);
        let mut used: Vec<usize> = syms
            .iter()
            .filter_map(|s| index.get(&s.name).copied())
            .collect();
        used.sort_unstable();
        used.dedup();
        for u in used {
            edges.push(GraphEdge {
                from: u,
                to: index[name],
                local: locals.get(&(name.clone(), nodes[u].name.clone())).cloned(),
                classes: Vec::new(),
            });
        }
    }
    for y in &model.outputs {
        if let Some(&i) = index.get(y) {
            edges.push(GraphEdge {
                from: i,
                to: loss,
                local: locals.get(&(LOSS.to_string(), y.clone())).cloned(),
                classes: Vec::new(),
            });
        }
    }

    // Layers: inputs at the top, a definition one below its deepest input
    // or definition operand, the loss below every output, parameters and
    // constants just above their first user.
    let n = nodes.len();
    let mut rank = vec![0usize; n];
    let free = |k: Kind| matches!(k, Kind::Param | Kind::Const);
    for v in 0..n {
        if matches!(nodes[v].kind, Kind::Def | Kind::Loss) {
            rank[v] = 1 + edges
                .iter()
                .filter(|e| e.to == v && !free(nodes[e.from].kind))
                .map(|e| rank[e.from])
                .max()
                .unwrap_or(0);
        }
    }
    for v in 0..n {
        if free(nodes[v].kind) {
            rank[v] = edges
                .iter()
                .filter(|e| e.from == v)
                .map(|e| rank[e.to].saturating_sub(1))
                .min()
                .unwrap_or(0);
        }
    }
    for (node, r) in nodes.iter_mut().zip(rank) {
        node.rank = r;
    }

    // Path classes. `pre[u]`: the states of the paths from a source to `u`
    // (None: no reduction yet; Some(r): r was the first). `suff[v]`: the
    // classes a reduction-free path continuing at `v` ends in. Indices are
    // a topological order.
    let trans = |s: Option<usize>, v: usize| match s {
        None if nodes[v].reduces => Some(v),
        s => s,
    };
    let mut pre: Vec<BTreeSet<Option<usize>>> = vec![BTreeSet::new(); n];
    for v in 0..n {
        if matches!(nodes[v].kind, Kind::Input | Kind::Param) {
            pre[v].insert(None);
        }
        let incoming: Vec<Option<usize>> = edges
            .iter()
            .filter(|e| e.to == v)
            .flat_map(|e| pre[e.from].iter().map(move |&s| trans(s, v)))
            .collect();
        pre[v].extend(incoming);
    }
    let mut suff: Vec<BTreeSet<Option<usize>>> = vec![BTreeSet::new(); n];
    for v in (0..n).rev() {
        if v == loss {
            suff[v].insert(None);
        } else if nodes[v].reduces {
            if edges.iter().any(|e| e.from == v && !suff[e.to].is_empty()) {
                suff[v].insert(Some(v));
            }
        } else {
            let out: Vec<Option<usize>> = edges
                .iter()
                .filter(|e| e.from == v)
                .flat_map(|e| suff[e.to].iter().copied())
                .collect();
            suff[v].extend(out);
        }
    }
    let mut used_classes: BTreeSet<Option<usize>> = BTreeSet::new();
    let mut edge_classes: Vec<BTreeSet<Option<usize>>> = Vec::new();
    for e in &edges {
        let mut cs = BTreeSet::new();
        if !suff[e.to].is_empty() {
            for &s in &pre[e.from] {
                match trans(s, e.to) {
                    Some(r) => {
                        cs.insert(Some(r));
                    }
                    None => cs.extend(suff[e.to].iter().copied()),
                }
            }
        }
        used_classes.extend(cs.iter().copied());
        edge_classes.push(cs);
    }
    // Direct first, then the reductions in model order.
    let classes: Vec<Option<usize>> = used_classes.into_iter().collect();
    for (e, cs) in edges.iter_mut().zip(edge_classes) {
        e.classes = cs
            .iter()
            .map(|c| classes.iter().position(|k| k == c).unwrap_or(0))
            .collect();
    }
    Graph {
        nodes,
        edges,
        classes,
    }
}

// ---------------------------------------------------------------------------
// Text of labels: Unicode runs, some lowered or raised.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shift {
    Base,
    Sub,
    Sup,
}

/// A label as Unicode runs.
#[derive(Clone, Debug, Default, PartialEq)]
struct Label(Vec<(String, Shift)>);

impl Label {
    fn push(&mut self, s: &str, shift: Shift) {
        match self.0.last_mut() {
            Some((t, k)) if *k == shift => t.push_str(s),
            _ => self.0.push((s.to_string(), shift)),
        }
    }

    /// Width in ems (sub- and superscripts smaller).
    fn ems(&self) -> f64 {
        self.0
            .iter()
            .map(|(t, k)| {
                let chars = t.chars().filter(|c| !('\u{300}'..='\u{36f}').contains(c));
                let w = chars.count() as f64 * 0.58;
                if *k == Shift::Base {
                    w
                } else {
                    0.75 * w
                }
            })
            .sum()
    }

    /// Plain text (`_` and `^` before lowered and raised runs).
    fn plain(&self) -> String {
        self.0
            .iter()
            .map(|(t, k)| match k {
                Shift::Base => t.clone(),
                Shift::Sub => format!("_{t}"),
                Shift::Sup => format!("^{t}"),
            })
            .collect()
    }

    /// SVG tspans.
    fn svg(&self) -> String {
        let mut s = String::new();
        for (t, k) in &self.0 {
            match k {
                Shift::Base => s.push_str(&format!("<tspan>{}</tspan>", escape(t))),
                Shift::Sub => s.push_str(&format!(
                    "<tspan baseline-shift=\"sub\" font-size=\"75%\">{}</tspan>",
                    escape(t)
                )),
                Shift::Sup => s.push_str(&format!(
                    "<tspan baseline-shift=\"super\" font-size=\"75%\">{}</tspan>",
                    escape(t)
                )),
            }
        }
        s
    }
}

fn glyph_label(g: &Glyph, out: &mut Label, shift: Shift) {
    let low = |s: Shift| if s == Shift::Base { Shift::Sub } else { s };
    let high = |s: Shift| if s == Shift::Base { Shift::Sup } else { s };
    match g {
        Glyph::Name {
            base,
            hat,
            sub,
            sup,
        } => {
            out.push(&base.text, shift);
            if *hat {
                out.push("\u{302}", shift);
            }
            if !sub.is_empty() {
                out.push(&sub.join(","), low(shift));
            }
            if let Some(p) = sup {
                out.push(p, high(shift));
            }
        }
        Glyph::Adjoint(inner) => {
            out.push("∂ℓ/∂", shift);
            glyph_label(inner, out, shift);
        }
    }
}

/// A layout without axes (the figure's nodes are whole tensors).
fn strip_axes(n: &Node) -> Node {
    match n {
        Node::Ident(g, _) => Node::Ident(g.clone(), Vec::new()),
        Node::Row(v) => Node::Row(v.iter().map(strip_axes).collect()),
        Node::Paren(a) => Node::Paren(Box::new(strip_axes(a))),
        Node::Frac(a, b) => Node::Frac(Box::new(strip_axes(a)), Box::new(strip_axes(b))),
        Node::Sup(a, b) => Node::Sup(Box::new(strip_axes(a)), Box::new(strip_axes(b))),
        Node::Sqrt(a) => Node::Sqrt(Box::new(strip_axes(a))),
        Node::Abs(a) => Node::Abs(Box::new(strip_axes(a))),
        Node::Partial(a, b) => Node::Partial(Box::new(strip_axes(a)), Box::new(strip_axes(b))),
        other => other.clone(),
    }
}

fn atomic(n: &Node) -> bool {
    match n {
        Node::Row(v) => v.len() == 1 && atomic(&v[0]),
        Node::Frac(..) | Node::Op(_) => false,
        _ => true,
    }
}

fn node_label(n: &Node, out: &mut Label, shift: Shift) {
    let wrapped = |n: &Node, out: &mut Label| {
        if atomic(n) {
            node_label(n, out, shift);
        } else {
            out.push("(", shift);
            node_label(n, out, shift);
            out.push(")", shift);
        }
    };
    match n {
        Node::Ident(g, _) => glyph_label(g, out, shift),
        Node::Num(s) | Node::Text(s) => out.push(s, shift),
        Node::Op(op) => out.push(
            match op {
                Op::Plus => " + ",
                Op::Minus => " − ",
                Op::Dot => "·",
                Op::Juxt => "",
                Op::Slash => "/",
                Op::Comma => ", ",
                Op::Eq => " = ",
                Op::Gt => " > ",
                Op::Ge => " ≥ ",
                Op::Ne => " ≠ ",
                Op::Approx => " ≈ ",
            },
            shift,
        ),
        Node::Row(v) => {
            for (i, c) in v.iter().enumerate() {
                if i == 0 && *c == Node::Op(Op::Minus) {
                    out.push("−", shift);
                } else if v.len() > 1 && matches!(c, Node::Frac(..)) {
                    // `(1/m)(2(x − μ))`, not `1/m(2(x − μ))`.
                    out.push("(", shift);
                    node_label(c, out, shift);
                    out.push(")", shift);
                } else {
                    node_label(c, out, shift);
                }
            }
        }
        Node::Paren(a) => {
            out.push("(", shift);
            node_label(a, out, shift);
            out.push(")", shift);
        }
        Node::Frac(a, b) => {
            wrapped(a, out);
            out.push("/", shift);
            wrapped(b, out);
        }
        Node::Sup(b, e) => {
            wrapped(b, out);
            let mut inner = Label::default();
            node_label(e, &mut inner, Shift::Sup);
            for (t, _) in inner.0 {
                out.push(&t, Shift::Sup);
            }
        }
        Node::Func(f) => out.push(f.keyword(), shift),
        Node::Abs(a) => {
            out.push("|", shift);
            node_label(a, out, shift);
            out.push("|", shift);
        }
        Node::Sqrt(a) => {
            out.push("√", shift);
            if atomic(a) {
                node_label(a, out, shift);
            } else {
                out.push("(", shift);
                node_label(a, out, shift);
                out.push(")", shift);
            }
        }
        Node::Reduce(r, axes) => {
            out.push(
                match r {
                    Reducer::Mean => "mean",
                    Reducer::Var => "var",
                    Reducer::Sum => "Σ",
                },
                shift,
            );
            out.push(&axes.join(","), Shift::Sub);
        }
        Node::Partial(a, b) => {
            out.push("∂", shift);
            node_label(a, out, shift);
            out.push("/∂", shift);
            node_label(b, out, shift);
        }
        Node::Loss => out.push("ℓ", shift),
        Node::Open => out.push("(", shift),
        Node::Close => out.push(")", shift),
    }
}

// ---------------------------------------------------------------------------
// The drawing.

/// Labels longer than this (in ems) are shown as a numbered tag, and
/// written out in full below the figure.
const LABEL_MAX_EMS: f64 = 10.0;
const NODE_FONT: f64 = 14.0;
const LABEL_FONT: f64 = 12.0;
const LEGEND_H: f64 = 30.0;
const MARGIN: f64 = 8.0;
/// Space between the strokes of the path classes sharing an edge.
const STROKE_GAP: f64 = 3.0;

/// Okabe–Ito colours (distinguishable with colour blindness); the first is
/// the direct paths'.
const PALETTE: &[(&str, [u8; 3])] = &[
    ("#0072b2", [0, 114, 178]),
    ("#d55e00", [213, 94, 0]),
    ("#009e73", [0, 158, 115]),
    ("#cc79a7", [204, 121, 167]),
    ("#e69f00", [230, 159, 0]),
    ("#56b4e9", [86, 180, 233]),
    ("#882255", [136, 34, 85]),
    ("#117733", [17, 119, 51]),
];

/// A box by its centre and size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    /// Whether two boxes overlap (touching edges do not).
    pub fn overlaps(&self, o: &Rect) -> bool {
        (self.x - o.x).abs() * 2.0 < self.w + o.w - 1e-6
            && (self.y - o.y).abs() * 2.0 < self.h + o.h - 1e-6
    }
}

/// An edge as drawn: the points its curve passes through (top to bottom)
/// and its label's box.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeDrawing {
    pub points: Vec<(f64, f64)>,
    pub label: Option<Rect>,
    /// The tag standing for a long label (1-based), if it has one.
    pub tag: Option<usize>,
}

/// The graph laid out.
#[derive(Clone, Debug)]
pub struct Figure {
    pub graph: Graph,
    pub nodes: Vec<Rect>,
    pub edges: Vec<EdgeDrawing>,
    pub width: f64,
    pub height: f64,
    node_text: Vec<(Label, Label)>,
    node_latex: Vec<(String, String)>,
    edge_text: Vec<Option<Label>>,
    edge_full: Vec<Option<(Node, Label)>>,
    class_text: Vec<Label>,
    class_latex: Vec<String>,
    name_nodes: Vec<Node>,
    title: String,
}

/// Lay out the graph of a model's derivation.
pub fn figure(model_name: &str, model: &Model, d: &Derivation) -> Figure {
    let g = graph(model, d);
    let nt = Notation::for_model(model);
    let name_node = |name: &str| {
        if name == LOSS {
            Node::Loss
        } else {
            Node::Ident(nt.glyph(name), Vec::new())
        }
    };
    let mut node_text = Vec::new();
    let mut node_latex = Vec::new();
    let mut sizes = Vec::new();
    for v in &g.nodes {
        let mut top = Label::default();
        node_label(&name_node(&v.name), &mut top, Shift::Base);
        let mut bottom = Label::default();
        let bottom_latex = match v.kind {
            Kind::Const => {
                bottom.push("constant", Shift::Base);
                r"\text{constant}".to_string()
            }
            Kind::Loss => {
                bottom.push("∂ℓ/∂ℓ = 1", Shift::Base);
                latex::math(&Node::rel(
                    Node::Partial(Box::new(Node::Loss), Box::new(Node::Loss)),
                    Op::Eq,
                    Node::Num("1".into()),
                ))
            }
            _ => {
                let p = Node::Partial(Box::new(Node::Loss), Box::new(name_node(&v.name)));
                node_label(&p, &mut bottom, Shift::Base);
                latex::math(&p)
            }
        };
        let w = top.ems().max(bottom.ems()) * NODE_FONT + 18.0;
        sizes.push((w.max(44.0), 2.0 * NODE_FONT + 16.0));
        node_latex.push((latex::math(&name_node(&v.name)), bottom_latex));
        node_text.push((top, bottom));
    }
    let mut edge_text = Vec::new();
    let mut edge_full = Vec::new();
    let mut tags = 0usize;
    let mut tag_of = Vec::new();
    for e in &g.edges {
        match &e.local {
            Some(l) => {
                let node = strip_axes(&layout(l, &nt));
                let mut full = Label::default();
                node_label(&node, &mut full, Shift::Base);
                if full.ems() > LABEL_MAX_EMS {
                    tags += 1;
                    let mut t = Label::default();
                    t.push(&format!("[{tags}]"), Shift::Base);
                    edge_text.push(Some(t));
                    tag_of.push(Some(tags));
                } else {
                    edge_text.push(Some(full.clone()));
                    tag_of.push(None);
                }
                edge_full.push(Some((node, full)));
            }
            None => {
                edge_text.push(None);
                edge_full.push(None);
                tag_of.push(None);
            }
        }
    }
    let class_text: Vec<Label> = g
        .classes
        .iter()
        .map(|c| {
            let mut l = Label::default();
            match c {
                None => l.push("direct (no reduction)", Shift::Base),
                Some(r) => {
                    l.push("through ", Shift::Base);
                    node_label(&name_node(&g.nodes[*r].name), &mut l, Shift::Base);
                }
            }
            l
        })
        .collect();
    let class_latex: Vec<String> = g
        .classes
        .iter()
        .map(|c| match c {
            None => r"direct (no reduction)".to_string(),
            Some(r) => format!("through ${}$", latex::math(&name_node(&g.nodes[*r].name))),
        })
        .collect();

    // Vertices for the layout crate: the nodes, then per edge a label
    // vertex one layer below its source and dummies down to its target.
    let mut vsize: Vec<(f64, f64)> = sizes.clone();
    let mut vlayer: Vec<usize> = g.nodes.iter().map(|v| 2 * v.rank).collect();
    let mut unit: Vec<(u32, u32)> = Vec::new();
    let mut chains: Vec<Vec<usize>> = Vec::new();
    for (e, text) in g.edges.iter().zip(&edge_text) {
        let (a, b) = (2 * g.nodes[e.from].rank, 2 * g.nodes[e.to].rank);
        let mut chain = Vec::new();
        let mut prev = e.from;
        for layer in a + 1..b {
            let size = match (layer == a + 1, text) {
                (true, Some(t)) => (t.ems() * LABEL_FONT + 8.0, LABEL_FONT + 8.0),
                _ => (2.0 * STROKE_GAP * e.classes.len().max(1) as f64, 2.0),
            };
            vsize.push(size);
            vlayer.push(layer);
            let id = vsize.len() - 1;
            unit.push((prev as u32, id as u32));
            chain.push(id);
            prev = id;
        }
        unit.push((prev as u32, e.to as u32));
        chains.push(chain);
    }
    let vertices: Vec<(u32, (f64, f64))> = vsize
        .iter()
        .enumerate()
        .map(|(i, s)| (i as u32, *s))
        .collect();
    let config = rust_sugiyama::configure::Config {
        vertex_spacing: 16.0,
        ..Default::default()
    };
    let mut x = vec![0.0f64; vsize.len()];
    let mut placed = vec![false; vsize.len()];
    let mut offset = 0.0;
    for (coords, _, _) in rust_sugiyama::from_vertices_and_edges(&vertices, &unit, &config) {
        let lo = coords
            .iter()
            .map(|(i, (cx, _))| cx - vsize[*i].0 / 2.0)
            .fold(f64::INFINITY, f64::min);
        let mut hi = offset;
        for (i, (cx, _)) in &coords {
            x[*i] = cx - lo + offset;
            placed[*i] = true;
            hi = hi.max(x[*i] + vsize[*i].0 / 2.0);
        }
        offset = hi + 24.0;
    }
    // Vertices of no edge (an unused input) come after the components.
    for i in 0..vsize.len() {
        if !placed[i] {
            x[i] = offset + vsize[i].0 / 2.0;
            offset += vsize[i].0 + 24.0;
        }
    }
    let layers = vlayer.iter().copied().max().unwrap_or(0) + 1;
    let mut height = vec![0.0f64; layers];
    for (l, s) in vlayer.iter().zip(&vsize) {
        height[*l] = height[*l].max(s.1);
    }
    let mut centre = vec![0.0; layers];
    let mut y = MARGIN + LEGEND_H;
    for l in 0..layers {
        let gap = if l % 2 == 0 { 10.0 } else { 8.0 };
        centre[l] = y + height[l] / 2.0;
        y += height[l] + gap;
    }
    let total_h = y + MARGIN;
    let rect = |i: usize| Rect {
        x: x[i] + MARGIN,
        y: centre[vlayer[i]],
        w: vsize[i].0,
        h: vsize[i].1,
    };
    let nodes: Vec<Rect> = (0..g.nodes.len()).map(rect).collect();
    let g_names: Vec<Node> = g.nodes.iter().map(|v| name_node(&v.name)).collect();
    let edges: Vec<EdgeDrawing> = g
        .edges
        .iter()
        .zip(&chains)
        .enumerate()
        .map(|(k, (e, chain))| {
            let (s, t) = (nodes[e.from], nodes[e.to]);
            let mut points = vec![(s.x, s.y + s.h / 2.0)];
            points.extend(chain.iter().map(|&i| (rect(i).x, rect(i).y)));
            points.push((t.x, t.y - t.h / 2.0));
            EdgeDrawing {
                points,
                label: edge_text[k]
                    .as_ref()
                    .and_then(|_| chain.first().map(|&i| rect(i))),
                tag: tag_of[k],
            }
        })
        .collect();
    let legend_w: f64 = class_text.iter().map(|l| l.ems() * LABEL_FONT + 40.0).sum();
    let width = (offset - 24.0 + 2.0 * MARGIN).max(legend_w + 2.0 * MARGIN);
    Figure {
        graph: g,
        nodes,
        edges,
        width: width.ceil(),
        height: total_h.ceil(),
        node_text,
        node_latex,
        edge_text,
        edge_full,
        class_text,
        class_latex,
        name_nodes: g_names,
        title: model_name.to_string(),
    }
}

/// The offsets of `k` parallel strokes.
fn offsets(k: usize) -> Vec<f64> {
    (0..k)
        .map(|i| (i as f64 - (k as f64 - 1.0) / 2.0) * STROKE_GAP)
        .collect()
}

/// The curve through `points` as quadratic pieces: each step leaves its
/// point vertically and arrives vertically, turning half-way down.
fn pieces(points: &[(f64, f64)], dx: f64) -> Vec<[(f64, f64); 3]> {
    let mut out = Vec::new();
    for w in points.windows(2) {
        let (a, b) = ((w[0].0 + dx, w[0].1), (w[1].0 + dx, w[1].1));
        let m = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
        out.push([a, (a.0, m.1), m]);
        out.push([m, (b.0, m.1), b]);
    }
    out
}

fn f(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

fn id_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

impl Figure {
    fn colour(&self, class: usize) -> &'static str {
        PALETTE[class % PALETTE.len()].0
    }

    /// The labels shown as tags: `(tag, ∂to/∂from = full)`.
    pub fn tagged(&self) -> Vec<(usize, Node)> {
        let mut out = Vec::new();
        for ((d, full), e) in self
            .edges
            .iter()
            .zip(&self.edge_full)
            .zip(&self.graph.edges)
        {
            if let (Some(t), Some((node, _))) = (d.tag, full) {
                let lhs = Node::Partial(
                    Box::new(self.name_nodes[e.to].clone()),
                    Box::new(self.name_nodes[e.from].clone()),
                );
                out.push((t, Node::rel(lhs, Op::Eq, node.clone())));
            }
        }
        out
    }

    /// The figure as a self-contained SVG element.
    pub fn svg(&self) -> String {
        let mut s = String::new();
        let id = format!("graph-{}", id_safe(&self.title));
        let _ = writeln!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"graph\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" font-family=\"'DejaVu Serif',serif\">",
            w = f(self.width),
            h = f(self.height)
        );
        let _ = writeln!(
            s,
            "<title id=\"{id}-title\">Computational graph of the forward pass of {}</title>",
            escape(&self.title)
        );
        let mut desc = String::from("Nodes, top to bottom, each with its adjoint: ");
        let nodes: Vec<String> = self
            .node_text
            .iter()
            .map(|(a, b)| format!("{} ({})", a.plain(), b.plain()))
            .collect();
        desc.push_str(&nodes.join(", "));
        desc.push_str(". Edges, each with its local derivative and the paths through it: ");
        let edges: Vec<String> = self
            .graph
            .edges
            .iter()
            .zip(&self.edge_full)
            .map(|(e, full)| {
                let mut t = format!(
                    "{} to {}",
                    self.node_text[e.from].0.plain(),
                    self.node_text[e.to].0.plain()
                );
                if let Some((_, l)) = full {
                    t.push_str(&format!(", local derivative {}", l.plain()));
                }
                let cs: Vec<String> = e
                    .classes
                    .iter()
                    .map(|&c| self.class_text[c].plain())
                    .collect();
                if !cs.is_empty() {
                    t.push_str(&format!(" ({})", cs.join("; ")));
                }
                t
            })
            .collect();
        desc.push_str(&edges.join("; "));
        desc.push('.');
        let _ = writeln!(s, "<desc id=\"{id}-desc\">{}</desc>", escape(&desc));
        // Legend.
        let _ = writeln!(s, "<g class=\"legend\" font-size=\"{}\">", f(LABEL_FONT));
        let mut lx = MARGIN;
        for (k, l) in self.class_text.iter().enumerate() {
            let ly = MARGIN + 10.0;
            let _ = writeln!(
                s,
                "<g class=\"legend-entry\" data-class=\"{k}\"><line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"3\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
                f(lx),
                f(ly),
                f(lx + 24.0),
                f(ly),
                self.colour(k),
                f(lx + 30.0),
                f(ly + 4.0),
                l.svg()
            );
            lx += l.ems() * LABEL_FONT + 40.0;
        }
        let _ = writeln!(s, "</g>");
        // Edges.
        let _ = writeln!(s, "<g class=\"edges\" fill=\"none\">");
        for (e, d) in self.graph.edges.iter().zip(&self.edges) {
            let _ = write!(
                s,
                "<g class=\"edge\" data-from=\"{}\" data-to=\"{}\">",
                escape(&self.graph.nodes[e.from].name),
                escape(&self.graph.nodes[e.to].name)
            );
            let strokes: Vec<(f64, Option<usize>)> = if e.classes.is_empty() {
                vec![(0.0, None)]
            } else {
                offsets(e.classes.len())
                    .into_iter()
                    .zip(e.classes.iter().map(|&c| Some(c)))
                    .collect()
            };
            for (dx, c) in strokes {
                let mut path = format!("M{} {}", f(d.points[0].0 + dx), f(d.points[0].1));
                for [_, c1, p] in pieces(&d.points, dx) {
                    path.push_str(&format!(" Q{} {} {} {}", f(c1.0), f(c1.1), f(p.0), f(p.1)));
                }
                let style = match c {
                    Some(c) => format!(
                        "class=\"path-class\" data-class=\"{c}\" stroke=\"{}\" stroke-width=\"2\"",
                        self.colour(c)
                    ),
                    None => {
                        "stroke=\"#999\" stroke-width=\"1.2\" stroke-dasharray=\"4 3\"".to_string()
                    }
                };
                let _ = write!(s, "<path d=\"{path}\" {style}/>");
            }
            let (ex, ey) = *d.points.last().unwrap_or(&(0.0, 0.0));
            let _ = writeln!(
                s,
                "<path d=\"M{} {} L{} {} L{} {} Z\" fill=\"#333\"/></g>",
                f(ex - 4.0),
                f(ey - 7.0),
                f(ex + 4.0),
                f(ey - 7.0),
                f(ex),
                f(ey)
            );
        }
        let _ = writeln!(s, "</g>");
        // Edge labels.
        let _ = writeln!(
            s,
            "<g class=\"edge-labels\" font-size=\"{}\" text-anchor=\"middle\">",
            f(LABEL_FONT)
        );
        for ((e, d), (text, full)) in self
            .graph
            .edges
            .iter()
            .zip(&self.edges)
            .zip(self.edge_text.iter().zip(&self.edge_full))
        {
            let (Some(r), Some(text)) = (d.label, text) else {
                continue;
            };
            let full = full.as_ref().map(|(_, l)| l.plain()).unwrap_or_default();
            let _ = writeln!(
                s,
                "<g class=\"edge-label\"><title>∂{}/∂{} = {}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\" fill=\"#fff\" stroke=\"#bbb\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
                escape(&self.node_text[e.to].0.plain()),
                escape(&self.node_text[e.from].0.plain()),
                escape(&full),
                f(r.x - r.w / 2.0),
                f(r.y - r.h / 2.0),
                f(r.w),
                f(r.h),
                f(r.x),
                f(r.y + LABEL_FONT * 0.35),
                text.svg()
            );
        }
        let _ = writeln!(s, "</g>");
        // Nodes.
        let _ = writeln!(
            s,
            "<g class=\"nodes\" font-size=\"{}\" text-anchor=\"middle\">",
            f(NODE_FONT)
        );
        for ((v, r), (top, bottom)) in self
            .graph
            .nodes
            .iter()
            .zip(&self.nodes)
            .zip(&self.node_text)
        {
            let (fill, stroke) = match v.kind {
                Kind::Const => ("#f3f3f3", "#999"),
                Kind::Loss => ("#fff8e1", "#333"),
                Kind::Input | Kind::Param => ("#eef5fb", "#333"),
                Kind::Def if v.reduces => ("#fdf0e7", "#333"),
                Kind::Def => ("#fff", "#333"),
            };
            let _ = writeln!(
                s,
                "<g class=\"node\" data-name=\"{}\" data-kind=\"{}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"5\" fill=\"{fill}\" stroke=\"{stroke}\"/><text x=\"{}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"#444\">{}</text></g>",
                escape(&v.name),
                v.kind.as_str(),
                f(r.x - r.w / 2.0),
                f(r.y - r.h / 2.0),
                f(r.w),
                f(r.h),
                f(r.x),
                f(r.y - 3.0),
                top.svg(),
                f(r.x),
                f(r.y + NODE_FONT * 0.95),
                f(NODE_FONT * 0.85),
                bottom.svg()
            );
        }
        let _ = writeln!(s, "</g>");
        s.push_str("</svg>");
        s
    }

    /// The figure as a LaTeX `picture` (pure ASCII; needs the `color` and
    /// `graphicx` packages), scaled to fit a page.
    pub fn latex(&self) -> String {
        let mut s = String::new();
        let scale = (345.0 / self.width).min(600.0 / self.height).min(1.0);
        let y = |v: f64| self.height - v;
        let _ = writeln!(s, "\\begin{{center}}");
        for (k, (_, [r, g, b])) in PALETTE.iter().enumerate() {
            let _ = writeln!(
                s,
                "\\definecolor{{bnpgraph{}}}{{RGB}}{{{r},{g},{b}}}",
                (b'a' + k as u8) as char
            );
        }
        let _ = writeln!(s, "\\definecolor{{bnpgraphgrey}}{{RGB}}{{153,153,153}}");
        let _ = writeln!(s, "\\scalebox{{{:.3}}}{{%", scale);
        let _ = writeln!(s, "\\setlength{{\\unitlength}}{{1pt}}%");
        let _ = writeln!(
            s,
            "\\begin{{picture}}({},{})",
            f(self.width),
            f(self.height)
        );
        let colour = |c: usize| format!("bnpgraph{}", (b'a' + (c % PALETTE.len()) as u8) as char);
        let mut lx = MARGIN;
        for (k, l) in self.class_latex.iter().enumerate() {
            let ly = y(MARGIN + 10.0);
            let _ = writeln!(
                s,
                "\\put({},{}){{\\color{{{}}}\\linethickness{{2pt}}\\line(1,0){{24}}}}\\put({},{}){{\\makebox(0,0)[l]{{\\small {}}}}}",
                f(lx), f(ly), colour(k), f(lx + 30.0), f(ly), l
            );
            lx += self.class_text[k].ems() * LABEL_FONT + 40.0;
        }
        for (e, d) in self.graph.edges.iter().zip(&self.edges) {
            let strokes: Vec<(f64, Option<usize>)> = if e.classes.is_empty() {
                vec![(0.0, None)]
            } else {
                offsets(e.classes.len())
                    .into_iter()
                    .zip(e.classes.iter().map(|&c| Some(c)))
                    .collect()
            };
            for (dx, c) in strokes {
                let col = c.map(colour).unwrap_or_else(|| "bnpgraphgrey".into());
                let _ = write!(
                    s,
                    "{{\\color{{{col}}}{}",
                    if c.is_some() {
                        "\\linethickness{1.5pt}"
                    } else {
                        "\\thinlines"
                    }
                );
                for [a, m, b] in pieces(&d.points, dx) {
                    let _ = write!(
                        s,
                        "\\qbezier({},{})({},{})({},{})",
                        f(a.0),
                        f(y(a.1)),
                        f(m.0),
                        f(y(m.1)),
                        f(b.0),
                        f(y(b.1))
                    );
                }
                let _ = writeln!(s, "}}");
            }
            let (ex, ey) = *d.points.last().unwrap_or(&(0.0, 0.0));
            let _ = writeln!(
                s,
                "\\put({},{}){{\\vector(0,-1){{6}}}}",
                f(ex),
                f(y(ey) + 6.0)
            );
        }
        for ((d, text), full) in self.edges.iter().zip(&self.edge_text).zip(&self.edge_full) {
            let (Some(r), Some(_), Some((node, _))) = (d.label, text, full) else {
                continue;
            };
            let body = match d.tag {
                Some(t) => format!("[{t}]"),
                None => format!("${}$", latex::math(node)),
            };
            let _ = writeln!(
                s,
                "\\put({},{}){{\\makebox(0,0){{\\fcolorbox{{bnpgraphgrey}}{{white}}{{\\scriptsize {body}}}}}}}",
                f(r.x), f(y(r.y))
            );
        }
        for (r, (top, bottom)) in self.nodes.iter().zip(&self.node_latex) {
            let _ = writeln!(
                s,
                "\\put({},{}){{\\framebox({},{}){{\\shortstack{{$\\strut {top}$\\\\\\footnotesize$\\strut {bottom}$}}}}}}",
                f(r.x - r.w / 2.0), f(y(r.y + r.h / 2.0)), f(r.w), f(r.h)
            );
        }
        let _ = writeln!(s, "\\end{{picture}}}}");
        let _ = writeln!(s, "\\end{{center}}\n");
        s
    }
}
