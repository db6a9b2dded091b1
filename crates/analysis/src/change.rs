//! Which resource each recorded change touched, and so each resource's creation and latest change
//! (who, when, with which tool); and whether that tool is the resource's owner.

use std::collections::HashMap;

use crate::model::change::{arn_account, ChangeEvent, ChangeTarget, Provenance, Tool};
use crate::model::{Owner, Resource};

/// The changes that can touch each account's resources (its own events, and events whose
/// targets' ARNs name it), newest first as given: [`attach`] one account at a time with these
/// finds what it finds with them all.
pub fn by_account(changes: &[ChangeEvent]) -> HashMap<&str, Vec<&ChangeEvent>> {
    let mut out: HashMap<&str, Vec<&ChangeEvent>> = HashMap::new();
    for change in changes {
        let mut accounts: Vec<&str> = change
            .targets
            .iter()
            .map(|t| arn_account(&t.name).unwrap_or(&change.account_id))
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        for a in accounts {
            out.entry(a).or_default().push(change);
        }
    }
    out
}

/// Sets each resource's [`Provenance`] from `changes` (newest first): its latest change and the
/// call that created it, when the history read holds them. A change is matched to a resource of
/// its account by ARN, or by the name or id the request gave with the type the event implies, in
/// the event's region (IAM's events, recorded in us-east-1, match its global resources).
pub fn attach<'c>(resources: &mut [Resource], changes: impl IntoIterator<Item = &'c ChangeEvent>) {
    // (account, key) → resources, keyed by id, name and the id's last segment.
    let mut index: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, r) in resources.iter().enumerate() {
        let last =
            r.id.rsplit(['/', ':'])
                .next()
                .filter(|s| !s.is_empty() && *s != r.id && *s != r.name);
        for key in [Some(r.id.as_str()), Some(r.name.as_str()), last]
            .into_iter()
            .flatten()
        {
            index
                .entry((r.account_id.as_str(), key))
                .or_default()
                .push(i);
        }
    }
    let mut found: Vec<Option<Provenance>> = vec![None; resources.len()];
    for change in changes {
        let mut touched: Vec<usize> = change
            .targets
            .iter()
            .flat_map(|t| matches(&index, resources, change, t))
            .collect();
        touched.sort_unstable();
        touched.dedup();
        for i in touched {
            let p = found[i].get_or_insert(Provenance {
                created: None,
                last_change: None,
            });
            // Newest first: the first change seen is the latest; a later create is older.
            if p.last_change.is_none() {
                p.last_change = Some(change.clone());
            }
            if is_creation(&change.action) {
                p.created = Some(change.clone());
            }
        }
    }
    for (r, p) in resources.iter_mut().zip(found) {
        r.changed = p.map(Box::new);
    }
}

fn matches(
    index: &HashMap<(&str, &str), Vec<usize>>,
    resources: &[Resource],
    change: &ChangeEvent,
    target: &ChangeTarget,
) -> Vec<usize> {
    // An ARN names its account; a bare name is the event's account's.
    let account = arn_account(&target.name).unwrap_or(&change.account_id);
    let Some(candidates) = index.get(&(account, target.name.as_str())) else {
        return Vec::new();
    };
    candidates
        .iter()
        .copied()
        .filter(|&i| target.names(change, &resources[i]))
        .collect()
}

fn is_creation(action: &str) -> bool {
    action.starts_with("Create") || action == "RunInstances"
}

