//! The sandbox: a local AWS Organization on moto, the embedded default and the test bed. The CLI's
//! `sandbox` commands, the tests and the benchmarks use it; the desktop app never links it.
//!
//! `up` starts moto on loopback, seeds the demo organization and writes three files into the sandbox
//! directory: `aws-config` (ordinary AWS profiles `master`, `dev`, `qa`, `prod`, and `sso`, whose
//! `endpoint_url` is the sandbox's proxy in front of moto: it answers IAM Identity Center, which moto
//! lacks, and refuses what AWS refuses and moto allows), `stagecraft.toml` (the demo workspace bound to this run's account ids) and `env`
//! (what to export). Stagecraft then reaches the sandbox exactly as it reaches a real organization.

pub mod agent;
pub mod harness;
mod loopback;
mod moto;
pub mod proxy;
pub mod recording;
pub mod replay;
pub mod seed;
pub mod services;
pub mod shape;
pub mod sso;
pub mod synthetic;
pub mod terraform;
pub mod tfstate;
mod trail;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use stagecraft_aws::collect;
use stagecraft_aws::credentials::{self as aws, AwsEnv};
use stagecraft_aws::sdk_error as error;
use stagecraft_iac::config;
use stagecraft_model as model;
use stagecraft_model::Error;

pub use moto::moto_version;
pub use seed::{Planted, SeedSpec, Seeded, Shape, SECRET_MARKER};

/// The management profile the sandbox's AWS config defines.
pub const MASTER_PROFILE: &str = "master";

#[derive(Debug, Clone)]
pub struct UpOptions {
    pub dir: PathBuf,
    /// The Python venv holding (or to receive) the pinned moto.
    pub venv: PathBuf,
    /// The demo workspace (`examples/`), referenced from the written `stagecraft.toml`.
    pub examples: Option<PathBuf>,
    pub spec: SeedSpec,
    /// Stop the emulator when this process ends (test harnesses); `false` lets it outlive the CLI.
    pub tied: bool,
    /// For a sandbox that outlives this process: the `stagecraft` binary, run as
    /// `stagecraft sandbox sso-serve` to answer IAM Identity Center beside the emulator. A tied
    /// sandbox answers it from this process.
    pub sso_server: Option<PathBuf>,
}

/// A sandbox started by this process. Dropping it stops a tied emulator.
#[derive(Debug)]
pub struct Running {
    pub sandbox: Sandbox,
    tie: Option<std::process::Child>,
    /// The in-process IAM Identity Center of a tied sandbox.
    sso: Option<SsoThread>,
    /// A scratch directory owned by this sandbox, removed with it.
    scratch: Option<PathBuf>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(sso) = self.sso.take() {
            let _ = sso.stop.send(());
            let _ = sso.thread.join();
        }
        if let Some(mut child) = self.tie.take() {
            let _ = moto::stop(self.sandbox.pid);
            let _ = child.wait();
        }
        if let Some(dir) = self.scratch.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Starts a tied sandbox in a fresh scratch directory: the harness of the integration and GUI tests.
/// `venv` holds the pinned moto (created when missing); the emulator stops when the `Running` is dropped
/// or this process ends.
pub async fn start_scratch(
    venv: &Path,
    examples: Option<&Path>,
    spec: SeedSpec,
) -> Result<Running, Error> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "stagecraft-sandbox-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = UpOptions {
        dir: dir.clone(),
        venv: venv.to_owned(),
        examples: examples.map(Path::to_owned),
        spec,
        tied: true,
        sso_server: None,
    };
    let mut running = up(&opts, &mut |line| tracing::info!("{line}")).await?;
    running.scratch = Some(running.sandbox.dir.clone());
    Ok(running)
}

/// A running sandbox, as recorded in `<dir>/sandbox.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sandbox {
    pub dir: PathBuf,
    pub endpoint: String,
    pub port: u16,
    pub pid: u32,
    pub region: String,
    pub seeded: Seeded,
    /// Where the sandbox's IAM Identity Center answers (the `sso` profile's `endpoint_url`).
    #[serde(default)]
    pub sso_endpoint: Option<String>,
    /// The `sso-serve` process of a sandbox that outlives the CLI.
    #[serde(default)]
    pub sso_pid: Option<u32>,
}

