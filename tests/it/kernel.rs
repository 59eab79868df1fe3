//! The kernel accepts the prover's proofs and rejects every tampered one,
//! naming the failing step.

use bnproof::ir::{Expr, Rel};
use bnproof::kernel::{self, Direction, Proof};
use bnproof::prove::{self, Options};
use bnproof::syntax;

fn proof_of(stmt: &str, assume: &[&str]) -> Proof {
    let s = syntax::parse_statement(stmt).unwrap();
    let a: Vec<_> = assume
        .iter()
        .map(|x| syntax::parse_assumption(x).unwrap())
        .collect();
    match prove::search(&s, &a, &Options::default()).0 {
        Ok(p) => p,
        Err(e) => panic!("no proof of {stmt}: {e}"),
    }
}

fn seed() -> Proof {
    proof_of(
        "u[i] + (b + Δb) − E[u[i] + (b + Δb)] = u[i] + b − E[u[i] + b]",
        &[],
    )
}

fn scale() -> Proof {
    proof_of("sqrt(a^2) = a", &["a >= 0"])
}

#[test]
fn prover_proofs_are_accepted() {
    kernel::check(&seed()).unwrap();
    kernel::check(&scale()).unwrap();
}

fn rejected(p: &Proof) -> kernel::KernelError {
    match kernel::check(p) {
        Ok(()) => panic!("tampered proof accepted: {p:#?}"),
        Err(e) => e,
    }
}

#[test]
fn every_single_tampering_is_rejected() {
    let base = seed();
    let n = base.steps.len();
    assert!(n >= 2);
    let mut tried = 0;
    for k in 0..n {
        // Change the step's expression.
        let mut p = base.clone();
        p.steps[k].expr = Expr::add(p.steps[k].expr.clone(), Expr::num(1));
        assert!(rejected(&p).step >= 1);
        // Change the rule name to another real rule or to nonsense.
        for rule in ["mean-add", "mean-const", "ring", "var-def", "no-such-rule"] {
            if rule == base.steps[k].rule {
                continue;
            }
            let mut p = base.clone();
            p.steps[k].rule = rule.into();
            p.steps[k].subst = None;
            if rule == "ring" && kernel::check(&p).is_ok() {
                // A named step is also a ring step when the rule is ring-valid; fine.
                continue;
            }
            assert_eq!(rejected(&p).step, k + 1, "rule {rule} at step {}", k + 1);
            tried += 1;
        }
        // Flip the direction of a named step.
        if base.steps[k].rule != "ring" {
            let mut p = base.clone();
            p.steps[k].direction = match p.steps[k].direction {
                Direction::Forward => Direction::Backward,
                Direction::Backward => Direction::Forward,
            };
            assert_eq!(rejected(&p).step, k + 1);
            tried += 1;
        }
        // Move the position.
        let mut p = base.clone();
        p.steps[k].position.push(0);
        assert_eq!(rejected(&p).step, k + 1);
        let mut p = base.clone();
        p.steps[k].position = vec![9];
        assert_eq!(rejected(&p).step, k + 1);
        tried += 2;
    }
    // Swap two steps, drop one, change the statement.
    let mut p = base.clone();
    p.steps.swap(0, 1);
    rejected(&p);
    let mut p = base.clone();
    p.steps.remove(0);
    rejected(&p);
    let mut p = base.clone();
    p.statement.rhs = Expr::add(p.statement.rhs.clone(), Expr::num(0));
    assert_eq!(rejected(&p).step, 0);
    assert!(tried > 3 * n);
}

#[test]
fn side_conditions_come_from_the_certificate_assumptions() {
    let base = scale();
    kernel::check(&base).unwrap();
    // Without `a >= 0` the sqrt-sq step's side condition fails.
    let mut p = base.clone();
    p.assumptions.clear();
    let e = rejected(&p);
    assert!(e.message.contains("side condition"), "{e}");
    // A weaker assumption (a != 0) does not establish a >= 0 either.
    let mut p = base;
    p.assumptions[0].rel = Rel::Ne;
    assert!(rejected(&p).message.contains("side condition"));
}

