//! How names are shown in mathematical output: ASCII Greek names as Greek
//! letters, `…hat` names with a hat, and, for a model, the paper's notation
//! for the definitions whose *role* is the batch mean, the batch variance,
//! or an upstream gradient (μ_B, σ²_B, ∂ℓ/∂y).
//!
//! Roles are read from the definitions themselves, never from their names
//! alone: `mu = mean[n](x)` is a mean of an input, so it is shown as μ (with
//! the subscript B when the mean runs over the batch axis `n`), whatever it
//! is called.

use crate::ir::{Expr, RedOp, Symbol};
use crate::syntax::Model;
use std::collections::BTreeMap;

/// The batch axis of the built-in models (Ioffe & Szegedy's mini-batch B).
const BATCH_AXIS: &str = "n";

/// One letter or word as LaTeX and as Unicode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Letter {
    /// LaTeX source (`\gamma`, `x`, `\mathit{dy}`).
    pub latex: String,
    /// Unicode text (`γ`, `x`, `dy`).
    pub text: String,
}

/// How a name is drawn: a letter with optional hat, subscripts and
/// superscript, or the partial derivative of the loss with respect to one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Glyph {
    Name {
        base: Letter,
        hat: bool,
        /// Fixed subscripts (`B`) before the symbol's axes.
        sub: Vec<String>,
        sup: Option<String>,
    },
    /// `∂ℓ/∂(inner)`: an upstream gradient or an adjoint named `d<name>`.
    Adjoint(Box<Glyph>),
}

/// Names → glyphs for one model (or no model: Greek letters and hats only).
#[derive(Clone, Debug, Default)]
pub struct Notation {
    roles: BTreeMap<String, Glyph>,
}

impl Notation {
    /// The plain notation: Greek names and hats, no roles.
    pub fn plain() -> Notation {
        Notation::default()
    }

    /// The notation of a model: roles of its definitions, upstream gradients
    /// `d<output>` and adjoint and gradient names `d<name>` as `∂ℓ/∂…`.
    pub fn for_model(model: &Model) -> Notation {
        let inputs: Vec<&str> = model.inputs.iter().map(|s| s.name.as_str()).collect();
        let mut roles = BTreeMap::new();
        let mut means: Vec<&str> = Vec::new();
        for (name, e) in &model.defs {
            if let Some(g) = role(e, &inputs, &means) {
                if matches!(e, Expr::Reduce(RedOp::Mean, _, b) if matches!(&**b, Expr::Sym(_))) {
                    means.push(name);
                }
                roles.insert(name.clone(), g);
            }
        }
        let declared = |n: &str| {
            model
                .inputs
                .iter()
                .chain(&model.params)
                .any(|s| s.name == n)
                || model.defs.iter().any(|(d, _)| d == n)
        };
        let mut n = Notation { roles };
        let names = model
            .defs
            .iter()
            .map(|(n, _)| n)
            .chain(model.inputs.iter().chain(&model.params).map(|s| &s.name));
        for name in names {
            let d = format!("d{name}");
            if !declared(&d) {
                let inner = n.glyph(name);
                n.roles.insert(d, Glyph::Adjoint(Box::new(inner)));
            }
        }
        n
    }

    /// This notation with `names` drawn as the words they are (no hat, no
    /// role): names a program made up, such as the tangent `v_xhat`, which
    /// is not a hat over `v_x`.
    pub fn with_words<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Notation {
        let mut n = self.clone();
        for name in names {
            n.roles.insert(
                name.to_string(),
                Glyph::Name {
                    base: letter(name),
                    hat: false,
                    sub: Vec::new(),
                    sup: None,
                },
            );
        }
        n
    }

    /// The glyph of a name.
    pub fn glyph(&self, name: &str) -> Glyph {
        match self.roles.get(name) {
            Some(g) => g.clone(),
            None => plain_glyph(name),
        }
    }

    /// The glyph of a symbol (its axes are added by the renderers).
    pub fn symbol(&self, s: &Symbol) -> Glyph {
        self.glyph(&s.name)
    }
}

/// The role of a definition, if it has one of the paper's.
fn role(e: &Expr, inputs: &[&str], means: &[&str]) -> Option<Glyph> {
    let is_input = |e: &Expr| matches!(e, Expr::Sym(s) if inputs.contains(&s.name.as_str()));
    let is_mean = |e: &Expr| matches!(e, Expr::Sym(s) if means.contains(&s.name.as_str()));
    let batch = |axes: &[String]| -> Vec<String> {
        if axes.iter().any(|a| a == BATCH_AXIS) {
            vec!["B".to_string()]
        } else {
            Vec::new()
        }
    };
    let greek = |latex: &str, text: &str, axes: &[String], sup: Option<&str>| Glyph::Name {
        base: Letter {
            latex: latex.into(),
            text: text.into(),
        },
        hat: false,
        sub: batch(axes),
        sup: sup.map(str::to_string),
    };
    match e {
        Expr::Reduce(RedOp::Mean, axes, b) if is_input(b) => Some(greek(r"\mu", "μ", axes, None)),
        Expr::Reduce(RedOp::Var, axes, b) if is_input(b) => {
            Some(greek(r"\sigma", "σ", axes, Some("2")))
        }
        Expr::Reduce(RedOp::Mean, axes, b) => match &**b {
            Expr::Pow(base, p) if matches!(&**p, Expr::Num(r) if *r == crate::ir::Rat::from_integer(2.into())) => {
                match &**base {
                    Expr::Sub(x, m) if is_input(x) && is_mean(m) => {
                        Some(greek(r"\sigma", "σ", axes, Some("2")))
                    }
                    _ => None,
                }
            }
            _ => None,
        },
        _ => None,
    }
}

