//! End-to-end tests of the window: the real app in the real webview (WebKitGTK), driven through
//! WebDriver (tauri-driver + WebKitWebDriver) under Xvfb, against a fresh sandbox organization.
//!
//! They need a display, `tauri-driver` and an app built with the embedded front end
//! (`--features custom-protocol`); `scripts/test` provides all three and sets `STAGECRAFT_GUI_TESTS=1`.

mod common;

/// The GUI tests, run by a harness of their own so that where they cannot run they say so: reported
/// as ignored on a developer's machine, failed under CI (`CI` set), never passed without running.
fn main() -> std::process::ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let blocked = common::cannot_run();
    let in_ci = std::env::var_os("CI").is_some();
    if let Some(why) = &blocked {
        eprintln!("GUI tests cannot run: {why}");
    }
    let trial =
        |name: &'static str,
         test: fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>| {
            let ignored = blocked.is_some() && !in_ci;
            let blocked = blocked.clone();
            libtest_mimic::Trial::test(name, move || {
                if let Some(why) = blocked {
                    return Err(format!("cannot run under CI: {why}").into());
                }
                tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("runtime: {e}"))?
                    .block_on(test());
                Ok(())
            })
            .with_ignored_flag(ignored)
        };
    let trials = vec![
        trial(
            "the_window_lists_the_sandbox_accounts_with_their_stages",
            || Box::pin(the_window_lists_the_sandbox_accounts_with_their_stages()),
        ),
        trial(
            "the_views_answer_who_owns_what_reads_what_differs_and_what_to_fix",
            || Box::pin(the_views_answer_who_owns_what_reads_what_differs_and_what_to_fix()),
        ),
        trial(
            "a_partial_picture_says_so_and_every_card_shows_its_limits",
            || Box::pin(a_partial_picture_says_so_and_every_card_shows_its_limits()),
        ),
        trial(
            "a_new_user_signs_in_through_identity_center_and_sees_the_organization",
            || Box::pin(a_new_user_signs_in_through_identity_center_and_sees_the_organization()),
        ),
        trial(
            "the_header_switches_between_two_organizations_and_their_histories",
            || Box::pin(the_header_switches_between_two_organizations_and_their_histories()),
        ),
        trial(
            "live_mode_shows_a_console_change_who_made_it_its_finding_and_a_deletions_exact_deadline",
            || {
                Box::pin(
                    live_mode_shows_a_console_change_who_made_it_its_finding_and_a_deletions_exact_deadline(),
                )
            },
        ),
        trial(
            "a_team_snapshot_opens_read_only_with_its_publisher_and_what_differs_here",
            || Box::pin(a_team_snapshot_opens_read_only_with_its_publisher_and_what_differs_here()),
        ),
        trial(
            "a_stage_too_large_to_draw_at_once_is_shown_an_account_at_a_time",
            || Box::pin(a_stage_too_large_to_draw_at_once_is_shown_an_account_at_a_time()),
        ),
        trial(
            "one_click_deploys_qa_with_a_live_log_and_green_steps",
            || Box::pin(one_click_deploys_qa_with_a_live_log_and_green_steps()),
        ),
    ];
    libtest_mimic::run(&args, trials).exit_code()
}

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{
    click, count, find_in_graph, graph_quality, open_app, open_app_as_user, open_on, repo,
    screenshot, wait_for, wait_for_cards, wait_text,
};
use fantoccini::Locator;
use stagecraft_sandbox::{self as sandbox, SeedSpec};

/// A fresh organization for one test (each test's app gets its own).
/// The card of a seeded account, which must be on screen with the account's stage.
async fn card_of(
    client: &fantoccini::Client,
    seeded: &sandbox::seed::SeededAccount,
) -> fantoccini::elements::Element {
    let card = client
        .find(Locator::Css(&format!(
            "[data-testid=account-card][data-account-id='{}']",
            seeded.id
        )))
        .await
        .unwrap_or_else(|_| panic!("no card for {}", seeded.name));
    assert_eq!(
        card.attr("data-stage").await.expect("attr").as_deref(),
        Some(seeded.stage.as_str())
    );
    card
}

async fn sandbox_of(spec: SeedSpec) -> sandbox::Running {
    let venv = std::env::var_os("STAGECRAFT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"));
    sandbox::start_scratch(&venv, Some(&repo().join("examples")), spec)
        .await
        .expect("sandbox")
}

