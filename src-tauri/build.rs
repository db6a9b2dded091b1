fn main() {
    // Declaring the app's commands makes Tauri generate `allow-<command>` permissions, so the capability
    // file can grant exactly these and nothing else.
    let attributes =
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(&[
            "app_info",
            "last_snapshot",
            "painted",
            "scan",
            "rescan_account",
            "analysis",
            "snapshots",
            "snapshot_diff",
            "deletions",
            "undelete",
            "action_history",
            "deploy_plan",
            "deploy_changes",
            "deploy_run",
            "deploy_cancel",
            "deploy_stop_leftover",
            "deploy_history",
            "save_export",
        ]));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri build script failed: {e:#}");
    }
}
