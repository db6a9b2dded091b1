use super::*;
use crate::model::Resource;
use crate::testkit::{account, sls, tf, Org, REGION};

fn org_with_pending() -> Org {
    let mut org = Org::new(&["dev", "qa", "prod"]);
    org.add(
        "qa",
        "AWS::SecretsManager::Secret",
        &format!(
            "arn:aws:secretsmanager:{REGION}:{}:secret:legacy_api_key-AbCdEf",
            account("qa")
        ),
        "legacy_api_key",
        tf("qa", "aws_secretsmanager_secret.legacy_api_key"),
        &[("deleted_date", "2026-12-06T02:00:00Z".into())],
    );
    org.add(
        "dev",
        "AWS::KMS::Key",
        &format!("arn:aws:kms:{REGION}:{}:key/k-1", account("dev")),
        "k-1",
        crate::model::Owner::Unmanaged,
        &[
            ("key_state", "PendingDeletion".into()),
            ("deletion_date", "2026-12-01T00:00:00Z".into()),
        ],
    );
    org.add(
        "prod",
        crate::model::types::cloudformation::STACK_TYPE,
        &format!(
            "arn:aws:cloudformation:{REGION}:{}:stack/old-prod/1",
            account("prod")
        ),
        "old-prod",
        sls("prod", "old", None),
        &[("status", "DELETE_FAILED".into())],
    );
    org.report.declared = vec![
        DeclaredName {
            tool: "terraform".into(),
            stage: "qa".into(),
            type_name: "AWS::SecretsManager::Secret".into(),
            name: "legacy_api_key".into(),
            address: "aws_secretsmanager_secret.legacy_api_key".into(),
            file: "infra/secrets.tf".into(),
        },
        // The same name in dev's code is not blocked: secret names are per account.
        DeclaredName {
            tool: "terraform".into(),
            stage: "dev".into(),
            type_name: "AWS::SecretsManager::Secret".into(),
            name: "legacy_api_key".into(),
            address: "aws_secretsmanager_secret.legacy_api_key".into(),
            file: "infra/secrets.tf".into(),
        },
    ];
    org
}

#[test]
fn pending_deletions_are_listed_soonest_first_with_the_deploys_they_block() {
    let org = org_with_pending();
    let gone = vec![GoneBucket {
        resource: {
            let mut r = Resource::new(
                "AWS::S3::Bucket",
                "arn:aws:s3:::acme-qa-exports".into(),
                "acme-qa-exports".into(),
                &account("qa"),
                REGION,
            );
            r.stage = Some("qa".into());
            r
        },
        last_seen: "2026-11-28T10:00:00Z".into(),
    }];
    let p = pending(&org.report, &gone);
    let summary: Vec<(&str, &str, Option<&str>)> = p
        .iter()
        .map(|x| {
            (
                x.name.as_str(),
                x.state.as_str(),
                x.deletion_date.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("k-1", "scheduled", Some("2026-12-01T00:00:00Z")),
            ("legacy_api_key", "scheduled", Some("2026-12-06T02:00:00Z")),
            ("old-prod", "DELETE_FAILED", None),
            ("acme-qa-exports", "deleted", None),
        ]
    );
    assert_eq!(p[0].action.as_deref(), Some("cancel_key_deletion"));
    assert_eq!(p[1].action.as_deref(), Some("restore_secret"));
    assert_eq!(p[1].blocks.len(), 1, "{:?}", p[1].blocks);
    assert_eq!(
        p[1].blocks[0].message,
        "terraform apply in qa will fail: secret `legacy_api_key` is scheduled for deletion on 2026-12-06 02:00 UTC — restore it (if the code should keep it) or force-delete it (`aws secretsmanager delete-secret --force-delete-without-recovery`) before the next run"
    );
    assert_eq!(
        p[1].blocks[0].declared_by,
        "aws_secretsmanager_secret.legacy_api_key (infra/secrets.tf)"
    );
    assert!(p[3].detail.contains("2026-11-28 10:00 UTC"));
}

#[test]
fn time_left_reads_in_days_and_hours() {
    let now = time::macros::datetime!(2026-11-29 02:00 UTC);
    assert_eq!(time_left("2026-12-06T04:30:00Z", now), "7 days 2 hours");
    assert_eq!(time_left("2026-11-29T05:10:00Z", now), "3 hours 10 minutes");
    assert_eq!(time_left("2026-11-28T00:00:00Z", now), "any moment now");
    assert_eq!(time_left("soon", now), "unknown");
}

#[test]
fn an_action_must_match_the_snapshot_and_a_protected_stage_must_be_typed() {
    let mut org = org_with_pending();
    let ws = crate::config::Workspace::default();
    let secret = org.report.resources[0].id.clone();
    let key = org.report.resources[1].id.clone();
    let req = |action: &str, id: &str, typed: Option<&str>| crate::model::action::ActionRequest {
        action: action.into(),
        resource_id: id.into(),
        typed_stage: typed.map(str::to_owned),
    };
    assert!(validate(&ws, &org.report, &req("restore_secret", &secret, None)).is_ok());
    let wrong = validate(&ws, &org.report, &req("cancel_key_deletion", &secret, None));
    assert!(wrong.unwrap_err().to_string().contains("does not apply"));
    let unknown = validate(&ws, &org.report, &req("delete_everything", &secret, None));
    assert!(unknown.unwrap_err().to_string().contains("unknown action"));
    let missing = validate(&ws, &org.report, &req("restore_secret", "arn:nope", None));
    assert!(missing
        .unwrap_err()
        .to_string()
        .contains("not pending deletion"));
    // The same key in prod needs `prod` typed.
    org.report.resources[1].stage = Some("prod".into());
    let untyped = validate(&ws, &org.report, &req("cancel_key_deletion", &key, None));
    assert!(untyped
        .unwrap_err()
        .to_string()
        .contains("prod is a protected stage: type `prod`"));
    let typo = validate(
        &ws,
        &org.report,
        &req("cancel_key_deletion", &key, Some("qa")),
    );
    assert!(typo.is_err());
    assert!(validate(
        &ws,
        &org.report,
        &req("cancel_key_deletion", &key, Some("prod"))
    )
    .is_ok());
}

#[test]
fn a_bucket_is_gone_only_where_this_scan_listed_buckets() {
    let mut org = org_with_pending();
    let bucket = |name: &str, account_id: &str| GoneBucket {
        resource: Resource::new(
            "AWS::S3::Bucket",
            format!("arn:aws:s3:::{name}"),
            name.into(),
            account_id,
            REGION,
        ),
        last_seen: "2026-11-28T10:00:00Z".into(),
    };
    // A snapshot of another organization (a previous sandbox) shares the store.
    let gone = [
        bucket("other-org-bucket", "999999999999"),
        bucket("dev-bucket", &account("dev")),
    ];
    let names = |org: &Org| -> Vec<String> {
        pending(&org.report, &gone)
            .into_iter()
            .filter(|p| p.state == "deleted")
            .map(|p| p.name)
            .collect()
    };
    assert_eq!(names(&org), ["dev-bucket"]);

    // When S3 could not be listed in dev, its buckets are not known to be gone.
    let dev = org
        .report
        .accounts
        .iter_mut()
        .find(|a| a.id == account("dev"))
        .expect("dev account");
    dev.status = AccountStatus::Partial;
    dev.collect_errors.push(crate::model::CollectError {
        collector: crate::model::Collector::S3,
        region: REGION.into(),
        code: stagecraft_model::ErrorCode::Throttled,
        message: "s3:ListBuckets: slow down".into(),
    });
    assert!(names(&org).is_empty());
}