#[test]
fn unsound_steps_are_rejected() {
    // x/x = 1 by div-self without x != 0.
    let stmt = syntax::parse_statement("x / x = 1").unwrap();
    let p = Proof {
        statement: stmt,
        assumptions: vec![],
        definitions: Vec::new(),
        haves: Vec::new(),
        lemmas: Vec::new(),
        steps: vec![kernel::Step {
            expr: Expr::num(1),
            rule: "div-self".into(),
            direction: Direction::Forward,
            position: vec![],
            subst: None,
        }],
    };
    assert!(rejected(&p).message.contains("side condition"));
    // mean-const on something that varies along the axis.
    let stmt = syntax::parse_statement("mean[i](x[i]) = x[i]").unwrap();
    let p = Proof {
        statement: stmt.clone(),
        assumptions: vec![],
        definitions: Vec::new(),
        haves: Vec::new(),
        lemmas: Vec::new(),
        steps: vec![kernel::Step {
            expr: stmt.rhs.clone(),
            rule: "mean-const".into(),
            direction: Direction::Forward,
            position: vec![],
            subst: None,
        }],
    };
    assert!(rejected(&p).message.contains("side condition"));
    // A "ring" step that is not a ring identity.
    let stmt = syntax::parse_statement("sqrt(x)^2 = x").unwrap();
    let p = Proof {
        statement: stmt.clone(),
        assumptions: vec![],
        definitions: Vec::new(),
        haves: Vec::new(),
        lemmas: Vec::new(),
        steps: vec![kernel::Step {
            expr: stmt.rhs.clone(),
            rule: "ring".into(),
            direction: Direction::Forward,
            position: vec![],
            subst: None,
        }],
    };
    rejected(&p);
}

#[test]
fn field_steps_cancel_only_proven_nonzero_factors() {
    let proof = |rule: &str, assume: &[&str]| {
        one_step(
            "x * (1/x) + mean[i](c * y[i]) = 1 + c * mean[i](y[i])",
            assume,
            rule,
        )
    };
    // Without x != 0 the cancellation is refused (false at x = 0).
    assert!(rejected(&proof("field", &[]))
        .message
        .contains("normal form"));
    // linear alone never cancels; ring knows no linearity.
    rejected(&proof("linear", &["x != 0"]));
    rejected(&proof("ring", &["x != 0"]));
    kernel::check(&proof("field", &["x != 0"])).unwrap();
    kernel::check(&proof("field", &["x > 0"])).unwrap();
}

#[test]
fn field_steps_clear_only_proven_nonzero_denominators() {
    // (x² − y²)/(x − y) = x + y is false at x = y (0 vs 2x) ...
    rejected(&one_step("(x^2 - y^2) / (x - y) = x + y", &[], "field"));
    rejected(&one_step(
        "(x^2 - y^2) / (x - y) = x + y",
        &["x + y != 0"],
        "field",
    ));
    // ... and true once x − y ≠ 0 (in any form the sign analysis recognizes).
    kernel::check(&one_step(
        "(x^2 - y^2) / (x - y) = x + y",
        &["x - y != 0"],
        "field",
    ))
    .unwrap();
    kernel::check(&one_step(
        "(x^2 - y^2) / (x - y) = x + y",
        &["y - x > 0"],
        "field",
    ))
    .unwrap();
    // A variance assumed positive clears a denominator written as moments.
    kernel::check(&one_step(
        "mean[i](x[i]^2) / (mean[i](x[i]^2) - mean[i](x[i])^2) - mean[i](x[i])^2 / var[i](x[i]) = 1",
        &["var[i](x[i]) > 0"],
        "field",
    ))
    .unwrap();
    rejected(&one_step(
        "mean[i](x[i]^2) / (mean[i](x[i]^2) - mean[i](x[i])^2) - mean[i](x[i])^2 / var[i](x[i]) = 1",
        &["var[i](x[i]) >= 0"],
        "field",
    ));
}

