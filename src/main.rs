//! The `bnproof` command line. All logic lives in the library; this is glue.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
