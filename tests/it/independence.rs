//! The kernel is the trusted core: it (and what it uses) must not depend on
//! egg or on the prover.

const TRUSTED: &[&str] = &[
    "src/kernel.rs",
    "src/ring.rs",
    "src/sign.rs",
    "src/rules.rs",
    "src/ir.rs",
];

#[test]
fn trusted_core_imports_neither_egg_nor_the_prover() {
    for file in TRUSTED {
        let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(&path).unwrap();
        for line in src.lines() {
            let code = line.split("//").next().unwrap_or("");
            for banned in [
                "egg::",
                "use egg",
                "crate::prove",
                "prove::",
                "crate::refute",
                "crate::eval",
            ] {
                assert!(!code.contains(banned), "{file} mentions {banned:?}: {line}");
            }
        }
    }
}

#[test]
fn oracles_do_not_use_the_differentiation_code() {
    let dir = format!("{}/src/oracle", env!("CARGO_MANIFEST_DIR"));
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let src = std::fs::read_to_string(&path).unwrap();
        files += 1;
        for line in src.lines() {
            let code = line.split("//").next().unwrap_or("");
            for banned in ["crate::diff", "diff::", "crate::derive", "crate::prove"] {
                assert!(!code.contains(banned), "{}: {line}", path.display());
            }
        }
    }
    assert!(files >= 3);
}
