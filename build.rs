//! With the `torch` feature: make the binaries (and test binaries) find
//! LibTorch at run time and keep `libtorch.so`, the stub whose own NEEDED
//! pulls in `libtorch_cuda.so` — without `--no-as-needed` the linker drops
//! it and CUDA is never available (tch-rs #907, #964, #980, #984).

// A build script talks to cargo on stdout.
#[allow(clippy::disallowed_macros)]
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    // Set by torch-sys (`links = "tch"`) for its direct dependents.
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:rustc-link-search=native={lib}");
    }
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
}
