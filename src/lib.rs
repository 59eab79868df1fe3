//! bnproof: a formally checked symbolic explainer for normalization layers.
//!
//! See `ARCHITECTURE.md` for the pipeline and the invariants.

pub mod against;
pub mod cert;
pub mod derive;
pub mod diff;
pub mod docs;
pub mod emit;
pub mod eval;
pub mod exercises;
pub mod explain;
pub mod grade;
pub mod handout;
pub mod higher;
pub mod ir;
pub mod junit;
pub mod kernel;
pub mod lemma;
pub mod library;
pub mod models;
pub mod named;
pub mod oracle;
pub mod prove;
pub mod refute;
pub mod render;
pub mod ring;
pub mod rules;
pub mod sign;
pub mod simplify;
pub mod syntax;
pub mod torch;
pub mod verify;