#[test]
fn factors_of_assumed_products_get_their_signs() {
    // a²·(x − y) > 0 forces x − y ≠ 0 (and > 0); a·(x − y) ≠ 0 forces it too.
    kernel::check(&one_step(
        "(x - y) / (x - y) = 1",
        &["a^2 * (x - y) > 0"],
        "field",
    ))
    .unwrap();
    kernel::check(&one_step(
        "(x - y) / (x - y) = 1",
        &["a * (x - y) != 0"],
        "field",
    ))
    .unwrap();
    // ≥ 0 says nothing about a factor (a = 0 allows any x − y).
    rejected(&one_step(
        "(x - y) / (x - y) = 1",
        &["a^2 * (x - y) >= 0"],
        "field",
    ));
    // With an odd power the sign of the factor is unknown: sqrt((x−y)²) = x − y needs x − y ≥ 0.
    rejected(&one_step(
        "sqrt(x - y)^2 = x - y",
        &["a * (x - y) > 0"],
        "field",
    ));
    kernel::check(&one_step(
        "sqrt(x - y)^2 = x - y",
        &["a^2 * (x - y) > 0"],
        "field",
    ))
    .unwrap();
}

#[test]
fn merging_nested_means_never_captures_a_free_axis() {
    for rule in ["linear", "field"] {
        kernel::check(&one_step(
            "mean[i](mean[j](z[i,j])) = mean[j](mean[i](z[i,j]))",
            &[],
            rule,
        ))
        .unwrap();
        kernel::check(&one_step(
            "mean[i](f[j] * mean[j](z[i,j])) = f[j] * mean[i,j](z[i,j])",
            &[],
            rule,
        ))
        .unwrap();
        // False: the outer f[j] is not the j the inner mean ranges over.
        rejected(&one_step(
            "mean[i](f[j] * mean[j](z[i,j])) = mean[i,j](f[j] * z[i,j])",
            &[],
            rule,
        ));
    }
}

/// A one-step proof of `stmt` by `rule` (a normal-form step over the whole
/// statement) under `assume`.
fn one_step(stmt: &str, assume: &[&str], rule: &str) -> Proof {
    let s = syntax::parse_statement(stmt).unwrap();
    Proof {
        statement: s.clone(),
        assumptions: assume
            .iter()
            .map(|a| syntax::parse_assumption(a).unwrap())
            .collect(),
        definitions: Vec::new(),
        haves: Vec::new(),
        lemmas: Vec::new(),
        steps: vec![kernel::Step {
            expr: s.rhs.clone(),
            rule: rule.into(),
            direction: Direction::Forward,
            position: vec![],
            subst: None,
        }],
    }
}

/// The certificate of `derive batchnorm`'s proof of the three-term form: a
/// version-2 certificate over the model's names.
fn named_certificate() -> bnproof::cert::Certificate {
    let loaded = bnproof::models::load("batchnorm").unwrap();
    let r = bnproof::derive::derive(&loaded, &Default::default()).unwrap();
    let eq = r
        .equalities
        .iter()
        .find(|e| e.title.contains("line 18"))
        .expect("the three-term claim");
    let bnproof::derive::Verdict::Proved(p) = &eq.verdict else {
        panic!("three-term claim not proved");
    };
    assert!(!p.definitions.is_empty(), "a proof over names");
    assert!(p.steps.iter().any(|s| kernel::def_name(&s.rule).is_some()));
    bnproof::cert::to_certificate(p, true)
}

