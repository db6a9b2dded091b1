//! Which AWS profiles a step's tools use: the stage's (`AWS_PROFILE`), the S3 backend's, each AWS
//! provider's, a service's `provider.profile`; where each is named (file and line), and the account
//! each must act in. The check before every step resolves each through aws-config, asks STS where it
//! acts, and writes short-lived keys for exactly these profiles into private files: the only AWS
//! files the step's process sees.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl::eval::{Context, Evaluate};

use super::run::Blocked;
use crate::aws::{self, AwsEnv};
use crate::config::Workspace;
use crate::model::deploy::{PreflightItem, ProfileUse};
use crate::model::ScanReport;
use stagecraft_iac::terraform::{read_backend_with, Backend};

/// `path` as the user would find it: relative to the config's directory when inside it.
fn shown(ws: &Workspace, path: &Path) -> String {
    let base = ws.base_dir();
    path.strip_prefix(&base)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The 1-based line of the first `attribute = …` inside the `nth` block (0-based) whose first line
/// `header` accepts; a plain text search, enough to point a user at the place.
fn line_of(
    text: &str,
    header: &dyn Fn(&str) -> bool,
    nth: usize,
    attribute: &str,
) -> Option<usize> {
    let mut seen = 0;
    let mut depth: i64 = 0;
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if !inside && header(t) {
            if seen == nth {
                inside = true;
                depth = 0;
            }
            seen += 1;
        }
        if inside {
            let is_attr = t
                .strip_prefix(attribute)
                .is_some_and(|rest| rest.trim_start().starts_with('='));
            if is_attr && depth == 1 {
                return Some(i + 1);
            }
            depth += t.matches('{').count() as i64 - t.matches('}').count() as i64;
            if depth <= 0 && t.contains('}') {
                return None;
            }
        }
    }
    None
}

/// The stage's profile: every step's `AWS_PROFILE`.
pub fn stage_use(ws: &Workspace, stage: &str, profile: &str, account: Option<&str>) -> ProfileUse {
    let named = ws.path.as_deref().and_then(|path| {
        let text = std::fs::read_to_string(path).ok()?;
        let header = format!("[stages.{stage}]");
        let mut lines = text.lines().enumerate();
        lines.find(|(_, l)| l.trim() == header)?;
        let (i, _) = lines
            .take_while(|(_, l)| !l.trim_start().starts_with('['))
            .find(|(_, l)| {
                l.trim_start()
                    .strip_prefix("profile")
                    .is_some_and(|r| r.trim_start().starts_with('='))
            })?;
        Some(format!("{}:{}", path.display(), i + 1))
    });
    ProfileUse {
        profile: profile.to_owned(),
        used_by: "AWS_PROFILE (the stage's profile)".into(),
        account: account.map(str::to_owned),
        role_arn: None,
        named_at: named.unwrap_or_else(|| {
            format!("stagecraft.toml sets no [stages.{stage}] profile: the profile named after the stage")
        }),
        note: None,
        problem: None,
    }
}

/// The values a root's expressions can use: `terraform.workspace`, `var.*` defaults, `local.*`.
fn context_of(dir: &Path, workspace: &str) -> Context<'static> {
    let bodies: Vec<hcl::Body> = stagecraft_iac::declared::tf_files(dir)
        .iter()
        .filter(|p| p.parent() == Some(dir))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| hcl::parse(&t).ok())
        .collect();
    let mut ctx = Context::new();
    ctx.declare_var("terraform", hcl::value!({ workspace = (workspace) }));
    let mut vars = hcl::Map::new();
    for b in bodies
        .iter()
        .flat_map(|b| b.blocks())
        .filter(|b| b.identifier() == "variable")
    {
        let (Some(name), Some(default)) = (
            b.labels().first(),
            b.body().attributes().find(|a| a.key() == "default"),
        ) else {
            continue;
        };
        if let Ok(v) = default.expr().evaluate(&ctx) {
            vars.insert(name.as_str().to_owned(), v);
        }
    }
    ctx.declare_var("var", hcl::Value::Object(vars));
    let mut locals = hcl::Map::new();
    for a in bodies
        .iter()
        .flat_map(|b| b.blocks())
        .filter(|b| b.identifier() == "locals")
        .flat_map(|b| b.body().attributes())
    {
        if let Ok(v) = a.expr().evaluate(&ctx) {
            locals.insert(a.key().to_owned(), v);
        }
    }
    ctx.declare_var("local", hcl::Value::Object(locals));
    ctx
}