/// Whether `change` is one `owner` makes: Terraform's own runs, a stack's changes made by
/// CloudFormation (and the CLI that drives it). `None` when it cannot be said: nothing owns the
/// resource, or the event does not say which tool it was. A service's resource changed with the
/// JavaScript SDK v2 alone may be `serverless deploy function` (v3 adds no mark of its own): it
/// cannot be said either.
pub fn by_owner(owner: &Owner, change: &ChangeEvent) -> Option<bool> {
    let tool = change.tool;
    if matches!(tool, Tool::Unknown | Tool::AwsService) {
        return None;
    }
    match owner {
        Owner::Terraform(_) => Some(tool == Tool::Terraform),
        Owner::Serverless(_) if tool == Tool::JsSdkV2 => None,
        Owner::Serverless(_) => Some(matches!(tool, Tool::Cloudformation | Tool::Serverless)),
        Owner::Cloudformation(_) => {
            Some(matches!(tool, Tool::Cloudformation | Tool::Cdk | Tool::Sam))
        }
        Owner::Unmanaged | Owner::Conflict { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TerraformClaim;

    fn change(id: &str, at: &str, action: &str, tool: Tool, target: (&str, &str)) -> ChangeEvent {
        ChangeEvent {
            id: id.into(),
            at: at.into(),
            account_id: "111111111111".into(),
            region: "eu-west-1".into(),
            source: "lambda.amazonaws.com".into(),
            action: action.into(),
            who: "role Admin (session alice)".into(),
            who_arn: None,
            tool,
            user_agent: String::new(),
            targets: vec![ChangeTarget {
                type_name: Some(target.0.into()),
                name: target.1.into(),
            }],
            window_days: None,
        }
    }

    fn function(name: &str, account: &str, region: &str) -> Resource {
        Resource::new(
            "AWS::Lambda::Function",
            format!("arn:aws:lambda:{region}:{account}:function:{name}"),
            name.into(),
            account,
            region,
        )
    }

    #[test]
    fn latest_change_and_creation_are_the_resources_own() {
        let mut rs = vec![
            function("api", "111111111111", "eu-west-1"),
            // Same name, another account and another region: not touched.
            function("api", "222222222222", "eu-west-1"),
            function("api", "111111111111", "us-east-1"),
        ];
        let changes = vec![
            change(
                "3",
                "2026-12-03T00:00:00Z",
                "UpdateFunctionConfiguration",
                Tool::Console,
                ("AWS::Lambda::Function", "api"),
            ),
            change(
                "2",
                "2026-12-02T00:00:00Z",
                "UpdateFunctionCode",
                Tool::Terraform,
                (
                    "AWS::Lambda::Function",
                    "arn:aws:lambda:eu-west-1:111111111111:function:api",
                ),
            ),
            change(
                "1",
                "2026-12-01T00:00:00Z",
                "CreateFunction",
                Tool::Terraform,
                ("AWS::Lambda::Function", "api"),
            ),
            change(
                "0",
                "2026-12-01T00:00:00Z",
                "CreateTable",
                Tool::Terraform,
                ("AWS::DynamoDB::Table", "api"),
            ),
        ];
        attach(&mut rs, &changes);
        let p = rs[0].changed.as_ref().expect("changes");
        assert_eq!(p.last_change.as_ref().map(|c| c.id.as_str()), Some("3"));
        assert_eq!(p.created.as_ref().map(|c| c.id.as_str()), Some("1"));
        assert!(rs[1].changed.is_none());
        assert!(rs[2].changed.is_none());
    }

    #[test]
    fn owners_accept_their_own_tools_only() {
        let tf = Owner::Terraform(TerraformClaim {
            address: "aws_lambda_function.api".into(),
            workspace: "dev".into(),
            state: "s3://b/k".into(),
            matched_by: "arn".into(),
        });
        let with = |tool: Tool, ua: &str| ChangeEvent {
            user_agent: ua.into(),
            ..change(
                "e",
                "2026-12-01T10:00:00Z",
                "UpdateFunctionCode",
                tool,
                ("AWS::Lambda::Function", "api"),
            )
        };
        assert_eq!(by_owner(&tf, &with(Tool::Terraform, "")), Some(true));
        assert_eq!(by_owner(&tf, &with(Tool::Console, "")), Some(false));
        assert_eq!(by_owner(&tf, &with(Tool::Unknown, "")), None);
        assert_eq!(by_owner(&Owner::Unmanaged, &with(Tool::Console, "")), None);

        // A service's function: `serverless deploy function` (v3) sends the JS SDK v2's agent
        // alone, which cannot be told from a script; boto3 can.
        let sls = Owner::Serverless(crate::model::ServerlessClaim {
            service: "users".into(),
            stage: "dev".into(),
            stack: "users-dev".into(),
            logical_id: Some("ApiLambdaFunction".into()),
            matched_by: "stack resources".into(),
        });
        let v3 = with(
            Tool::JsSdkV2,
            "aws-sdk-nodejs/2.1693.0 linux/v18.20.4 promise",
        );
        assert_eq!(by_owner(&sls, &v3), None);
        assert_eq!(by_owner(&tf, &v3), Some(false));
        let boto = with(Tool::Sdk, "Boto3/1.34.0 md/Botocore#1.34.0");
        assert_eq!(by_owner(&sls, &boto), Some(false));
        assert_eq!(
            by_owner(
                &sls,
                &with(Tool::Cloudformation, "cloudformation.amazonaws.com")
            ),
            Some(true)
        );
    }
}