#[test]
fn definitions_in_certificates_are_checked() {
    use bnproof::cert::{check_certificate, Certificate};
    let base = named_certificate();
    assert_eq!(base.version, 2);
    check_certificate(&base).expect("the untouched certificate is valid");
    let reject = |c: &Certificate, what: &str| {
        assert!(check_certificate(c).is_err(), "{what}: accepted");
    };
    let index = |c: &Certificate, name: &str| {
        c.definitions
            .iter()
            .position(|d| {
                d.starts_with(&format!("{name} :=")) || d.starts_with(&format!("{name}["))
            })
            .unwrap_or_else(|| panic!("no definition of {name}"))
    };
    // A changed definition: the batch size off by one.
    let mut c = base.clone();
    let k = index(&c, "m");
    c.definitions[k] = c.definitions[k].replace("sum[n](1)", "sum[n](1) + 1");
    reject(&c, "changed definition");
    // Twice defined.
    let mut c = base.clone();
    let k = index(&c, "mu");
    let dup = c.definitions[k].clone();
    c.definitions.push(dup);
    reject(&c, "twice-defined name");
    // Cyclic: mu defined through itself.
    let mut c = base.clone();
    let k = index(&c, "mu");
    c.definitions[k] = "mu := mean[n](x[n]) + 0 * mu".into();
    reject(&c, "cyclic definition");
    // A name used before its definition (an earlier body mentions a later name).
    let mut c = base.clone();
    let k = index(&c, "mu");
    c.definitions[k] = "mu := mean[n](x[n]) + 0 * var".into();
    reject(&c, "use before definition");
    // A use with other axes than the definition's.
    let mut c = base.clone();
    c.statement.lhs = "dx[n] + 0 * mu[n]".into();
    reject(&c, "use with other axes");
    let mut c = base.clone();
    let k = index(&c, "mu");
    c.definitions[k] = "mu[n] := mean[n](x[n])".into();
    reject(&c, "declared axes differ from the body's");
    // A def step naming a definition the certificate does not carry.
    let mut c = base.clone();
    let s = c
        .steps
        .iter()
        .position(|s| s.rule.starts_with("def "))
        .unwrap();
    c.steps[s].rule = "def nothing".into();
    reject(&c, "unknown definition");
    // Definitions in a version-1 certificate.
    let mut c = base.clone();
    c.version = 1;
    reject(&c, "version 1 with definitions");
}

#[test]
fn a_proof_over_names_proves_the_inlined_statement() {
    // The statement means its full inlining: a false claim over names is
    // not provable by unfolding, whatever the names.
    let loaded = bnproof::models::load("batchnorm").unwrap();
    let mut model = loaded.model.clone();
    model.claims.retain(|c| c.wrt == "x");
    let wrong = syntax::parse_expr("gamma / sqrt(var + eps) * (dy[n] - mean[n](dy[n]))").unwrap();
    model.claims[0].expr = wrong;
    let l = bnproof::models::Loaded {
        name: "wrong".into(),
        source: String::new(),
        model,
    };
    let r = bnproof::derive::derive(&l, &Default::default()).unwrap();
    let eq = &r.equalities[0];
    assert!(
        matches!(eq.verdict, bnproof::derive::Verdict::Refuted(_)),
        "{}",
        eq.title
    );
}

