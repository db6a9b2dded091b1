// Pending deletions against the sandbox organization: the planted secret and key with their dates,
// the Terraform apply the secret blocks, and restoring / cancelling through the core, recorded in
// the store, with the blocker gone on the next scan.

use stagecraft_sandbox::harness;

use std::sync::Arc;

use stagecraft_analysis::deletion::pending;
use stagecraft_aws::scan::{self, Rescan, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_model::ScanReport;
use stagecraft_ops::undo::{self, ActionRequest};
use stagecraft_store::Store;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

async fn scan_of(sb: &stagecraft_sandbox::Sandbox, rescan: Option<Rescan>) -> ScanReport {
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    let opts = ScanOptions {
        rescan,
        ..ScanOptions::default()
    };
    scan::scan(&sb.aws_env(), &ws, &opts, &|_| {})
        .await
        .expect("scan")
}

fn days_from_now(date: &str) -> f64 {
    let at = OffsetDateTime::parse(date, &Rfc3339).expect("RFC 3339");
    (at - OffsetDateTime::now_utc()).as_seconds_f64() / 86_400.0
}

#[tokio::test]
async fn pending_deletions_are_listed_blocking_and_undone_through_the_core() {
    // It restores the planted secret and key: an organization of its own.
    let running = harness::start(stagecraft_sandbox::SeedSpec::default());
    let sb = &running.sandbox;
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    let report = scan_of(sb, None).await;
    let list = pending(&report, &[]);
    let names: Vec<(&str, Option<&str>)> = list
        .iter()
        .map(|p| (p.type_name.as_str(), p.stage.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("AWS::KMS::Key", Some("dev")),
            ("AWS::SecretsManager::Secret", Some("qa"))
        ],
        "{list:#?}"
    );
    // Both were scheduled with a 7-day window when the sandbox was seeded, minutes ago.
    for p in &list {
        let left = days_from_now(p.deletion_date.as_deref().expect("a date"));
        assert!((6.9..=7.0).contains(&left), "{}: {left} days", p.name);
    }
    let secret = &list[1];
    assert_eq!(secret.name, "legacy_api_key");
    assert_eq!(secret.blocks.len(), 1);
    assert_eq!(
        secret.blocks[0].declared_by,
        "aws_secretsmanager_secret.legacy_api_key (infra/secrets.tf)"
    );
    assert!(secret.blocks[0].message.starts_with(
        "terraform apply in qa will fail: secret `legacy_api_key` is scheduled for deletion on "
    ));
    let key = &list[0];
    assert_eq!(key.action.as_deref(), Some("cancel_key_deletion"));

    // Restore the secret and cancel the key's deletion, each recorded.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("stagecraft.db")).expect("store");
    for (item, action) in [(secret, "restore_secret"), (key, "cancel_key_deletion")] {
        let req = ActionRequest {
            action: action.into(),
            resource_id: item.id.clone(),
            typed_stage: None,
        };
        let record = undo::perform(&sb.aws_env(), &ws, &report, &req)
            .await
            .expect("action");
        assert_eq!(record.outcome.as_str(), "done", "{}", record.message);
        assert!(record.who.contains(&item.account_id), "{}", record.who);
        store.record_action(&record).expect("record");
    }
    let history = store.actions().expect("history");
    assert_eq!(
        history
            .iter()
            .map(|a| (
                a.action.as_str(),
                a.resource_name.as_str(),
                a.outcome.as_str()
            ))
            .collect::<Vec<_>>(),
        [
            ("cancel_key_deletion", key.name.as_str(), "done"),
            ("restore_secret", "legacy_api_key", "done")
        ]
    );

    // The next scan of qa: the secret is back and blocks nothing; dev's key is disabled, not deleted.
    let previous = Arc::new(report);
    let after = scan_of(
        sb,
        Some(Rescan {
            account_id: secret.account_id.clone(),
            previous: previous.clone(),
        }),
    )
    .await;
    let after = scan_of(
        sb,
        Some(Rescan {
            account_id: key.account_id.clone(),
            previous: Arc::new(after),
        }),
    )
    .await;
    assert!(
        pending(&after, &[]).is_empty(),
        "{:#?}",
        pending(&after, &[])
    );
    let k = after
        .resources
        .iter()
        .find(|r| r.id == key.id)
        .expect("key still there");
    assert_eq!(k.attr_str("key_state"), Some("Disabled"));

    // Acting again on what is no longer pending is refused by the core.
    let again = ActionRequest {
        action: "restore_secret".into(),
        resource_id: secret.id.clone(),
        typed_stage: None,
    };
    let err = undo::perform(&sb.aws_env(), &ws, &after, &again)
        .await
        .unwrap_err();
    assert_eq!(err.code(), stagecraft_model::ErrorCode::InvalidInput);
}
