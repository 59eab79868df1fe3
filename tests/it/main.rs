//! All integration tests in one binary (faster to build and link).

mod adversarial;
mod against;
mod cli;
mod completeness;
mod derive;
mod edge;
mod explain;
mod grade;
mod independence;
mod kernel;
mod library;
mod prove;
mod render;
mod rules;
mod soundness;
mod tamper;
mod torch;
mod user_models;
