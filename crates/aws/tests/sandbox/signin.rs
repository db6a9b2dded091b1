// IAM Identity Center through the real AWS SDK (sso-oidc and sso), answered by the sandbox's
// loopback proxy in AWS's documented shapes, the roles' keys issued by moto's STS.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use stagecraft_aws::credentials::AwsEnv;
use stagecraft_aws::scan::{self, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_model::signin::{ProfileKind, SignIn, SsoRoles};
use stagecraft_model::{Access, AccountStatus, ErrorCode, ScanReport};
use stagecraft_sandbox::harness;
use stagecraft_sandbox::proxy::{Proxy, ProxyOptions};

/// Signs in through `env`'s `sso` profile, approving on the sandbox's page as the user would in
/// the browser once the code is shown.
async fn sign_in(env: &AwsEnv) -> stagecraft_aws::sso::Token {
    let session = env
        .sso_session("sso")
        .await
        .expect("profiles")
        .expect("the sso profile signs in through IAM Identity Center");
    let shown: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = shown.clone();
    let show = move |code: &stagecraft_model::signin::DeviceCode| {
        *seen.lock().expect("lock") = Some(code.user_code.clone());
        let page = code.verification_uri_complete.clone();
        tokio::spawn(async move {
            assert!(
                stagecraft_sandbox::approve_sign_in(&page)
                    .await
                    .expect("approve"),
                "the page knew the code"
            );
        });
    };
    let token = session.sign_in(&show, None).await.expect("sign in");
    assert!(shown.lock().expect("lock").is_some(), "a code was shown");
    token
}

fn workspace() -> Workspace {
    Workspace::load(&harness::repo().join("examples/stagecraft.toml")).expect("examples")
}

fn owners(report: &ScanReport) -> BTreeMap<String, String> {
    report
        .resources
        .iter()
        .map(|r| (r.id.clone(), r.owner.kind().to_owned()))
        .collect()
}

/// The SSO profile is listed with its sign-in; signing in caches the token where and as the AWS
/// CLI does; the sign-in lists the four accounts with their roles; a scan taking ReadOnlyAccess in
/// every member account through it sees what a scan through per-stage profiles sees.
#[tokio::test(flavor = "multi_thread")]
async fn a_scan_through_an_identity_center_sign_in_sees_what_profiles_see() {
    let sb = &harness::demo().sandbox;
    let cache = tempfile::tempdir().expect("tempdir");
    let env = sb.aws_env().with_sso_cache(cache.path());

    let profiles = env.profiles().await.expect("profiles");
    let kinds: BTreeMap<&str, ProfileKind> =
        profiles.iter().map(|p| (p.name.as_str(), p.kind)).collect();
    assert_eq!(kinds["sso"], ProfileKind::Sso);
    assert_eq!(kinds["master"], ProfileKind::StaticKeys);
    assert_eq!(kinds["dev"], ProfileKind::RoleChain);
    let sso = profiles
        .iter()
        .find(|p| p.name == "sso")
        .expect("sso profile");
    let target = sso.sso.as_ref().expect("sign-in target");
    assert_eq!(target.session.as_deref(), Some("sandbox"));
    assert_eq!(
        target.account_id.as_deref(),
        Some(sb.seeded.management_account_id.as_str())
    );

    let session = env
        .sso_session("sso")
        .await
        .expect("profiles")
        .expect("an sso profile");
    assert_eq!(session.status().await, SignIn::SignedOut);
    let token = sign_in(&env).await;
    // Where the AWS CLI looks for an sso-session's token: SHA-1 of the session name
    // (`printf sandbox | sha1sum`).
    let file = cache
        .path()
        .join("9ed037b84943c4caa3a520e48a5540181c46c98c.json");
    assert_eq!(session.cache_file(), file);
    let cached: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("cached token")).expect("json");
    for field in [
        "startUrl",
        "region",
        "accessToken",
        "expiresAt",
        "clientId",
        "clientSecret",
        "registrationExpiresAt",
        "refreshToken",
    ] {
        assert!(cached.get(field).is_some(), "{field} in {cached}");
    }
    assert_eq!(cached["accessToken"], token.access_token.as_str());
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&file)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777,
        0o600,
        "a token is a credential: only its owner reads it"
    );
    assert!(matches!(session.status().await, SignIn::SignedIn { .. }));

    let accounts = session.accounts().await.expect("accounts");
    assert_eq!(accounts.len(), 4, "{accounts:#?}");
    for a in &accounts {
        assert_eq!(a.roles, ["AdministratorAccess", "ReadOnlyAccess"], "{a:?}");
    }

    let ws = workspace();
    let through_profiles = scan::scan(
        &env,
        &ws,
        &ScanOptions {
            profile: Some("master".into()),
            ..ScanOptions::default()
        },
        &|_| {},
    )
    .await
    .expect("scan through profiles");
    let through_sign_in = scan::scan(
        &env,
        &ws,
        &ScanOptions {
            profile: Some("sso".into()),
            sso_roles: SsoRoles {
                all: Some("ReadOnlyAccess".into()),
                accounts: BTreeMap::new(),
            },
            ..ScanOptions::default()
        },
        &|_| {},
    )
    .await
    .expect("scan through the sign-in");

    assert_eq!(through_sign_in.accounts.len(), 4);
    for a in &through_sign_in.accounts {
        assert_eq!(a.status, AccountStatus::Ok, "{a:#?}");
        let identity = a.identity.as_ref().expect("identity");
        assert_eq!(identity.account, a.id);
        assert!(
            identity.arn.contains("AWSReservedSSO_ReadOnlyAccess_"),
            "{identity:?}"
        );
        if a.is_management {
            assert_eq!(
                a.access,
                Some(Access::Profile {
                    profile: "sso".into()
                })
            );
        } else {
            assert_eq!(
                a.access,
                Some(Access::Sso {
                    role_name: "ReadOnlyAccess".into(),
                    profile: "sso".into()
                }),
                "{a:#?}"
            );
        }
    }
    let stages = |r: &ScanReport| -> BTreeMap<String, Option<String>> {
        r.accounts
            .iter()
            .map(|a| (a.id.clone(), a.stage.clone()))
            .collect()
    };
    assert_eq!(stages(&through_sign_in), stages(&through_profiles));
    assert_eq!(owners(&through_sign_in), owners(&through_profiles));
    assert!(owners(&through_sign_in).values().any(|o| o == "terraform"));
    assert!(owners(&through_sign_in).values().any(|o| o == "serverless"));
}

