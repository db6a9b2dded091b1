//! Collectors: one module per AWS service, each read-only (List/Describe/Get metadata).

pub mod ssm;