/// A team lead installs the app and starts it from the desktop menu: no environment variables, a
/// home directory holding only the AWS config (here the sandbox's, with an IAM Identity Center
/// profile beside the others). The window asks for a profile; the user tests one, picks the SSO
/// profile, signs in (approving on the sign-in page as in the browser), takes ReadOnlyAccess in
/// every account, opens `examples/` as the workspace and scans: four accounts with their stages
/// and owners, each member reached through the sign-in. Restarted, the app opens on the same
/// picture without asking again.
async fn a_new_user_signs_in_through_identity_center_and_sees_the_organization() {
    let running = sandbox_of(SeedSpec::default()).await;
    let sb = &running.sandbox;
    // Not under /tmp: WebKit's web process sandbox mounts a fresh /tmp, hiding a home there.
    let home = tempfile::Builder::new()
        .prefix("home-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("home");
    std::fs::create_dir_all(home.path().join(".aws")).expect(".aws");
    std::fs::copy(sb.aws_config_file(), home.path().join(".aws/config")).expect("aws config");

    let (driver, client) = open_app_as_user(home.path()).await;
    wait_text(&client, "[data-testid=setup-why]", |t| {
        t.contains("Choose the AWS profile")
    })
    .await;
    wait_for(&client, "[data-testid=profile-row][data-profile=sso]").await;
    assert_eq!(
        count(&client, "[data-testid=profile-row]").await,
        5,
        "master, dev, qa, prod, sso"
    );
    assert_eq!(
        count(&client, "[data-testid=account-card]").await,
        0,
        "nothing scanned yet"
    );
    // "Test" says what a profile can do before it is chosen.
    click(
        &client,
        "[data-testid=profile-row][data-profile=master] [data-testid=test-profile]",
    )
    .await;
    wait_text(
        &client,
        "[data-testid=profile-row][data-profile=master] [data-testid=profile-check]",
        |t| t.contains("management account") && t.contains("a scan can start here"),
    )
    .await;
    click(
        &client,
        "[data-testid=profile-row][data-profile=qa] [data-testid=test-profile]",
    )
    .await;
    wait_text(
        &client,
        "[data-testid=profile-row][data-profile=qa] [data-testid=profile-check]",
        |t| t.contains("not its management account"),
    )
    .await;
    screenshot(&client, "first-run").await;

    // No profile for the organization yet: its portal URL, signed in and saved as a profile.
    click(&client, "[data-testid=start-url] summary").await;
    let portal = format!(
        "{}{}",
        sb.sso_endpoint.as_deref().expect("sign-in"),
        sandbox::sso::START_PATH
    );
    wait_for(&client, "[data-testid=start-url-input]")
        .await
        .send_keys(&portal)
        .await
        .expect("type");
    click(&client, "[data-testid=start-url-sign-in]").await;
    let code = wait_for(&client, "[data-testid=start-url] [data-testid=device-code]").await;
    let page = code
        .attr("data-uri")
        .await
        .expect("attr")
        .expect("the sign-in page");
    assert!(sandbox::approve_sign_in(&page).await.expect("approve"));
    let account = wait_for(&client, "[data-testid=start-url-account]").await;
    assert_eq!(
        account.prop("value").await.expect("value").as_deref(),
        Some(sb.seeded.management_account_id.as_str()),
        "the management account is proposed"
    );
    screenshot(&client, "start-url").await;
    click(&client, "[data-testid=start-url-save]").await;
    wait_for(
        &client,
        "[data-testid=profile-row][data-profile=identity-center].selected",
    )
    .await;
    assert!(
        std::fs::read_to_string(home.path().join(".aws/config"))
            .expect("config")
            .contains("[sso-session identity-center]"),
        "saved where the AWS CLI reads it"
    );

    click(&client, "[data-testid=profile-row][data-profile=sso] input").await;
    wait_for(
        &client,
        "[data-testid=sign-in-status][data-status=signed_out]",
    )
    .await;
    click(&client, "[data-testid=sign-in]").await;
    let code = wait_for(&client, "[data-testid=device-code]").await;
    let page = code
        .attr("data-uri")
        .await
        .expect("attr")
        .expect("the sign-in page's address");
    let shown = code.text().await.expect("text");
    assert!(
        page.contains("user_code=") && shown.contains(page.rsplit('=').next().unwrap_or("?")),
        "the code on the page is the one shown: {page} / {shown}"
    );
    screenshot(&client, "sign-in").await;
    assert!(
        sandbox::approve_sign_in(&page).await.expect("approve"),
        "the sign-in page knew the code"
    );
    wait_for(
        &client,
        "[data-testid=sign-in-status][data-status=signed_in]",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&client, "[data-testid=sso-account]").await < 4 {
        assert!(
            Instant::now() < deadline,
            "the sign-in's accounts never listed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let role = wait_for(&client, "[data-testid=role-all]").await;
    assert_eq!(
        role.prop("value").await.expect("value").as_deref(),
        Some("ReadOnlyAccess"),
        "a read-only role is suggested"
    );

    let examples = repo().join("examples");
    let path = wait_for(&client, "[data-testid=workspace-path]").await;
    path.send_keys(&examples.display().to_string())
        .await
        .expect("type");
    click(&client, "[data-testid=open-workspace]").await;
    wait_for(
        &client,
        "[data-testid=workspace-proposal][data-exists=true]",
    )
    .await;
    screenshot(&client, "setup-ready").await;
    click(&client, "[data-testid=setup-done]").await;

    click(&client, "[data-testid=tab-org]").await;
    let cards = wait_for_cards(&client, "ok", 4).await;
    assert_eq!(cards.len(), 4);
    wait_text(&client, "[data-testid=scan-age]", |t| t.contains("scanned")).await;
    for seeded in &sb.seeded.accounts {
        let card = card_of(&client, seeded).await;
        let access = card
            .find(Locator::Css("[data-testid=card-access]"))
            .await
            .expect("access")
            .text()
            .await
            .expect("text");
        assert!(
            access.contains("Identity Center") && access.contains("ReadOnlyAccess"),
            "{} was reached {access:?}",
            seeded.name
        );
        let owners = card
            .find(Locator::Css("[data-testid=owner-counts]"))
            .await
            .expect("owners")
            .text()
            .await
            .expect("text");
        assert!(!owners.trim().is_empty() && owners != "—", "{owners}");
    }
    assert!(
        count(&client, "[data-testid=owner-counts] [data-kind=terraform]").await >= 3
            && count(&client, "[data-testid=owner-counts] [data-kind=serverless]").await >= 3,
        "every stage has Terraform- and Serverless-owned resources"
    );
    screenshot(&client, "signed-in-organization").await;

    // Shared with the AWS CLI: the token where it looks (SHA-1 of the session name).
    assert!(home
        .path()
        .join(".aws/sso/cache/9ed037b84943c4caa3a520e48a5540181c46c98c.json")
        .is_file());
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.path().join(".config/stagecraft/settings.json"))
            .expect("settings saved in the app's config directory"),
    )
    .expect("settings json");
    assert_eq!(saved["profile"], "sso");
    assert_eq!(saved["sso_roles"]["all"], "ReadOnlyAccess");
    assert_eq!(
        saved["workspace"],
        examples.join("stagecraft.toml").display().to_string()
    );

    client.close().await.expect("close");
    drop(driver);
    let (_driver, client) = open_app_as_user(home.path()).await;
    click(&client, "[data-testid=tab-org]").await;
    let cards = wait_for_cards(&client, "ok", 4).await;
    assert_eq!(cards.len(), 4);
    wait_text(&client, "[data-testid=scan-age]", |t| t.contains("scanned")).await;
    assert_eq!(
        count(&client, "[data-testid=setup]").await,
        0,
        "not asked again"
    );
    let menu = wait_for(&client, "[data-testid=profile-menu]").await;
    let label = menu.text().await.expect("text");
    assert!(
        label.contains("sso") && label.contains("examples"),
        "{label}"
    );
}

/// Scans a sandbox organization into `store` as `stagecraft scan` would; returns its organization id.
async fn scan_into(sb: &sandbox::Sandbox, store: &std::path::Path) -> String {
    let ws = stagecraft_iac::config::Workspace::load(&sb.workspace_file()).expect("workspace");
    let mut store = stagecraft_store::Store::open(store).expect("store");
    let opts = stagecraft_aws::scan::ScanOptions {
        profile: Some(sandbox::MASTER_PROFILE.into()),
        ..Default::default()
    };
    stagecraft_aws::scan::scan_and_store(&sb.aws_env(), &ws, &opts, &mut store, &|_| {})
        .await
        .expect("scan")
        .report
        .organization
        .id
}

/// Two organizations in one store (a second sandbox scanned twice before the app starts): the
/// window scans its own, the header's switcher lists both with their management account, and
/// choosing the other shows its accounts and only its two snapshots in History; switching back
/// shows the first again with its one snapshot.
async fn the_header_switches_between_two_organizations_and_their_histories() {
    let mine = sandbox_of(SeedSpec::default()).await;
    let other = sandbox_of(SeedSpec::default()).await;
    let store_dir = tempfile::tempdir().expect("store dir");
    let store = store_dir.path().join("stagecraft.db");
    let other_org = scan_into(&other.sandbox, &store).await;
    assert_eq!(scan_into(&other.sandbox, &store).await, other_org);
    let mut env = mine.sandbox.env_vars();
    env.push(("STAGECRAFT_STORE".into(), store.display().to_string()));
    let (_driver, client) = open_app(&env).await;
    click(&client, "[data-testid=tab-org]").await;
    wait_text(&client, "[data-testid=scan-age]", |t| t.contains("scanned")).await;
    wait_for_cards(&client, "ok", 4).await;
    let switcher = wait_for(&client, "[data-testid=org-switcher]").await;
    let my_org = switcher
        .attr("data-org")
        .await
        .expect("attr")
        .unwrap_or_default();
    assert!(my_org.starts_with("o-") && my_org != other_org, "{my_org}");
    let card_ids = |sb: &sandbox::Sandbox| -> Vec<String> {
        sb.seeded.accounts.iter().map(|a| a.id.clone()).collect()
    };
    let shown = || async {
        let mut ids = Vec::new();
        for card in client
            .find_all(Locator::Css("[data-testid=account-card]"))
            .await
            .expect("cards")
        {
            ids.push(
                card.attr("data-account-id")
                    .await
                    .expect("attr")
                    .unwrap_or_default(),
            );
        }
        ids
    };
    for id in card_ids(&mine.sandbox) {
        assert!(shown().await.contains(&id), "{id} of my organization shown");
    }

    click(&client, "[data-testid=org-switcher]").await;
    wait_for(
        &client,
        &format!("[data-testid=org-option][data-org='{other_org}']"),
    )
    .await;
    assert_eq!(count(&client, "[data-testid=org-option]").await, 2);
    let first = wait_for(&client, "[data-testid=org-option]").await;
    assert_eq!(
        first.attr("data-org").await.expect("attr").as_deref(),
        Some(my_org.as_str()),
        "the most recently scanned first"
    );
    let text = first.text().await.expect("text");
    assert!(
        text.contains("management account 123456789012") && text.contains("4 accounts"),
        "{text}"
    );
    screenshot(&client, "organization-switcher").await;
    // Chooses an organization in the open menu; waits until the header names it.
    let choose = |org: String| {
        let client = client.clone();
        async move {
            click(
                &client,
                &format!("[data-testid=org-option][data-org='{org}']"),
            )
            .await;
            wait_for(
                &client,
                &format!("[data-testid=org-switcher][data-org='{org}']"),
            )
            .await;
        }
    };
    choose(other_org.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let theirs = card_ids(&other.sandbox);
    loop {
        let now_shown = shown().await;
        if theirs.iter().all(|id| now_shown.contains(id))
            && !card_ids(&mine.sandbox)
                .iter()
                .any(|id| now_shown.contains(id))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the other organization's cards: {now_shown:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    click(&client, "[data-testid=tab-history]").await;
    wait_for(&client, "[data-testid=snapshot]").await;
    assert_eq!(
        count(&client, "[data-testid=snapshot]").await,
        2,
        "its own two scans"
    );
    screenshot(&client, "other-organization-history").await;

    click(&client, "[data-testid=org-switcher]").await;
    choose(my_org.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&client, "[data-testid=snapshot]").await != 1 {
        assert!(
            Instant::now() < deadline,
            "History of my organization: one scan"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.close().await.expect("close session");
}

/// The team's scheduled scan published the organization to S3; since then someone created a
/// parameter in dev. A team lead opens the team snapshot from the header: the window shows it
/// read-only (no rescan), who published it and when, and that one resource exists only in this
/// computer's snapshot; a wrong location is named; "back" returns to the local picture.
async fn a_team_snapshot_opens_read_only_with_its_publisher_and_what_differs_here() {
    let running = sandbox_of(SeedSpec::default()).await;
    let sb = &running.sandbox;
    let aws = sb.aws_env();
    let ws = if sb.workspace_file().is_file() {
        stagecraft_iac::config::Workspace::load(&sb.workspace_file()).expect("workspace")
    } else {
        stagecraft_iac::config::Workspace::default()
    };
    let opts = stagecraft_aws::scan::ScanOptions {
        profile: Some(sandbox::MASTER_PROFILE.into()),
        ..Default::default()
    };
    let master = aws.sdk_config(sandbox::MASTER_PROFILE, None).await;
    aws_sdk_s3::Client::new(&master)
        .create_bucket()
        .bucket("team-gui")
        .send()
        .await
        .expect("bucket");
    let report = stagecraft_aws::scan::scan(&aws, &ws, &opts, &|_| {})
        .await
        .expect("scan");
    let dest: stagecraft_ops::publish::Destination = "s3://team-gui/org".parse().expect("dest");
    let published =
        stagecraft_ops::publish::publish(&aws, sandbox::MASTER_PROFILE, &dest, &report, &[], None)
            .await
            .expect("publish");
    assert!(matches!(
        published,
        stagecraft_ops::publish::Published::Generation(_)
    ));
    let dev = sb
        .seeded
        .accounts
        .iter()
        .find(|a| a.stage == "dev")
        .expect("dev");
    let member = stagecraft_aws::credentials::assume_role(
        &master,
        &stagecraft_aws::credentials::role_arn(&dev.id, "OrganizationAccountAccessRole"),
    )
    .await;
    aws_sdk_ssm::Client::new(&member)
        .put_parameter()
        .name("/core/added_after_the_team_scan")
        .value("x")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("parameter");

    let dir = tempfile::tempdir().expect("dir");
    let mut env = sb.env_vars();
    env.push((
        "STAGECRAFT_STORE".into(),
        dir.path().join("stagecraft.db").display().to_string(),
    ));
    env.push((
        "STAGECRAFT_SETTINGS".into(),
        dir.path().join("settings.json").display().to_string(),
    ));
    let (_driver, client) = open_app(&env).await;
    click(&client, "[data-testid=tab-org]").await;
    wait_text(&client, "[data-testid=scan-age]", |t| t.contains("scanned")).await;
    wait_for_cards(&client, "ok", 4).await;
    assert!(count(&client, "[data-testid=rescan-account]").await > 0);

    // A location with no bucket: named, with what S3 said. (The menu is read first, as a user
    // reads it: the list arriving moves the entry.)
    click(&client, "[data-testid=org-switcher]").await;
    wait_for(&client, "[data-testid=org-option]").await;
    click(&client, "[data-testid=open-team]").await;
    let input = wait_for(&client, "[data-testid=team-location]").await;
    input.clear().await.expect("clear");
    input
        .send_keys("s3://no-such-team-bucket/org")
        .await
        .expect("type");
    click(&client, "[data-testid=team-open-button]").await;
    let error = wait_text(&client, "[data-testid=team-error]", |t| !t.is_empty()).await;
    assert!(error.contains("s3://no-such-team-bucket/org"), "{error}");

    input.clear().await.expect("clear");
    input.send_keys("s3://team-gui/org").await.expect("type");
    click(&client, "[data-testid=team-open-button]").await;
    let banner = wait_text(&client, "[data-testid=team-banner]", |t| {
        t.contains("generation")
    })
    .await;
    assert!(
        banner.contains("Team snapshot, read-only")
            && banner.contains("s3://team-gui/org")
            && banner.contains("generation 1"),
        "{banner}"
    );
    let publisher = wait_for(&client, "[data-testid=team-publisher]").await;
    let arn = publisher
        .attr("title")
        .await
        .expect("attr")
        .unwrap_or_default();
    assert!(arn.starts_with("arn:aws:"), "{arn}");
    let compared = wait_text(&client, "[data-testid=team-comparison]", |t| !t.is_empty()).await;
    assert!(
        compared.contains("0 only in the team's")
            && compared.contains("1 only here")
            && compared.contains("0 changed")
            && compared.contains("another key"),
        "{compared}"
    );
    click(&client, "[data-testid=team-details]").await;
    let differs = wait_text(&client, "[data-testid=team-differs]", |t| !t.is_empty()).await;
    assert!(
        differs.contains("only here: /core/added_after_the_team_scan")
            && differs.contains("AWS::SSM::Parameter"),
        "{differs}"
    );
    // Read-only: no account can be rescanned from it.
    wait_for_cards(&client, "ok", 4).await;
    assert_eq!(count(&client, "[data-testid=rescan-account]").await, 0);
    screenshot(&client, "team-snapshot").await;

    click(&client, "[data-testid=team-back]").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&client, "[data-testid=team-banner]").await > 0
        || count(&client, "[data-testid=rescan-account]").await == 0
    {
        assert!(Instant::now() < deadline, "back to the local snapshot");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.close().await.expect("close session");
}

async fn the_window_lists_the_sandbox_accounts_with_their_stages() {
    let running = sandbox_of(SeedSpec::default()).await;
    let sb = &running.sandbox;
    let store_dir = tempfile::tempdir().expect("store dir");
    let store_path = store_dir.path().join("stagecraft.db");
    let mut env = sb.env_vars();
    env.push(("STAGECRAFT_STORE".into(), store_path.display().to_string()));
    let (_driver, client) = open_app(&env).await;
    // The window reopens on the view last used; start from the organization.
    click(&client, "[data-testid=tab-org]").await;

    let cards = wait_for_cards(&client, "ok", 4).await;
    assert_eq!(cards.len(), 4);
    for seeded in &sb.seeded.accounts {
        let card = card_of(&client, seeded).await;
        let text = card.text().await.expect("text");
        assert!(
            text.contains(&seeded.name) && text.contains("verified"),
            "{text}"
        );
    }
    let master = client
        .find(Locator::Css(
            "[data-testid=account-card][data-account-id='123456789012']",
        ))
        .await
        .expect("management account card");
    assert!(master.text().await.expect("text").contains("mgmt"));
    // The accounts are done before the scan is: Terraform state and ownership come last.
    wait_text(&client, "[data-testid=scan-age]", |t| t.contains("scanned")).await;
    let shot = screenshot(&client, "organization").await;
    assert!(std::fs::metadata(&shot)
        .map(|m| m.len() > 10_000)
        .unwrap_or(false));

    // Each member card counts its resources and shows who owns them.
    for seeded in &sb.seeded.accounts {
        let card = client
            .find(Locator::Css(&format!(
                "[data-testid=account-card][data-account-id='{}']",
                seeded.id
            )))
            .await
            .expect("card");
        let count: u32 = card
            .find(Locator::Css("[data-testid=resource-count]"))
            .await
            .expect("resource count")
            .text()
            .await
            .expect("text")
            .trim()
            .parse()
            .expect("a number");
        assert!(count > 20, "{}: {count} resources", seeded.name);
        let owners = card
            .find_all(Locator::Css("[data-testid=owner-counts] [data-kind]"))
            .await
            .expect("owners");
        let mut kinds = Vec::new();
        for o in owners {
            kinds.push(o.attr("data-kind").await.expect("attr").unwrap_or_default());
        }
        assert!(
            kinds.contains(&"terraform".to_owned()) && kinds.contains(&"serverless".to_owned()),
            "{kinds:?}"
        );
    }
    // Rescan: the button disables while accounts report again, then every account is ok again.
    client
        .find(Locator::Css("[data-testid=scan-button]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    wait_for_cards(&client, "ok", 4).await;
    // Both scans were stored as snapshots in the store the app was given (the second one lands when
    // its scan ends, which may be just after the cards turned ok).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = stagecraft_store::Store::open(&store_path)
            .and_then(|s| s.list())
            .map(|l| l.len())
            .unwrap_or(0);
        if n == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{n} snapshot(s) stored, expected 2"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.close().await.expect("close session");
}

/// The spread organization scanned with `regions` narrowed to the home region: the window says the
/// picture is partial and which region it left out; each card shows its limits, near ones marked.
/// Live then reads the history from the organization's trail, and says so.
async fn a_partial_picture_says_so_and_every_card_shows_its_limits() {
    let running = sandbox_of(SeedSpec {
        shape: sandbox::Shape::Spread,
        ..SeedSpec::default()
    })
    .await;
    let sb = &running.sandbox;
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("stagecraft.toml");
    std::fs::write(&config, "[organization]\nregions = [\"us-east-1\"]\n").expect("config");
    let mut env = sb.env_vars();
    env.push(("STAGECRAFT_CONFIG".into(), config.display().to_string()));
    env.push((
        "STAGECRAFT_STORE".into(),
        dir.path().join("stagecraft.db").display().to_string(),
    ));
    let (_driver, client) = open_app(&env).await;
    click(&client, "[data-testid=tab-org]").await;
    wait_for_cards(&client, "ok", 4).await;
    let banner = wait_text(&client, "[data-testid=coverage-banner]", |t| {
        t.contains("eu-west-1")
    })
    .await;
    assert!(
        banner.contains("partial") && banner.contains("live/prod/core/terraform.tfstate"),
        "{banner}"
    );
    let prod = sb
        .seeded
        .accounts
        .iter()
        .find(|a| a.stage == "prod")
        .expect("prod");
    let card_limits = |id: &str| {
        format!("[data-testid=account-card][data-account-id='{id}'] [data-testid=card-limits]")
    };
    let limits = wait_text(&client, &card_limits(&prod.id), |t| t.contains("stacks")).await;
    assert!(
        limits.contains("us-east-1") && limits.contains("stacks 2/2"),
        "{limits}"
    );
    let near = client
        .find_all(Locator::Css(&format!("{} .near", card_limits(&prod.id))))
        .await
        .expect("near limits");
    let mut marked = Vec::new();
    for n in near {
        marked.push(n.text().await.expect("text"));
    }
    assert_eq!(marked, ["stacks 2/2"]);
    let dev = sb
        .seeded
        .accounts
        .iter()
        .find(|a| a.stage == "dev")
        .expect("dev");
    let dev_limits = wait_text(&client, &card_limits(&dev.id), |t| t.contains("reserved")).await;
    assert!(dev_limits.contains("λ reserved 900/1000"), "{dev_limits}");
    screenshot(&client, "partial-coverage").await;

    // This organization has an organization trail (Control Tower's): Live reads the history from
    // its log group, once for every account, and says so.
    click(&client, "[data-testid=live-toggle]").await;
    let live = wait_text(&client, "[data-testid=live-status]", |t| {
        t.contains("checked")
    })
    .await;
    assert!(
        live.contains("history from the organization trail"),
        "{live}"
    );
    screenshot(&client, "live-from-the-organization-trail").await;
    client.close().await.expect("close session");
}

/// An organization whose one stage holds more than the window draws at once (25,000 nodes: 90
/// accounts of about 300 resources, stored as a scan of them would be): the graph says so and shows
/// one account of the stage with what links to it; picking another account shows that one.
async fn a_stage_too_large_to_draw_at_once_is_shown_an_account_at_a_time() {
    let snapshot = stagecraft_sandbox::synthetic::report(stagecraft_sandbox::synthetic::Size {
        stages: 1,
        accounts: 90,
        services: 19,
        functions: 4,
    });
    let mut per_account: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &snapshot.resources {
        *per_account.entry(r.account_id.as_str()).or_default() += 1;
    }
    let at_most = stagecraft_analysis::graph::PART_AT_MOST;
    assert!(snapshot.resources.len() > at_most && per_account.len() == 90);
    let (_dir, _driver, client, _) = open_on(&snapshot).await;
    click(&client, "[data-testid=tab-graph]").await;
    let note = wait_text(&client, "[data-testid=graph-too-big]", |t| !t.is_empty()).await;
    assert!(
        note.contains(&format!("one of {} accounts", per_account.len())),
        "{note}"
    );
    let options = client
        .find_all(Locator::Css("[data-testid=graph-account] option"))
        .await
        .expect("options");
    assert_eq!(options.len(), 90);
    // The graph holds the picked account's resources, not the stage's.
    let shown = |account: String| {
        let client = client.clone();
        async move {
            let js = format!(
                "const c = document.querySelector('[data-testid=graph-canvas]');                  const s = document.querySelector('[data-testid=graph-account]');                  return c && s.value === '{account}' && c.dataset.readyMs ? Number(c.dataset.nodes) : 0;"
            );
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let n = client
                    .execute(&js, vec![])
                    .await
                    .expect("js")
                    .as_u64()
                    .unwrap_or(0);
                if n > 0 {
                    return n as usize;
                }
                assert!(
                    Instant::now() < deadline,
                    "the graph never showed account {account}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let first = options[0]
        .attr("value")
        .await
        .expect("attr")
        .expect("value");
    let n = shown(first.clone()).await;
    assert!(
        n >= per_account[first.as_str()] && n < at_most,
        "account {first}: {n} nodes drawn for its {} resources",
        per_account[first.as_str()]
    );
    screenshot(&client, "graph-account-at-a-time").await;
    let last = options[89]
        .attr("value")
        .await
        .expect("attr")
        .expect("value");
    client
        .execute(
            &format!(
                "const s = document.querySelector('[data-testid=graph-account]'); s.value = '{last}'; \
                 s.dispatchEvent(new Event('change', {{bubbles: true}}));"
            ),
            vec![],
        )
        .await
        .expect("pick an account");
    let n = shown(last.clone()).await;
    assert!(n >= per_account[last.as_str()] && n < at_most, "{n}");
    // The search still covers the whole organization: a function found by its ARN opens on its
    // neighbourhood with its details.
    let one = snapshot
        .resources
        .iter()
        .find(|r| r.account_id == last && r.type_name == "AWS::Lambda::Function")
        .expect("a function");
    let search = wait_for(&client, "[data-testid=graph-search]").await;
    search.send_keys(&one.id).await.expect("type");
    wait_text(&client, "[data-testid=search-result]", |t| {
        t.contains(&one.name)
    })
    .await;
    assert_eq!(count(&client, "[data-testid=search-result]").await, 1);
    search.send_keys("\u{E007}").await.expect("enter");
    wait_text(&client, "[data-testid=details-name]", |t| t == one.name).await;
    wait_for(&client, "[data-testid=focus-chip]").await;
    client.close().await.expect("close session");
}

async fn the_views_answer_who_owns_what_reads_what_differs_and_what_to_fix() {
    let running = sandbox_of(SeedSpec::default()).await;
    let sb = &running.sandbox;
    let dir = tempfile::tempdir().expect("temp dir");
    let exports = dir.path().join("exports");
    std::fs::create_dir_all(&exports).expect("exports dir");
    let mut env = sb.env_vars();
    env.push((
        "STAGECRAFT_STORE".into(),
        dir.path().join("stagecraft.db").display().to_string(),
    ));
    env.push((
        "STAGECRAFT_EXPORT_DIR".into(),
        exports.display().to_string(),
    ));
    let (_driver, client) = open_app(&env).await;
    click(&client, "[data-testid=tab-org]").await;
    wait_for_cards(&client, "ok", 4).await;
    wait_text(&client, "[data-testid=scan-age]", |t| t.contains("scanned")).await;
    // The findings badge and each stage card's findings appear once the snapshot is analysed.
    let badge = wait_text(&client, "[data-testid=findings-count]", |t| !t.is_empty()).await;
    assert_eq!(badge.trim(), "12");
    let dev = sb
        .seeded
        .accounts
        .iter()
        .find(|a| a.stage == "dev")
        .expect("dev");
    let dev_findings = wait_text(
        &client,
        &format!("[data-account-id='{}'] [data-testid=card-findings]", dev.id),
        |t| !t.is_empty(),
    )
    .await;
    assert!(dev_findings.starts_with('4'), "{dev_findings}");

    // Graph at Fit, with no focus: the stage's clusters and parameters, named and legible, no edge
    // through a box, no box on another; then the whole organization, stages side by side.
    click(&client, "[data-testid=tab-graph]").await;
    let stage_view = graph_quality(&client, |q| q["stages"] == 1).await;
    screenshot(&client, "graph-stage-fit").await;
    assert_eq!(stage_view["edgesThroughBoxes"], 0, "{stage_view}");
    assert_eq!(stage_view["overlaps"], 0, "{stage_view}");
    assert!(
        stage_view["minTitlePx"].as_f64().unwrap_or(0.0) >= 11.0,
        "cluster titles and parameter names under 11 px at Fit: {stage_view}"
    );
    assert_eq!(stage_view["truncatedTitles"], 0, "{stage_view}");
    client
        .execute(
            "const s = document.querySelector('[data-testid=graph-stage]'); s.value = ''; s.dispatchEvent(new Event('change', {bubbles: true}));",
            vec![],
        )
        .await
        .expect("whole organization");
    let org_view = graph_quality(&client, |q| q["stages"].as_u64().unwrap_or(0) >= 3).await;
    screenshot(&client, "graph-organization-fit").await;
    assert_eq!(org_view["edgesThroughBoxes"], 0, "{org_view}");
    assert_eq!(org_view["overlaps"], 0, "{org_view}");
    // Opening a cluster lists its resources in place; the details say what it holds.
    // (The canvas's clusters are also buttons for the keyboard and screen readers: pressed here.)
    client
        .execute(
            "document.querySelector(\"[data-testid=graph-cluster][data-label='stack orders-dev']\").click()",
            vec![],
        )
        .await
        .expect("open stack orders-dev");
    let opened = graph_quality(&client, |q| q["open"] == 1).await;
    screenshot(&client, "graph-cluster-open").await;
    assert_eq!(opened["edgesThroughBoxes"], 0, "{opened}");
    assert_eq!(opened["overlaps"], 0, "{opened}");
    let details = wait_text(&client, "[data-testid=details]", |t| {
        t.contains("stack orders-dev")
    })
    .await;
    assert!(details.contains("Lambda::Function"), "{details}");
    click(&client, "[data-testid=close-all]").await;
    graph_quality(&client, |q| q["open"] == 0).await;

    // Graph: search /db_pw_name, and its SSM links are there with their evidence.
    let name = find_in_graph(&client, "/db_pw_name").await;
    assert_eq!(name, "/db_pw_name");
    wait_for(&client, "[data-testid=focus-chip]").await;
    assert_eq!(
        count(&client, "[data-testid=link-in][data-kind=ssm-write]").await,
        1
    );
    assert!(count(&client, "[data-testid=link-out][data-kind=ssm-read]").await >= 3);
    assert_eq!(
        count(&client, "[data-testid=link-out][data-kind=names]").await,
        1
    );
    let owner = wait_text(&client, "[data-testid=details-owner]", |t| !t.is_empty()).await;
    assert!(owner.contains("aws_ssm_parameter.db_pw_name"), "{owner}");
    let graph = wait_for(&client, "[data-testid=graph][data-ready=yes]").await;
    let selected = graph
        .attr("data-selected")
        .await
        .expect("attr")
        .unwrap_or_default();
    assert!(selected.ends_with(":parameter/db_pw_name"), "{selected}");
    screenshot(&client, "graph-db-pw-name").await;

    // Exports: SVG and PNG of what is on screen.
    click(&client, "[data-testid=export-svg]").await;
    wait_text(&client, "[data-testid=graph-message]", |t| {
        t.contains("Saved")
    })
    .await;
    click(&client, "[data-testid=export-png]").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let (svg, png) = loop {
        let svg = std::fs::read_to_string(exports.join("stagecraft-focus.svg")).unwrap_or_default();
        let png = std::fs::read(exports.join("stagecraft-focus.png")).unwrap_or_default();
        if !svg.is_empty() && png.len() > 1000 || Instant::now() > deadline {
            break (svg, png);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(svg.starts_with("<svg") && svg.contains("/db_pw_name") && svg.contains("ssm-read"));
    assert_eq!(&png[..4], b"\x89PNG");

    // Findings: grouped by rule; clicking the catch-22 focuses the graph on prod's domain.
    click(&client, "[data-testid=tab-findings]").await;
    wait_for(&client, "[data-testid=finding]").await;
    assert_eq!(count(&client, "[data-testid=finding]").await, 12);
    assert_eq!(
        count(&client, "[data-testid=rule-group]").await,
        8,
        "eight rules have findings (qa's secret deleted in the console is a change outside Terraform)"
    );
    screenshot(&client, "findings").await;
    click(
        &client,
        "[data-testid=finding][data-rule=base-path-mapping][data-stage=prod]",
    )
    .await;
    wait_text(&client, "[data-testid=details-name]", |t| {
        t == "api.prod.acme.example"
    })
    .await;
    wait_for(&client, "[data-testid=focus-chip]").await;
    screenshot(&client, "graph-finding").await;

    // Stage matrix: prod lacks the base path mapping the other stages have.
    click(&client, "[data-testid=tab-matrix]").await;
    let row = wait_for(
        &client,
        "[data-testid=matrix-row][data-key='tf:module.api.aws_api_gateway_base_path_mapping.main']",
    )
    .await;
    assert_eq!(
        row.find(Locator::Css("[data-stage=prod]"))
            .await
            .expect("prod cell")
            .attr("data-cell")
            .await
            .expect("attr")
            .as_deref(),
        Some("missing")
    );
    assert_eq!(
        row.find(Locator::Css("[data-stage=qa]"))
            .await
            .expect("qa cell")
            .attr("data-cell")
            .await
            .expect("attr")
            .as_deref(),
        Some("present")
    );
    screenshot(&client, "matrix").await;

    // History: the scan is there.
    click(&client, "[data-testid=tab-history]").await;
    wait_for(&client, "[data-testid=snapshot]").await;

    // The palette reaches any view and any resource by typing.
    click(&client, "[data-testid=palette-button]").await;
    let input = wait_for(&client, "[data-testid=palette-input]").await;
    input.send_keys("Go to Findings").await.expect("type");
    input.send_keys("\u{E007}").await.expect("enter");
    wait_for(&client, "[data-testid=findings-view]").await;

    // Rescan one account from its card: a second snapshot, and History compares the two.
    click(&client, "[data-testid=tab-org]").await;
    click(
        &client,
        &format!(
            "[data-account-id='{}'] [data-testid=rescan-account]",
            dev.id
        ),
    )
    .await;
    let store = dir.path().join("stagecraft.db");
    let deadline = Instant::now() + Duration::from_secs(60);
    while stagecraft_store::Store::open(&store)
        .and_then(|s| s.list())
        .map_or(0, |l| l.len())
        < 2
    {
        assert!(Instant::now() < deadline, "the rescan stored no snapshot");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_text(&client, "[data-testid=scan-age]", |t| t.contains("scanned")).await;
    click(&client, "[data-testid=tab-history]").await;
    wait_for(&client, "[data-testid=diff]").await;
    assert_eq!(count(&client, "[data-testid=snapshot]").await, 2);
    screenshot(&client, "history").await;

    // Deletions: the planted secret counts down and blocks qa's apply; restore it through the
    // confirmation, and after the account's refresh it is no longer pending.
    click(&client, "[data-testid=tab-deletions]").await;
    let row = "[data-testid=pending][data-name=legacy_api_key]";
    let left = wait_text(&client, &format!("{row} [data-testid=countdown]"), |t| {
        t.starts_with("6 d ") || t.starts_with("7 d ")
    })
    .await;
    assert!(left.contains(" h "), "{left}");
    let blocker = wait_text(&client, &format!("{row} [data-testid=blocker]"), |t| {
        !t.is_empty()
    })
    .await;
    assert!(
        blocker.contains("terraform apply in qa will fail"),
        "{blocker}"
    );
    screenshot(&client, "deletions").await;
    click(&client, &format!("{row} [data-testid=undelete]")).await;
    let dialog = wait_text(&client, "[data-testid=confirm]", |t| !t.is_empty()).await;
    assert!(
        dialog.contains("legacy_api_key") && dialog.contains("qa") && dialog.contains("acme-qa"),
        "{dialog}"
    );
    screenshot(&client, "deletions-confirm").await;
    click(&client, "[data-testid=confirm-button]").await;
    wait_text(&client, "[data-testid=action-result]", |t| {
        t.starts_with("Done")
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&client, row).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the restored secret is still listed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(count(&client, "[data-testid=action-record]").await, 1);
    screenshot(&client, "deletions-restored").await;

    client.close().await.expect("close session");
}

/// Previews `stage`'s deploy as a user would: the deploy button waits for the preview; a preview
/// that deletes or replaces something wants the stage's name typed.
async fn preview_then_confirm(client: &fantoccini::Client, stage: &str, look: bool) {
    let button = wait_for(client, "[data-testid=deploy-button]").await;
    assert!(
        button.attr("disabled").await.expect("attr").is_some(),
        "the deploy waits for the preview"
    );
    click(client, "[data-testid=deploy-preview]").await;
    let summary = wait_text(client, "[data-testid=deploy-changes-summary]", |t| {
        t.contains("to create")
    })
    .await;
    let panel = wait_text(client, "[data-testid=deploy-changes]", |_| true).await;
    assert_eq!(
        count(client, "[data-testid=deploy-changes-step]").await,
        5,
        "Terraform's apply and the four services: {panel}"
    );
    assert!(
        count(client, "[data-testid=deploy-change][data-action=create]").await > 0,
        "{panel}"
    );
    assert!(!panel.contains("STAGECRAFT-TEST-SECRET"), "{panel}");
    let destructive = wait_for(client, "[data-testid=deploy-changes]")
        .await
        .attr("data-destructive")
        .await
        .expect("attr")
        == Some("yes".into());
    if look {
        screenshot(client, "deploy-preview").await;
    }
    if destructive {
        assert!(summary.contains("deletes or replaces"), "{summary}");
        assert!(
            count(client, "[data-testid=deploy-change][data-action=replace]").await
                + count(client, "[data-testid=deploy-change][data-action=delete]").await
                > 0
        );
        let input = wait_for(client, "[data-testid=deploy-confirm-stage]").await;
        input.send_keys(stage).await.expect("type the stage");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while wait_for(client, "[data-testid=deploy-button]")
        .await
        .attr("disabled")
        .await
        .expect("attr")
        .is_some()
    {
        assert!(
            Instant::now() < deadline,
            "the deploy button stays disabled after the preview"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn one_click_deploys_qa_with_a_live_log_and_green_steps() {
    let running = sandbox_of(SeedSpec {
        stages: vec!["dev".into(), "qa".into()],
        plant_problems: false,
        ..SeedSpec::default()
    })
    .await;
    let sb = &running.sandbox;
    // The demo root (AWS resources) runs through the recording Terraform stand-in the sandbox's
    // workspace names (the AWS provider cannot be downloaded here); the services deploy with the real
    // Serverless CLI.
    let toml = std::fs::read_to_string(sb.workspace_file()).expect("workspace file");
    assert!(toml.contains("terraform-stand-in"), "{toml}");
    let dir = tempfile::tempdir().expect("temp dir");
    let hold = dir.path().join("hold-apply");
    let mut env = sb.env_vars();
    env.push((
        "STAGECRAFT_STORE".into(),
        dir.path().join("stagecraft.db").display().to_string(),
    ));
    env.push(("TERRAFORM_STAND_IN_HOLD".into(), hold.display().to_string()));
    let record = dir.path().join("terraform-calls");
    env.push((
        "TERRAFORM_STAND_IN_RECORD".into(),
        record.display().to_string(),
    ));
    let (_driver, client) = open_app(&env).await;
    click(&client, "[data-testid=tab-org]").await;
    wait_for_cards(&client, "ok", 3).await;
    wait_text(&client, "[data-testid=scan-age]", |t| t.contains("scanned")).await;
    // Deploy qa with one click: the log streams and every step turns green.
    click(&client, "[data-testid=tab-deploy]").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&client, "[data-testid=preflight][data-ok=no]").await > 0
        || count(&client, "[data-testid=preflight]").await == 0
    {
        assert!(
            Instant::now() < deadline,
            "the preflight of qa does not pass: {}",
            wait_text(&client, "[data-testid=deploy-view]", |_| true).await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let steps = count(&client, "[data-testid=deploy-step]").await;
    assert_eq!(steps, 7, "3 Terraform steps and 4 services");
    // Each Terraform step says which profiles besides the stage's it gets, and where they are named.
    let profiles = wait_text(&client, "[data-testid=deploy-step-profile]", |_| true).await;
    assert!(
        profiles.contains("profile master for the S3 backend") && profiles.contains("main.tf:9"),
        "{profiles}"
    );
    preview_then_confirm(&client, "qa", true).await;

    // Cancel: the apply hangs (the stand-in holds it); Cancel stops it and the run says so.
    std::fs::write(&hold, "").expect("hold file");
    click(&client, "[data-testid=deploy-button]").await;
    wait_text(&client, "[data-testid=deploy-log]", |t| {
        t.contains("Acquiring state lock")
    })
    .await;
    click(&client, "[data-testid=deploy-cancel]").await;
    let cancelled = wait_text(&client, "[data-testid=deploy-result]", |t| {
        t.contains("Run #")
    })
    .await;
    assert!(cancelled.contains("cancelled"), "{cancelled}");
    assert_eq!(
        count(&client, "[data-testid=deploy-step][data-status=cancelled]").await,
        1
    );

    // The app is killed (SIGKILL) in the middle of the apply. The apply, in its own process group,
    // runs on; the app started again shows the run interrupted and the leftover step holding qa.
    // (A run, even a cancelled one, makes the preview stale: it is made again.)
    preview_then_confirm(&client, "qa", false).await;
    click(&client, "[data-testid=deploy-button]").await;
    wait_text(&client, "[data-testid=deploy-log]", |t| {
        t.contains("Acquiring state lock")
    })
    .await;
    let lock: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("deploy-qa.lock")).expect("the stage's lock"),
    )
    .expect("lock JSON");
    let app_pid = lock["pid"].as_i64().expect("the app's pid") as i32;
    let step_pgid = lock["step"]["pgid"].as_i64().expect("the step's group") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(app_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the app");
    drop(client);
    drop(_driver);
    assert!(
        nix::sys::signal::killpg(nix::unistd::Pid::from_raw(step_pgid), None).is_ok(),
        "the apply runs on without the app"
    );
    let (_driver, client) = open_app(&env).await;
    // As a user would: the window shows the organization (the last snapshot), then Deploy is clicked.
    wait_for_cards(&client, "ok", 3).await;
    click(&client, "[data-testid=tab-deploy]").await;
    let leftover = wait_text(&client, "[data-testid=deploy-leftover]", |t| {
        t.contains("still runs")
    })
    .await;
    assert!(leftover.contains("terraform apply (qa)"), "{leftover}");
    wait_for(
        &client,
        "[data-testid=deploy-run][data-outcome=interrupted]",
    )
    .await;
    screenshot(&client, "deploy-interrupted").await;
    click(&client, "[data-testid=deploy-stop-leftover]").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&client, "[data-testid=deploy-leftover]").await > 0 {
        assert!(
            Instant::now() < deadline,
            "the leftover step was not stopped"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        nix::sys::signal::killpg(nix::unistd::Pid::from_raw(step_pgid), None).is_err(),
        "the apply's process group is gone"
    );
    std::fs::remove_file(&hold).expect("release the hold");
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&client, "[data-testid=preflight][data-ok=no]").await > 0
        || count(&client, "[data-testid=preflight]").await == 0
    {
        assert!(
            Instant::now() < deadline,
            "the preflight of qa does not pass"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The window started again has no preview: it is made again before the deploy.
    preview_then_confirm(&client, "qa", false).await;
    click(&client, "[data-testid=deploy-button]").await;
    wait_text(&client, "[data-testid=deploy-log]", |t| {
        t.contains("Switched to workspace \"qa\"")
    })
    .await;
    let result = wait_text(&client, "[data-testid=deploy-result]", |t| {
        t.contains("Run #3")
    })
    .await;
    let log = wait_text(&client, "[data-testid=deploy-log]", |_| true).await;
    assert!(result.contains("succeeded"), "{result}\n{log}");
    assert!(
        log.contains("Service deployed to stack reports-qa"),
        "{log}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&client, "[data-testid=deploy-step][data-status=succeeded]").await != 7 {
        assert!(
            Instant::now() < deadline,
            "the steps did not all turn green"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    screenshot(&client, "deploy").await;
    // The last run's Terraform steps, as the stand-in saw them: in the root, as qa's profile, with
    // the backend's and the provider's profiles resolved from the files the app handed it.
    let calls = stagecraft_sandbox::harness::stand_in_calls(&record);
    assert_eq!(
        calls[calls.len().saturating_sub(6)..],
        [
            "infra|qa|init -input=false -backend-config=force_path_style=true",
            "infra|qa|resolved master for backend",
            "infra|qa|workspace select -or-create qa",
            "infra|qa|apply -input=false -auto-approve",
            "infra|qa|resolved master for backend",
            "infra|qa|resolved qa for provider[\"registry.terraform.io/hashicorp/aws\"]",
        ]
    );

    // The stage's account is rescanned after the run: the graph has the function just deployed.
    let name = find_in_graph(&client, "reports-qa-daily").await;
    assert_eq!(name, "reports-qa-daily");
    screenshot(&client, "deploy-graph").await;
    client.close().await.expect("close session");
}

/// A team lead turns Live on. Someone changes the handler of a function Terraform owns in the
/// console and deletes a secret with a 12-day recovery window. Within one Live interval the change
/// is listed with who made it and with which tool; the function's details say so; the finding
/// `changed-outside-owner` appears with who and when; the Deletions view counts down 12 days from
/// the call, scheduled by the console, no longer "uncertain".
async fn live_mode_shows_a_console_change_who_made_it_its_finding_and_a_deletions_exact_deadline() {
    const INTERVAL: u64 = 5;
    let running = sandbox_of(SeedSpec {
        stages: vec!["dev".into()],
        ..SeedSpec::default()
    })
    .await;
    let sb = &running.sandbox;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env = sb.env_vars();
    env.push((
        "STAGECRAFT_STORE".into(),
        dir.path().join("stagecraft.db").display().to_string(),
    ));
    env.push(("STAGECRAFT_LIVE_INTERVAL".into(), INTERVAL.to_string()));
    let (_driver, client) = open_app(&env).await;
    wait_text(&client, "[data-testid=scan-age]", |t| t.contains("scanned")).await;
    click(&client, "[data-testid=live-toggle]").await;
    wait_text(&client, "[data-testid=live-status]", |t| {
        t.contains("checked")
    })
    .await;

    // In the console: the handler of Terraform's function changed, a secret deleted for 12 days.
    let console = sb
        .aws_env()
        .sdk_config("dev", None)
        .await
        .into_builder()
        .app_name(aws_types::app_name::AppName::new("console.amazonaws.com").expect("app"))
        .build();
    let lambda = aws_sdk_lambda::Client::new(&console);
    let function = stagecraft_sandbox::seed::rotation_function("dev");
    let sm = aws_sdk_secretsmanager::Client::new(&console);
    let secret = sm
        .list_secrets()
        .send()
        .await
        .expect("ListSecrets")
        .secret_list()
        .iter()
        .filter(|s| s.deleted_date().is_none())
        .filter_map(|s| s.name())
        .next()
        .expect("a secret")
        .to_owned();
    let t0 = time::OffsetDateTime::now_utc();
    lambda
        .update_function_configuration()
        .function_name(&function)
        .handler("edited.in_console")
        .send()
        .await
        .expect("UpdateFunctionConfiguration");
    sm.delete_secret()
        .secret_id(&secret)
        .recovery_window_in_days(12)
        .send()
        .await
        .expect("DeleteSecret");
    let changed = Instant::now();

    let change = wait_text(
        &client,
        "[data-testid=live-change][data-action=UpdateFunctionConfiguration]",
        |t| !t.is_empty(),
    )
    .await;
    let seen_after = changed.elapsed();
    assert!(
        seen_after < Duration::from_secs(INTERVAL + 15),
        "the change took {seen_after:?} to appear with a {INTERVAL} s interval"
    );
    assert!(change.contains(&function), "{change}");
    assert!(change.contains("the AWS console"), "{change}");
    assert!(
        change.contains("OrganizationAccountAccessRole"),
        "who: {change}"
    );
    wait_for(
        &client,
        "[data-testid=live-change][data-action=DeleteSecret]",
    )
    .await;
    screenshot(&client, "live-feed").await;

    // The function's details: its last change, by whom, with the console.
    let name = find_in_graph(&client, &function).await;
    assert_eq!(name, function);
    let last = wait_text(&client, "[data-testid=details-last-change]", |t| {
        t.contains("UpdateFunctionConfiguration")
    })
    .await;
    assert!(last.contains("the AWS console"), "{last}");
    screenshot(&client, "live-details-changes").await;

    // The finding, with who and when.
    click(&client, "[data-testid=tab-findings]").await;
    let finding = wait_text(
        &client,
        "[data-testid=finding][data-rule=changed-outside-owner]",
        |t| t.contains(&function),
    )
    .await;
    assert!(finding.contains("the AWS console"), "{finding}");
    assert!(
        finding.contains("owned by Terraform aws_lambda_function.rotate_db_password"),
        "{finding}"
    );
    assert!(
        finding.contains("OrganizationAccountAccessRole"),
        "{finding}"
    );
    screenshot(&client, "live-finding").await;

    // The Stages view: under the function's cell, who last changed it and with which tool.
    click(&client, "[data-testid=tab-matrix]").await;
    client
        .execute(
            "const s = document.querySelector('[data-testid=matrix-status]'); s.value = 'all'; s.dispatchEvent(new Event('change', {bubbles: true}));",
            vec![],
        )
        .await
        .expect("every row");
    let cell = wait_text(
        &client,
        "[data-testid=matrix-row][data-key='tf:aws_lambda_function.rotate_db_password'] [data-testid=cell-changed]",
        |t| t.contains("the AWS console"),
    )
    .await;
    assert!(!cell.is_empty());
    screenshot(&client, "live-stages").await;

    // History: the refreshed snapshot against the scan, with who made the change.
    click(&client, "[data-testid=tab-history]").await;
    let by = wait_text(&client, "[data-testid=diff-by]", |t| {
        t.contains("UpdateFunctionConfiguration")
    })
    .await;
    assert!(by.contains("the AWS console"), "{by}");
    screenshot(&client, "live-history").await;

    // The secret's deadline: 12 days after the call, not a reading of DeletedDate.
    click(&client, "[data-testid=tab-deletions]").await;
    let row = format!("[data-testid=pending][data-name='{secret}']");
    wait_for(&client, &format!("{row} [data-testid=scheduled-by]")).await;
    let countdown = client
        .find(Locator::Css(&format!("{row} [data-testid=countdown]")))
        .await
        .expect("countdown");
    let deadline = countdown
        .attr("title")
        .await
        .expect("attr")
        .unwrap_or_default();
    let deadline =
        time::OffsetDateTime::parse(&deadline, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("deadline `{deadline}`: {e}"));
    let twelve = time::Duration::days(12);
    let t1 = t0 + time::Duration::seconds(INTERVAL as i64 + 30);
    assert!(
        deadline >= t0 - time::Duration::seconds(1) + twelve && deadline <= t1 + twelve,
        "deadline {deadline}: 12 days after the call at {t0}"
    );
    let text = countdown.text().await.expect("text");
    assert!(text.starts_with("11 d 23 h"), "{text}");
    assert_eq!(
        count(&client, &format!("{row} [data-testid=uncertain]")).await,
        0,
        "the date is certain"
    );
    let by = wait_text(&client, &format!("{row} [data-testid=scheduled-by]"), |t| {
        !t.is_empty()
    })
    .await;
    assert!(by.contains("the AWS console"), "{by}");
    screenshot(&client, "live-deletions").await;
}
