//! The torch backend in a build without the `torch` feature: unavailable.

use super::{Device, Path, Problem, Quantity, Variant};

const WHY: &str = "this bnproof was built without LibTorch; rebuild with `--features torch` \
(LibTorch 2.11.0: scripts/setup-libtorch.sh, then LIBTORCH=<its torch folder>)";

pub fn available(_device: Device) -> Result<(), String> {
    Err(WHY.to_string())
}

pub fn run(
    _problem: &Problem,
    _path: Path,
    _variant: Variant,
    _lo: u8,
    _hi: u8,
) -> Result<Vec<(Quantity, Vec<f64>)>, String> {
    Err(WHY.to_string())
}

pub fn run_module(
    _path: &std::path::Path,
    _args: &[super::ModuleArg],
    _device: Device,
) -> Result<Vec<super::ModuleResult>, String> {
    Err(WHY.to_string())
}