/// The profile `sandbox up` writes for signing in through the sandbox's IAM Identity Center.
pub const SSO_PROFILE: &str = "sso";

/// A tied sandbox's IAM Identity Center, served from a thread of this process.
#[derive(Debug)]
struct SsoThread {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// Serves the sandbox's proxy in front of `upstream` from a thread of its own (so it outlives any
/// one test's runtime); returns its endpoint and where its IAM Identity Center's accounts are set.
fn sso_thread(upstream: &str) -> Result<(String, proxy::SignInDirectory, SsoThread), Error> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready, endpoint) =
        std::sync::mpsc::channel::<Result<(String, proxy::SignInDirectory), Error>>();
    let upstream = upstream.to_owned();
    let thread = std::thread::Builder::new()
        .name("sandbox-sso".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready.send(Err(Error::io("starting the sandbox's sign-in", e)));
                    return;
                }
            };
            runtime.block_on(async move {
                match proxy::Proxy::start(&upstream, proxy::ProxyOptions::default()).await {
                    Ok(p) => {
                        let _ = ready.send(Ok((p.endpoint.clone(), p.sign_in_directory())));
                        let _ = stopped.await;
                        drop(p);
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                }
            });
        })
        .map_err(|e| Error::io("starting the sandbox's sign-in thread", e))?;
    let (endpoint, directory) = endpoint
        .recv_timeout(std::time::Duration::from_secs(10))
        .map_err(|_| Error::Sandbox("the sandbox's proxy did not start".into()))??;
    Ok((endpoint, directory, SsoThread { stop, thread }))
}

