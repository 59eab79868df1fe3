//! `verify MODEL --against FILE` and `vectors`: round trips for every
//! built-in model, a perturbed entry, a classic batch-norm bug, and every
//! kind of bad input (exit 2 naming the array and the axis).

use crate::{bnproof, text};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bnproof-against-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `vectors MODEL --out FILE` (must succeed), then the file as JSON.
fn json_vectors(model: &str, file: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["vectors", model, "--out", path_str(file)];
    args.extend_from_slice(extra);
    let o = bnproof(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

fn write_json(file: &Path, v: &Value) {
    std::fs::write(file, serde_json::to_string(v).unwrap()).unwrap();
}

fn against(model: &str, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["verify", model, "--against", path_str(file)];
    args.extend_from_slice(extra);
    bnproof(&args)
}

#[test]
fn vectors_round_trip_for_every_built_in_model_in_both_formats() {
    let d = dir("round-trip");
    for model in bnproof::models::builtin_names() {
        for ext in ["npz", "json"] {
            let file = d.join(format!("{model}.{ext}"));
            let o = bnproof(&["vectors", model, "--out", path_str(&file), "--seed", "5"]);
            assert_eq!(o.status.code(), Some(0), "{model}.{ext}: {}", text(&o));
            let o = against(model, &file, &["--format", "json"]);
            assert_eq!(o.status.code(), Some(0), "{model}.{ext}: {}", text(&o));
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(v["ok"], true, "{model}.{ext}: {v}");
            assert_eq!(v["method"], "exact");
            let tensors = v["tensors"].as_array().unwrap();
            // Every input and parameter of the model is compared.
            let loaded = bnproof::models::load(model).unwrap();
            let vars = loaded.model.inputs.len() + loaded.model.params.len();
            assert_eq!(tensors.len(), vars, "{model}: {v}");
            // The reference vectors are the reference: no error at all.
            for t in tensors {
                assert_eq!(t["abs_err"], 0.0, "{model}.{ext}: {t}");
            }
        }
    }
}

#[test]
fn one_perturbed_entry_fails_naming_the_tensor_and_the_worst_index() {
    let d = dir("perturbed");
    let file = d.join("bn2d.json");
    let mut v = json_vectors("batchnorm2d", &file, &["--shape", "n=2,c=3,h=2,w=2"]);
    // x is (n, c, h, w) = (2, 3, 2, 2): perturb grad_x[1, 2, 0, 1].
    let entry = &mut v["grad_x"][1][2][0][1];
    let old = entry.as_f64().unwrap();
    *entry = json!(old * (1.0 + 1e-6) + 1e-9);
    write_json(&file, &v);
    let o = against("batchnorm2d", &file, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("FAIL grad_x")
            && t.contains("grad_x[n=1, c=2, h=0, w=1] (array index (1, 2, 0, 1))"),
        "{t}"
    );
    assert!(t.contains("ok   grad_gamma"), "{t}");
    // JSON: the worst index in declared axis order.
    let o = against("batchnorm2d", &file, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let gx = &r["tensors"][0];
    assert_eq!(gx["name"], "grad_x");
    assert_eq!(gx["passed"], false);
    assert_eq!(gx["worst"]["index"], json!([1, 2, 0, 1]));
    assert_eq!(gx["worst"]["axes"], json!(["n", "c", "h", "w"]));
    // JUnit: a failing case for grad_x only.
    let o = against("batchnorm2d", &file, &["--format", "junit"]);
    assert_eq!(o.status.code(), Some(1));
    let x = String::from_utf8_lossy(&o.stdout);
    assert_eq!(x.matches("<failure").count(), 1, "{x}");
    assert!(x.contains("grad_x: max|got − ref| / max|ref|"), "{x}");
    // A looser tolerance accepts the perturbation.
    let o = against("batchnorm2d", &file, &["--rtol", "1e-5", "--atol", "1e-8"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// Batch norm's inputs, and its gradient in f64 with or without the
/// `x̂ · mean(dy · x̂)` term.
fn batchnorm_case(with_xhat_term: bool) -> Value {
    let x = [0.7, -1.3, 2.1, 0.2, -0.4, 1.6];
    let dy = [0.3, -0.9, 0.5, 1.1, -0.2, 0.05];
    let (gamma, beta, eps) = (1.25, -0.5, 1e-3);
    let n = x.len() as f64;
    let mu = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n;
    let s = (var + eps).sqrt();
    let xhat: Vec<f64> = x.iter().map(|v| (v - mu) / s).collect();
    let mean_dy = dy.iter().sum::<f64>() / n;
    let mean_dy_xhat = dy.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / n;
    let grad_x: Vec<f64> = (0..x.len())
        .map(|i| {
            let term = if with_xhat_term {
                xhat[i] * mean_dy_xhat
            } else {
                0.0
            };
            gamma / s * (dy[i] - mean_dy - term)
        })
        .collect();
    let grad_gamma: f64 = dy.iter().zip(&xhat).map(|(a, b)| a * b).sum();
    let grad_beta: f64 = dy.iter().sum();
    json!({
        "x": x, "gamma": gamma, "beta": [beta], "eps": eps, "dy": dy,
        "grad_x": grad_x, "grad_gamma": grad_gamma, "grad_beta": grad_beta,
    })
}

#[test]
fn batchnorm_without_the_xhat_term_fails_and_the_textbook_gradient_passes() {
    let d = dir("classic-bug");
    let good = d.join("good.json");
    write_json(&good, &batchnorm_case(true));
    let o = against("batchnorm", &good, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let bad = d.join("bad.json");
    write_json(&bad, &batchnorm_case(false));
    let o = against("batchnorm", &bad, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("FAIL grad_x"), "{t}");
    assert!(t.contains("worst entry grad_x[n="), "{t}");
    assert!(
        t.contains("ok   grad_gamma") && t.contains("ok   grad_beta"),
        "{t}"
    );
}

#[test]
fn the_dtype_of_the_arrays_chooses_the_tolerance() {
    let d = dir("dtype");
    let file = d.join("ln.json");
    let v = json_vectors("layernorm", &file, &["--shape", "n=2,d=5"]);
    // grad_x rounded to f32, stored as float64: fails the f64 tolerance.
    let mut rounded = v.clone();
    for row in rounded["grad_x"].as_array_mut().unwrap() {
        for e in row.as_array_mut().unwrap() {
            *e = json!(e.as_f64().unwrap() as f32 as f64);
        }
    }
    write_json(&file, &rounded);
    let o = against("layernorm", &file, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // The same values stored as float32 in an .npz pass with f32's.
    let npz = d.join("ln.npz");
    let mut arrays: Vec<(String, Vec<u64>, Vec<f64>, bool)> = Vec::new();
    for (name, val) in rounded.as_object().unwrap() {
        let (shape, data) = flatten(val);
        arrays.push((name.clone(), shape, data, name == "grad_x"));
    }
    write_npz(&npz, &arrays);
    let o = against("layernorm", &npz, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let gx = r["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "grad_x")
        .unwrap();
    assert_eq!(gx["dtype"], "f32");
    assert_eq!(gx["rtol"], 1e-4);
}

fn flatten(v: &Value) -> (Vec<u64>, Vec<f64>) {
    match v {
        Value::Array(items) => {
            let mut shape = vec![items.len() as u64];
            let mut data = Vec::new();
            let mut inner = Vec::new();
            for it in items {
                let (s, d) = flatten(it);
                inner = s;
                data.extend(d);
            }
            shape.extend(inner);
            (shape, data)
        }
        other => (vec![], vec![other.as_f64().unwrap()]),
    }
}

/// An `.npz` of float64 arrays (float32 where the flag says so).
fn write_npz(file: &Path, arrays: &[(String, Vec<u64>, Vec<f64>, bool)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(file).unwrap());
    for (name, shape, data, f32) in arrays {
        zip.start_file(
            npyz::npz::file_name_from_array_name(name),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        if *f32 {
            write_npy(&mut zip, shape, data.iter().map(|v| *v as f32));
        } else {
            write_npy(&mut zip, shape, data.iter().copied());
        }
    }
    zip.finish().unwrap();
}

fn write_npy<T: npyz::AutoSerialize>(
    zip: &mut zip::ZipWriter<std::fs::File>,
    shape: &[u64],
    data: impl Iterator<Item = T>,
) {
    use npyz::WriterBuilder;
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(zip)
        .begin_nd()
        .unwrap();
    w.extend(data).unwrap();
    w.finish().unwrap();
}

/// A `.npy` member with the given descr and raw little-endian bytes.
fn raw_npy(descr: &str, shape: &str, bytes: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(bytes);
    out
}

fn bad(model: &str, file: &Path) -> String {
    let o = against(model, file, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // Bad input never panics and says so on stderr.
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_input_exits_2_naming_the_array_and_the_axis() {
    let d = dir("bad-input");
    let file = d.join("bn2d.json");
    let v = json_vectors("batchnorm2d", &file, &["--shape", "n=2,c=3,h=2,w=2"]);
    let case = |name: &str, f: &dyn Fn(&mut Value)| {
        let mut w = v.clone();
        f(&mut w);
        let p = d.join(format!("{name}.json"));
        write_json(&p, &w);
        bad("batchnorm2d", &p)
    };
    // An unknown array name.
    let e = case("unknown", &|w| w["grad_z"] = json!([1.0]));
    assert!(
        e.contains("array `grad_z` is not a name of the model") && e.contains("grad_gamma"),
        "{e}"
    );
    // A missing input.
    let e = case("missing", &|w| {
        w.as_object_mut().unwrap().remove("x");
    });
    assert!(e.contains("array `x` is missing (input x[n,c,h,w])"), "{e}");
    // An axis whose size disagrees with another array's.
    let e = case("axis", &|w| w["gamma"] = json!([1.0, 2.0, 3.0, 4.0]));
    assert!(
        e.contains("array `gamma` axis 0 (`c`) has size 4, but array `x` axis 1 (`c`) has size 3"),
        "{e}"
    );
    // A wrong number of axes.
    let e = case("rank", &|w| w["dy"] = json!([[1.0, 2.0], [3.0, 4.0]]));
    assert!(
        e.contains("array `dy` has shape (2, 2) (2 axes)") && e.contains("(n, c, h, w)"),
        "{e}"
    );
    // No gradient to compare.
    let e = case("no-grad", &|w| {
        let o = w.as_object_mut().unwrap();
        for g in ["grad_x", "grad_gamma", "grad_beta"] {
            o.remove(g);
        }
    });
    assert!(e.contains("no gradient to compare"), "{e}");
    // An assumption that the arrays break.
    let e = case("eps", &|w| w["eps"] = json!(-0.5));
    assert!(e.contains("assumes eps > 0"), "{e}");
    // A ragged list.
    let e = case("ragged", &|w| w["x"][0][0][0] = json!([1.0]));
    assert!(e.contains("array `x`"), "{e}");
    // f16 and bf16 (a 2-byte void type) in an .npz.
    for (descr, what) in [("<f2", "float16"), ("<V2", "bfloat16")] {
        let p = d.join(format!("half-{what}.npz"));
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
        zip.start_file("x.npy", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&raw_npy(descr, "(2,)", &[0, 60, 0, 60]))
            .unwrap();
        zip.finish().unwrap();
        let e = bad("batchnorm", &p);
        assert!(e.contains("array `x`") && e.contains(what), "{e}");
    }
    // Not a file bnproof reads.
    let e = bad("batchnorm", &d.join("vectors.csv"));
    assert!(e.contains(".npz or .json"), "{e}");
    let e = bad("batchnorm", &d.join("absent.npz"));
    assert!(e.contains("cannot read the file"), "{e}");
    let junk = d.join("junk.npz");
    std::fs::write(&junk, b"not a zip").unwrap();
    let e = bad("batchnorm", &junk);
    assert!(e.contains("not a readable .npz archive"), "{e}");
}

#[test]
fn flags_that_do_not_apply_to_against_are_bad_input() {
    let d = dir("flags");
    let file = d.join("bn.json");
    json_vectors("batchnorm", &file, &[]);
    for extra in [
        &["--order", "2"][..],
        &["--backend", "exact"][..],
        &["--rtol", "-1"][..],
    ] {
        let o = against("batchnorm", &file, extra);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", text(&o));
    }
    let o = bnproof(&[
        "verify",
        "batchnorm",
        "layernorm",
        "--against",
        path_str(&file),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = bnproof(&["verify", "batchnorm", "--rtol", "1e-3"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn vectors_reports_bad_input_and_unwritable_paths() {
    let d = dir("vectors-bad");
    let o = bnproof(&["vectors", "batchnorm", "--out", path_str(&d.join("v.txt"))]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = bnproof(&[
        "vectors",
        "batchnorm",
        "--out",
        path_str(&d.join("no-such-dir").join("v.npz")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot write"), "{}", text(&o));
    let o = bnproof(&[
        "vectors",
        "batchnorm",
        "--out",
        path_str(&d.join("v.npz")),
        "--shape",
        "q=3",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no axis `q`"), "{}", text(&o));
}

/// `vectors --order 2` writes a direction `v_<q>` per input and parameter
/// and every `grad2_<p>`; `verify --against` reads them back for every
/// built-in model in both formats (small shapes: the second order is
/// evaluated exactly).
#[test]
fn second_order_vectors_round_trip_for_every_built_in_model() {
    let d = dir("round-trip-2");
    for model in bnproof::models::builtin_names() {
        let loaded = bnproof::models::load(model).unwrap();
        let shape: Vec<String> = loaded.model.axes.iter().map(|a| format!("{a}=2")).collect();
        let shape = shape.join(",");
        for ext in ["npz", "json"] {
            let file = d.join(format!("{model}-2.{ext}"));
            let args = ["vectors", model, "--out", path_str(&file), "--order", "2"];
            let o = bnproof(&[&args[..], &["--shape", &shape]].concat());
            assert_eq!(o.status.code(), Some(0), "{model}.{ext}: {}", text(&o));
            let o = against(model, &file, &["--format", "json"]);
            assert_eq!(o.status.code(), Some(0), "{model}.{ext}: {}", text(&o));
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            let tensors = v["tensors"].as_array().unwrap();
            let vars = loaded.model.inputs.len() + loaded.model.params.len();
            assert_eq!(tensors.len(), 2 * vars, "{model}: {v}");
            let second = tensors
                .iter()
                .filter(|t| t["name"].as_str().unwrap().starts_with("grad2_"))
                .count();
            assert_eq!(second, vars, "{model}: {v}");
            for t in tensors {
                assert_eq!(t["abs_err"], 0.0, "{model}.{ext}: {t}");
            }
        }
    }
}

/// The second order against a closed form worked by hand, so that the
/// symbolic double backward is not checked against itself: for
/// `y = w·x²` and `ℓ = Σ dy·y`, `grad_x = 2·w·dy·x`, `grad_w = Σ dy·x²`, and
/// `∂/∂x (⟨grad_x, v_x⟩ + grad_w·v_w) = 2·w·dy·v_x + 2·v_w·dy·x`,
/// `∂/∂w (…) = Σ 2·dy·x·v_x`. A wrong grad2 entry fails, naming it.
#[test]
fn second_order_matches_a_hand_derived_closed_form() {
    let d = dir("second-closed");
    let model = d.join("square.bn");
    std::fs::write(
        &model,
        "axis n\ninput x[n]\nparam w\ny = w * x^2\noutput y\n",
    )
    .unwrap();
    let (x, dy, vx) = ([0.5, -1.5, 2.0], [1.0, 0.25, -2.0], [0.75, -1.0, 0.5]);
    let (w, vw) = (1.5, -0.5);
    let g2x: Vec<f64> = (0..3)
        .map(|i| 2.0 * w * dy[i] * vx[i] + 2.0 * vw * dy[i] * x[i])
        .collect();
    let g2w: f64 = (0..3).map(|i| 2.0 * dy[i] * x[i] * vx[i]).sum();
    let mut v = json!({
        "x": x, "w": w, "dy": dy, "v_x": vx, "v_w": vw,
        "grad2_x": g2x, "grad2_w": g2w,
    });
    let file = d.join("closed.json");
    write_json(&file, &v);
    let o = against(path_str(&model), &file, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("2 tensors agree"), "{}", text(&o));
    v["grad2_x"][1] = json!(g2x[1] + 1e-6);
    write_json(&file, &v);
    let o = against(path_str(&model), &file, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("FAIL grad2_x") && text(&o).contains("grad2_x[n=1] (array index (1,))"),
        "{}",
        text(&o)
    );
    // grad2 without a direction, or a direction without grad2: bad input.
    for (drop, says) in [
        ("v_x", "need directions"),
        ("grad2_x", "second-order directions"),
    ] {
        let mut w = v.clone();
        w.as_object_mut().unwrap().remove(drop);
        if drop == "v_x" {
            w.as_object_mut().unwrap().remove("v_w");
        } else {
            w.as_object_mut().unwrap().remove("grad2_w");
        }
        write_json(&file, &w);
        let o = against(path_str(&model), &file, &[]);
        assert_eq!(o.status.code(), Some(2), "{drop}: {}", text(&o));
        assert!(text(&o).contains(says), "{}", text(&o));
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// A TorchScript module needs LibTorch: a build without it says how to
/// rebuild and exits 4 (the LibTorch suite runs real modules through
/// `examples/ci/check-torchscript.sh`); flags that only apply to a module
/// are bad input with a file of arrays.
#[test]
fn a_torchscript_module_without_libtorch_exits_4() {
    let d = dir("module");
    let file = d.join("backward.pt");
    std::fs::write(&file, b"not a module").unwrap();
    let o = against("batchnorm", &file, &[]);
    if bnproof::torch::BUILT {
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("cannot load the TorchScript module"),
            "{}",
            text(&o)
        );
    } else {
        assert_eq!(o.status.code(), Some(4), "{}", text(&o));
        assert!(text(&o).contains("--features torch"), "{}", text(&o));
    }
    let arrays = d.join("arrays.json");
    json_vectors("batchnorm", &arrays, &[]);
    for flag in [["--shape", "n=3"], ["--device", "cuda"], ["--dtype", "f32"]] {
        let o = against("batchnorm", &arrays, &flag);
        assert_eq!(o.status.code(), Some(2), "{flag:?}: {}", text(&o));
        assert!(
            text(&o).contains(".pt module only") || text(&o).contains("dtype"),
            "{}",
            text(&o)
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}
