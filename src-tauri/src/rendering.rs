//! How WebKitGTK draws on a machine without a GPU.
//!
//! WebKitGTK renders through DMA-BUF buffers meant for a GPU. On a machine with no GPU render node (a
//! VM, a remote desktop, Xvfb) those buffers come from Mesa's software rasteriser, which costs the
//! WebKit processes about 95 MiB (PSS) more than WebKit's shared-memory renderer for the same pictures
//! (BENCHMARKS.md, "idle memory"). There, the shared-memory renderer is used.
//!
//! With the shared-memory renderer, the app's own process only copies the web process's frames onto
//! the window with cairo: it draws nothing with OpenGL. Yet two start-up probes load Mesa's GL driver
//! into it, and with it LLVM (llvmpipe), about 15 MiB of relocated code and data for nothing:
//! - GTK opens the X display and probes GLX (`GDK_GL=disable` turns that probe off);
//! - WebKit's UI side asks EGL which render node to hand the web process, unless
//!   `WEBKIT_WEB_RENDER_DEVICE_FILE` names one. With no render node the answer is "none" either way;
//!   naming a node that does not exist gives the web process the same answer (it finds no such DRM
//!   device and renders as it did) without the probe.
//!
//! The web process still loads Mesa: it composites through EGL, as before.
//!
//! Any of these variables the user set, either way, is kept, and nothing is set on a machine with a
//! GPU render node or where the user turned the DMA-BUF renderer back on. Programs the app opens
//! (the browser for a sign-in) get the environment without what the app set here.

#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::ffi::OsString;

/// Picks WebKit's shared-memory renderer (see the module doc).
pub const DMABUF: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";
/// GTK's OpenGL switches (GTK 3: `disable` skips the GLX probe at display open).
pub const GDK_GL: &str = "GDK_GL";
/// The render node WebKit's UI side hands the web process.
pub const RENDER_NODE: &str = "WEBKIT_WEB_RENDER_DEVICE_FILE";
/// A render node path no machine has: "there is no render node", without asking EGL.
pub const NO_RENDER_NODE: &str = "/dev/dri/stagecraft-no-render-node";

/// The variables to set, given whether the machine has a GPU render node and what the environment
/// already holds (`get`).
pub fn without_a_gpu(
    has_render_node: bool,
    get: impl Fn(&str) -> Option<OsString>,
) -> Vec<(&'static str, &'static str)> {
    if has_render_node {
        return Vec::new();
    }
    let mut set = Vec::new();
    let dmabuf_off = match get(DMABUF) {
        // Any value but "0" turns the DMA-BUF renderer off (WebKit's own reading).
        Some(v) => v != "0",
        None => {
            set.push((DMABUF, "1"));
            true
        }
    };
    if dmabuf_off {
        for (name, value) in [(GDK_GL, "disable"), (RENDER_NODE, NO_RENDER_NODE)] {
            if get(name).is_none() {
                set.push((name, value));
            }
        }
    }
    set
}

/// Does this machine have a GPU render node (`/dev/dri/renderD*`)?
pub fn has_render_node() -> bool {
    std::fs::read_dir("/dev/dri").is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    })
}

/// The variables this process set for itself, which programs it opens (the browser for a sign-in)
/// do not inherit: they get the environment the user started the app with.
static SET_HERE: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();

/// Sets [`without_a_gpu`]'s variables. Runs before any thread starts (the environment is not
/// thread-safe to write) and before GTK opens the display.
pub fn prefer_software_paths_without_a_gpu() {
    #[cfg(target_os = "linux")]
    {
        let set = without_a_gpu(has_render_node(), |n| std::env::var_os(n));
        for (name, value) in &set {
            std::env::set_var(name, value);
        }
        let _ = SET_HERE.set(set.into_iter().map(|(name, _)| name).collect());
    }
}

/// `command` without the variables this process set for its own drawing.
pub fn as_the_user_started_it(command: &mut std::process::Command) -> &mut std::process::Command {
    for name in SET_HERE.get().into_iter().flatten() {
        command.env_remove(name);
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(env: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let env: HashMap<String, OsString> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| env.get(name).cloned()
    }

    #[test]
    fn programs_the_app_opens_get_the_users_environment() {
        let _ = SET_HERE.set(vec![GDK_GL, RENDER_NODE]);
        let mut command = std::process::Command::new("true");
        as_the_user_started_it(&mut command);
        let removed: Vec<_> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_owned())
            .collect();
        assert_eq!(removed, [GDK_GL, RENDER_NODE]);
    }

    #[test]
    fn a_machine_with_a_gpu_is_left_as_it_is() {
        assert!(without_a_gpu(true, with(&[])).is_empty());
    }

    #[test]
    fn without_a_gpu_the_shared_memory_renderer_and_no_gl_in_the_app_process() {
        assert_eq!(
            without_a_gpu(false, with(&[])),
            vec![
                (DMABUF, "1"),
                (GDK_GL, "disable"),
                (RENDER_NODE, NO_RENDER_NODE)
            ]
        );
        assert!(!std::path::Path::new(NO_RENDER_NODE).exists());
    }

    #[test]
    fn what_the_user_set_is_kept() {
        // The DMA-BUF renderer turned back on: GL is what draws, so nothing else is touched.
        assert!(without_a_gpu(false, with(&[(DMABUF, "0")])).is_empty());
        // Turned off by the user (any value but 0): the same as when the app turns it off.
        assert_eq!(
            without_a_gpu(false, with(&[(DMABUF, "true"), (GDK_GL, "")])),
            vec![(RENDER_NODE, NO_RENDER_NODE)]
        );
        assert_eq!(
            without_a_gpu(false, with(&[(RENDER_NODE, "/dev/dri/renderD129")])),
            vec![(DMABUF, "1"), (GDK_GL, "disable")]
        );
    }
}
