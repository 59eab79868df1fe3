//! The LibTorch backend (feature `torch`): every built-in model agrees with
//! LibTorch in f64 within the reference tolerance, the fused batch norm's
//! third-order bug is reported as a known finding, and a wrong gradient is
//! caught.
#![cfg(feature = "torch")]

use bnproof::models;
use bnproof::torch::{self, TorchOptions};
use bnproof::verify::{self, Backend, Status, VerifyOptions};

fn torch_rows(model: &str, order: u8) -> Vec<verify::Row> {
    let loaded = models::load(model).unwrap();
    let opts = VerifyOptions {
        backends: vec![Backend::Torch],
        order,
        ..VerifyOptions::default()
    };
    verify::verify(&loaded, &opts).unwrap()
}

#[test]
fn every_model_agrees_with_libtorch_in_f64_to_1e_10() {
    for m in models::builtin_names() {
        let rows = torch_rows(m, 1);
        assert!(!rows.is_empty(), "{m}");
        for r in &rows {
            assert_eq!(r.status, Status::Pass, "{m}: {} {}", r.form, r.detail);
            if !r.detail.contains("≈ 0") {
                assert!(r.rel_err.unwrap() <= 1e-10, "{m}: {}", r.detail);
            }
        }
        // The native op ran exactly where the model has one (centering,
        // the softmax head, L2 normalization and batch renorm have none),
        // and the composed ops always ran.
        let native = rows.iter().any(|r| r.form.contains("native"));
        assert_eq!(native, torch::native_for(m).is_some(), "{m}");
        assert!(rows.iter().any(|r| r.form.contains("composed")), "{m}");
    }
}

#[test]
fn the_fused_batch_norm_third_order_bug_is_reported_and_composed_ops_agree() {
    let rows = torch_rows("batchnorm", 3);
    let third: Vec<_> = rows.iter().filter(|r| r.order == 3).collect();
    assert!(third
        .iter()
        .any(|r| matches!(&r.status, Status::Known(w) if w.contains("pytorch#186256"))));
    for r in &third {
        if r.form.contains("composed") {
            assert_eq!(r.status, Status::Pass, "{}", r.detail);
        }
    }
    // Orders one and two agree everywhere.
    assert!(rows
        .iter()
        .filter(|r| r.order <= 2)
        .all(|r| r.status == Status::Pass));
    assert!(verify::all_pass(&rows));
}

#[test]
fn a_wrong_gradient_disagrees_with_libtorch() {
    let loaded = models::load("batchnorm").unwrap();
    let d = bnproof::diff::derive(&loaded.model).unwrap();
    // Drop the x̂ · mean(dy · x̂) term: the classic mistake.
    let wrong =
        bnproof::syntax::parse_expr("gamma / sqrt(var + eps) * (dy[n] - mean[n](dy[n]))").unwrap();
    let program = d.program();
    let mut grads: Vec<_> = d
        .gradients
        .iter()
        .map(|g| (g.of.clone(), bnproof::ir::Expr::Sym(g.name.clone())))
        .collect();
    for (w, g) in grads.iter_mut() {
        if w == "x" {
            *g = wrong.clone();
        }
    }
    let sizes = [("n".to_string(), 5)].into_iter().collect();
    // In f64 and in f32: the rounding bound f32 allows does not hide it.
    for dtype in [torch::Dtype::F64, torch::Dtype::F32] {
        let rows = torch::check(
            &loaded,
            torch::Symbolic {
                program: &program,
                gradients: &grads,
            },
            None,
            &sizes,
            0,
            1,
            &TorchOptions {
                dtype,
                ..TorchOptions::default()
            },
        )
        .unwrap();
        let x: Vec<_> = rows.iter().filter(|r| r.wrt == "x").collect();
        assert_eq!(x.len(), 2);
        for r in &x {
            assert_eq!(r.status, Status::Fail, "{} {}", r.form, r.detail);
            assert!(r.rel_err.unwrap() > 1e-3, "{}", r.detail);
        }
        assert!(rows
            .iter()
            .filter(|r| r.wrt != "x")
            .all(|r| r.status == Status::Pass));
    }
}

/// In f32 every model agrees too; the rounding bound of the computation
/// decides only where the reference itself is rounding noise (softmax with
/// one class: the loss is constant and every gradient is 0).
#[test]
fn every_model_agrees_with_libtorch_in_f32_and_rounding_decides_only_noise() {
    let mut decided = 0;
    for m in models::builtin_names() {
        let loaded = models::load(m).unwrap();
        let opts = VerifyOptions {
            backends: vec![Backend::Torch],
            torch: TorchOptions {
                dtype: torch::Dtype::F32,
                ..TorchOptions::default()
            },
            ..VerifyOptions::default()
        };
        for r in verify::verify(&loaded, &opts).unwrap() {
            assert_eq!(r.status, Status::Pass, "{m}: {} {}", r.form, r.detail);
            if r.detail.contains("rounding bound") {
                decided += 1;
                assert!(r.abs_err.unwrap() < 1e-15, "{m}: {}", r.detail);
            }
        }
    }
    assert!(
        decided >= 1,
        "the one-class softmax rows were not judged by their bound"
    );
}
