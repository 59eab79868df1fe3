//! The computational-graph figure (`render::graph`): its nodes and edges,
//! the colours of the path classes, independence from names, legibility of
//! a stacked model, and well-formed SVG and LaTeX on every model page.

use crate::bnproof;
use bnproof::render::graph::{self, Kind};
use bnproof::syntax::{parse_model, Model};

fn load(src: &str) -> Model {
    parse_model(src).unwrap_or_else(|e| panic!("{}", e.render("test.bn", src)))
}

fn builtin(name: &str) -> Model {
    bnproof::models::load(name).unwrap().model.clone()
}

fn figure(name: &str, m: &Model) -> graph::Figure {
    let d = bnproof::diff::derive(m).unwrap();
    graph::figure(name, m, &d)
}

/// Well-formed XML, checked simply: tags nest and close, attributes are
/// quoted, `&` starts an entity, no stray `<`.
fn assert_well_formed(xml: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(['<', '&']) {
        assert!(
            !rest[..i].contains('>'),
            "stray > before {}",
            &rest[i..][..40.min(rest.len() - i)]
        );
        rest = &rest[i..];
        if rest.starts_with('&') {
            let end = rest.find(';').expect("unterminated entity");
            let ent = &rest[1..end];
            assert!(
                ["amp", "lt", "gt", "quot", "apos"].contains(&ent) || ent.starts_with('#'),
                "unknown entity &{ent};"
            );
            rest = &rest[end + 1..];
            continue;
        }
        let end = rest.find('>').expect("unterminated tag");
        let tag = &rest[1..end];
        assert!(!tag.contains('<'), "< inside a tag: {tag}");
        assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap_or("").to_string();
            assert!(!name.is_empty(), "empty tag");
            stack.push(name);
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
}

/// The `<svg class="graph">` element of an HTML page.
fn graph_svg(html: &str) -> &str {
    let start = html
        .find("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"graph\"")
        .expect("no graph figure");
    let end = start + html[start..].find("</svg>").expect("unclosed svg") + "</svg>".len();
    &html[start..end]
}

/// The stroke colours of the edge `from → to` in an SVG.
fn stroke_colours(svg: &str, from: &str, to: &str) -> Vec<String> {
    let key = format!("<g class=\"edge\" data-from=\"{from}\" data-to=\"{to}\">");
    let start = svg
        .find(&key)
        .unwrap_or_else(|| panic!("no edge {from} → {to}"));
    let body = &svg[start..start + svg[start..].find("</g>").unwrap()];
    body.split("class=\"path-class\"")
        .skip(1)
        .map(|p| {
            let s = p.find("stroke=\"").unwrap() + 8;
            p[s..s + p[s..].find('"').unwrap()].to_string()
        })
        .collect()
}

#[test]
fn batchnorm_figure_has_the_forward_pass_and_is_well_formed_svg() {
    let o = bnproof(&["derive", "batchnorm", "--format", "html"]);
    let html = String::from_utf8(o.stdout).unwrap();
    let svg = graph_svg(&html);
    assert_well_formed(svg);
    assert!(
        svg.contains("<title id=") && svg.contains("<desc id="),
        "accessible name and description"
    );
    assert!(
        !svg.contains("<script") && !svg.contains("href"),
        "self-contained"
    );
    for (name, kind, shown) in [
        ("x", "input", "x"),
        ("mu", "definition", "μ"),
        ("var", "definition", "σ"),
        ("xhat", "definition", "x\u{302}"),
        ("y", "definition", "y"),
    ] {
        let key = format!("<g class=\"node\" data-name=\"{name}\" data-kind=\"{kind}\">");
        let at = svg.find(&key).unwrap_or_else(|| panic!("no node {name}"));
        let node = &svg[at..at + svg[at..].find("</g>").unwrap()];
        assert!(node.contains(shown), "node {name} shows {shown}: {node}");
        assert!(node.contains("∂ℓ/∂"), "node {name} shows its adjoint");
    }
    // Edges carry the local derivatives the chain rule uses: ∂μ/∂x = 1/m.
    assert!(svg.contains("<title>∂μ_B/∂x = 1/m</title>"), "{svg}");
}

#[test]
fn the_three_paths_of_batch_norm_get_three_colours() {
    let m = builtin("batchnorm");
    let f = figure("batchnorm", &m);
    let g = &f.graph;
    assert_eq!(g.classes.len(), 3, "direct, through μ, through σ²");
    let idx = |n: &str| g.nodes.iter().position(|v| v.name == n).unwrap();
    let classes = |a: &str, b: &str| {
        g.edges
            .iter()
            .find(|e| e.from == idx(a) && e.to == idx(b))
            .unwrap()
            .classes
            .clone()
    };
    let (direct, via_mu, via_var) = (
        classes("x", "xhat"),
        classes("x", "mu"),
        classes("x", "var"),
    );
    assert_eq!(direct.len(), 1);
    assert_eq!(via_mu.len(), 1);
    assert_eq!(via_var.len(), 1);
    assert_eq!(g.classes[direct[0]], None);
    assert_eq!(g.classes[via_mu[0]], Some(idx("mu")));
    assert_eq!(g.classes[via_var[0]], Some(idx("var")));
    // μ → σ² is on a path through μ; σ² → x̂ and x̂ → y are on several.
    assert_eq!(classes("mu", "var"), via_mu);
    assert_eq!(classes("xhat", "y").len(), 3);
    assert!(
        classes("eps", "xhat").is_empty(),
        "constants are not differentiated"
    );
    let svg = f.svg();
    let colours: Vec<Vec<String>> = [("x", "xhat"), ("x", "mu"), ("x", "var")]
        .iter()
        .map(|(a, b)| stroke_colours(&svg, a, b))
        .collect();
    for c in &colours {
        assert_eq!(c.len(), 1);
    }
    assert_ne!(colours[0], colours[1]);
    assert_ne!(colours[0], colours[2]);
    assert_ne!(colours[1], colours[2]);
    assert_eq!(stroke_colours(&svg, "xhat", "y").len(), 3);
    assert_eq!(svg.matches("class=\"legend-entry\"").count(), 3);
}

const RENAMED: &str = "\
axis n
input a[n]
param g, h
const e > 0
p = mean[n](a)
q = mean[n]((a - p)^2)
r = (a - p) / sqrt(q + e)
z = g * r + h
output z
";

#[test]
fn a_renamed_model_gets_the_same_figure() {
    let f1 = figure("batchnorm", &builtin("batchnorm"));
    let f2 = figure("renamed", &load(RENAMED));
    let (g1, g2) = (&f1.graph, &f2.graph);
    let shape = |g: &graph::Graph| {
        (
            g.nodes
                .iter()
                .map(|v| (v.kind, v.rank, v.reduces))
                .collect::<Vec<_>>(),
            g.edges
                .iter()
                .map(|e| (e.from, e.to, e.local.is_some(), e.classes.clone()))
                .collect::<Vec<_>>(),
            g.classes.clone(),
        )
    };
    assert_eq!(shape(g1), shape(g2));
    assert_eq!(f1.edges.len(), f2.edges.len());
    for (a, b) in f1.edges.iter().zip(&f2.edges) {
        assert_eq!(a.points.len(), b.points.len(), "same bends");
        assert_eq!(a.tag, b.tag, "same tagged labels");
    }
    // Roles come from the definitions: p is drawn as μ, q as σ².
    let svg = f2.svg();
    assert!(svg.contains("data-name=\"p\" data-kind=\"definition\"><rect"));
    assert!(svg.contains("μ") && svg.contains("σ"));
}

fn stacked(k: usize) -> String {
    let params: Vec<String> = (1..=k).map(|i| format!("g{i}, b{i}")).collect();
    let mut s = format!(
        "axis n\ninput x[n]\nparam {}\nconst eps > 0\n",
        params.join(", ")
    );
    let mut prev = "x".to_string();
    for i in 1..=k {
        s += &format!("mu{i} = mean[n]({prev})\nvar{i} = mean[n](({prev} - mu{i})^2)\n");
        s += &format!(
            "xhat{i} = ({prev} - mu{i}) / sqrt(var{i} + eps)\ny{i} = g{i} * xhat{i} + b{i}\n"
        );
        prev = format!("y{i}");
    }
    s + &format!("output {prev}\n")
}

/// No two boxes (nodes, edge labels) overlap, and all lie inside.
fn assert_no_overlaps(f: &graph::Figure) {
    let boxes: Vec<graph::Rect> = f
        .nodes
        .iter()
        .copied()
        .chain(f.edges.iter().filter_map(|e| e.label))
        .collect();
    assert_eq!(
        boxes.len(),
        f.graph.nodes.len() + f.graph.edges.iter().filter(|e| e.local.is_some()).count()
    );
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
        }
        assert!(
            a.x - a.w / 2.0 >= 0.0 && a.x + a.w / 2.0 <= f.width,
            "inside the figure"
        );
        assert!(a.y + a.h / 2.0 <= f.height);
    }
}

