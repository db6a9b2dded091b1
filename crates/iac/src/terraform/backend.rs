//! Where a Terraform root module keeps its state: the `backend` block of its `terraform {}` settings,
//! read with an HCL parser, or the `[terraform.backend]` table of the workspace config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Terraform's default prefix for named workspaces in an S3 backend.
pub const DEFAULT_WORKSPACE_PREFIX: &str = "env:";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Backend {
    pub bucket: String,
    pub key: String,
    pub region: Option<String>,
    /// The AWS profile Terraform reads the state with.
    pub profile: Option<String>,
    /// A role Terraform assumes with the profile's credentials to reach the state.
    #[serde(default)]
    pub role_arn: Option<String>,
    pub dynamodb_table: Option<String>,
    /// Terraform ≥ 1.10 S3-native locking (`<key>.tflock`).
    #[serde(default)]
    pub use_lockfile: bool,
    #[serde(default = "default_prefix")]
    pub workspace_key_prefix: String,
}

fn default_prefix() -> String {
    DEFAULT_WORKSPACE_PREFIX.to_owned()
}

impl S3Backend {
    /// The object key of a workspace's state.
    pub fn key_for(&self, workspace: &str) -> String {
        if workspace == "default" {
            self.key.clone()
        } else {
            format!("{}/{workspace}/{}", self.workspace_key_prefix, self.key)
        }
    }

    /// The workspace an object key belongs to, if it is a state of this backend.
    pub fn workspace_of(&self, object_key: &str) -> Option<String> {
        if object_key == self.key {
            return Some("default".to_owned());
        }
        let rest = object_key.strip_prefix(&format!("{}/", self.workspace_key_prefix))?;
        let (ws, key) = rest.split_once('/')?;
        (key == self.key && !ws.is_empty()).then(|| ws.to_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    S3(S3Backend),
    /// Local state: `<dir>/terraform.tfstate` and `<dir>/terraform.tfstate.d/<workspace>/terraform.tfstate`.
    Local {
        path: PathBuf,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid HCL: {message}")]
    Hcl { path: PathBuf, message: String },
    #[error(
        "{path}: backend \"{kind}\" attribute `{attribute}` is {problem}; set it in the file or under \
         [terraform.backend] in stagecraft.toml"
    )]
    Attribute {
        path: PathBuf,
        kind: String,
        attribute: String,
        problem: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: backend \"{kind}\" is not supported; Stagecraft reads \"s3\" and \"local\" backends")]
    Unsupported { path: PathBuf, kind: String },
}

/// Reads the `backend` block from the `*.tf` files of `dir`. `Ok(None)`: no backend block, so Terraform
/// uses local state in `dir`.
pub fn read_backend(dir: &Path) -> Result<Option<Backend>, BackendError> {
    read_backend_with(dir, &BTreeMap::new())
}

