// Every kind of bad input the readers were tried with, each rejected with a clear error (or read
// with what can be read) and never a panic. `docs/bad-input.md` shows this table with the errors the
// code gives today; the test fails when the two drift apart, printing the table to paste.
//
// The same readers are fuzzed by the targets in `fuzz/` (`scripts/fuzz`); any input a fuzzer ever
// found is added here as a case.

use std::path::Path;

use stagecraft_iac::config::WorkspaceConfig;
use stagecraft_iac::serverless::ServiceFile;
use stagecraft_iac::terraform::backend::{backend_in, Backend};
use stagecraft_iac::terraform::parse_state;

/// One reader's verdict on an input: `ok: …` or the error a user sees.
fn verdict(reader: &str, input: &[u8]) -> String {
    let text = String::from_utf8_lossy(input);
    let out = std::panic::catch_unwind(|| match reader {
        "state" => match parse_state(input, "bad.tfstate") {
            Ok(s) => format!(
                "read: {} managed instance(s), {} data source instance(s)",
                s.instances.iter().filter(|i| i.managed()).count(),
                s.instances.iter().filter(|i| !i.managed()).count()
            ),
            Err(e) => e.to_string(),
        },
        "backend" => match backend_in(Path::new("infra/main.tf"), &text) {
            Ok(Some(Backend::S3(b))) => format!("read: s3 backend, bucket `{}`", b.bucket),
            Ok(Some(Backend::Local { .. })) => "read: local backend".to_owned(),
            Ok(None) => "read: no backend block (local state)".to_owned(),
            Err(e) => e.to_string(),
        },
        "serverless" => match ServiceFile::parse(Path::new("services/api/serverless.yml"), &text) {
            Ok(f) => {
                let r = f.resolve(Some("dev"), Some("us-east-1"), Some("123456789012"));
                format!(
                    "read: service `{}`, {} function(s), {} variable(s)",
                    r.service,
                    r.functions.len(),
                    r.variables.len()
                )
            }
            Err(e) => e.to_string(),
        },
        "config" => match WorkspaceConfig::parse(&text) {
            Ok(_) => "read".to_owned(),
            Err(e) => e,
        },
        other => panic!("no reader {other}"),
    });
    out.unwrap_or_else(|_| "PANIC".to_owned())
}

