use super::*;

fn load(name: &str) -> Loaded {
    crate::models::load(name).unwrap()
}

fn arr(shape: &[usize], data: Vec<f64>) -> Array {
    Array::f64(shape.to_vec(), data)
}

#[test]
fn permute_moves_entries_between_axis_orders() {
    let sizes: BTreeMap<String, usize> = [("a".to_string(), 2), ("b".to_string(), 3)].into();
    let ab = vec!["a".to_string(), "b".to_string()];
    let ba = vec!["b".to_string(), "a".to_string()];
    // [[0, 1, 2], [3, 4, 5]] over (a, b) is [[0, 3], [1, 4], [2, 5]] over (b, a).
    let data: Vec<i32> = (0..6).collect();
    assert_eq!(permute(&data, &ab, &ba, &sizes), vec![0, 3, 1, 4, 2, 5]);
}

#[test]
fn arrays_are_laid_out_in_declared_axis_order() {
    let l = load("groupnorm");
    let x = expected(&l.model)
        .into_iter()
        .find(|e| e.name == "x")
        .unwrap();
    assert_eq!(x.axes, ["n", "g", "k", "h", "w"]);
    let l = load("batchnorm2d");
    let x = expected(&l.model)
        .into_iter()
        .find(|e| e.name == "x")
        .unwrap();
    assert_eq!(x.axes, ["n", "c", "h", "w"]);
}

#[test]
fn unflatten_reads_the_index_in_declared_order() {
    let sizes: BTreeMap<String, usize> = [("n".to_string(), 2), ("c".to_string(), 3)].into();
    let axes = vec!["n".to_string(), "c".to_string()];
    assert_eq!(
        unflatten(5, &axes, &sizes),
        vec![("n".to_string(), 1), ("c".to_string(), 2)]
    );
}

#[test]
fn the_batchnorm_reference_is_the_textbook_gradient() {
    // dx = gamma / sqrt(var + eps) * (dy - mean(dy) - xhat * mean(dy * xhat)).
    let l = load("batchnorm");
    let x = [1.0, 2.0, 4.0, -3.0];
    let dy = [0.5, -1.0, 0.25, 2.0];
    let (gamma, eps) = (1.5, 0.1);
    let m = x.iter().sum::<f64>() / 4.0;
    let var = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / 4.0;
    let s = (var + eps).sqrt();
    let xhat: Vec<f64> = x.iter().map(|v| (v - m) / s).collect();
    let mdy = dy.iter().sum::<f64>() / 4.0;
    let mdyx = dy.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / 4.0;
    let dx: Vec<f64> = (0..4)
        .map(|i| gamma / s * (dy[i] - mdy - xhat[i] * mdyx))
        .collect();
    let given: BTreeMap<String, Array> = [
        ("x".to_string(), arr(&[4], x.to_vec())),
        ("gamma".to_string(), arr(&[], vec![gamma])),
        ("beta".to_string(), arr(&[1], vec![0.0])),
        ("eps".to_string(), arr(&[], vec![eps])),
        ("dy".to_string(), arr(&[4], dy.to_vec())),
        ("grad_x".to_string(), arr(&[4], dx)),
    ]
    .into();
    let r = check(&l, "t.json", &given, &Options::default()).unwrap();
    assert_eq!(r.method, Method::Exact);
    assert_eq!(r.comparisons.len(), 1);
    assert!(r.passed(), "{r:?}");
    assert!(r.comparisons[0].rel_err < 1e-14);
    assert!(r.comparisons[0].error_bound < 1e-15);
}

#[test]
fn the_interval_path_agrees_with_the_exact_one() {
    let l = load("layernorm");
    let sizes: BTreeMap<String, usize> = [("n".to_string(), 3), ("d".to_string(), 5)].into();
    let v = vectors(&l, &sizes, 7, 1).unwrap();
    let given: BTreeMap<String, Array> = v.into_iter().collect();
    let bound = bind(&l.model, &given).unwrap();
    let d = diff::derive(&l.model).unwrap();
    let exact = references_exact(&l.model, &d, &bound).unwrap();
    let iv = interval::references(&l.model, &d, &bound).unwrap();
    for (k, e) in &exact {
        for (a, b) in e.iter().zip(&iv[k]) {
            assert!(
                (a.value - b.value).abs() <= b.bound + a.bound,
                "{k}: {a:?} {b:?}"
            );
            assert!(b.bound < 1e-13 * (1.0 + a.value.abs()), "{k}: {b:?}");
        }
    }
}

#[test]
fn vectors_are_correctly_rounded_and_reproducible() {
    let l = load("rmsnorm");
    let sizes = default_sizes(&l.model);
    let a = vectors(&l, &sizes, 3, 1).unwrap();
    let b = vectors(&l, &sizes, 3, 1).unwrap();
    assert_eq!(a, b);
    let c = vectors(&l, &sizes, 4, 1).unwrap();
    assert_ne!(a, c);
    // Every input is a float32 number.
    let x = &a.iter().find(|(n, _)| n == "x").unwrap().1;
    assert!(x.data.iter().all(|v| f64::from(*v as f32) == *v));
}
