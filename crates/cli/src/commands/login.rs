//! `stagecraft login`: the IAM Identity Center sign-in of a profile, from the terminal.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use stagecraft_aws::credentials::AwsEnv;
use stagecraft_model::signin::SignIn;
use stagecraft_model::Error;

use crate::args::LoginArgs;

pub(crate) async fn login_cmd(args: LoginArgs) -> Result<ExitCode, Error> {
    let env = AwsEnv::from_environment();
    let profile = args
        .profile
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
        .unwrap_or_else(|| "default".to_owned());
    let session = env.sso_session(&profile).await?.ok_or_else(|| {
        Error::Input(format!(
            "profile `{profile}` does not sign in through IAM Identity Center (no sso_session or sso_start_url)"
        ))
    })?;
    if args.logout {
        session.sign_out().await?;
        eprintln!("signed out of {}", session.target.start_url);
        return Ok(ExitCode::SUCCESS);
    }
    if !matches!(session.status().await, SignIn::SignedIn { .. }) {
        let show = |code: &stagecraft_model::signin::DeviceCode| {
            eprintln!(
                "Open {} and approve the code {}\n(or {} and type it); waiting…",
                code.verification_uri_complete, code.user_code, code.verification_uri
            );
        };
        session.sign_in(&show, None).await?;
    }
    if let SignIn::SignedIn { expires_at, .. } = session.status().await {
        eprintln!(
            "signed in to {} until {expires_at} (cached in {})",
            session.target.start_url,
            session.cache_file().display()
        );
    }
    for a in session.accounts().await? {
        println!("{}\t{}\t{}", a.id, a.name, a.roles.join(","));
    }
    Ok(ExitCode::SUCCESS)
}
