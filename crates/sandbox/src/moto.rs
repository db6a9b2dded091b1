//! The moto server process: installed in a project-local venv, bound to loopback on a free port, stopped
//! by pid (after checking the pid still is a moto server).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// The pinned emulator (`sandbox-requirements.txt`, shared with the set-up scripts).
pub const MOTO_REQUIREMENT: &str = include_str!("../../../sandbox-requirements.txt");

/// The pinned version: what follows `==` in the requirement.
pub fn moto_version() -> &'static str {
    MOTO_REQUIREMENT
        .trim()
        .rsplit_once("==")
        .map(|(_, v)| v)
        .unwrap_or("")
}

/// Finds `moto_server`: `$STAGECRAFT_MOTO_SERVER`, else `<venv>/bin/moto_server`, installing the pinned
/// version into `venv` when it is missing.
pub fn ensure_installed(venv: &Path, log: &mut dyn FnMut(&str)) -> Result<PathBuf, Error> {
    if let Some(explicit) = std::env::var_os("STAGECRAFT_MOTO_SERVER") {
        let path = PathBuf::from(explicit);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::Sandbox(format!(
                "STAGECRAFT_MOTO_SERVER points at {}, which does not exist",
                path.display()
            )))
        };
    }
    let server = venv.join("bin").join("moto_server");
    if server.is_file() && is_pinned_version(venv) {
        return Ok(server);
    }
    let requirement = MOTO_REQUIREMENT.trim();
    log(&format!(
        "installing {requirement} into {} (once)…",
        venv.display()
    ));
    if !venv.join("bin").join("python").is_file() {
        run(
            Command::new("python3").arg("-m").arg("venv").arg(venv),
            "python3 -m venv (install python3-venv)",
        )?;
    }
    run(
        Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(requirement),
        "pip install moto[server]",
    )?;
    if server.is_file() {
        Ok(server)
    } else {
        Err(Error::Sandbox(format!(
            "pip installed moto but {} is missing",
            server.display()
        )))
    }
}

/// moto with the APIs it lacks filled in (`emulator/moto_server_gaps.py`), written into `dir` and
/// run by the venv's Python beside `server`. Per-account limits go in `dir/limits.json`.
pub fn with_gaps(server: &Path, dir: &Path) -> Result<PathBuf, Error> {
    // Absolute, but not resolved: the venv is found from the path of the link, not its target.
    let python = std::path::absolute(server.with_file_name("python"))
        .map_err(|e| Error::io("resolving the venv's python", e))?;
    if !python.is_file() {
        // An explicit STAGECRAFT_MOTO_SERVER outside a venv: run it as it is.
        return Ok(server.to_owned());
    }
    crate::write_script(
        &python,
        &dir.join("moto_server_gaps.py"),
        include_str!("emulator/moto_server_gaps.py"),
    )
}

fn is_pinned_version(venv: &Path) -> bool {
    let dist = format!("moto-{}.dist-info", moto_version());
    std::fs::read_dir(venv.join("lib"))
        .map(|pys| {
            pys.flatten()
                .any(|py| py.path().join("site-packages").join(&dist).is_dir())
        })
        .unwrap_or(false)
}

fn run(cmd: &mut Command, what: &str) -> Result<(), Error> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Sandbox(format!("{what}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Sandbox(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A free loopback port (the OS picks; the small race before moto binds it is retried by the caller).
pub fn free_port() -> Result<u16, Error> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| Error::io("binding a loopback port", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::io("reading the bound port", e))
}

/// A started emulator. When `tied`, the process ends as soon as the process that started it does (its
/// stdin pipe closes), so a test binary that exits or crashes never leaves an emulator behind.
#[derive(Debug)]
pub struct Process {
    /// The process group leader: moto itself, or the shell that ties it to its parent.
    pub pid: u32,
    pub tie: Option<Child>,
}

/// Starts moto on 127.0.0.1:`port` in its own process group (so a Ctrl-C in the terminal that ran
/// `sandbox up` does not reach it), logging to `log_file`. Returns once the port accepts connections.
pub fn start(server: &Path, port: u16, log_file: &Path, tied: bool) -> Result<Process, Error> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::File::create(log_file)
        .map_err(|e| Error::io(format!("creating {}", log_file.display()), e))?;
    let err = log
        .try_clone()
        .map_err(|e| Error::io("duplicating the log handle", e))?;
    let mut cmd = if tied {
        // `cat` returns when our end of its stdin closes, whatever way this process ends.
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(r#""$0" -H 127.0.0.1 -p "$1" & m=$!; cat >/dev/null; kill $m; wait $m"#)
            .arg(server)
            .arg(port.to_string())
            .stdin(Stdio::piped());
        c
    } else {
        let mut c = Command::new(server);
        c.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null());
        c
    };
    let mut child = cmd
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::Sandbox(format!("cannot start {}: {e}", server.display())))?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            let pid = child.id();
            return Ok(Process {
                pid,
                tie: tied.then_some(child),
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(log_file).unwrap_or_default();
            return Err(Error::Sandbox(format!(
                "moto exited ({status}) before listening on {addr}: {}",
                tail.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
            )));
        }
        if Instant::now() > deadline {
            let _ = stop(child.id());
            return Err(Error::Sandbox(format!(
                "moto did not listen on {addr} within 30 s; see {}",
                log_file.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `pid` is (still) a moto server: a recycled pid must never be signalled.
pub fn is_moto(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("moto_server"))
        .unwrap_or(false)
}

/// Stops the server's whole process group: SIGTERM, then SIGKILL after 5 s. `Ok(false)` when it was
/// not running.
pub fn stop(pid: u32) -> Result<bool, Error> {
    use nix::sys::signal::{killpg as kill, Signal};
    use nix::unistd::Pid;
    if !is_moto(pid) {
        return Ok(false);
    }
    let target =
        Pid::from_raw(i32::try_from(pid).map_err(|_| Error::Sandbox(format!("bad pid {pid}")))?);
    kill(target, Signal::SIGTERM).map_err(|e| Error::Sandbox(format!("SIGTERM {pid}: {e}")))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_moto(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if is_moto(pid) {
        let _ = kill(target, Signal::SIGKILL);
    }
    Ok(true)
}
