fn main() {
    let l = bnproof::models::load("batchnorm").unwrap();
    let d = bnproof::diff::derive(&l.model).unwrap();
    let mut s = String::new();
    d.write_text(&mut s).unwrap();
    println!("{s}");
    for (n, e) in &d.gradients {
        println!("GRAD {n} = {}", bnproof::syntax::print(e));
    }
    for (n, e) in &d.adjoints {
        println!("ADJ {n} = {}", bnproof::syntax::print(e));
    }
}
