//! `stagecraft init [DIR]`: the workspace config Stagecraft would write for a folder.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use stagecraft_model::Error;

use crate::args::InitArgs;

pub(crate) fn init_cmd(args: &InitArgs) -> Result<ExitCode, Error> {
    let dir = std::fs::canonicalize(&args.dir)
        .map_err(|e| Error::io(format!("opening {}", args.dir.display()), e))?;
    let found = stagecraft_iac::propose::open(&dir, &[])?;
    if found.exists {
        eprintln!(
            "{} exists (nothing changed); found {} Terraform root(s) and {} service(s) under {}",
            found.config_path,
            found.terraform_roots.len(),
            found.services.len(),
            found.dir
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.write {
        let path = stagecraft_iac::propose::save(&dir, &found.text)?;
        eprintln!("wrote {}", path.display());
    } else {
        print!("{}", found.text);
        eprintln!(
            "(not written: pass --write to save it as {})",
            found.config_path
        );
    }
    Ok(ExitCode::SUCCESS)
}
