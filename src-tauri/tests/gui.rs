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

/// tauri-driver, stopped with SIGTERM so it also stops WebKitWebDriver and the app.
struct Driver {
    child: Child,
    url: String,
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
        let child = Command::new(&bin)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &free_port().to_string(),
            ])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (cargo install tauri-driver --locked)",
                    bin.display()
                )
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tauri-driver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

async fn open_app(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert(
        "tauri:options".into(),
        json!({ "application": env!("CARGO_BIN_EXE_stagecraft-app") }),
    );
    ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("WebDriver session with the app")
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
    let driver = Driver::start(&sb.env_vars());
    let client = open_app(&driver).await;

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
    let age = client
        .find(Locator::Css("[data-testid=scan-age]"))
        .await
        .expect("age")
        .text()
        .await
        .expect("text");
    assert!(age.contains("scanned"), "{age}");
    let shot = screenshot(&client, "organization").await;
    assert!(std::fs::metadata(&shot)
        .map(|m| m.len() > 10_000)
        .unwrap_or(false));

    // Rescan: the button disables while accounts report again, then every account is ok again.
    client
        .find(Locator::Css("[data-testid=scan-button]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    wait_for_cards(&client, "ok", 4).await;
    client.close().await.expect("close session");
}