#[test]
fn haves_in_certificates_are_checked() {
    use bnproof::cert::{check_certificate, Certificate};
    let base = named_certificate();
    assert!(
        base.haves.len() >= 2,
        "the three-term proof uses facts: {:?}",
        base.haves
    );
    assert!(base.steps.iter().any(|s| s.rule.starts_with("have ")));
    check_certificate(&base).expect("the untouched certificate is valid");
    let reject = |c: &Certificate, what: &str| {
        assert!(check_certificate(c).is_err(), "{what}: accepted");
    };
    // A have whose proof was altered: its last step claims another result.
    let mut c = base.clone();
    let last = c.haves[0].steps.len() - 1;
    c.haves[0].steps[last].expr = "1".into();
    reject(&c, "altered have proof");
    // A have whose statement was altered (its proof no longer ends there).
    let mut c = base.clone();
    c.haves[0].statement.rhs = "1".into();
    reject(&c, "altered have statement");
    // A have citing itself, or a later one.
    let mut c = base.clone();
    if let Some(s) = c.haves[1]
        .steps
        .iter_mut()
        .find(|s| s.rule.starts_with("have "))
    {
        s.rule = "have 2".into();
    }
    reject(&c, "self-citing have");
    let mut c = base.clone();
    c.haves.swap(0, 1);
    reject(&c, "a have citing a later one");
    // Citing a have that does not exist, or the wrong way round.
    let k = base
        .steps
        .iter()
        .position(|s| s.rule.starts_with("have "))
        .unwrap();
    for rule in ["have 0", "have 99", "have x"] {
        let mut c = base.clone();
        c.steps[k].rule = rule.into();
        reject(&c, rule);
    }
    let mut c = base.clone();
    c.steps[k].direction = "backward".into();
    reject(&c, "a have used backward");
    // Haves in a version-1 certificate.
    let mut c = base.clone();
    c.version = 1;
    c.definitions.clear();
    reject(&c, "version 1 with haves");
}

/// A chain `a + b + …` counts as one level of nesting, so the kernel checks
/// proofs about sums longer than its nesting limit, keeps rejecting false
/// ones, and still refuses nesting deeper than the limit.
#[test]
fn long_chains_are_one_level_of_nesting() {
    let big_stack = std::thread::Builder::new().stack_size(256 << 20);
    let run = big_stack
        .spawn(|| {
            let n = 3 * kernel::MAX_DEPTH;
            let xs = vec!["x"; n];
            let sum = format!("{} = {n} * x", xs.join(" + "));
            assert!(kernel::check(&one_step(&sum, &[], "ring")).is_ok());
            let wrong = format!("{} = {} * x", xs.join(" + "), n - 1);
            assert!(kernel::check(&one_step(&wrong, &[], "ring")).is_err());
            let product = format!("{} = x^{n}", xs.join(" * "));
            assert!(kernel::check(&one_step(&product, &[], "ring")).is_ok());
            // Nesting, not length, is what the limit is about.
            let mut deeper = syntax::parse_expr("x").unwrap();
            for _ in 0..kernel::MAX_DEPTH {
                deeper = Expr::Sqrt(Box::new(deeper));
            }
            deeper = Expr::Add(Box::new(deeper), Box::new(Expr::num(0)));
            let mut p = one_step("x = x", &[], "ring");
            p.statement.lhs = deeper.clone();
            p.statement.rhs = deeper.clone();
            p.steps[0].expr = deeper;
            let err = kernel::check(&p).unwrap_err();
            assert!(err.message.contains("nested deeper"), "{}", err.message);
        })
        .unwrap();
    run.join().unwrap();
}

fn lemma_of(name: &str, stmt: &str, assume: &[&str]) -> kernel::Lemma {
    let p = proof_of(stmt, assume);
    kernel::Lemma {
        name: name.into(),
        statement: p.statement,
        assumptions: p.assumptions,
        steps: p.steps,
    }
}

/// A one-step proof of `stmt` citing `lemma` under `subst` (axes as
/// `"[n]"`, symbols as expressions), carrying `lemmas`.
fn citing(
    stmt: &str,
    assume: &[&str],
    lemma: &str,
    subst: &[(&str, &str)],
    lemmas: Vec<kernel::Lemma>,
) -> Proof {
    let mut p = one_step(stmt, assume, &kernel::lemma_rule(lemma));
    p.steps[0].subst = Some(
        subst
            .iter()
            .map(|(k, v)| {
                let b = match v.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
                    Some(a) => bnproof::rules::Binding::Axes(
                        a.split(',').map(|x| x.trim().to_string()).collect(),
                    ),
                    None => bnproof::rules::Binding::Expr(syntax::parse_expr(v).unwrap()),
                };
                (k.to_string(), b)
            })
            .collect(),
    );
    p.lemmas = lemmas;
    p
}