/// Runs `stagecraft sandbox sso-serve` detached (it outlives this process, as the emulator does)
/// and waits for the endpoint it writes.
fn sso_process(exe: &Path, dir: &Path, upstream: &str) -> Result<(String, u32), Error> {
    use std::os::unix::process::CommandExt as _;
    let record = dir.join("sso.json");
    let _ = std::fs::remove_file(&record);
    let log = std::fs::File::create(dir.join("sso.log"))
        .map_err(|e| Error::io(format!("creating {}", dir.join("sso.log").display()), e))?;
    let child = std::process::Command::new(exe)
        .args(["sandbox", "sso-serve", "--dir"])
        .arg(dir)
        .args(["--upstream", upstream])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io(format!("starting {} sandbox sso-serve", exe.display()), e))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Ok(text) = std::fs::read_to_string(&record) {
            if let Ok(r) = serde_json::from_str::<SsoRecord>(&text) {
                return Ok((r.endpoint, child.id()));
            }
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::Sandbox(format!(
                "the sandbox's sign-in (`sandbox sso-serve`) did not start; see {}",
                dir.join("sso.log").display()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// What `sso-serve` writes once it listens.
#[derive(Debug, Serialize, Deserialize)]
pub struct SsoRecord {
    pub endpoint: String,
    pub pid: u32,
}

/// The accounts and permission sets of a seeded organization's IAM Identity Center.
pub fn sso_directory(seeded: &Seeded) -> sso::Directory {
    let mut accounts = vec![sso::Assigned {
        id: seeded.management_account_id.clone(),
        name: "management".into(),
        email: "management@example.com".into(),
    }];
    accounts.extend(seeded.accounts.iter().map(|a| sso::Assigned {
        id: a.id.clone(),
        name: a.name.clone(),
        email: format!("{}@example.com", a.name),
    }));
    sso::Directory {
        accounts,
        roles: sso::ROLES.iter().map(|r| (*r).to_owned()).collect(),
        token_seconds: 8 * 3600,
    }
}

/// Serves the sandbox's proxy until the process is stopped (`sandbox sso-serve`). It starts before
/// the organization is seeded (the seeding goes through it, so its event history holds it) and
/// answers IAM Identity Center once `up` has written the sandbox's record.
pub async fn serve_sso(dir: &Path, upstream: &str) -> Result<(), Error> {
    let p = proxy::Proxy::start(upstream, proxy::ProxyOptions::default()).await?;
    let record = SsoRecord {
        endpoint: p.endpoint.clone(),
        pid: std::process::id(),
    };
    write(
        &dir.join("sso.json"),
        &serde_json::to_string(&record).unwrap_or_default(),
    )?;
    let directory = p.sign_in_directory();
    loop {
        if let Ok(sandbox) = Sandbox::load(dir) {
            directory.set(sso_directory(&sandbox.seeded));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    std::future::pending::<()>().await;
    drop(p);
    Ok(())
}

/// What a user does on the sign-in page the browser opened: approves the device. `Ok(false)` when
/// no device waits with that code.
pub async fn approve_sign_in(verification_uri_complete: &str) -> Result<bool, Error> {
    use http_body_util::BodyExt as _;
    let (page, query) = verification_uri_complete
        .split_once('?')
        .unwrap_or((verification_uri_complete, ""));
    let url = format!(
        "{}?{query}",
        page.replace("/_sandbox/sso/device", "/_sandbox/sso/approve")
    );
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let req = hyper::Request::post(&url)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .map_err(|e| Error::Sandbox(format!("approving at {url}: {e}")))?;
    let answer = client
        .request(req)
        .await
        .map_err(|e| Error::Sandbox(format!("approving at {url}: {e}")))?;
    let ok = answer.status().is_success();
    let _ = answer.into_body().collect().await;
    Ok(ok)
}

/// Whether `pid` is a sandbox's `sso-serve`.
fn is_sso_server(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("sso-serve"))
        .unwrap_or(false)
}

impl Sandbox {
    pub fn aws_config_file(&self) -> PathBuf {
        self.dir.join("aws-config")
    }
    pub fn workspace_file(&self) -> PathBuf {
        self.dir.join("stagecraft.toml")
    }
    pub fn aws_env(&self) -> AwsEnv {
        AwsEnv::with_config_file(self.aws_config_file())
    }

    /// The same profiles with another `endpoint_url` (a proxy in front of the emulator), written to
    /// `file`.
    pub fn aws_env_through(&self, endpoint: &str, file: &Path) -> Result<AwsEnv, Error> {
        let accounts = self.seeded.stage_profiles();
        write(file, &aws_config_text(endpoint, &self.region, &accounts))?;
        Ok(AwsEnv::with_config_file(file))
    }

    /// The environment a shell (or a child process) needs to use this sandbox.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            (
                "AWS_CONFIG_FILE".into(),
                self.aws_config_file().display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                self.dir.join("credentials").display().to_string(),
            ),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("AWS_PROFILE".into(), MASTER_PROFILE.into()),
        ];
        if self.workspace_file().is_file() {
            vars.push((
                "STAGECRAFT_CONFIG".into(),
                self.workspace_file().display().to_string(),
            ));
        }
        vars
    }

    pub fn load(dir: &Path) -> Result<Sandbox, Error> {
        let path = dir.join("sandbox.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::Sandbox(format!(
                "no sandbox in {} ({e}); start one with `stagecraft sandbox up --dir {}`",
                dir.display(),
                dir.display()
            ))
        })?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Sandbox(format!("{} is not a sandbox record: {e}", path.display())))
    }
}

