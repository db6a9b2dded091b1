// Every parser against real files from public repositories (`tests/corpus/`, see its README): each
// file is read, or rejected with an error that names it — never a panic.

use std::path::{Path, PathBuf};

use stagecraft_iac::serverless::ServiceFile;
use stagecraft_iac::terraform::{parse_state, StateError};

fn corpus(sub: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(sub);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn every_v4_state_is_read_and_keeps_no_values() {
    let files = corpus("tfstate/v4");
    assert_eq!(files.len(), 40);
    for f in files {
        let name = f.display().to_string();
        let state = parse_state(&std::fs::read(&f).expect("read"), &name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!state.instances.is_empty(), "{name}");
        for i in &state.instances {
            assert!(!i.address.is_empty() && !i.type_name.is_empty(), "{name}");
            assert!(
                !i.attributes.contains_key("value"),
                "{name}: {} kept a value",
                i.address
            );
            assert!(!i
                .attributes
                .values()
                .any(|v| v == "REDACTED" && i.address.contains("secret_version")));
        }
    }
}

#[test]
fn v3_states_are_rejected_with_the_upgrade_path() {
    for f in corpus("tfstate/v3") {
        let name = f.display().to_string();
        let err = parse_state(&std::fs::read(&f).expect("read"), &name).unwrap_err();
        assert!(
            matches!(err, StateError::UnsupportedVersion { ref version, .. } if version == "3"),
            "{name}: {err}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&name) && text.contains("Terraform ≥ 0.12"),
            "{text}"
        );
    }
}

#[test]
fn oddities_are_named_for_what_they_are() {
    for f in corpus("tfstate/oddities") {
        let name = f.display().to_string();
        let file = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let result = parse_state(&std::fs::read(&f).expect("read"), &name);
        match file.split('-').next().unwrap_or_default() {
            // Backups and an empty state are ordinary v4 states.
            "001" | "002" | "003" | "004" => {
                result.unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            "005" => assert!(
                matches!(result, Err(StateError::LockRecord { .. })),
                "{name}"
            ),
            "006" => assert!(
                matches!(result, Err(StateError::BackendConfig { .. })),
                "{name}"
            ),
            "007" => {
                let e = result.unwrap_err().to_string();
                assert!(e.contains(".tfvars") && e.contains(&name), "{e}");
            }
            "008" => {
                let e = result.unwrap_err().to_string();
                assert!(e.contains("git-crypt") && e.contains(&name), "{e}");
            }
            other => panic!("unexpected oddity {other}: {name}"),
        }
    }
}

#[test]
fn every_serverless_file_is_read_or_rejected_by_name() {
    let mut read = 0;
    let mut rejected = Vec::new();
    for sub in ["serverless/examples", "serverless/wild"] {
        for f in corpus(sub) {
            let name = f.display().to_string();
            let text = std::fs::read_to_string(&f).expect("utf-8 text");
            match ServiceFile::parse(&f, &text) {
                Ok(file) => {
                    for stage in ["dev", "prod"] {
                        let s = file.resolve(Some(stage), None, Some("123456789012"));
                        assert!(!s.service.is_empty(), "{name}");
                        assert!(s.stack.contains(stage), "{name}: stack {}", s.stack);
                        // A file that reads parameters has them recorded, resolved for the stage.
                        if text
                            .lines()
                            .any(|l| l.contains("${ssm:") && !l.trim_start().starts_with('#'))
                        {
                            assert!(
                                !s.ssm_reads().is_empty(),
                                "{name}: no ${{ssm:}} read recorded"
                            );
                        }
                    }
                    read += 1;
                }
                Err(e) => {
                    assert!(e.to_string().contains(&name), "{e}");
                    rejected.push(e.to_string());
                }
            }
        }
    }
    eprintln!("{read} read, {} rejected: {rejected:#?}", rejected.len());
    assert_eq!(read + rejected.len(), 231);
    // Two files really have no `service:` (they are fragments); everything else is a service.
    assert_eq!(rejected.len(), 2, "{rejected:#?}");
    assert!(
        rejected.iter().all(|e| e.contains("`service:` is missing")),
        "{rejected:#?}"
    );
}

#[test]
fn the_wild_files_show_shared_apis_authorizers_and_short_form_tags() {
    let mut shared_api = 0;
    let mut authorizers = 0;
    let mut resources = 0;
    for f in corpus("serverless/wild") {
        let text = std::fs::read_to_string(&f).expect("read");
        let Ok(file) = ServiceFile::parse(&f, &text) else {
            continue;
        };
        let s = file.resolve(Some("qa"), None, None);
        shared_api += usize::from(s.rest_api_id.is_some());
        authorizers += s
            .functions
            .iter()
            .flat_map(|f| &f.events)
            .filter(|e| e.authorizer.is_some())
            .count();
        resources += s.resources.len();
    }
    assert!(
        shared_api > 0 && authorizers > 0 && resources > 0,
        "{shared_api} {authorizers} {resources}"
    );
}
