//! A `stagecraft.toml` for a folder that has none: the Terraform roots and Serverless services found
//! under it, and the stages a scan found, written as the config a user would write.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use stagecraft_model::signin::WorkspaceProposal;
use stagecraft_model::Error;

/// How deep the search goes below the folder.
const MAX_DEPTH: usize = 5;
/// Folders never searched: tool caches, dependencies, version control.
const SKIP: [&str; 6] = [
    "node_modules",
    ".terraform",
    ".serverless",
    ".git",
    "target",
    ".venv",
];

/// Reads `dir`'s `stagecraft.toml`, or proposes one with `stages` (a scan's, else none).
pub fn open(dir: &Path, stages: &[String]) -> Result<WorkspaceProposal, Error> {
    let meta =
        std::fs::metadata(dir).map_err(|e| Error::io(format!("opening {}", dir.display()), e))?;
    if !meta.is_dir() {
        return Err(Error::Input(format!(
            "{} is not a folder: open the folder that holds the code (and its stagecraft.toml)",
            dir.display()
        )));
    }
    let config_path = dir.join("stagecraft.toml");
    let mut roots = Vec::new();
    let mut services = Vec::new();
    walk(dir, dir, 0, &mut roots, &mut services);
    roots.sort();
    services.sort();
    let (exists, text) = match std::fs::read_to_string(&config_path) {
        Ok(text) => (true, text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (false, write_config(dir, &roots, &services, stages))
        }
        Err(e) => return Err(Error::io(format!("reading {}", config_path.display()), e)),
    };
    let rel = |p: &PathBuf| {
        let s = p.display().to_string();
        if s.is_empty() {
            ".".to_owned()
        } else {
            s
        }
    };
    Ok(WorkspaceProposal {
        dir: dir.display().to_string(),
        config_path: config_path.display().to_string(),
        exists,
        terraform_roots: roots.iter().map(rel).collect(),
        services: services.iter().map(rel).collect(),
        text,
    })
}

fn walk(
    base: &Path,
    dir: &Path,
    depth: usize,
    roots: &mut Vec<PathBuf>,
    services: &mut Vec<PathBuf>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut subdirs = Vec::new();
    let mut has_backend = false;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if !SKIP.contains(&name.as_str()) && !name.starts_with('.') {
                subdirs.push(path);
            }
        } else if name == "serverless.yml" || name == "serverless.yaml" {
            services.push(
                path.parent()
                    .unwrap_or(dir)
                    .strip_prefix(base)
                    .unwrap_or(dir)
                    .to_owned(),
            );
        } else if name.ends_with(".tf") && !has_backend {
            // A root declares where its state lives; a module does not.
            has_backend = std::fs::read_to_string(&path)
                .map(|t| t.contains("backend \""))
                .unwrap_or(false);
        }
    }
    if has_backend {
        roots.push(dir.strip_prefix(base).unwrap_or(dir).to_owned());
    }
    if depth < MAX_DEPTH {
        subdirs.sort();
        for d in subdirs {
            walk(base, &d, depth + 1, roots, services);
        }
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn write_config(dir: &Path, roots: &[PathBuf], services: &[PathBuf], stages: &[String]) -> String {
    let mut s = format!(
        "# Proposed by Stagecraft for {}: {} Terraform root(s) and {} Serverless service(s) found.\n\
         # The management profile is chosen in the window (or with --profile).\n",
        dir.display(),
        roots.len(),
        services.len()
    );
    if stages.is_empty() {
        s.push_str("\n# No scan yet: stages are learnt from the accounts' tags and names.\n");
    }
    for stage in stages {
        let _ = write!(s, "\n[stages.{}]\n", toml_key(stage));
        if stage == "prod" || stage == "production" {
            s.push_str("protected = true\n");
        }
    }
    if let Some((first, rest)) = roots.split_first() {
        let _ = write!(
            s,
            "\n[terraform]\ndir = {}\n",
            toml_str(&first.display().to_string())
        );
        if !rest.is_empty() {
            let others: Vec<String> = rest.iter().map(|r| r.display().to_string()).collect();
            let _ = writeln!(
                s,
                "# Other roots found (their state is still found by the scan): {}",
                others.join(", ")
            );
        }
    }
    if !services.is_empty() {
        let list: Vec<String> = services
            .iter()
            .map(|p| toml_str(&p.display().to_string()))
            .collect();
        let _ = write!(s, "\n[serverless]\nservices = [{}]\n", list.join(", "));
    }
    s
}

/// A stage name as a TOML key: bare when it can be, quoted otherwise.
fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        k.to_owned()
    } else {
        toml_str(k)
    }
}

/// Writes the proposed config, refusing to replace one that exists (nothing is overwritten).
pub fn save(dir: &Path, text: &str) -> Result<PathBuf, Error> {
    let path = dir.join("stagecraft.toml");
    crate::config::WorkspaceConfig::parse(text).map_err(|message| Error::ConfigInvalid {
        path: path.clone(),
        message,
    })?;
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| {
            Error::io(
                format!(
                    "writing {} (an existing file is never replaced)",
                    path.display()
                ),
                e,
            )
        })?;
    f.write_all(text.as_bytes())
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo workspace has a config: it is read as it is (every service folder is found, also
    /// one its config does not list). A copy without it gets a proposal
    /// naming the root and the services, which parses and loads as a workspace.
    #[test]
    fn a_folder_without_a_config_gets_one_naming_its_roots_and_services() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let found = open(&examples, &[]).unwrap();
        assert!(found.exists);
        assert_eq!(found.terraform_roots, ["infra"]);
        assert_eq!(
            found.services,
            [
                "services/auth",
                "services/orders",
                "services/reports",
                "services/users"
            ]
        );

        let dir = tempfile::tempdir().unwrap();
        for (path, text) in [
            ("infra/main.tf", "terraform {\n  backend \"s3\" {}\n}\n"),
            ("infra/modules/net/main.tf", "variable \"x\" {}\n"),
            ("api/serverless.yml", "service: api\n"),
            ("api/node_modules/dep/serverless.yml", "service: not-ours\n"),
        ] {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let proposed = open(dir.path(), &["dev".into(), "prod".into()]).unwrap();
        assert!(!proposed.exists);
        assert_eq!(proposed.terraform_roots, ["infra"]);
        assert_eq!(proposed.services, ["api"]);
        let config = crate::config::WorkspaceConfig::parse(&proposed.text).expect(&proposed.text);
        assert_eq!(config.stages.keys().collect::<Vec<_>>(), ["dev", "prod"]);
        assert_eq!(config.stages["prod"].protected, Some(true));
        assert_eq!(config.serverless.unwrap().services, [PathBuf::from("api")]);

        let saved = save(dir.path(), &proposed.text).unwrap();
        assert_eq!(std::fs::read_to_string(&saved).unwrap(), proposed.text);
        // Saving again never replaces the file.
        assert!(save(dir.path(), "# other\n").is_err());
        assert_eq!(std::fs::read_to_string(&saved).unwrap(), proposed.text);
    }
}