/// [`read_backend`] with the `-backend-config=key=value` pairs `terraform init` is given, which
/// complete or override the block's attributes (partial configuration).
pub fn read_backend_with(
    dir: &Path,
    overrides: &BTreeMap<String, String>,
) -> Result<Option<Backend>, BackendError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| BackendError::Read {
            path: dir.to_owned(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "tf"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|source| BackendError::Read {
            path: path.clone(),
            source,
        })?;
        if let Some(b) = backend_with(&path, &text, overrides)? {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

/// The backend declared in one file's text, if any.
pub fn backend_in(path: &Path, text: &str) -> Result<Option<Backend>, BackendError> {
    backend_with(path, text, &BTreeMap::new())
}

fn backend_with(
    path: &Path,
    text: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<Option<Backend>, BackendError> {
    let body = hcl::parse(text).map_err(|e| BackendError::Hcl {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let backends = body
        .blocks()
        .filter(|b| b.identifier() == "terraform")
        .flat_map(|tf| tf.body().blocks().filter(|b| b.identifier() == "backend"))
        .count();
    if backends > 1 {
        return Err(BackendError::Invalid {
            path: path.to_owned(),
            message: format!(
                "{backends} `backend` blocks; a configuration has one backend (Terraform refuses the file too)"
            ),
        });
    }
    for tf in body.blocks().filter(|b| b.identifier() == "terraform") {
        if let Some(backend) = tf.body().blocks().find(|b| b.identifier() == "backend") {
            let Some(kind) = backend.labels().first().map(|l| l.as_str().to_owned()) else {
                return Err(BackendError::Invalid {
                    path: path.to_owned(),
                    message: "the `backend` block has no type: write `backend \"s3\" { … }`"
                        .to_owned(),
                });
            };
            let attr = |name: &str| -> Result<Option<String>, BackendError> {
                if let Some(v) = overrides.get(name) {
                    return Ok(Some(v.clone()));
                }
                let Some(a) = backend.body().attributes().find(|a| a.key() == name) else {
                    return Ok(None);
                };
                match a.expr() {
                    hcl::Expression::String(s) => Ok(Some(s.clone())),
                    hcl::Expression::Bool(b) => Ok(Some(b.to_string())),
                    hcl::Expression::Number(n) => Ok(Some(n.to_string())),
                    _ => Err(BackendError::Attribute {
                        path: path.to_owned(),
                        kind: kind.clone(),
                        attribute: name.to_owned(),
                        problem: "not a literal (backends cannot use variables)".to_owned(),
                    }),
                }
            };
            let required = |name: &str| -> Result<String, BackendError> {
                attr(name)?.ok_or_else(|| BackendError::Attribute {
                    path: path.to_owned(),
                    kind: kind.clone(),
                    attribute: name.to_owned(),
                    problem: "missing (partial configuration through -backend-config)".to_owned(),
                })
            };
            return match kind.as_str() {
                "s3" => Ok(Some(Backend::S3(S3Backend {
                    bucket: required("bucket")?,
                    key: required("key")?,
                    region: attr("region")?,
                    profile: attr("profile")?,
                    role_arn: attr("role_arn")?,
                    dynamodb_table: attr("dynamodb_table")?,
                    use_lockfile: attr("use_lockfile")?.as_deref() == Some("true"),
                    workspace_key_prefix: attr("workspace_key_prefix")?
                        .unwrap_or_else(default_prefix),
                }))),
                "local" => {
                    let dir = path.parent().unwrap_or(Path::new("."));
                    Ok(Some(Backend::Local {
                        path: dir.join(attr("path")?.unwrap_or_else(|| "terraform.tfstate".into())),
                    }))
                }
                _ => Err(BackendError::Unsupported {
                    path: path.to_owned(),
                    kind,
                }),
            };
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_backend_is_read_from_hcl() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/infra");
        let Some(Backend::S3(b)) = read_backend(&dir).unwrap() else {
            panic!("no s3 backend in examples/infra");
        };
        assert_eq!(b.bucket, "acme-terraform-state");
        assert_eq!(b.key, "core/terraform.tfstate");
        assert_eq!(b.profile.as_deref(), Some("master"));
        assert_eq!(b.dynamodb_table.as_deref(), Some("acme-terraform-locks"));
        assert_eq!(b.key_for("qa"), "env:/qa/core/terraform.tfstate");
        assert_eq!(b.key_for("default"), "core/terraform.tfstate");
        assert_eq!(
            b.workspace_of("env:/qa/core/terraform.tfstate").as_deref(),
            Some("qa")
        );
        assert_eq!(
            b.workspace_of("core/terraform.tfstate").as_deref(),
            Some("default")
        );
        assert_eq!(b.workspace_of("env:/qa/other/terraform.tfstate"), None);
    }

    #[test]
    fn bad_backends_say_what_to_fix() {
        let p = Path::new("infra/main.tf");
        let cases = [
            (
                "terraform {\n backend \"s3\" {\n key = \"k\"\n }\n}\n",
                "`bucket` is missing",
            ),
            (
                "terraform {\n backend \"s3\" {\n bucket = var.b\n key = \"k\"\n }\n}\n",
                "not a literal",
            ),
            ("terraform {\n backend \"gcs\" {}\n}\n", "not supported"),
            ("terraform {\n backend \"s3\" {\n", "not valid HCL"),
        ];
        for (text, needle) in cases {
            let err = backend_in(p, text).unwrap_err().to_string();
            assert!(
                err.contains(needle) && err.contains("infra/main.tf"),
                "{err}"
            );
        }
        assert_eq!(backend_in(p, "resource \"x\" \"y\" {}\n").unwrap(), None);
        let Some(Backend::Local { path }) = backend_in(
            p,
            "terraform {\n backend \"local\" {\n path = \"state/x.tfstate\"\n }\n}\n",
        )
        .unwrap() else {
            panic!("local backend");
        };
        assert_eq!(path, Path::new("infra/state/x.tfstate"));
    }
}
