//! The window's security settings, read from the files Tauri builds from: the CSP allows no inline or
//! evaluated script, and the capability grants exactly the commands the app declares and registers.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn read(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_csp_allows_no_inline_or_evaluated_script() {
    let conf: serde_json::Value = serde_json::from_str(&read("tauri.conf.json")).expect("json");
    let csp = conf["app"]["security"]["csp"]
        .as_str()
        .expect("a CSP is set");
    let script = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src") || d.starts_with("default-src"))
        .expect("script-src");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert!(
        !script.contains("http:") && !script.contains("https:"),
        "{csp}"
    );
}

#[test]
fn the_window_may_call_exactly_the_declared_commands() {
    let build = read("build.rs");
    let declared: BTreeSet<String> = build[build.find(".commands(&[").expect("command list")..]
        .split(']')
        .next()
        .unwrap_or_default()
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    let caps: serde_json::Value =
        serde_json::from_str(&read("capabilities/main.json")).expect("json");
    let granted: BTreeSet<String> = caps["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .map(|p| p.as_str().expect("a permission name").to_owned())
        .collect();
    let expected: BTreeSet<String> = declared
        .iter()
        .map(|c| format!("allow-{}", c.replace('_', "-")))
        .collect();
    assert_eq!(granted, expected, "capabilities/main.json vs build.rs");
    let lib = read("src/lib.rs");
    // Every `module::command` inside `generate_handler![…]`.
    let handler = lib[lib.find("generate_handler![").expect("generate_handler!")..]
        .split(']')
        .next()
        .unwrap_or_default();
    let registered: BTreeSet<String> = handler
        .trim_start_matches("generate_handler![")
        .split(',')
        .filter_map(|entry| entry.trim().rsplit("::").next())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(registered, declared, "generate_handler! vs build.rs");
}