/// (reader, what the input is, the input).
fn cases() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_yaml = format!(
        "service: a\nprovider: aws\nx: {}1{}",
        "[".repeat(2_000),
        "]".repeat(2_000)
    );
    vec![
        ("state", "empty file", b"".to_vec()),
        ("state", "not JSON", b"terraform { }".to_vec()),
        ("state", "JSON, not an object", b"[1, 2, 3]".to_vec()),
        ("state", "no `version`", br#"{"serial": 1}"#.to_vec()),
        ("state", "format v3 (Terraform < 0.12)", br#"{"version": 3, "modules": []}"#.to_vec()),
        ("state", "format v5 (unknown)", br#"{"version": 5, "resources": []}"#.to_vec()),
        ("state", "`resources` not a list", br#"{"version": 4, "resources": {}}"#.to_vec()),
        ("state", "a resource without `type`", br#"{"version": 4, "resources": [{"name": "x", "mode": "managed", "instances": []}]}"#.to_vec()),
        ("state", "`instances` holds a string", br#"{"version": 4, "resources": [{"type": "aws_s3_bucket", "name": "x", "mode": "managed", "instances": ["oops"]}]}"#.to_vec()),
        ("state", "10,000 nested arrays", deep.clone().into_bytes()),
        ("state", "invalid UTF-8", vec![0xff, 0xfe, b'{', b'}']),
        ("state", "truncated mid-file", br#"{"version": 4, "resources": [{"type": "aws_s3_bu"#.to_vec()),
        ("backend", "empty file", b"".to_vec()),
        ("backend", "not HCL", b"terraform {{{ backend".to_vec()),
        ("backend", "`backend` without a type label", b"terraform {\n  backend {\n  }\n}\n".to_vec()),
        ("backend", "s3 backend without `bucket`", b"terraform {\n  backend \"s3\" {\n    key = \"a\"\n  }\n}\n".to_vec()),
        ("backend", "bucket from a variable (not allowed in a backend)", b"terraform {\n  backend \"s3\" {\n    bucket = var.b\n    key = \"a\"\n  }\n}\n".to_vec()),
        ("backend", "two backend blocks", b"terraform {\n  backend \"s3\" {\n    bucket = \"a\"\n    key = \"k\"\n  }\n  backend \"local\" {}\n}\n".to_vec()),
        ("backend", "a backend of another kind", b"terraform {\n  backend \"gcs\" {\n    bucket = \"a\"\n  }\n}\n".to_vec()),
        ("serverless", "empty file", b"".to_vec()),
        ("serverless", "not YAML", b"service: [unclosed".to_vec()),
        ("serverless", "a list at the top", b"- service: a\n".to_vec()),
        ("serverless", "no `service:`", b"provider:\n  name: aws\n".to_vec()),
        ("serverless", "`service:` is a list", b"service: [a, b]\nprovider: aws\n".to_vec()),
        ("serverless", "no `provider:`", b"service: api\n".to_vec()),
        ("serverless", "`functions:` is a number", b"service: api\nprovider:\n  name: aws\nfunctions: 3\n".to_vec()),
        ("serverless", "a variable that refers to itself", b"service: api\nprovider:\n  name: aws\n  stage: ${self:provider.stage}\n".to_vec()),
        ("serverless", "two variables that refer to each other", b"service: api\ncustom:\n  a: ${self:custom.b}\n  b: ${self:custom.a}\nprovider:\n  name: aws\n  environment:\n    A: ${self:custom.a}\n".to_vec()),
        ("serverless", "an unknown CloudFormation tag", b"service: api\nprovider:\n  name: aws\nresources:\n  Resources:\n    X: !NotATag abc\n".to_vec()),
        ("serverless", "a YAML alias bomb", b"service: api\nprovider: aws\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n".to_vec()),
        ("serverless", "2,000 nested flow lists", deep_yaml.into_bytes()),
        ("config", "empty file", b"".to_vec()),
        ("config", "not TOML", b"[stages.dev\naccount = 1".to_vec()),
        ("config", "an account id that is not 12 digits", b"[stages.dev]\naccount = \"12345\"\n".to_vec()),
        ("config", "two stages with one account", b"[stages.dev]\naccount = \"111111111111\"\n[stages.qa]\naccount = \"111111111111\"\n".to_vec()),
        ("config", "an unknown key", b"[stages.dev]\naccount = \"111111111111\"\ncolour = \"red\"\n".to_vec()),
        ("config", "a stage name with a slash", b"[stages.\"dev/1\"]\naccount = \"111111111111\"\n".to_vec()),
        ("config", "`post_deploy` of an unknown kind", b"[deploy]\npost_deploy = \"sometimes\"\n".to_vec()),
        ("config", "keys in a Terraform init argument", b"[terraform.by_workspace.qa]\ninit_args = [\"-backend-config=secret_key=abc\"]\n".to_vec()),
        ("config", "credentials in the deploy environment", b"[deploy.env]\nAWS_ACCESS_KEY_ID = \"AKIA\"\n".to_vec()),
        ("config", "an account deadline of zero", b"[scan]\naccount_timeout = 0\n".to_vec()),
        ("config", "a history of 0 or over 90 days", b"[scan]\nhistory_days = 120\n".to_vec()),
        ("config", "a history that keeps nothing", b"[history]\nkeep = 0\n".to_vec()),
    ]
}

fn table() -> String {
    let mut out = String::from("| Reader | Input | What Stagecraft says |\n|---|---|---|\n");
    for (reader, what, input) in cases() {
        let v = verdict(reader, &input)
            .replace('|', "\\|")
            .replace('\n', " ");
        out.push_str(&format!("| {reader} | {what} | {v} |\n"));
    }
    out
}

#[test]
fn no_bad_input_panics() {
    let panics: Vec<String> = cases()
        .into_iter()
        .filter(|(reader, _, input)| verdict(reader, input) == "PANIC")
        .map(|(reader, what, _)| format!("{reader}: {what}"))
        .collect();
    assert!(panics.is_empty(), "panicked on: {panics:?}");
}

#[test]
fn docs_show_what_each_bad_input_gets() {
    let expected = table();
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/bad-input.md"),
    )
    .unwrap_or_default();
    assert!(
        docs.contains(&expected),
        "docs/bad-input.md is out of step with the readers; its table should be:\n\n{expected}"
    );
}