/// A token near its end renews itself with its refresh token (one CreateToken call) and the cache
/// is rewritten; a sign-in revoked while the app runs stops each member account with "sign in
/// again", and the status says so once the token cannot renew.
#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_renews_itself_and_a_lapsed_one_says_sign_in_again() {
    let sb = &harness::demo().sandbox;
    let mut directory = stagecraft_sandbox::sso_directory(&sb.seeded);
    // Shorter than the renewal margin: every use renews it.
    directory.token_seconds = 120;
    let proxy = Proxy::start(
        &sb.endpoint,
        ProxyOptions {
            sso: Some(directory),
            ..ProxyOptions::default()
        },
    )
    .await
    .expect("proxy");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("aws-config");
    std::fs::write(
        &config,
        stagecraft_sandbox::aws_config_text(&sb.endpoint, &sb.region, &[])
            + &stagecraft_sandbox::sso_config_text(
                &proxy.endpoint,
                &sb.region,
                &sb.seeded.management_account_id,
            ),
    )
    .expect("config");
    let env = AwsEnv::with_config_file(&config).with_sso_cache(dir.path().join("cache"));
    let first = sign_in(&env).await;
    let session = env
        .sso_session("sso")
        .await
        .expect("profiles")
        .expect("an sso profile");
    let renewed = session.token().await.expect("renewed");
    assert_ne!(renewed.access_token, first.access_token);
    assert_eq!(
        session.cached().expect("cache").access_token,
        renewed.access_token,
        "the renewed token is what the next process reads"
    );
    assert!(proxy
        .calls()
        .iter()
        .any(|c| c.action == "CreateToken" && c.status == 200));

    proxy.expire_sign_ins();
    let report = scan::scan(
        &env,
        &workspace(),
        &ScanOptions {
            profile: Some("sso".into()),
            sso_roles: SsoRoles {
                all: Some("ReadOnlyAccess".into()),
                accounts: BTreeMap::new(),
            },
            ..ScanOptions::default()
        },
        &|_| {},
    )
    .await;
    // The management account is reached through the sign-in too: the scan cannot start, and
    // says it is the sign-in, not the organization.
    let e = report.expect_err("a revoked sign-in cannot scan");
    assert_eq!(e.code(), ErrorCode::SignedOut, "{e}");
    assert!(e.to_string().contains("sign in again"), "{e}");
    assert!(!e.to_string().contains("management account"), "{e}");
}

