// The only door to the core: typed wrappers over the commands src-tauri defines.
// Types come from ./generated (ts-rs, from the Rust types); nothing here is hand-declared twice.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { ActionRecord } from "./generated/ActionRecord";
import type { ActionRequest } from "./generated/ActionRequest";
import type { Analysis } from "./generated/Analysis";
import type { GraphData } from "./generated/GraphData";
import type { Node } from "./generated/Node";
import type { Scope } from "./generated/Scope";
import type { LiveUpdate } from "./generated/LiveUpdate";
import type { DeployPreview } from "./generated/DeployPreview";
import type { StageChanges } from "./generated/StageChanges";
import type { DeployRun } from "./generated/DeployRun";
import type { RunEvent } from "./generated/RunEvent";
import type { OrganizationSummary } from "./generated/OrganizationSummary";
import type { PendingDeletion } from "./generated/PendingDeletion";
import type { Resource } from "./generated/Resource";
import type { ScanEvent } from "./generated/ScanEvent";
import type { SnapshotDiff } from "./generated/SnapshotDiff";
import type { SnapshotSummary } from "./generated/SnapshotSummary";
import type { ScanReport } from "./generated/ScanReport";
import type { ScanTarget } from "./generated/ScanTarget";
import type { TeamSnapshot } from "./generated/TeamSnapshot";
import type { UiError } from "./generated/UiError";
import type { DeviceCode } from "./generated/DeviceCode";
import type { ProfileCheck } from "./generated/ProfileCheck";
import type { ProfileInfo } from "./generated/ProfileInfo";
import type { SetupState } from "./generated/SetupState";
import type { SignIn } from "./generated/SignIn";
import type { SsoAccount } from "./generated/SsoAccount";
import type { SsoRoles } from "./generated/SsoRoles";
import type { WorkspaceProposal } from "./generated/WorkspaceProposal";

/** A snapshot as the window holds it: everything but its resources and stacks, which stay in the
 * core (`resources` reads those a view shows; `analysis` draws from them). */
export type SnapshotHead = Omit<ScanReport, "resources" | "stacks">;
/** A team snapshot as the window holds it. */
export type TeamSnapshotHead = Omit<TeamSnapshot, "report"> & { report: SnapshotHead };
/** A Live pass as the window receives it. */
export type LiveUpdateHead = Omit<LiveUpdate, "report"> & { report: SnapshotHead | null };

/** Normalises whatever a command rejected with into the core's `{ code, message }`. */
export function asUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    return e as UiError;
  }
  return { code: "other", message: String(e) };
}

export function scanTarget(): Promise<ScanTarget> {
  return invoke<ScanTarget>("app_info");
}

/** The newest stored snapshot (null before the first scan). */
export function lastSnapshot(): Promise<SnapshotHead | null> {
  return invoke<SnapshotHead | null>("last_snapshot");
}

/** Tells the core the window painted the last snapshot (the start-up benchmark's end point). */
export function painted(): Promise<void> {
  return invoke<void>("painted");
}

export function scan(onEvent: (e: ScanEvent) => void): Promise<SnapshotHead> {
  const channel = new Channel<ScanEvent>();
  channel.onmessage = onEvent;
  return invoke<SnapshotHead>("scan", { onEvent: channel });
}

/** The graph, findings and stage matrix of the snapshot on screen. */
export function analysis(): Promise<Analysis> {
  return invoke<Analysis>("analysis");
}

/** The part of the snapshot's graph `scope` takes: one stage or the organization (up to
 * `Analysis.graph_at_most` nodes), one account, or a neighbourhood. The window never holds the
 * whole graph. */
export function graph(scope: Scope): Promise<GraphData> {
  return invoke<GraphData>("graph", { scope });
}

/** Nodes whose name or id holds `query`, those of `stage` first (at most 50). */
export function findNodes(query: string, stage: string | null, limit?: number): Promise<Node[]> {
  return invoke<Node[]>("find_nodes", { query, stage, limit: limit ?? null });
}

/** The resources of the snapshot on screen with these ids (at most 1,000 at once). */
export function resources(ids: string[]): Promise<Resource[]> {
  return invoke<Resource[]>("resources", { ids });
}

export function snapshots(): Promise<SnapshotSummary[]> {
  return invoke<SnapshotSummary[]>("snapshots");
}

/** The organizations the store holds snapshots of, the most recently scanned first. */
export function organizations(): Promise<OrganizationSummary[]> {
  return invoke<OrganizationSummary[]>("organizations");
}

/** Puts an organization's newest snapshot on screen. */
export function openOrganization(id: string): Promise<SnapshotHead> {
  return invoke<SnapshotHead>("open_organization", { id });
}

/** Opens the team's snapshot published at `location` (s3://bucket/prefix) read-only. */
export function openTeamSnapshot(location: string, generation?: number): Promise<TeamSnapshotHead> {
  return invoke<TeamSnapshotHead>("open_team_snapshot", { location, generation: generation ?? null });
}

export function snapshotDiff(from: number, to: number): Promise<SnapshotDiff> {
  return invoke<SnapshotDiff>("snapshot_diff", { from, to });
}

/** Saves an export through the core (a save dialog); resolves to the path, or null if cancelled. */
export function saveExport(fileName: string, contents: string, base64 = false): Promise<string | null> {
  return invoke<string | null>("save_export", { fileName, contents, base64 });
}