/// Greek names as Greek letters, `xhat`/`x_hat`/`x̂` with a hat, one
/// letter in italics, longer words as words.
fn plain_glyph(name: &str) -> Glyph {
    let stripped = name
        .strip_suffix("_hat")
        .or_else(|| name.strip_suffix("hat").filter(|s| !s.is_empty()))
        .or_else(|| name.strip_suffix('\u{302}'));
    if let Some(base) = stripped.filter(|s| !s.is_empty()) {
        if let Glyph::Name { base, sub, sup, .. } = plain_glyph(base) {
            return Glyph::Name {
                base,
                hat: true,
                sub,
                sup,
            };
        }
    }
    Glyph::Name {
        base: letter(name),
        hat: false,
        sub: Vec::new(),
        sup: None,
    }
}

/// LaTeX commands of the Greek letters a name may contain or spell.
const GREEK: &[(&str, char, &str)] = &[
    ("alpha", 'α', r"\alpha"),
    ("beta", 'β', r"\beta"),
    ("gamma", 'γ', r"\gamma"),
    ("delta", 'δ', r"\delta"),
    ("epsilon", 'ε', r"\varepsilon"),
    ("eps", 'ε', r"\varepsilon"),
    ("eta", 'η', r"\eta"),
    ("mu", 'μ', r"\mu"),
    ("sigma", 'σ', r"\sigma"),
    ("lambda", 'λ', r"\lambda"),
    ("theta", 'θ', r"\theta"),
    ("tau", 'τ', r"\tau"),
    ("rho", 'ρ', r"\rho"),
    ("phi", 'φ', r"\varphi"),
    ("psi", 'ψ', r"\psi"),
    ("omega", 'ω', r"\omega"),
    ("pi", 'π', r"\pi"),
    ("Delta", 'Δ', r"\Delta"),
    ("Sigma", 'Σ', r"\Sigma"),
    ("ell", 'ℓ', r"\ell"),
];

/// The LaTeX command of a Greek (or other math) character, if it has one.
pub fn greek_latex(c: char) -> Option<&'static str> {
    GREEK.iter().find(|(_, g, _)| *g == c).map(|(_, _, l)| *l)
}

fn letter(name: &str) -> Letter {
    if let Some((_, c, l)) = GREEK.iter().find(|(n, _, _)| *n == name) {
        return Letter {
            latex: l.to_string(),
            text: c.to_string(),
        };
    }
    let chars: Vec<char> = name.chars().collect();
    let latex = match chars.as_slice() {
        [c] if c.is_ascii_alphabetic() => c.to_string(),
        _ => {
            // Greek characters become commands (a leading one, as in `Δb`,
            // stays in math italic before the rest); other text is a word.
            let mut s = String::new();
            let mut word = String::new();
            let flush = |word: &mut String, s: &mut String| {
                if !word.is_empty() {
                    s.push_str(&format!(r"\mathit{{{}}}", super::latex::escape_word(word)));
                    word.clear();
                }
            };
            for c in &chars {
                match greek_latex(*c) {
                    Some(l) => {
                        flush(&mut word, &mut s);
                        s.push_str(l);
                        s.push(' ');
                    }
                    None => word.push(*c),
                }
            }
            if chars.len() == 2 && greek_latex(chars[0]).is_some() && chars[1].is_ascii_alphabetic()
            {
                s.push(chars[1]);
            } else {
                flush(&mut word, &mut s);
            }
            s.trim_end().to_string()
        }
    };
    Letter {
        latex,
        text: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greek_and_hats() {
        let n = Notation::plain();
        let Glyph::Name { base, hat, .. } = n.glyph("gamma") else {
            panic!("gamma is a name")
        };
        assert_eq!((base.latex.as_str(), hat), (r"\gamma", false));
        let Glyph::Name { base, hat, .. } = n.glyph("xhat") else {
            panic!("xhat is a name")
        };
        assert_eq!((base.latex.as_str(), hat), ("x", true));
        let Glyph::Name { base, .. } = n.glyph("Δb") else {
            panic!("Δb is a name")
        };
        assert_eq!(base.latex, r"\Delta b");
        let Glyph::Name { base, .. } = n.glyph("running_mean") else {
            panic!("a word")
        };
        assert_eq!(base.latex, r"\mathit{running\_mean}");
    }

    #[test]
    fn roles_come_from_definitions() {
        let m = crate::syntax::parse_model(
            "axis n\ninput x[n]\nparam eps\nm = mean[n](x)\nv = mean[n]((x - m)^2)\ny = (x - m) / sqrt(v + eps)\noutput y\n",
        )
        .unwrap();
        let n = Notation::for_model(&m);
        let Glyph::Name { base, sub, sup, .. } = n.glyph("m") else {
            panic!("m is the batch mean")
        };
        assert_eq!(
            (base.text.as_str(), sub, sup),
            ("μ", vec!["B".into()], None)
        );
        let Glyph::Name { base, sup, .. } = n.glyph("v") else {
            panic!("v is the batch variance")
        };
        assert_eq!((base.text.as_str(), sup), ("σ", Some("2".into())));
        assert!(matches!(n.glyph("dy"), Glyph::Adjoint(_)));
        assert!(matches!(n.glyph("y"), Glyph::Name { .. }));
    }
}