/// Starts moto and seeds it. Refuses when a sandbox already runs from `dir`.
pub async fn up(opts: &UpOptions, log: &mut dyn FnMut(&str)) -> Result<Running, Error> {
    std::fs::create_dir_all(&opts.dir)
        .map_err(|e| Error::io(format!("creating {}", opts.dir.display()), e))?;
    let dir = opts
        .dir
        .canonicalize()
        .map_err(|e| Error::io(format!("resolving {}", opts.dir.display()), e))?;
    if let Ok(existing) = Sandbox::load(&dir) {
        if moto::is_moto(existing.pid) {
            return Err(Error::Sandbox(format!(
                "a sandbox already runs from {} (pid {}, {}); stop it with `stagecraft sandbox down --dir {}`",
                dir.display(),
                existing.pid,
                existing.endpoint,
                dir.display()
            )));
        }
    }
    // A stale record would be read as this run's by the proxy started below.
    let _ = std::fs::remove_file(dir.join("sandbox.json"));
    let server = moto::with_gaps(&moto::ensure_installed(&opts.venv, log)?, &dir)?;
    let port = moto::free_port()?;
    let process = moto::start(&server, port, &dir.join("moto.log"), opts.tied)?;
    let pid = process.pid;
    let endpoint = format!("http://127.0.0.1:{port}");
    log(&format!(
        "moto {} listening on {endpoint} (pid {pid})",
        moto_version()
    ));

    let mut sso_served = None;
    let mut sso_pid = None;
    let result = async {
        let region = opts.spec.region.clone();
        // The proxy in front of moto, started first so that everything reaches the emulator
        // through it, the seeding included: it answers IAM Identity Center and CloudTrail's event
        // history, and refuses what AWS refuses and moto allows. Without one (a CLI sandbox with
        // no `stagecraft` binary to serve it) the profiles name moto itself.
        let (aws_endpoint, directory) = if opts.tied {
            let (proxy_endpoint, directory, thread) = sso_thread(&endpoint)?;
            sso_served = Some(thread);
            (proxy_endpoint, Some(directory))
        } else if let Some(exe) = &opts.sso_server {
            let (proxy_endpoint, served_by) = sso_process(exe, &dir, &endpoint)?;
            sso_pid = Some(served_by);
            (proxy_endpoint, None)
        } else {
            (endpoint.clone(), None)
        };
        let proxied = aws_endpoint != endpoint;
        write(&dir.join("credentials"), "")?;
        write(
            &dir.join("aws-config"),
            &aws_config_text(&aws_endpoint, &region, &[]),
        )?;
        let env = AwsEnv::with_config_file(dir.join("aws-config"));
        let master = env.sdk_config(MASTER_PROFILE, None).await;
        log("seeding the organization…");
        let seeded = match opts.spec.shape {
            Shape::Demo => seed::seed(&master, &opts.spec).await?,
            Shape::Spread => shape::seed(&master, &opts.spec.region).await?,
        };
        // CloudTrail's event times are whole seconds: once the second of the last write has
        // passed, a scan that starts comes after every write the seeding made.
        let into = u64::from(time::OffsetDateTime::now_utc().nanosecond());
        tokio::time::sleep(std::time::Duration::from_nanos(
            1_000_000_000_u64.saturating_sub(into) + 10_000_000,
        ))
        .await;
        let accounts = seeded.stage_profiles();
        if let Some(directory) = &directory {
            directory.set(sso_directory(&seeded));
        }
        let sandbox = Sandbox {
            dir: dir.clone(),
            endpoint: endpoint.clone(),
            port,
            pid,
            region: region.clone(),
            seeded,
            sso_endpoint: proxied.then(|| aws_endpoint.clone()),
            sso_pid,
        };
        let seeded = sandbox.seeded.clone();
        let mut config = aws_config_text(&aws_endpoint, &region, &accounts);
        if let Some(sso_endpoint) = &sandbox.sso_endpoint {
            config.push_str(&sso_config_text(
                sso_endpoint,
                &region,
                &seeded.management_account_id,
            ));
        }
        write(&dir.join("aws-config"), &config)?;
        if opts.spec.shape == Shape::Spread {
            write(
                &dir.join("limits.json"),
                &shape::limits_file(&seeded).to_string(),
            )?;
        }
        // The spread organization is scanned as a new user would: AWS profiles only.
        if opts.spec.shape == Shape::Demo {
            // The demo root manages AWS resources: the stand-in runs it (see `terraform`).
            let stand_in = match terraform::home(opts.examples.as_deref()) {
                Some(home) => Some(terraform::write_stand_in(&home, &dir)?),
                None => None,
            };
            // Deploys reach the emulator through the proxy too: their writes are in the history.
            write(
                &dir.join("stagecraft.toml"),
                &workspace_text(
                    &accounts,
                    opts.examples.as_deref(),
                    &aws_endpoint,
                    &dir,
                    stand_in.as_deref(),
                ),
            )?;
        }
        save_record(&sandbox)?;
        let mut exports = String::new();
        for (k, v) in sandbox.env_vars() {
            let _ = writeln!(exports, "export {k}={}", shell_quote(&v));
        }
        write(&dir.join("env"), &exports)?;
        Ok::<_, Error>(sandbox)
    }
    .await;
    match result {
        Ok(sandbox) => Ok(Running {
            sandbox,
            tie: process.tie,
            sso: sso_served,
            scratch: None,
        }),
        Err(e) => {
            // Never leave an orphaned emulator (or its proxy) behind a failed start.
            let _ = moto::stop(pid);
            if let Some(sso) = sso_served {
                let _ = sso.stop.send(());
            }
            if let Some(sso_pid) = sso_pid.filter(|p| is_sso_server(*p)) {
                if let Ok(sso_pid) = i32::try_from(sso_pid) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(sso_pid),
                        nix::sys::signal::Signal::SIGTERM,
                    );
                }
            }
            Err(e)
        }
    }
}

