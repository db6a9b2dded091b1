//! The command line: every command and its flags (clap), nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use stagecraft_analysis::audit::Severity;

#[derive(Parser)]
#[command(
    name = "stagecraft",
    version,
    about = "Who owns what across an AWS Organization run with Terraform + Serverless"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Discover the organization, scan every account, decide every resource's owner, store a snapshot.
    Scan(ScanArgs),
    /// Follow the organization as it changes: each account's CloudTrail history read every
    /// --interval seconds, each change printed with who made it and with which tool, what it
    /// touched read again and stored as a snapshot.
    Watch(WatchArgs),
    /// List the stored snapshots of an organization, newest first (`--all`: every organization's).
    Snapshots(SnapshotsArgs),
    /// What changed between two snapshots of one organization (default: its latest and the one
    /// before).
    Diff(DiffArgs),
    /// The graph of links (SSM writes and reads, policies, mappings, authorizers, stacks) as text,
    /// JSON, DOT or Mermaid.
    Graph(GraphArgs),
    /// What is pending deletion across the organization (secrets, KMS keys, stacks stuck deleting,
    /// buckets gone since an earlier snapshot) and which deploys each will break.
    Deletions(DeletionsArgs),
    /// Publish a snapshot to S3 for the team (`s3://bucket/prefix`): each table (resources, links,
    /// findings, deletions, coverage) as gzipped JSON Lines per account, then the generation's
    /// manifest, written last and never over another publisher's. Scans only read; this writes.
    Publish(PublishArgs),
    /// Open the team's snapshot published at s3://bucket/prefix (read-only): who published it and
    /// when, what it holds, and what differs from the latest local snapshot.
    Team(TeamArgs),
    /// Undo a pending deletion: restore a secret or cancel a KMS key's deletion (asks for
    /// confirmation; a protected stage's name must be typed), then rescan its account.
    Undelete(UndeleteArgs),
    /// The phased deploy of a stage: Terraform, the services in dependency order, Terraform again
    /// when the stage needs it. `--dry-run` shows the plan with each step's reason.
    Deploy(DeployArgs),
    /// Findings where Terraform and Serverless overlap or drift. Exit code 3 when findings at or
    /// above --fail-on exist, 2 when an account could not be scanned completely.
    Audit(AuditArgs),
    /// Sign in through IAM Identity Center for an SSO profile (the device code flow; the token is
    /// cached where the AWS CLI caches it), then list the accounts and roles it opens.
    Login(LoginArgs),
    /// Propose a stagecraft.toml for DIR from the Terraform roots and serverless.yml files under
    /// it; `--write` saves it (an existing file is never replaced).
    Init(InitArgs),
    /// Start, stop or describe the local sandbox organization.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
}

#[derive(Args)]
pub struct LoginArgs {
    /// The IAM Identity Center profile (default: AWS_PROFILE, then `default`).
    #[arg(long)]
    pub profile: Option<String>,
    /// Forget the sign-in instead (`sso:Logout` and the cached token removed).
    #[arg(long)]
    pub logout: bool,
}

#[derive(Args)]
pub struct InitArgs {
    /// The folder holding the code (default: the current one).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Write DIR/stagecraft.toml instead of printing it.
    #[arg(long)]
    pub write: bool,
}

#[derive(Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// One incremental pass: read each account's CloudTrail history since the latest snapshot
    /// and read again only what changed (a full scan when the history cannot say what did).
    #[arg(long, conflicts_with_all = ["account", "no_store"])]
    pub since_last: bool,
}

#[derive(Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Seconds between two reads of the history (at least 5).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(5..))]
    pub interval: u64,
    /// Stop after this many passes (default: until interrupted).
    #[arg(long)]
    pub passes: Option<u64>,
    /// Print each change as a JSON line on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Where a report comes from: a fresh scan (stored unless `--no-store`), or a stored snapshot.
#[derive(Args)]
pub struct SourceArgs {
    /// The management account's AWS profile (default: the workspace config, then AWS_PROFILE).
    #[arg(long)]
    pub profile: Option<String>,
    /// The workspace config (stagecraft.toml).
    #[arg(long, env = "STAGECRAFT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Regions to scan (repeatable; default: the config, then the profile's region).
    #[arg(long = "region")]
    pub regions: Vec<String>,
    /// Accounts scanned at once (default: `[scan] parallelism` in the config, else 32).
    #[arg(long)]
    pub parallelism: Option<usize>,
    /// Do not store this scan as a snapshot.
    #[arg(long)]
    pub no_store: bool,
    /// The snapshot store (SQLite). Default: the platform's data dir (`~/.local/share/stagecraft/`).
    #[arg(long = "store", env = "STAGECRAFT_STORE")]
    pub store: Option<PathBuf>,
    /// Rescan only this account; the others keep what the latest snapshot has.
    #[arg(long)]
    pub account: Option<String>,
    /// Scan the i-th of n shards of the organization (e.g. 2/4): the accounts whose id falls to
    /// it, every machine dividing them the same way; the others show as another shard's. Every
    /// shard still reads all Terraform state. Publish each shard with the same --run, then
    /// `stagecraft publish --assemble`.
    #[arg(long, value_name = "I/N", value_parser = shard, conflicts_with = "account")]
    pub shard: Option<stagecraft_model::coverage::Shard>,
    /// Reach the member accounts through the management profile's IAM Identity Center sign-in,
    /// taking this role (permission set) in each (`stagecraft login` signs in).
    #[arg(long)]
    pub sso_role: Option<String>,
}

