//! The readers against files: real state files and `serverless.yml` files from public
//! repositories (`tests/corpus/`), and every kind of bad input tried, each with its error.

mod bad_input;
mod corpus;