/// Attributes through which a block would read AWS files or keys of its own.
const OWN_CREDENTIALS: [&str; 6] = [
    "shared_credentials_file",
    "shared_credentials_files",
    "shared_config_files",
    "access_key",
    "secret_key",
    "token",
];

/// The account holding `bucket`, as the scan saw it.
fn bucket_account(report: &ScanReport, bucket: &str) -> Option<String> {
    report
        .coverage
        .state
        .state_buckets
        .iter()
        .find(|b| b.bucket == bucket)
        .map(|b| b.account_id.clone())
        .or_else(|| {
            report
                .resources
                .iter()
                .find(|r| r.type_name == "AWS::S3::Bucket" && r.name == bucket)
                .map(|r| r.account_id.clone())
        })
}

/// The profiles Terraform uses in `workspace` of the root in `dir`: the S3 backend's (when it names
/// one) and each `provider "aws"` block's (when it names one; without, the provider uses
/// `AWS_PROFILE`, the stage's).
pub fn terraform_uses(
    ws: &Workspace,
    report: &ScanReport,
    dir: &Path,
    workspace: &str,
    stage_account: Option<&str>,
) -> Vec<ProfileUse> {
    let mut out = Vec::new();
    let tf = ws.config.terraform.as_ref();
    let overrides = tf
        .map(|t| t.backend_overrides(workspace))
        .unwrap_or_default();
    let config_backend = tf.and_then(|t| t.backend.clone());
    let backend = match config_backend {
        Some(b) => Some((b, "stagecraft.toml [terraform.backend]".to_owned())),
        None => match read_backend_with(dir, &overrides) {
            Ok(Some(Backend::S3(b))) => {
                let file = backend_file(dir);
                let text = file
                    .as_ref()
                    .and_then(|f| std::fs::read_to_string(f).ok())
                    .unwrap_or_default();
                let at = |attr: &str| {
                    if overrides.contains_key(attr) {
                        format!("stagecraft.toml [terraform] init_args (-backend-config={attr}=…)")
                    } else {
                        let line = line_of(&text, &|t| t.starts_with("backend"), 0, attr);
                        match (&file, line) {
                            (Some(f), Some(l)) => format!("{}:{l}", shown(ws, f)),
                            (Some(f), None) => shown(ws, f),
                            (None, _) => shown(ws, dir),
                        }
                    }
                };
                let named_at = at(if b.profile.is_some() {
                    "profile"
                } else {
                    "role_arn"
                });
                Some((b, named_at))
            }
            _ => None,
        },
    };
    if let Some((b, named_at)) = backend {
        if let Some(profile) = &b.profile {
            let account = bucket_account(report, &b.bucket);
            out.push(ProfileUse {
                profile: profile.clone(),
                used_by: format!("the S3 backend (state in s3://{})", b.bucket),
                note: account.is_none().then(|| {
                    format!(
                        "the scan has not seen bucket {}: the account the profile acts in is shown, not checked",
                        b.bucket
                    )
                }),
                account,
                role_arn: b.role_arn.clone(),
                named_at,
                problem: None,
            });
        }
    }
    let ctx = context_of(dir, workspace);
    for file in stagecraft_iac::declared::tf_files(dir)
        .into_iter()
        .filter(|p| p.parent() == Some(dir))
    {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(body) = hcl::parse(&text) else {
            continue;
        };
        let header = |t: &str| t.starts_with("provider \"aws\"") || t.starts_with("provider aws");
        for (nth, block) in body
            .blocks()
            .filter(|b| {
                b.identifier() == "provider"
                    && b.labels().first().map(|l| l.as_str()) == Some("aws")
            })
            .enumerate()
        {
            let attr = |name: &str| block.body().attributes().find(|a| a.key() == name);
            let alias = attr("alias").and_then(|a| match a.expr() {
                hcl::Expression::String(s) => Some(s.clone()),
                _ => None,
            });
            let used_by = match &alias {
                Some(a) => format!("provider \"aws\" (alias {a})"),
                None => "provider \"aws\"".to_owned(),
            };
            let place = |name: &str| match line_of(&text, &header, nth, name) {
                Some(l) => format!("{}:{l}", shown(ws, &file)),
                None => shown(ws, &file),
            };
            let role_arn = block
                .body()
                .blocks()
                .find(|b| b.identifier() == "assume_role")
                .and_then(|b| b.body().attributes().find(|a| a.key() == "role_arn"))
                .and_then(|a| a.expr().evaluate(&ctx).ok())
                .and_then(|v| v.as_str().map(str::to_owned));
            let own = OWN_CREDENTIALS.iter().find(|k| attr(k).is_some());
            let Some(profile_attr) = attr("profile") else {
                if let Some(k) = own {
                    out.push(ProfileUse {
                        profile: String::new(),
                        used_by,
                        account: None,
                        role_arn,
                        named_at: place(k),
                        note: None,
                        problem: Some(format!(
                            "it sets `{k}`: Stagecraft hands each step the keys of the profiles it checked; remove `{k}` and name a profile"
                        )),
                    });
                }
                continue;
            };
            let value = profile_attr.expr().evaluate(&ctx);
            let (profile, problem) = match value.as_ref().ok().and_then(|v| v.as_str()) {
                Some(p) => (p.to_owned(), None),
                None => (
                    hcl::format::to_string(profile_attr.expr()).unwrap_or_default(),
                    Some(
                        "its profile is an expression Stagecraft cannot evaluate (a variable without a default, a data source): \
                         write the name, or use terraform.workspace or a variable with a default"
                            .to_owned(),
                    ),
                ),
            };
            let problem = problem.or_else(|| {
                own.map(|k| {
                    format!(
                        "it sets `{k}`: Stagecraft hands each step the keys of the profiles it checked; remove `{k}`"
                    )
                })
            });
            out.push(ProfileUse {
                profile,
                used_by,
                // An aliased provider may reach another account on purpose.
                account: if alias.is_none() {
                    stage_account.map(str::to_owned)
                } else {
                    None
                },
                role_arn,
                named_at: place("profile"),
                note: alias
                    .is_some()
                    .then(|| "an aliased provider may act in any account".to_owned()),
                problem,
            });
        }
    }
    out
}