#[derive(Args)]
pub struct SnapshotArg {
    /// Use a stored snapshot (`latest` or its id) instead of scanning now.
    #[arg(long)]
    pub snapshot: Option<String>,
    /// The organization whose latest snapshot `--snapshot latest` is (default: the one the
    /// profile reached in its newest snapshot, else the most recently scanned).
    #[arg(long = "org", value_name = "ID", requires = "snapshot")]
    pub organization: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum GraphFormat {
    Text,
    Json,
    Dot,
    Mermaid,
}

#[derive(Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub snapshot: SnapshotArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: GraphFormat,
    /// Only this stage's nodes.
    #[arg(long)]
    pub stage: Option<String>,
    /// Only the neighbourhood of this node id (an ARN, `terraform:…`) or unique resource name.
    #[arg(long)]
    pub focus: Option<String>,
    /// How many links away from --focus to go.
    #[arg(long, default_value_t = 1)]
    pub depth: usize,
}

#[derive(Args)]
pub struct PublishArgs {
    /// Where: s3://bucket/prefix (the bucket must exist; the profile must be allowed
    /// s3:PutObject, s3:ListBucket and s3:GetObject there).
    pub to: String,
    /// Publish one shard (`--shard i/n`) under this run, which every shard of the scan shares
    /// (in GitHub Actions: ${{ github.run_id }}-${{ github.run_attempt }}); visible once assembled.
    #[arg(long, requires = "shard", conflicts_with = "assemble")]
    pub run: Option<String>,
    /// Scan nothing: assemble the shards published under this run into one generation (every
    /// shard must have published).
    #[arg(long, value_name = "RUN", conflicts_with_all = ["snapshot", "shard"])]
    pub assemble: Option<String>,
    /// Also write the key that hashed the snapshot's values at the location
    /// (`keys/value-hash.key`), so that team members who `stagecraft team --adopt-hash-key` get
    /// hashes that compare with the team's. Anyone who can read the location can then test
    /// guesses of a value against its hash: only where the location is as private as the values.
    #[arg(long, conflicts_with = "assemble")]
    pub share_hash_key: bool,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub snapshot: SnapshotArg,
    /// The AWS profile that writes (default: the management profile).
    #[arg(long)]
    pub publish_profile: Option<String>,
    /// Print the manifest as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct TeamArgs {
    /// Where the team publishes: s3://bucket/prefix.
    pub from: String,
    /// The generation to open (default: the newest).
    #[arg(long)]
    pub generation: Option<u64>,
    /// The AWS profile that reads (default: the management profile).
    #[arg(long)]
    pub profile: Option<String>,
    /// The workspace config (stagecraft.toml).
    #[arg(long, env = "STAGECRAFT_CONFIG")]
    pub config: Option<PathBuf>,
    /// The local snapshot store to compare with.
    #[arg(long = "store", env = "STAGECRAFT_STORE")]
    pub store: Option<PathBuf>,
    /// Print the team's snapshot, its manifest and the comparison as JSON.
    #[arg(long)]
    pub json: bool,
    /// Make the key the team shared at the location (`publish --share-hash-key`) the local
    /// store's, so later local scans' hashes compare with the team's.
    #[arg(long)]
    pub adopt_hash_key: bool,
}

#[derive(Args)]
pub struct DeletionsArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub snapshot: SnapshotArg,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Only this stage.
    #[arg(long)]
    pub stage: Option<String>,
}

#[derive(Args)]
pub struct DeployArgs {
    /// The stage to deploy.
    #[arg(long)]
    pub stage: String,
    /// Show the plan and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plan (or, with --preview, the changes) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Show what each step would change and run nothing: Terraform's plan, and a CloudFormation
    /// change set per Serverless service (created, read and deleted; never executed).
    #[arg(long, conflicts_with = "dry_run")]
    pub preview: bool,
    /// Run without asking (an unprotected stage).
    #[arg(long)]
    pub yes: bool,
    /// The stage name, typed to confirm a deploy of a protected stage.
    #[arg(long)]
    pub confirm_stage: Option<String>,
    /// Start at this step (1-based, as the plan numbers them): a retry from the step that failed.
    #[arg(long, default_value_t = 1)]
    pub from_step: usize,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub snapshot: SnapshotArg,
}

