//! Terraform for the sandbox and the tests: the pinned real Terraform (1.0.3, from PyPI) and the
//! stand-in that takes its place for roots with AWS resources (their provider cannot be downloaded
//! here), both in one venv.

use std::path::{Path, PathBuf};

use crate::Error;

/// What the venv holds (`terraform-requirements.txt`, shared with the set-up scripts).
pub const REQUIREMENTS: &str = include_str!("../../../terraform-requirements.txt");

/// The Terraform version the tests run.
pub const PINNED_VERSION: &str = "1.0.3";

/// Where the venv is: `STAGECRAFT_TERRAFORM_HOME`, else `.tools/terraform` beside the demo
/// workspace; `None` when it is not installed (`scripts/test` and `scripts/demo` install it).
pub fn home(examples: Option<&Path>) -> Option<PathBuf> {
    std::env::var_os("STAGECRAFT_TERRAFORM_HOME")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            examples
                .and_then(Path::parent)
                .map(|p| p.join(".tools/terraform")),
        )
        .find(|d| d.join("bin/terraform").is_file() && d.join("bin/python").is_file())
        .and_then(|d| std::path::absolute(d).ok())
}

/// The real Terraform binary of the venv.
pub fn real(home: &Path) -> PathBuf {
    home.join("bin/terraform")
}

/// Writes the Terraform stand-in (`stand_in/terraform.py`) into `dir` as `terraform-stand-in`, run
/// by the venv's Python (which has the HCL parser it reads roots with).
pub fn write_stand_in(home: &Path, dir: &Path) -> Result<PathBuf, Error> {
    crate::write_script(
        &home.join("bin/python"),
        &dir.join("terraform-stand-in"),
        include_str!("stand_in/terraform.py"),
    )
}