/// Writes an executable Python script run by `python` (a venv's, so its packages are at hand).
pub(crate) fn write_script(python: &Path, path: &Path, body: &str) -> Result<PathBuf, Error> {
    use std::os::unix::fs::PermissionsExt;
    write(path, &format!("#!{}\n{body}", python.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(format!("making {} executable", path.display()), e))?;
    Ok(path.to_owned())
}

/// Stops the sandbox started from `dir`. `Ok(false)` when none was running.
pub fn down(dir: &Path) -> Result<bool, Error> {
    let sandbox = Sandbox::load(dir)?;
    if let Some(pid) = sandbox.sso_pid.filter(|p| is_sso_server(*p)) {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    moto::stop(sandbox.pid)
}

fn save_record(sandbox: &Sandbox) -> Result<(), Error> {
    let record = serde_json::to_string_pretty(sandbox)
        .map_err(|e| Error::Sandbox(format!("serializing the sandbox record: {e}")))?;
    write(&sandbox.dir.join("sandbox.json"), &record)
}

/// An IAM Identity Center profile for the sandbox's management account, and its `[sso-session]`,
/// as `aws configure sso` writes them. The `endpoint_url` sends the sign-in and the portal (and the
/// calls made with its keys) to the sandbox's answering proxy.
pub fn sso_config_text(endpoint: &str, region: &str, management_account: &str) -> String {
    format!(
        "\n[profile {SSO_PROFILE}]\nsso_session = {session}\nsso_account_id = {management_account}\n\
         sso_role_name = {role}\nregion = {region}\nendpoint_url = {endpoint}\n\
         \n[sso-session {session}]\nsso_start_url = {endpoint}{start}\nsso_region = {region}\n\
         sso_registration_scopes = sso:account:access\n",
        session = sso::SESSION,
        role = sso::ROLES[0],
        start = sso::START_PATH,
    )
}

/// Stops a sandbox by pid (for harnesses that hold the record).
pub fn stop_pid(pid: u32) -> Result<bool, Error> {
    moto::stop(pid)
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Ordinary AWS profiles: `master` with static dummy keys, one profile per stage assuming
/// `OrganizationAccountAccessRole` from it. Every profile names the emulator's `endpoint_url`.
pub fn aws_config_text(endpoint: &str, region: &str, accounts: &[(String, String)]) -> String {
    let mut s = String::from(
        "# Written by `stagecraft sandbox up`: AWS profiles for the local sandbox organization.\n",
    );
    let _ = write!(
        s,
        "\n[profile {MASTER_PROFILE}]\nregion = {region}\nendpoint_url = {endpoint}\n\
         aws_access_key_id = AKIASANDBOXMASTER000\naws_secret_access_key = sandbox-dummy-secret\n"
    );
    for (stage, account) in accounts {
        let _ = write!(
            s,
            "\n[profile {stage}]\nregion = {region}\nendpoint_url = {endpoint}\n\
             role_arn = {}\nsource_profile = {MASTER_PROFILE}\n",
            crate::aws::role_arn(account, crate::config::DEFAULT_ASSUME_ROLE)
        );
    }
    s
}

/// Where the Serverless Framework v3 (with `serverless-localstack`) is installed for the sandbox:
/// `STAGECRAFT_SERVERLESS_HOME`, else `.tools/serverless` beside the demo workspace.
pub fn serverless_home(examples: Option<&Path>) -> Option<PathBuf> {
    let candidates = std::env::var_os("STAGECRAFT_SERVERLESS_HOME")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            examples
                .and_then(Path::parent)
                .map(|p| p.join(".tools/serverless")),
        );
    candidates
        .into_iter()
        .find(|d| d.join("node_modules/.bin/serverless").is_file())
}

/// The services of the demo workspace, in the order a team lead would list them.
pub const DEMO_SERVICES: [&str; 4] = ["auth", "users", "orders", "reports"];

fn workspace_text(
    accounts: &[(String, String)],
    examples: Option<&Path>,
    endpoint: &str,
    dir: &Path,
    terraform: Option<&Path>,
) -> String {
    let mut s = String::from(
        "# Written by `stagecraft sandbox up`: the demo workspace bound to this sandbox's accounts.\n\n\
         [organization]\nprofile = \"master\"\n",
    );
    for (stage, account) in accounts {
        let _ = write!(
            s,
            "\n[stages.{stage}]\naccount = \"{account}\"\nprofile = \"{stage}\"\n"
        );
        if stage == "prod" {
            s.push_str("protected = true\n");
        }
    }
    if let Some(examples) = examples {
        let toml_str = |p: PathBuf| toml::Value::String(p.display().to_string()).to_string();
        let _ = writeln!(
            s,
            "\n[terraform]\ndir = {}",
            toml_str(examples.join("infra"))
        );
        if let Some(binary) = terraform {
            let _ = writeln!(
                s,
                "# A stand-in: the demo root's AWS provider cannot be downloaded on this machine.\nbinary = {}",
                toml_str(binary.to_owned())
            );
        }
        // What Terraform 1.0's S3 backend needs to reach the emulator, in the settings any user has.
        let _ = write!(
            s,
            "init_args = [\"-backend-config=force_path_style=true\"]\n\n[terraform.env]\n\
             AWS_S3_ENDPOINT = \"{endpoint}\"\nAWS_DYNAMODB_ENDPOINT = \"{endpoint}\"\n\
             AWS_STS_ENDPOINT = \"{endpoint}\"\nAWS_IAM_ENDPOINT = \"{endpoint}\"\nTF_DATA_DIR = {}\n\
             CHECKPOINT_DISABLE = \"1\"\n",
            toml_str(dir.join("terraform-data"))
        );
        let _ = write!(
            s,
            "\n[serverless]\nservices = [{}]\n",
            DEMO_SERVICES
                .iter()
                .map(|svc| toml_str(examples.join("services").join(svc)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        // The real Serverless CLI reaches the emulator through `serverless-localstack`, which the
        // demo services load; the port is this run's.
        let port = endpoint.rsplit(':').next().unwrap_or("");
        let home = serverless_home(Some(examples));
        if let Some(home) = &home {
            let _ = writeln!(
                s,
                "binary = {}",
                toml_str(home.join("node_modules/.bin/serverless"))
            );
        }
        let _ = write!(
            s,
            "\n[deploy.env]\nSTAGECRAFT_SANDBOX_PORT = \"{port}\"\nSLS_AWS_MONITORING_FREQUENCY = \"500\"\nSLS_TELEMETRY_DISABLED = \"1\"\nSLS_NOTIFICATIONS_MODE = \"off\"\n"
        );
        if let Some(home) = &home {
            let _ = writeln!(s, "NODE_PATH = {}", toml_str(home.join("node_modules")));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WorkspaceConfig;

    #[test]
    fn written_workspace_config_parses() {
        let text = workspace_text(
            &[
                ("dev".into(), "111111111111".into()),
                ("prod".into(), "333333333333".into()),
            ],
            Some(Path::new("/tmp/ex ample")),
            "http://127.0.0.1:4567",
            Path::new("/tmp/sandbox"),
            Some(Path::new("/tmp/sandbox/terraform-stand-in")),
        );
        let c = WorkspaceConfig::parse(&text).expect("parses");
        assert_eq!(c.stages["prod"].protected, Some(true));
        assert_eq!(c.stages["dev"].profile.as_deref(), Some("dev"));
        assert_eq!(c.serverless.map(|s| s.services.len()), Some(4));
        assert_eq!(
            c.deploy
                .env
                .get("STAGECRAFT_SANDBOX_PORT")
                .map(String::as_str),
            Some("4567")
        );
    }

    #[test]
    fn aws_config_has_a_role_profile_per_stage() {
        let t = aws_config_text(
            "http://127.0.0.1:1",
            "us-east-1",
            &[("qa".into(), "222222222222".into())],
        );
        assert!(t.contains("[profile qa]"));
        assert!(
            t.contains("role_arn = arn:aws:iam::222222222222:role/OrganizationAccountAccessRole")
        );
        assert!(t.contains("endpoint_url = http://127.0.0.1:1"));
    }
}