fn rejected_for(p: &Proof, why: &str) {
    let e = rejected(p);
    assert!(
        e.message.contains(why),
        "rejected for another reason than {why:?}: {e}"
    );
}

#[test]
fn lemmas_are_cited_only_as_sound_instances() {
    let shift = lemma_of("variance-shift", "var[i](x[i] + c) = var[i](x[i])", &[]);
    let ok = |stmt: &str, subst: &[(&str, &str)]| {
        let p = citing(stmt, &[], "variance-shift", subst, vec![shift.clone()]);
        kernel::check(&p).unwrap_or_else(|e| panic!("{stmt}: {e}"));
    };
    // A constant shift, and a shift along an axis the lemma does not
    // mention (true for every k), are instances.
    ok(
        "var[n](h[n,k] + b) = var[n](h[n,k])",
        &[("i", "[n]"), ("x", "h[n,k]"), ("c", "b")],
    );
    ok(
        "var[n](h[n] + y[k]) = var[n](h[n])",
        &[("i", "[n]"), ("x", "h[n]"), ("c", "y[k]")],
    );
    // An axis written as a bare name, as a hand-written certificate might.
    ok(
        "var[n](h[n] + b) = var[n](h[n])",
        &[("i", "n"), ("x", "h[n]"), ("c", "b")],
    );
    // c := x[n] with i := n would capture n: var(2x) = var(x) is false.
    let p = citing(
        "var[n](x[n] + x[n]) = var[n](x[n])",
        &[],
        "variance-shift",
        &[("i", "[n]"), ("x", "x[n]"), ("c", "x[n]")],
        vec![shift.clone()],
    );
    rejected_for(&p, "varies along `n`");
    // A substitution that misses a symbol, names something else, or maps
    // an axis to an expression.
    for (subst, why) in [
        (vec![("i", "[n]"), ("x", "h[n]")], "no expression for `c`"),
        (
            vec![("i", "[n]"), ("x", "h[n]"), ("c", "b"), ("z", "b")],
            "`z` is not a symbol",
        ),
        (
            vec![("i", "n[k]"), ("x", "h[n]"), ("c", "b")],
            "`i` is not a symbol",
        ),
    ] {
        let p = citing(
            "var[n](h[n] + b) = var[n](h[n])",
            &[],
            "variance-shift",
            &subst,
            vec![shift.clone()],
        );
        rejected_for(&p, why);
    }
    // The statement must be exactly the instance.
    let p = citing(
        "var[n](h[n] + b) = var[n](h[n]) + 1",
        &[],
        "variance-shift",
        &[("i", "[n]"), ("x", "h[n]"), ("c", "b")],
        vec![shift.clone()],
    );
    rejected_for(&p, "not this instance");
    // A renaming that merges two axes is not an instance:
    // sum_n sum_n x y = N Σ x y, not (Σ x)(Σ y).
    let split = lemma_of(
        "sum-split",
        "sum[i](sum[j](x[i] * y[j])) = sum[i](x[i]) * sum[j](y[j])",
        &[],
    );
    let p = citing(
        "sum[n](sum[n](x[n] * y[n])) = sum[n](x[n]) * sum[n](y[n])",
        &[],
        "sum-split",
        &[("i", "[n]"), ("j", "[n]"), ("x", "x[n]"), ("y", "y[n]")],
        vec![split],
    );
    rejected_for(&p, "not one-to-one");
    // An axis may stand for several (a multi-axis reduction is one over
    // their product), but two of the lemma's axes may not share one.
    let centred = lemma_of("centred", "sum[i](x[i] - mean[i](x[i])) = 0", &[]);
    let p = citing(
        "sum[h,n,w](x[c,h,n,w] - mean[h,n,w](x[c,h,n,w])) = 0",
        &[],
        "centred",
        &[("i", "[h,n,w]"), ("x", "x[c,h,n,w]")],
        vec![centred],
    );
    kernel::check(&p).unwrap();
    let split = lemma_of(
        "sum-split",
        "sum[i](sum[j](x[i] * y[j])) = sum[i](x[i]) * sum[j](y[j])",
        &[],
    );
    let p = citing(
        "sum[h,n](sum[h](x[h,n] * y[h])) = sum[h,n](x[h,n]) * sum[h](y[h])",
        &[],
        "sum-split",
        &[("i", "[h,n]"), ("j", "[h]"), ("x", "x[h,n]"), ("y", "y[h]")],
        vec![split],
    );
    rejected_for(&p, "not one-to-one");
    // A lemma's assumptions are re-established where it is cited.
    let root = lemma_of("sqrt-of-square", "sqrt(a^2) = a", &["a >= 0"]);
    let p = citing(
        "sqrt(b^2) = b",
        &[],
        "sqrt-of-square",
        &[("a", "b")],
        vec![root.clone()],
    );
    rejected_for(&p, "is not established");
    let p = citing(
        "sqrt(b^2) = b",
        &["b >= 0"],
        "sqrt-of-square",
        &[("a", "b")],
        vec![root],
    );
    kernel::check(&p).unwrap();
}

