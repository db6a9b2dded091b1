//! The names Terraform code and `serverless.yml` will try to create, per stage: what a pending
//! deletion would block. Only literal names count (with `terraform.workspace` and the stage
//! substituted); a name computed from other resources is not guessed at.

use std::path::{Path, PathBuf};

use hcl::eval::{Context, Evaluate};
pub use stagecraft_model::deletion::DeclaredName;
use stagecraft_model::serverless::ResolvedService;

/// Terraform resource types whose literal name attribute is a global or account-wide name.
const TERRAFORM_NAMES: &[(&str, &str, &str)] = &[
    (
        "aws_secretsmanager_secret",
        "name",
        "AWS::SecretsManager::Secret",
    ),
    ("aws_s3_bucket", "bucket", "AWS::S3::Bucket"),
    ("aws_kms_alias", "name", "AWS::KMS::Alias"),
];

/// CloudFormation types and the property that names them.
const TEMPLATE_NAMES: &[(&str, &str)] = &[
    ("AWS::SecretsManager::Secret", "Name"),
    ("AWS::S3::Bucket", "BucketName"),
    ("AWS::KMS::Alias", "AliasName"),
];

/// Every `*.tf` under `dir` (local modules included, hidden directories left out), sorted.
pub fn tf_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            let hidden = name.to_str().is_some_and(|n| n.starts_with('.'));
            if p.is_dir() && !hidden {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "tf") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The literal names `dir`'s Terraform code creates in each stage (its workspace). Files that do not
/// parse are reported in `warnings` and skipped.
pub fn terraform_names(
    dir: &Path,
    base: &Path,
    stages: &[String],
    warnings: &mut Vec<String>,
) -> Vec<DeclaredName> {
    let mut out = Vec::new();
    for file in tf_files(dir) {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                warnings.push(format!("cannot read {}: {e}", file.display()));
                continue;
            }
        };
        let body = match hcl::parse(&text) {
            Ok(b) => b,
            Err(e) => {
                warnings.push(format!(
                    "{} is not valid HCL ({e}); the names it declares are not checked against pending deletions",
                    file.display()
                ));
                continue;
            }
        };
        let shown = file
            .strip_prefix(base)
            .unwrap_or(&file)
            .display()
            .to_string();
        for block in body.blocks().filter(|b| b.identifier() == "resource") {
            let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
            let [ty, name] = labels.as_slice() else {
                continue;
            };
            let Some((_, attr, cfn)) = TERRAFORM_NAMES.iter().find(|(t, _, _)| t == ty) else {
                continue;
            };
            let attr_expr = block
                .body()
                .attributes()
                .find(|a| a.key() == *attr)
                .map(|a| a.expr().clone());
            let count_expr = block
                .body()
                .attributes()
                .find(|a| a.key() == "count")
                .map(|a| a.expr().clone());
            let Some(attr_expr) = attr_expr else { continue };
            for stage in stages {
                let mut ctx = Context::new();
                ctx.declare_var("terraform", hcl::value!({ workspace = (stage.as_str()) }));
                if let Some(count) = &count_expr {
                    match count.evaluate(&ctx) {
                        Ok(hcl::Value::Number(n)) if n.as_u64() == Some(0) => continue,
                        _ => {}
                    }
                }
                if let Ok(hcl::Value::String(value)) = attr_expr.evaluate(&ctx) {
                    out.push(DeclaredName {
                        tool: "terraform".into(),
                        stage: stage.clone(),
                        type_name: (*cfn).into(),
                        name: value,
                        address: format!("{ty}.{name}"),
                        file: shown.clone(),
                    });
                }
            }
        }
    }
    out
}

/// The literal names a resolved service creates (its `resources:` section).
pub fn serverless_names(svc: &ResolvedService) -> Vec<DeclaredName> {
    svc.named_resources
        .iter()
        // `named_resources` holds only types `name_property` knows.
        .map(|(logical, ty, name)| DeclaredName {
            tool: "serverless".into(),
            stage: svc.stage.clone(),
            type_name: ty.clone(),
            name: name.clone(),
            address: format!("{} / {logical}", svc.service),
            file: crate::short_path(&svc.path),
        })
        .collect()
}

/// The property naming a resource of `ty` in a template, if it is one whose name can be blocked.
pub fn name_property(ty: &str) -> Option<&'static str> {
    TEMPLATE_NAMES
        .iter()
        .find(|(t, _)| *t == ty)
        .map(|(_, p)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_names_per_workspace_with_count_and_interpolation() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("modules/x")).unwrap();
        std::fs::write(
            dir.path().join("secrets.tf"),
            r#"
resource "aws_secretsmanager_secret" "legacy" { name = "legacy_api_key" }
resource "aws_secretsmanager_secret" "per_stage" { name = "db-${terraform.workspace}" }
resource "aws_secretsmanager_secret" "computed" { name = aws_iam_role.x.name }
resource "aws_s3_bucket" "not_prod" {
  count  = terraform.workspace == "prod" ? 0 : 1
  bucket = "acme-${terraform.workspace}-scratch"
}
resource "aws_dynamodb_table" "t" { name = "ignored" }
"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("modules/x/main.tf"),
            r#"resource "aws_s3_bucket" "m" { bucket = "acme-module" }"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("broken.tf"), "resource {").unwrap();
        let mut warnings = Vec::new();
        let names = terraform_names(
            dir.path(),
            dir.path(),
            &["qa".into(), "prod".into()],
            &mut warnings,
        );
        let got: Vec<(String, String, String)> = names
            .iter()
            .map(|n| (n.stage.clone(), n.address.clone(), n.name.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("qa", "aws_s3_bucket.m", "acme-module"),
                ("prod", "aws_s3_bucket.m", "acme-module"),
                ("qa", "aws_secretsmanager_secret.legacy", "legacy_api_key"),
                ("prod", "aws_secretsmanager_secret.legacy", "legacy_api_key"),
                ("qa", "aws_secretsmanager_secret.per_stage", "db-qa"),
                ("prod", "aws_secretsmanager_secret.per_stage", "db-prod"),
                ("qa", "aws_s3_bucket.not_prod", "acme-qa-scratch"),
            ]
            .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
        );
        assert_eq!(names[2].file, "secrets.tf");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("broken.tf is not valid HCL"));
    }
}