/// Where `workspace`'s state of the root in `dir` is: `s3://bucket/key` or a local path.
pub fn state_location(ws: &Workspace, dir: &Path, workspace: &str) -> Option<String> {
    let tf = ws.config.terraform.as_ref()?;
    let backend = match &tf.backend {
        Some(b) => Backend::S3(b.clone()),
        None => read_backend_with(dir, &tf.backend_overrides(workspace)).ok()??,
    };
    Some(match backend {
        Backend::S3(b) => format!("s3://{}/{}", b.bucket, b.key_for(workspace)),
        Backend::Local { path } if workspace == "default" => path.display().to_string(),
        Backend::Local { path } => path
            .with_file_name("terraform.tfstate.d")
            .join(workspace)
            .join("terraform.tfstate")
            .display()
            .to_string(),
    })
}

/// The `*.tf` file of `dir` holding the `backend` block.
fn backend_file(dir: &Path) -> Option<PathBuf> {
    stagecraft_iac::declared::tf_files(dir)
        .into_iter()
        .filter(|p| p.parent() == Some(dir))
        .find(|p| {
            std::fs::read_to_string(p)
                .ok()
                .and_then(|t| hcl::parse(&t).ok())
                .is_some_and(|b| {
                    b.blocks().any(|t| {
                        t.identifier() == "terraform"
                            && t.body().blocks().any(|x| x.identifier() == "backend")
                    })
                })
        })
}