#[derive(Args)]
pub struct UndeleteArgs {
    /// The resource id (ARN) from `stagecraft deletions`, or its name when that is unique.
    pub resource: String,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Confirm without asking (for an unprotected stage).
    #[arg(long)]
    pub yes: bool,
    /// The stage name, typed to confirm an action in a protected stage.
    #[arg(long)]
    pub confirm_stage: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum AuditFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub snapshot: SnapshotArg,
    /// Output format (`--json` is short for `--format json`).
    #[arg(long, value_enum, default_value = "text")]
    pub format: AuditFormat,
    #[arg(long)]
    pub json: bool,
    /// Only this stage's findings.
    #[arg(long)]
    pub stage: Option<String>,
    /// Exit with 3 when a finding at or above this severity exists (info, low, medium, high).
    #[arg(long, default_value = "medium")]
    pub fail_on: Severity,
}

#[derive(Args)]
pub struct StoreArgs {
    /// The snapshot store (SQLite). Default: the platform's data dir (`~/.local/share/stagecraft/`).
    #[arg(long = "store", env = "STAGECRAFT_STORE")]
    pub path: Option<PathBuf>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// The organization (a store may hold several; default: the one the profile reached in its
    /// newest snapshot, else the most recently scanned).
    #[arg(long = "org", value_name = "ID")]
    pub organization: Option<String>,
    /// The profile whose organization is the default.
    #[arg(long, env = "AWS_PROFILE", hide_env_values = true)]
    pub profile: Option<String>,
}

#[derive(Args)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Every organization's snapshots, with an organization column.
    #[arg(long, conflicts_with = "organization")]
    pub all: bool,
}

#[derive(Args)]
pub struct DiffArgs {
    /// The older snapshot id.
    pub from: Option<i64>,
    /// The newer snapshot id (default: the organization's latest).
    pub to: Option<i64>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Compare snapshots of two different organizations (refused otherwise: every resource of
    /// one would show as added).
    #[arg(long)]
    pub across_organizations: bool,
}

#[derive(Subcommand)]
pub enum SandboxCommand {
    /// Start moto on loopback, seed the demo organization, write D/aws-config and D/stagecraft.toml.
    Up {
        #[arg(long)]
        dir: PathBuf,
        /// Python venv for the pinned moto (created when missing).
        #[arg(long, env = "STAGECRAFT_VENV", default_value = ".venv")]
        venv: PathBuf,
        /// The demo workspace the written stagecraft.toml points at.
        #[arg(long, default_value = "examples")]
        examples: PathBuf,
        /// Stages, one member account each.
        #[arg(long, value_delimiter = ',', default_value = "dev,qa,prod")]
        stages: Vec<String>,
        /// Generic API services beside auth, users and orders.
        #[arg(long, default_value_t = 0)]
        extra_services: usize,
        /// Extra functions per service.
        #[arg(long, default_value_t = 0)]
        extra_functions: usize,
        /// Seed without the planted problems.
        #[arg(long)]
        clean: bool,
        /// The organization's layout: `demo` (the field write-up's), or `spread` (state in a
        /// tooling account under per-stage keys, a second region, SAM and CDK stacks, no
        /// stagecraft.toml).
        #[arg(long, default_value = "demo", value_parser = ["demo", "spread"])]
        shape: String,
    },
    /// Stop the sandbox started from D.
    Down {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print the shell exports for the sandbox in D.
    Env {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Store a synthetic snapshot of about N graph nodes (the demo's shapes over three stages, no
    /// emulator): what the layout and graph benchmarks measure.
    Synthetic {
        /// About how many graph nodes.
        #[arg(long)]
        nodes: usize,
        /// The snapshot store to add it to.
        #[arg(long = "store", env = "STAGECRAFT_STORE")]
        store: PathBuf,
    },
    /// Answer IAM Identity Center for the sandbox in D until stopped (`sandbox up` starts it).
    #[command(hide = true)]
    SsoServe {
        #[arg(long)]
        dir: PathBuf,
        /// The emulator the role credentials are assumed from.
        #[arg(long)]
        upstream: String,
    },
}

fn shard(s: &str) -> Result<stagecraft_model::coverage::Shard, String> {
    s.parse()
        .map_err(|e: stagecraft_model::Error| e.to_string())
}