#[test]
fn a_stacked_model_stays_legible() {
    let m = load(&stacked(3));
    let f = figure("stacked", &m);
    // One class per reduction, and the direct one.
    assert_eq!(f.graph.classes.len(), 7);
    assert_no_overlaps(&f);
    // Edges run downwards, from the bottom of one node to the top of another.
    for (e, d) in f.graph.edges.iter().zip(&f.edges) {
        assert!(d.points.windows(2).all(|w| w[0].1 < w[1].1));
        let (s, t) = (f.nodes[e.from], f.nodes[e.to]);
        assert_eq!(d.points[0], (s.x, s.y + s.h / 2.0));
        assert_eq!(*d.points.last().unwrap(), (t.x, t.y - t.h / 2.0));
    }
    // Nine layers of nodes per layer of the model would not fit a page;
    // the figure stays a column.
    assert!(f.width < 1000.0, "width {}", f.width);
    assert_well_formed(&f.svg());
}

#[test]
fn every_model_has_a_figure_in_html_and_latex() {
    for name in bnproof::models::builtin_names() {
        let m = builtin(name);
        let f = figure(name, &m);
        let svg = f.svg();
        assert_well_formed(&svg);
        assert_no_overlaps(&f);
        for (d, _) in &m.defs {
            assert!(
                svg.contains(&format!("data-name=\"{d}\"")),
                "{name}: node {d}"
            );
        }
        assert_eq!(
            f.graph
                .nodes
                .iter()
                .filter(|v| v.kind == Kind::Loss)
                .count(),
            1
        );
        assert!(
            !f.graph.classes.is_empty(),
            "{name}: some path reaches the loss"
        );
        let tex = f.latex();
        assert!(tex.is_ascii(), "{name}: LaTeX is ASCII");
        assert!(tex.contains("\\begin{picture}") && tex.contains("\\end{picture}"));
        assert_eq!(
            tex.matches('{').count(),
            tex.matches('}').count(),
            "{name}: braces"
        );
    }
}