/// A service's `provider.profile`, when its `serverless.yml` sets one.
pub fn service_use(
    ws: &Workspace,
    file: &Path,
    profile: &str,
    account: Option<&str>,
) -> ProfileUse {
    let line = std::fs::read_to_string(file).ok().and_then(|text| {
        text.lines()
            .position(|l| l.trim_start().starts_with("profile:") && l.starts_with(' '))
            .map(|i| i + 1)
    });
    let unresolved = profile.contains("${");
    ProfileUse {
        profile: profile.to_owned(),
        used_by: "the Serverless CLI (provider.profile)".into(),
        account: account.map(str::to_owned),
        role_arn: None,
        named_at: match line {
            Some(l) => format!("{}:{l}", shown(ws, file)),
            None => shown(ws, file),
        },
        note: None,
        problem: unresolved.then(|| {
            "its value is a variable Stagecraft cannot resolve before the deploy: write the name".to_owned()
        }),
    }
}

/// Each distinct profile once: the first use names it, the others are listed with it.
fn distinct(uses: &[ProfileUse]) -> Vec<(&ProfileUse, Vec<&ProfileUse>)> {
    let mut out: Vec<(&ProfileUse, Vec<&ProfileUse>)> = Vec::new();
    for u in uses {
        match out
            .iter_mut()
            .find(|(f, _)| f.profile == u.profile && f.role_arn == u.role_arn)
        {
            Some((_, more)) => more.push(u),
            None => out.push((u, Vec::new())),
        }
    }
    out
}

/// Whether this machine's clock is close enough to AWS's for the steps' tools, measured through the
/// first profile that works. `None` when no profile answers (the profile checks say why).
pub async fn clock(env: &AwsEnv, uses: &[ProfileUse]) -> Option<PreflightItem> {
    for use_ in uses.iter().filter(|u| u.problem.is_none()) {
        let Ok((_, Some(offset))) = aws::identity_and_clock(&config_for(env, use_).await).await
        else {
            continue;
        };
        return Some(PreflightItem {
            check: "this machine's clock agrees with AWS's".into(),
            ok: !offset.matters(),
            detail: if offset.matters() {
                format!(
                    "{}; AWS refuses requests signed more than 5 minutes off, and Terraform and \
                     the Serverless CLI sign with this clock",
                    offset.describe()
                )
            } else {
                format!(
                    "{} (measured through profile `{}`)",
                    offset.describe(),
                    use_.profile
                )
            },
            fix: offset
                .matters()
                .then(|| stagecraft_aws::clock::ClockOffset::FIX.to_owned()),
        });
    }
    None
}

/// The credentials a step gets for a profile use.
async fn config_for(env: &AwsEnv, use_: &ProfileUse) -> aws_config::SdkConfig {
    let config = env.sdk_config(&use_.profile, None).await;
    match &use_.role_arn {
        Some(role) => aws::assume_role(&config, role).await,
        None => config,
    }
}

/// Where a profile acts, resolved as the step will get it.
async fn acts_in(env: &AwsEnv, use_: &ProfileUse) -> Result<crate::model::Identity, String> {
    let config = config_for(env, use_).await;
    aws::caller_identity(&config)
        .await
        .map_err(|e| match &use_.role_arn {
            Some(role) => format!(
                "profile `{}` assuming {role} does not work: {e}",
                use_.profile
            ),
            None => format!("profile `{}` does not work: {e}", use_.profile),
        })
}

