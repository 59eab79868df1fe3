//! The conventions at kinks, pinned at the kink itself: `abs'(0) = 0`,
//! `max`/`min` split the gradient evenly on a tie (as `torch.maximum` and
//! `torch.minimum` do), `log' (0) = 1/0 = 0`, and `detach` passes no
//! gradient. Each is checked through `verify --against` (the derived
//! gradient evaluated exactly at the given arrays), with the convention's
//! tempting alternative rejected.

use crate::{bnproof, text};
use serde_json::{json, Value};
use std::path::PathBuf;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bnproof-kinks-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `verify MODEL --against ARRAYS`'s exit code, with the output on failure.
fn against(name: &str, model: &str, arrays: &Value) -> (Option<i32>, String) {
    let d = dir(name);
    let (m, a) = (d.join("model.bn"), d.join("arrays.json"));
    std::fs::write(&m, model).unwrap();
    std::fs::write(&a, serde_json::to_string(arrays).unwrap()).unwrap();
    let o = bnproof(&[
        "verify",
        m.to_str().unwrap(),
        "--against",
        a.to_str().unwrap(),
    ]);
    (o.status.code(), text(&o))
}

const ABS: &str = "axis i\ninput x[i]\ny = abs(x)\noutput y\n";
const MAX: &str = "axis i\ninput x[i]\ninput c\ny = max(x, c)\noutput y\n";
const MIN: &str = "axis i\ninput x[i]\ninput c\ny = min(x, c)\noutput y\n";
const LOG: &str = "axis i\ninput x[i]\ny = log(x)\noutput y\n";
const DETACH: &str = "axis i\ninput x[i]\ny = detach(x) * x\noutput y\n";

#[test]
fn abs_has_derivative_zero_at_zero() {
    let ok = json!({"x": [0.0, 2.0, -3.0], "dy": [1.0, 1.0, 1.0], "grad_x": [0.0, 1.0, -1.0]});
    let (code, t) = against("abs-ok", ABS, &ok);
    assert_eq!(code, Some(0), "{t}");
    // sign(0) = 1 (a subgradient some write) is not PyTorch's convention.
    let bad = json!({"x": [0.0, 2.0, -3.0], "dy": [1.0, 1.0, 1.0], "grad_x": [1.0, 1.0, -1.0]});
    let (code, t) = against("abs-bad", ABS, &bad);
    assert_eq!(code, Some(1), "{t}");
}

#[test]
fn max_and_min_split_the_gradient_evenly_on_a_tie() {
    // x[0] ties with c: half to each side.
    let x = [2.0, 3.0, 1.0];
    let dy = [1.0, 1.0, 1.0];
    let ok = json!({"x": x, "c": 2.0, "dy": dy, "grad_x": [0.5, 1.0, 0.0], "grad_c": 1.5});
    let (code, t) = against("max-ok", MAX, &ok);
    assert_eq!(code, Some(0), "{t}");
    let first_wins = json!({"x": x, "c": 2.0, "dy": dy, "grad_x": [1.0, 1.0, 0.0], "grad_c": 1.0});
    let (code, t) = against("max-bad", MAX, &first_wins);
    assert_eq!(code, Some(1), "{t}");
    let ok = json!({"x": x, "c": 2.0, "dy": dy, "grad_x": [0.5, 0.0, 1.0], "grad_c": 1.5});
    let (code, t) = against("min-ok", MIN, &ok);
    assert_eq!(code, Some(0), "{t}");
    let first_wins = json!({"x": x, "c": 2.0, "dy": dy, "grad_x": [1.0, 0.0, 1.0], "grad_c": 1.0});
    let (code, t) = against("min-bad", MIN, &first_wins);
    assert_eq!(code, Some(1), "{t}");
}

#[test]
fn log_is_log_abs_with_derivative_one_over_x_and_zero_at_zero() {
    let ok = json!({"x": [0.0, 2.0, -4.0], "dy": [1.0, 1.0, 1.0], "grad_x": [0.0, 0.5, -0.25]});
    let (code, t) = against("log-ok", LOG, &ok);
    assert_eq!(code, Some(0), "{t}");
    // 1/|x| (the derivative of log |x| read as log of a positive number) is wrong for x < 0.
    let bad = json!({"x": [0.0, 2.0, -4.0], "dy": [1.0, 1.0, 1.0], "grad_x": [0.0, 0.5, 0.25]});
    let (code, t) = against("log-bad", LOG, &bad);
    assert_eq!(code, Some(1), "{t}");
}

#[test]
fn detach_passes_no_gradient() {
    // d/dx (detach(x) * x) = detach(x) = x, not 2x.
    let ok = json!({"x": [0.5, 2.0, -4.0], "dy": [1.0, 1.0, 1.0], "grad_x": [0.5, 2.0, -4.0]});
    let (code, t) = against("detach-ok", DETACH, &ok);
    assert_eq!(code, Some(0), "{t}");
    let bad = json!({"x": [0.5, 2.0, -4.0], "dy": [1.0, 1.0, 1.0], "grad_x": [1.0, 4.0, -8.0]});
    let (code, t) = against("detach-bad", DETACH, &bad);
    assert_eq!(code, Some(1), "{t}");
}
