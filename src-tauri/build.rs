fn main() {
    // The front end is embedded at compile time (`custom-protocol`); a rebuilt bundle must rebuild the
    // app, which Tauri's build script does not ask for. Cargo scans the folder's files' times.
    println!("cargo:rerun-if-changed=../ui/dist");
    // Declaring the app's commands makes Tauri generate `allow-<command>` permissions, so the capability
    // file can grant exactly these and nothing else.
    let attributes =
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(&[
            "app_info",
            "last_snapshot",
            "painted",
            "scan",
            "rescan_account",
            "live_refresh",
            "set_live_interval",
            "analysis",
            "graph",
            "find_nodes",
            "resources",
            "snapshots",
            "snapshot_diff",
            "organizations",
            "open_organization",
            "open_team_snapshot",
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
            "setup_state",
            "aws_profiles",
            "test_profile",
            "sign_in_status",
            "sign_in",
            "sign_in_start_url",
            "save_sso_profile",
            "sign_in_cancel",
            "sign_out",
            "sso_accounts",
            "choose_profile",
            "open_workspace",
            "save_workspace",
        ]));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri build script failed: {e:#}");
    }
}