/// Checks one profile: defined, working, acting in the account it must. `Err` holds the
/// preflight's detail and fix.
async fn check(
    env: &AwsEnv,
    names: &std::collections::BTreeSet<String>,
    use_: &ProfileUse,
) -> Result<String, (String, String)> {
    let files = env
        .config_file()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.aws/config".to_owned());
    if let Some(problem) = &use_.problem {
        return Err((
            format!("{} at {}: {problem}", use_.used_by, use_.named_at),
            format!("change {}", use_.named_at),
        ));
    }
    if !names.contains(&use_.profile) {
        return Err((
            format!(
                "profile `{}` ({} at {}) is not defined in {files}",
                use_.profile, use_.used_by, use_.named_at
            ),
            format!(
                "add [profile {}] to {files} (`aws configure sso --profile {}` for IAM Identity Center), or name an existing profile at {}",
                use_.profile, use_.profile, use_.named_at
            ),
        ));
    }
    let who = acts_in(env, use_).await.map_err(|e| {
        (
            format!("{e} ({} at {})", use_.used_by, use_.named_at),
            format!(
                "sign in (`aws sso login --profile {}`) or fix the profile in {files}",
                use_.profile
            ),
        )
    })?;
    match &use_.account {
        Some(account) if *account != who.account => Err((
            format!(
                "profile `{}` acts in account {} ({}), not in {account}, where {} must act ({})",
                use_.profile, who.account, who.arn, use_.used_by, use_.named_at
            ),
            format!(
                "point profile `{}` at account {account}, or name another profile at {}",
                use_.profile, use_.named_at
            ),
        )),
        Some(account) => Ok(format!("account {account}")),
        None => Ok(match &use_.note {
            Some(note) => format!("acts in account {} — {note}", who.account),
            None => format!("acts in account {}", who.account),
        }),
    }
}