/// "Test" on each kind of profile says what a scan can do from it: the management account's starts
/// a scan; a member's may not list the organization (the sandbox answers as AWS does, not as moto
/// would); a member registered as a delegated administrator lists it but is sent to the
/// management account's profile.
#[tokio::test(flavor = "multi_thread")]
async fn testing_a_profile_tells_management_member_and_delegated_administrator_apart() {
    use stagecraft_aws::credentials::check_profile;
    use stagecraft_model::signin::OrgStanding;
    let (_turn, running) = harness::scratch().await;
    let sb = &running.sandbox;
    let env = sb.aws_env();
    let management = &sb.seeded.management_account_id;

    let master = check_profile(&env, "master").await;
    assert_eq!(master.standing, OrgStanding::Management, "{master:?}");
    assert!(
        master.message.contains("a scan can start here"),
        "{master:?}"
    );

    let qa = check_profile(&env, "qa").await;
    assert_eq!(qa.standing, OrgStanding::Member, "{qa:?}");
    assert!(
        qa.message.contains("not its management account") && qa.message.contains(management),
        "{qa:?}"
    );

    let org = aws_sdk_organizations::Client::new(&env.sdk_config("master", None).await);
    let dev = sb
        .seeded
        .accounts
        .iter()
        .find(|a| a.stage == "dev")
        .expect("dev account");
    org.register_delegated_administrator()
        .account_id(&dev.id)
        .service_principal("guardduty.amazonaws.com")
        .send()
        .await
        .expect("register dev as a delegated administrator");
    let delegated = check_profile(&env, "dev").await;
    org.deregister_delegated_administrator()
        .account_id(&dev.id)
        .service_principal("guardduty.amazonaws.com")
        .send()
        .await
        .expect("deregister");
    assert_eq!(
        delegated.standing,
        OrgStanding::DelegatedAdministrator,
        "{delegated:?}"
    );
    assert!(
        delegated.message.contains("choose its profile") && delegated.message.contains(management),
        "{delegated:?}"
    );
    let again = check_profile(&env, "dev").await;
    assert_eq!(
        again.standing,
        OrgStanding::Member,
        "deregistered: {again:?}"
    );
}

/// A user with no profile for the organization types its access portal URL: the sign-in lists the
/// accounts and roles, and saving adds `[profile]` and `[sso-session]` to the AWS config file as
/// `aws configure sso` does, after what was there (kept byte for byte, never replaced), so the new
/// profile tests as the management account. A second profile of the same name is refused, and a
/// URL that is not a portal's is named.
#[tokio::test(flavor = "multi_thread")]
async fn a_typed_start_url_signs_in_and_is_saved_as_a_management_profile() {
    use stagecraft_aws::credentials::check_profile;
    use stagecraft_model::signin::OrgStanding;
    let sb = &harness::demo().sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config");
    let before = "# my own profiles\n[profile someone-else]\nregion = eu-west-1";
    std::fs::write(&config, before).expect("config");
    let env = AwsEnv::with_config_file(&config).with_sso_cache(dir.path().join("cache"));
    let portal = sb.sso_endpoint.as_deref().expect("the sandbox's sign-in");

    let refused = env
        .sso_start("portal", "ftp://example.com/start", "us-east-1")
        .expect_err("not a portal URL");
    assert!(
        refused.to_string().contains("awsapps.com/start"),
        "{refused}"
    );
    assert!(env.sso_start("bad name", portal, "us-east-1").is_err());

    let start_url = format!("{portal}{}", stagecraft_sandbox::sso::START_PATH);
    let session = env
        .sso_start("portal", &start_url, &sb.region)
        .expect("a start URL");
    let shown = |code: &stagecraft_model::signin::DeviceCode| {
        let page = code.verification_uri_complete.clone();
        tokio::spawn(async move {
            assert!(stagecraft_sandbox::approve_sign_in(&page)
                .await
                .expect("approve"));
        });
    };
    session.sign_in(&shown, None).await.expect("sign in");
    let accounts = session.accounts().await.expect("accounts");
    assert_eq!(accounts.len(), 4);
    let management = &sb.seeded.management_account_id;
    assert!(accounts.iter().any(|a| &a.id == management));

    let written = env
        .add_sso_profile(&session, management, "ReadOnlyAccess")
        .await
        .expect("saved");
    assert_eq!(written, config);
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.starts_with(before), "what was there is kept:\n{text}");
    assert!(
        text.contains("[profile portal]") && text.contains("[sso-session portal]"),
        "{text}"
    );
    let profiles = env.profiles().await.expect("profiles");
    let saved = profiles
        .iter()
        .find(|p| p.name == "portal")
        .expect("the new profile");
    assert_eq!(saved.kind, ProfileKind::Sso);
    assert_eq!(
        saved.sso.as_ref().and_then(|s| s.account_id.as_deref()),
        Some(management.as_str())
    );
    let check = check_profile(&env, "portal").await;
    assert_eq!(check.standing, OrgStanding::Management, "{check:?}");

    let again = env
        .add_sso_profile(&session, management, "ReadOnlyAccess")
        .await
        .expect_err("the name is taken");
    assert!(again.to_string().contains("already exists"), "{again}");
    assert_eq!(std::fs::read_to_string(&config).expect("config"), text);
}
