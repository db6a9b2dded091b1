//! The two deletion windows AWS lets you undo: restore a secret, cancel a key's deletion. These are
//! the only writes Stagecraft makes outside a deploy. Each is checked against the snapshot (the
//! resource must be pending deletion there, with this action), against the stage (a protected stage
//! needs its name typed), and against the account (the credentials must resolve to the resource's
//! account), and each is recorded whatever its outcome.

use crate::aws::{self, AwsEnv};
use crate::config::Workspace;
pub use crate::deletion::{is_protected, validate};
pub use crate::model::action::{ActionOutcome, ActionRecord, ActionRequest};
use crate::model::ScanReport;
use crate::Error;

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn sdk_failure<E, R>(e: &aws_sdk_sts::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let meta = aws_sdk_sts::error::ProvideErrorMetadata::message(e).unwrap_or("");
    match stagecraft_aws::sdk_error::error_code(e) {
        Some(code) => format!("AWS refused ({code}): {meta}"),
        None => format!(
            "AWS could not be reached: {}",
            aws_smithy_types::error::display::DisplayErrorContext(e)
        ),
    }
}

/// Performs a validated request and returns the record to store (also for a failure).
pub async fn perform(
    env: &AwsEnv,
    workspace: &Workspace,
    report: &ScanReport,
    req: &ActionRequest,
) -> Result<ActionRecord, Error> {
    let item = validate(workspace, report, req)?;
    let account = report
        .accounts
        .iter()
        .find(|a| a.id == item.account_id)
        .ok_or_else(|| {
            Error::Input(format!(
                "account {} is not in the snapshot",
                item.account_id
            ))
        })?;
    let access = account.access.clone().ok_or_else(|| {
        Error::Input(format!(
            "the snapshot does not say how account {} was reached; rescan it first",
            account.id
        ))
    })?;
    let config = env
        .access_config(&access, &account.id, Some(&item.region))
        .await?;
    let mut record = ActionRecord {
        at: now(),
        who: crate::local_user(),
        action: req.action.clone(),
        account_id: item.account_id.clone(),
        stage: item.stage.clone(),
        resource_id: item.id.clone(),
        resource_name: item.name.clone(),
        outcome: ActionOutcome::Failed,
        message: String::new(),
    };
    // Never act in another account than the resource's, whatever the profile resolves to.
    let identity = match aws::caller_identity(&config).await {
        Ok(i) => i,
        Err(e) => {
            record.message = format!(
                "credentials for account {} do not work: {e}",
                item.account_id
            );
            return Ok(record);
        }
    };
    record.who = format!("{} ({})", identity.arn, crate::local_user());
    if identity.account != item.account_id {
        record.message = format!(
            "refused: the credentials act in account {}, not {}",
            identity.account, item.account_id
        );
        return Ok(record);
    }
    let result = match req.action.as_str() {
        "restore_secret" => aws_sdk_secretsmanager::Client::new(&config)
            .restore_secret()
            .secret_id(&item.id)
            .send()
            .await
            .map(|_| format!("secret `{}` restored: it is no longer scheduled for deletion", item.name))
            .map_err(|e| sdk_failure(&e)),
        _ => aws_sdk_kms::Client::new(&config)
            .cancel_key_deletion()
            // The key id (the ARN's last part) works in AWS and in the emulator alike.
            .key_id(item.id.rsplit('/').next().unwrap_or(&item.id))
            .send()
            .await
            .map(|_| {
                format!(
                    "deletion of key `{}` cancelled: the key is now disabled; enable it again where it is still needed",
                    item.name
                )
            })
            .map_err(|e| sdk_failure(&e)),
    };
    match result {
        Ok(m) => {
            record.outcome = ActionOutcome::Done;
            record.message = m;
        }
        Err(m) => record.message = m,
    }
    Ok(record)
}