/// The preflight items of every profile the plan's steps use, each profile checked once.
pub async fn preflight(env: &AwsEnv, uses: &[ProfileUse]) -> Vec<PreflightItem> {
    let names = match env.profile_names().await {
        Ok(n) => n,
        Err(e) => {
            return vec![PreflightItem {
                check: "the AWS profile files can be read".into(),
                ok: false,
                detail: e.to_string(),
                fix: Some("fix the file the message names".into()),
            }]
        }
    };
    let mut out = Vec::new();
    for (first, more) in distinct(uses) {
        let users: Vec<String> = std::iter::once(first)
            .chain(more.iter().copied())
            .map(|u| u.used_by.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let label = if first.profile.is_empty() {
            format!("{} names a profile", first.used_by)
        } else {
            format!("profile `{}` ({})", first.profile, users.join(", "))
        };
        // The strictest account any of its uses needs.
        let mut strict = first.clone();
        if strict.account.is_none() {
            if let Some(a) = more.iter().find_map(|u| u.account.clone()) {
                strict.account = Some(a);
                strict.note = None;
            }
        }
        match check(env, &names, &strict).await {
            Ok(detail) => out.push(PreflightItem {
                check: label,
                ok: true,
                detail,
                fix: None,
            }),
            Err((detail, fix)) => out.push(PreflightItem {
                check: label,
                ok: false,
                detail,
                fix: Some(fix),
            }),
        }
    }
    out
}

/// Re-checks each profile `uses` names right before a step and hands the step their credentials:
/// short-lived keys resolved by Stagecraft (whatever each profile is: IAM Identity Center, a role
/// chain, `credential_process`) in a private credentials file, each profile's region and
/// `endpoint_url` in a private config file, under `scratch`. `stage_profile` becomes `AWS_PROFILE`.
pub async fn step_environment(
    env: &AwsEnv,
    uses: &[ProfileUse],
    stage_profile: &str,
    scratch: &Path,
    index: u32,
) -> Result<Vec<(String, String)>, Blocked> {
    use aws_credential_types::provider::ProvideCredentials as _;
    use std::fmt::Write as _;
    let names = env.profile_names().await.map_err(|e| e.to_string())?;
    let lapsed = |profile: &str, why: String| {
        if aws::signed_out(&why) {
            Blocked::SignedOut(format!(
                "the sign-in of profile `{profile}` lapsed ({why}) — for IAM Identity Center \
                 `aws sso login --profile {profile}`, otherwise new keys for it"
            ))
        } else {
            Blocked::Refused(why)
        }
    };
    let mut credentials = String::new();
    let mut config = String::new();
    let mut stage_region = None;
    let mut written = std::collections::BTreeSet::new();
    for (first, more) in distinct(uses) {
        let mut strict = first.clone();
        if strict.account.is_none() {
            strict.account = more.iter().find_map(|u| u.account.clone());
        }
        check(env, &names, &strict)
            .await
            .map_err(|(detail, fix)| lapsed(&first.profile, format!("{detail} — {fix}")))?;
        if !written.insert(first.profile.clone()) {
            // The same profile with another role: its keys are written once.
            continue;
        }
        let sdk = env.sdk_config(&first.profile, None).await;
        let provider = sdk
            .credentials_provider()
            .ok_or_else(|| format!("profile `{}` has no credentials", first.profile))?;
        let creds = provider.provide_credentials().await.map_err(|e| {
            lapsed(
                &first.profile,
                format!(
                    "profile `{}`: {}",
                    first.profile,
                    stagecraft_aws::sdk_error::source_chain(&e)
                ),
            )
        })?;
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| aws::FALLBACK_REGION.to_owned());
        if first.profile == stage_profile {
            stage_region = Some(region.clone());
        }
        let _ = write!(
            credentials,
            "[{}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            first.profile,
            creds.access_key_id(),
            creds.secret_access_key()
        );
        if let Some(token) = creds.session_token() {
            let _ = writeln!(credentials, "aws_session_token = {token}");
        }
        let _ = write!(config, "[profile {}]\nregion = {region}\n", first.profile);
        if let Some(url) = sdk.endpoint_url() {
            let _ = writeln!(config, "endpoint_url = {url}");
        }
    }
    let credentials_file =
        write_private(scratch, &format!("credentials-{}", index + 1), &credentials)?;
    let config_file = write_private(scratch, &format!("config-{}", index + 1), &config)?;
    let region = stage_region.unwrap_or_else(|| aws::FALLBACK_REGION.to_owned());
    Ok(vec![
        (
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            credentials_file.display().to_string(),
        ),
        ("AWS_CONFIG_FILE".into(), config_file.display().to_string()),
        ("AWS_PROFILE".into(), stage_profile.to_owned()),
        ("AWS_REGION".into(), region.clone()),
        ("AWS_DEFAULT_REGION".into(), region),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("AWS_SDK_LOAD_CONFIG".into(), "1".into()),
    ])
}

/// Writes `body` to `dir/name`, readable by this user only.
fn write_private(dir: &Path, name: &str, body: &str) -> Result<PathBuf, String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(body.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// The `-backend-config` pairs and environment a Terraform step in `workspace` gets from the config.
pub fn terraform_env(ws: &Workspace, workspace: &str) -> BTreeMap<String, String> {
    ws.config
        .terraform
        .as_ref()
        .map(|t| t.env_for(workspace))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_of_an_attribute_is_the_one_inside_the_nth_block() {
        let text = r#"terraform {
  backend "s3" {
    bucket  = "b"
    profile = "master"
  }
}

provider "aws" {
  region = "us-east-1"
}

provider "aws" {
  alias   = "dns"
  profile = "network"
}
"#;
        let backend = |t: &str| t.starts_with("backend");
        assert_eq!(line_of(text, &backend, 0, "profile"), Some(4));
        let provider = |t: &str| t.starts_with("provider \"aws\"");
        assert_eq!(line_of(text, &provider, 0, "profile"), None);
        assert_eq!(line_of(text, &provider, 1, "profile"), Some(14));
        assert_eq!(line_of(text, &provider, 1, "alias"), Some(13));
    }
}