/** Rescans one account; the others keep what the snapshot on screen knows. */
export function rescanAccount(accountId: string, onEvent: (e: ScanEvent) => void): Promise<SnapshotHead> {
  const channel = new Channel<ScanEvent>();
  channel.onmessage = onEvent;
  return invoke<SnapshotHead>("rescan_account", { accountId, onEvent: channel });
}

export function deletions(): Promise<PendingDeletion[]> {
  return invoke<PendingDeletion[]>("deletions");
}

/** Restores a secret or cancels a key deletion; the core checks and records it. */
export function undelete(request: ActionRequest): Promise<ActionRecord> {
  return invoke<ActionRecord>("undelete", { request });
}

export function actionHistory(): Promise<ActionRecord[]> {
  return invoke<ActionRecord[]>("action_history");
}

export function deployPlan(stage: string): Promise<DeployPreview> {
  return invoke<DeployPreview>("deploy_plan", { stage });
}

/** What a stage's deploy would change (nothing is applied); `onProgress` hears what it is doing. */
export function deployChanges(stage: string, onProgress: (what: string) => void): Promise<StageChanges> {
  const channel = new Channel<string>();
  channel.onmessage = onProgress;
  return invoke<StageChanges>("deploy_changes", { stage, onProgress: channel });
}

/** Runs a stage's deploy; `fromStep` (0-based) resumes after a failure. */
export function deployRun(
  stage: string,
  typedStage: string | null,
  fromStep: number,
  onEvent: (e: RunEvent) => void,
): Promise<DeployRun> {
  const channel = new Channel<RunEvent>();
  channel.onmessage = onEvent;
  return invoke<DeployRun>("deploy_run", { stage, typedStage, fromStep, onEvent: channel });
}

export function deployCancel(): Promise<boolean> {
  return invoke<boolean>("deploy_cancel");
}

/** Stops the step an interrupted run left running on `stage`; says what it stopped. */
export function deployStopLeftover(stage: string): Promise<string | null> {
  return invoke<string | null>("deploy_stop_leftover", { stage });
}

export function deployHistory(stage: string): Promise<DeployRun[]> {
  return invoke<DeployRun[]>("deploy_history", { stage });
}

// The first-run screen and the header's menus: profiles, the IAM Identity Center sign-in, the
// workspace.

export function setupState(): Promise<SetupState> {
  return invoke<SetupState>("setup_state");
}

export function awsProfiles(): Promise<ProfileInfo[]> {
  return invoke<ProfileInfo[]>("aws_profiles");
}

/** Who the profile acts as, and whether a scan can start from it. */
export function testProfile(profile: string): Promise<ProfileCheck> {
  return invoke<ProfileCheck>("test_profile", { profile });
}

/** Signs in at a typed start URL (no profile yet); resolves to the accounts and roles it opens. */
export function signInStartUrl(
  name: string,
  startUrl: string,
  region: string,
  onCode: (c: DeviceCode) => void,
): Promise<SsoAccount[]> {
  const channel = new Channel<DeviceCode>();
  channel.onmessage = onCode;
  return invoke<SsoAccount[]>("sign_in_start_url", { name, startUrl, region, onCode: channel });
}

/** Saves a signed-in start URL as an AWS profile acting in the management account; the profiles. */
export function saveSsoProfile(
  name: string,
  startUrl: string,
  region: string,
  accountId: string,
  roleName: string,
): Promise<ProfileInfo[]> {
  return invoke<ProfileInfo[]>("save_sso_profile", { name, startUrl, region, accountId, roleName });
}

export function signInStatus(profile: string): Promise<SignIn> {
  return invoke<SignIn>("sign_in_status", { profile });
}

/** Signs in through IAM Identity Center; `onCode` gets the code to show while it waits. */
export function signIn(profile: string, onCode: (c: DeviceCode) => void): Promise<SignIn> {
  const channel = new Channel<DeviceCode>();
  channel.onmessage = onCode;
  return invoke<SignIn>("sign_in", { profile, onCode: channel });
}

export function signInCancel(): Promise<boolean> {
  return invoke<boolean>("sign_in_cancel");
}

export function signOut(profile: string): Promise<SignIn> {
  return invoke<SignIn>("sign_out", { profile });
}

export function ssoAccounts(profile: string): Promise<SsoAccount[]> {
  return invoke<SsoAccount[]>("sso_accounts", { profile });
}

export function chooseProfile(profile: string, ssoRoles: SsoRoles): Promise<SetupState> {
  return invoke<SetupState>("choose_profile", { profile, ssoRoles });
}

/** Opens a folder as the workspace (`dir`, else a native dialog); null when the dialog is cancelled. */
export function openWorkspace(dir: string | null): Promise<WorkspaceProposal | null> {
  return invoke<WorkspaceProposal | null>("open_workspace", { dir });
}

export function saveWorkspace(dir: string, text: string): Promise<WorkspaceProposal> {
  return invoke<WorkspaceProposal>("save_workspace", { dir, text });
}

/** One Live pass: each account's history since the snapshot on screen, only what changed read again. */
export function liveRefresh(onEvent: (e: ScanEvent) => void): Promise<LiveUpdateHead> {
  const channel = new Channel<ScanEvent>();
  channel.onmessage = onEvent;
  return invoke<LiveUpdateHead>("live_refresh", { onEvent: channel });
}

/** Saves the Live interval (seconds, at least 5); resolves to the interval now in use. */
export function setLiveInterval(seconds: number): Promise<number> {
  return invoke<number>("set_live_interval", { seconds });
}
