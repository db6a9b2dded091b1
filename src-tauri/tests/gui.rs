//! End-to-end tests of the window: the real app in the real webview (WebKitGTK), driven through
//! WebDriver (tauri-driver + WebKitWebDriver) under Xvfb, against a fresh sandbox organization.
//!
//! They need a display, `tauri-driver` and an app built with the embedded front end
//! (`--features custom-protocol`); `scripts/test` provides all three and sets `STAGECRAFT_GUI_TESTS=1`.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use stagecraft::sandbox::{self, SeedSpec};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// tauri-driver, stopped with SIGTERM so it also stops WebKitWebDriver and the app. Its output
/// goes to `target/tauri-driver-<port>.log`, quoted when a session cannot be opened.
struct Driver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Driver {
    fn start(env: &[(String, String)]) -> Driver {
        let bin = std::env::var_os("TAURI_DRIVER")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tauri-driver"))
            })
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("tauri-driver"));
        let port = free_port();
        let native_port = loop {
            let p = free_port();
            if p != port {
                break p;
            }
        };
        let log = std::env::temp_dir().join(format!("stagecraft-tauri-driver-{port}.log"));
        let out = std::fs::File::create(&log).expect("driver log");
        let child = Command::new(&bin)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("driver log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (cargo install tauri-driver --locked)",
                    bin.display()
                )
            });
        let mut driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        // Both the intermediary and WebKitWebDriver behind it must listen before a session
        // request, or tauri-driver drops the connection.
        let deadline = Instant::now() + Duration::from_secs(30);
        for p in [port, native_port] {
            while TcpStream::connect((Ipv4Addr::LOCALHOST, p)).is_err() {
                if let Ok(Some(status)) = driver.child.try_wait() {
                    panic!("tauri-driver exited ({status}):\n{}", driver.output());
                }
                assert!(
                    Instant::now() < deadline,
                    "tauri-driver did not listen on {p}:\n{}",
                    driver.output()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        driver
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Starts tauri-driver and opens a session with the app; a driver that fails to open one is
/// replaced once (WebKitWebDriver occasionally fails its first session on a loaded machine).
async fn open_app(env: &[(String, String)]) -> (Driver, Client) {
    let mut last = String::new();
    for _ in 0..3 {
        let driver = Driver::start(env);
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("wry"));
        caps.insert(
            "tauri:options".into(),
            json!({ "application": env!("CARGO_BIN_EXE_stagecraft-app") }),
        );
        match ClientBuilder::rustls()
            .expect("tls")
            .capabilities(caps)
            .connect(&driver.url)
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                last = format!("{e}\n--- tauri-driver output ---\n{}", driver.output());
                eprintln!("WebDriver session failed, retrying: {last}");
            }
        }
    }
    panic!("no WebDriver session with the app: {last}");
}

/// Two animation frames, then a PNG of the window in `tests/screenshots/<name>.png`.
async fn screenshot(client: &Client, name: &str) -> PathBuf {
    client
        .execute_async(
            "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done()));",
            vec![],
        )
        .await
        .expect("animation frames");
    let png = client.screenshot().await.expect("screenshot");
    let dir = repo().join("tests").join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    path
}

/// Waits (up to 60 s) until the element's text satisfies `ok`; returns the text.
async fn wait_text(client: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(el) = client.find(Locator::Css(css)).await {
            if let Ok(t) = el.text().await {
                if ok(&t) {
                    return t;
                }
                last = t;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{css} never got the expected text; last: {last:?}");
}

async fn wait_for_cards(
    client: &Client,
    status: &str,
    n: usize,
) -> Vec<fantoccini::elements::Element> {
    let selector = format!("[data-testid=account-card][data-status={status}]");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let cards = client
            .find_all(Locator::Css(&selector))
            .await
            .expect("query");
        if cards.len() >= n {
            return cards;
        }
        if Instant::now() > deadline {
            let text = client
                .find(Locator::Css("body"))
                .await
                .expect("body")
                .text()
                .await
                .unwrap_or_default();
            panic!("expected {n} accounts with status {status}; the window shows:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_window_lists_the_sandbox_accounts_with_their_stages() {
    if std::env::var_os("STAGECRAFT_GUI_TESTS").is_none() {
        eprintln!("skipped: GUI tests run under scripts/test (STAGECRAFT_GUI_TESTS=1, Xvfb, tauri-driver)");
        return;
    }
    let venv = std::env::var_os("STAGECRAFT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"));
    let running =
        sandbox::start_scratch(&venv, Some(&repo().join("examples")), SeedSpec::default())
            .await
            .expect("sandbox");
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
        let n = stagecraft::store::Store::open(&store_path)
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

fn gui_tests_enabled() -> bool {
    if std::env::var_os("STAGECRAFT_GUI_TESTS").is_none() {
        eprintln!("skipped: GUI tests run under scripts/test (STAGECRAFT_GUI_TESTS=1, Xvfb, tauri-driver)");
        return false;
    }
    true
}

async fn click(client: &Client, css: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn count(client: &Client, css: &str) -> usize {
    client
        .find_all(Locator::Css(css))
        .await
        .map(|v| v.len())
        .unwrap_or(0)
}

/// Waits until `css` matches at least one element.
async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_views_answer_who_owns_what_reads_what_differs_and_what_to_fix() {
    if !gui_tests_enabled() {
        return;
    }
    let venv = std::env::var_os("STAGECRAFT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"));
    let running =
        sandbox::start_scratch(&venv, Some(&repo().join("examples")), SeedSpec::default())
            .await
            .expect("sandbox");
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
    assert_eq!(badge.trim(), "11");
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

    // Graph: search /db_pw_name, and its SSM links are there with their evidence.
    click(&client, "[data-testid=tab-graph]").await;
    wait_for(&client, "[data-testid=graph][data-ready=yes]").await;
    let search = wait_for(&client, "[data-testid=graph-search]").await;
    search.send_keys("/db_pw_name").await.expect("type");
    wait_for(&client, "[data-testid=search-result]").await;
    search.send_keys("\u{E007}").await.expect("enter");
    let name = wait_text(&client, "[data-testid=details-name]", |t| {
        t == "/db_pw_name"
    })
    .await;
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
    assert_eq!(count(&client, "[data-testid=finding]").await, 11);
    assert_eq!(
        count(&client, "[data-testid=rule-group]").await,
        7,
        "seven rules have findings"
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
    screenshot(&client, "history").await;

    // The palette reaches any view and any resource by typing.
    click(&client, "[data-testid=palette-button]").await;
    let input = wait_for(&client, "[data-testid=palette-input]").await;
    input.send_keys("Go to Findings").await.expect("type");
    input.send_keys("\u{E007}").await.expect("enter");
    wait_for(&client, "[data-testid=findings-view]").await;
    client.close().await.expect("close session");
}