#[test]
fn lemma_proofs_and_citations_are_checked() {
    let lemma = lemma_of("centred", "sum[i](x[i] - mean[i](x[i])) = 0", &[]);
    let cite = |lemmas: Vec<kernel::Lemma>| {
        citing(
            "sum[n](h[n] - mean[n](h[n])) = 0",
            &[],
            "centred",
            &[("i", "[n]"), ("x", "h[n]")],
            lemmas,
        )
    };
    kernel::check(&cite(vec![lemma.clone()])).unwrap();
    // Not listed at all.
    rejected_for(&cite(Vec::new()), "not among the lemmas");
    // Its proof altered: the last step claims another result.
    let mut bad = lemma.clone();
    let last = bad.steps.len() - 1;
    bad.steps[last].expr = Expr::num(1);
    rejected_for(&cite(vec![bad]), "lemma centred");
    // Its statement altered: the proof no longer ends there.
    let mut bad = lemma.clone();
    bad.statement.rhs = Expr::num(1);
    rejected_for(&cite(vec![bad]), "lemma centred");
    // A lemma proved by citing itself.
    let mut selfish = lemma.clone();
    selfish.steps = cite(vec![]).steps;
    selfish.steps[0].subst = Some(
        [
            (
                "i".to_string(),
                bnproof::rules::Binding::Axes(vec!["i".into()]),
            ),
            (
                "x".to_string(),
                bnproof::rules::Binding::Expr(syntax::parse_expr("x[i]").unwrap()),
            ),
        ]
        .into_iter()
        .collect(),
    );
    selfish.steps[0].expr = Expr::num(0);
    rejected_for(&cite(vec![selfish.clone()]), "not among the lemmas");
    // Two lemmas citing each other.
    let mut a = selfish.clone();
    a.name = "a".into();
    a.steps[0].rule = kernel::lemma_rule("b");
    let mut b = selfish.clone();
    b.name = "b".into();
    b.steps[0].rule = kernel::lemma_rule("a");
    let mut p = cite(vec![a, b]);
    p.steps[0].rule = kernel::lemma_rule("b");
    rejected_for(&p, "not among the lemmas");
    // Listed twice, or named with a space.
    rejected_for(&cite(vec![lemma.clone(), lemma.clone()]), "listed twice");
    let mut spaced = lemma.clone();
    spaced.name = "two words".into();
    rejected_for(&cite(vec![spaced]), "not one word");
    // A lemma mentioning a name the certificate defines.
    let mut p = cite(vec![lemma.clone()]);
    p.definitions = vec![(
        bnproof::ir::Symbol::new("x", ["i"]),
        syntax::parse_expr("y[i]").unwrap(),
    )];
    rejected_for(&p, "a name the certificate defines");
    // A lemma whose proof unfolds a definition (none are in its scope).
    let mut p = cite(vec![lemma.clone()]);
    p.definitions = vec![(
        bnproof::ir::Symbol::new("w", Vec::<String>::new()),
        Expr::num(0),
    )];
    p.lemmas[0].statement.lhs = syntax::parse_expr("w").unwrap();
    p.lemmas[0].steps = vec![kernel::Step {
        expr: Expr::num(0),
        rule: kernel::def_rule("w"),
        direction: Direction::Forward,
        position: vec![],
        subst: None,
    }];
    assert!(kernel::check(&p).is_err(), "a lemma unfolded a definition");
}

