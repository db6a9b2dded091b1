//! Stage deploys: the phased plan (this first part); the runner follows.

pub mod plan;

pub use plan::{plan, Plan, Step};
