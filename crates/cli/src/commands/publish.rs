//! `stagecraft publish`: a snapshot (or one shard of a scan) published to S3 for the team, and the
//! shards of a run assembled; `stagecraft team`: the team's snapshot opened and compared.

use std::process::ExitCode;

use stagecraft_aws::credentials::AwsEnv;
use stagecraft_iac::config::Workspace;
use stagecraft_model::{Error, ValueHasher};
use stagecraft_ops::publish::{self, Destination, Published};

use crate::args::*;
use crate::output::print_json;
use crate::source::{adopt_key, gone_buckets, open_store_at, pick, profile_of, team_key, Picked};

fn workspace_of(config: Option<&std::path::Path>) -> Result<Workspace, Error> {
    match config {
        Some(path) => Workspace::load(path),
        None => Ok(Workspace::default()),
    }
}

pub(crate) async fn publish_cmd(args: PublishArgs) -> Result<ExitCode, Error> {
    let dest: Destination = args.to.parse()?;
    let workspace = workspace_of(args.source.config.as_deref())?;
    let profile = args
        .publish_profile
        .clone()
        .or_else(|| profile_of(&args.source, &workspace))
        .unwrap_or_else(|| "default".to_owned());
    let env = AwsEnv::from_environment();
    if let Some(run) = &args.assemble {
        let (s3, me) = publish::writer(&env, &profile).await?;
        let manifest = publish::assemble(&s3, &dest, run, &me, &[]).await?;
        return done(&args, &dest, &manifest);
    }
    if let Some(run) = &args.run {
        publish::check_run(run)?;
    }
    let picked = pick(&args.source, &args.snapshot).await?;
    let head = match &picked {
        Picked::Stored(kept) => std::borrow::Cow::Owned(kept.store.load_head(kept.id)?),
        Picked::Scanned(report) => std::borrow::Cow::Borrowed(report.as_ref()),
    };
    // The key the values were hashed with: the team's (STAGECRAFT_HASH_KEY), else the store's; a
    // scan not stored hashed them with a key of its own, comparable with nothing.
    let key = match team_key()? {
        Some(key) => Some(key),
        None if args.source.no_store && args.snapshot.snapshot.is_none() => None,
        None => Some(open_store_at(args.source.store.as_deref())?.hash_key()?),
    }
    .filter(|k| head.coverage.value_key == Some(ValueHasher::new(*k).fingerprint()));
    if args.share_hash_key {
        let key = key.ok_or_else(|| {
            Error::Input(
                "--share-hash-key shares the key that hashed the values, and this snapshot's key is not kept (a scan with --no-store, or a snapshot older than the store's key): scan again without --no-store"
                    .into(),
            )
        })?;
        let (s3, _) = publish::writer(&env, &profile).await?;
        publish::share_key(&s3, &dest, &key).await?;
        eprintln!("shared the hash key at {dest}/keys/value-hash.key");
    }
    let gone = gone_buckets(args.source.store.as_deref(), &head.organization.id);
    let is_shard = head.coverage.shard.is_some();
    drop(head);
    let published = match (picked, &args.run) {
        // A stored shard goes from the store's rows to the parts, never held whole.
        (Picked::Stored(kept), Some(run)) if is_shard => {
            let (s3, arn) = publish::writer(&env, &profile).await?;
            let by = publish::Publisher { arn };
            Published::Shard(Box::new(
                publish::stage_shard_stored(&s3, &dest, run, &kept.store, kept.id, &by).await?,
            ))
        }
        (Picked::Stored(kept), run) => {
            let report = kept.store.load(kept.id)?;
            publish::publish(&env, &profile, &dest, &report, &gone, run.as_deref()).await?
        }
        (Picked::Scanned(report), run) => {
            publish::publish(&env, &profile, &dest, &report, &gone, run.as_deref()).await?
        }
    };
    match published {
        Published::Generation(manifest) => done(&args, &dest, &manifest),
        Published::Shard(record) => {
            if args.json {
                print_json(&serde_json::json!({
                    "run": record.run,
                    "shard": record.shard,
                    "published_by": record.published_by,
                    "parts": record.parts,
                }))?;
            } else {
                let resources: usize = record
                    .parts
                    .iter()
                    .filter(|p| p.table == "resources")
                    .map(|p| p.rows)
                    .sum();
                println!(
                    "published shard {} of run {} to {dest}: {resources} resources in {} account(s); \
                     visible once assembled: stagecraft publish {dest} --assemble {}",
                    record.shard,
                    record.run,
                    record.report.coverage.accounts.len(),
                    record.run
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn done(
    args: &PublishArgs,
    dest: &Destination,
    manifest: &publish::Manifest,
) -> Result<ExitCode, Error> {
    if args.json {
        print_json(manifest)?;
    } else {
        let rows: Vec<String> = manifest
            .rows()
            .iter()
            .map(|(table, n)| format!("{n} {table}"))
            .collect();
        println!(
            "published generation {} to {dest}: {} (by {}, scanned {}{})",
            manifest.generation,
            rows.join(", "),
            manifest.published_by,
            manifest.scanned_at,
            match manifest.records.len() {
                1 => String::new(),
                n => format!(", {n} shards"),
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn team_cmd(args: TeamArgs) -> Result<ExitCode, Error> {
    let dest: Destination = args.from.parse()?;
    let workspace = workspace_of(args.config.as_deref())?;
    let profile = stagecraft_aws::scan::management_profile(
        &stagecraft_aws::scan::ScanOptions {
            profile: args.profile.clone(),
            ..Default::default()
        },
        &workspace,
    );
    let env = AwsEnv::from_environment();
    let (s3, _) = publish::writer(&env, &profile).await?;
    if args.adopt_hash_key {
        let key = publish::shared_key(&s3, &dest).await?;
        adopt_key(
            &open_store_at(args.store.as_deref())?,
            key,
            &format!("{dest}/keys/value-hash.key"),
        )?;
    }
    // The local side: the latest snapshot of the organization, if the store has one.
    let local = publish::latest_local(
        args.store
            .clone()
            .unwrap_or_else(stagecraft_store::Store::default_path),
    );
    let team = publish::open_team(&s3, &dest, args.generation, local)
        .await?
        .ok_or_else(|| {
            Error::Input(format!(
                "nothing is published at {dest} yet: `stagecraft publish {dest}` publishes a snapshot there"
            ))
        })?;
    if args.json {
        print_json(&team)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} generation {}: organization {}, published by {} at {}, scanned {}{}",
        team.location,
        team.generation,
        team.report.organization.id,
        team.published_by,
        team.published_at,
        team.scanned_at,
        if team.shards > 1 {
            format!(" in {} shards", team.shards)
        } else {
            String::new()
        }
    );
    println!(
        "{} account(s), {} resources, {} Terraform state(s)",
        team.report.accounts.len(),
        team.report.resources.len(),
        team.report.terraform.len()
    );
    for line in &team.report.coverage.skipped {
        println!("not seen: {line}");
    }
    match &team.comparison {
        None => println!(
            "no local snapshot of organization {} to compare with",
            team.report.organization.id
        ),
        Some(c) => {
            println!(
                "against local snapshot {} (scanned {}): {} only in the team's, {} only in the local one, {} changed",
                c.local_id,
                c.local_started_at,
                c.diff.added.len(),
                c.diff.removed.len(),
                c.diff.changed.len()
            );
            if !c.hashes_comparable {
                println!(
                    "values were hashed with another key than the local store's: {} difference(s) in hashed values left out",
                    c.hash_changes_left_out
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