#[test]
fn lemmas_in_derive_certificates_are_checked() {
    use bnproof::cert::{check_certificate, Certificate};
    let base = named_certificate();
    assert!(
        base.lemmas.iter().any(|l| l.name == "centred-sum-zero"),
        "the vanishing σ²-path term cites centred-sum-zero"
    );
    check_certificate(&base).expect("the untouched certificate is valid");
    let reject = |c: &Certificate, what: &str| {
        let e = check_certificate(c).expect_err(what);
        assert!(
            e.0.contains("lemma"),
            "{what}: rejected for another reason: {e}"
        );
    };
    let k = base
        .lemmas
        .iter()
        .position(|l| l.name == "centred-sum-zero")
        .unwrap();
    let mut c = base.clone();
    let last = c.lemmas[k].steps.len() - 1;
    c.lemmas[k].steps[last].expr = "1".into();
    reject(&c, "altered lemma proof");
    let mut c = base.clone();
    c.lemmas[k].statement.rhs = "1".into();
    reject(&c, "altered lemma statement");
    let mut c = base.clone();
    c.lemmas.clear();
    reject(&c, "lemma removed");
    // Version 1 cannot carry lemmas.
    let mut c = base.clone();
    c.version = 1;
    c.definitions.clear();
    c.haves.clear();
    assert!(check_certificate(&c).is_err());
}

/// The kernel keeps side-condition answers between checks on a thread; an
/// answer from one context (assumptions, definitions) must never decide a
/// check in another.
#[test]
fn side_condition_answers_do_not_cross_contexts() {
    let with = proof_of("a / a = 1", &["a > 0"]);
    let bare = Proof {
        assumptions: Vec::new(),
        ..with.clone()
    };
    let other = Proof {
        assumptions: vec![syntax::parse_assumption("b > 0").unwrap()],
        ..with.clone()
    };
    for _ in 0..3 {
        kernel::check(&with).unwrap();
        // `a` may be 0 here, and 0 / 0 = 0 under the total semantics.
        rejected(&bare);
        rejected(&other);
    }
    // Through a definition: `s := a` is non-zero under `a > 0` only.
    let s = bnproof::ir::Symbol {
        name: "s".into(),
        axes: Vec::new(),
    };
    let a_over_a = syntax::parse_statement("s / s = 1").unwrap();
    let by_def = Proof {
        statement: a_over_a.clone(),
        steps: vec![kernel::Step {
            expr: Expr::num(1),
            rule: "field".into(),
            direction: Direction::Forward,
            position: Vec::new(),
            subst: None,
        }],
        definitions: vec![(s.clone(), syntax::parse_expr("a").unwrap())],
        ..with.clone()
    };
    let by_other_def = Proof {
        definitions: vec![(s, syntax::parse_expr("a - 1").unwrap())],
        ..by_def.clone()
    };
    for _ in 0..3 {
        kernel::check(&by_def).unwrap();
        rejected(&by_other_def);
    }
}
