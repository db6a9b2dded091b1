// The first-run screen (and what the header's profile and workspace buttons open): choose the
// management profile from the user's AWS config, sign in through IAM Identity Center, choose the
// roles taken through the sign-in, open the workspace.
import { useEffect, useMemo, useState } from "preact/hooks";
import type { DeviceCode } from "../generated/DeviceCode";
import type { ProfileCheck } from "../generated/ProfileCheck";
import type { ProfileInfo } from "../generated/ProfileInfo";
import type { ProfileKind } from "../generated/ProfileKind";
import type { SetupState } from "../generated/SetupState";
import type { SignIn } from "../generated/SignIn";
import type { SsoAccount } from "../generated/SsoAccount";
import type { UiError } from "../generated/UiError";
import type { WorkspaceProposal } from "../generated/WorkspaceProposal";
import {
  asUiError,
  awsProfiles,
  chooseProfile,
  openWorkspace,
  saveSsoProfile,
  saveWorkspace,
  signIn,
  signInCancel,
  signInStartUrl,
  signInStatus,
  signOut,
  ssoAccounts,
  testProfile,
} from "../ipc";

const KIND: Record<ProfileKind, string> = {
  sso: "IAM Identity Center",
  role_chain: "role chain",
  static_keys: "access keys",
  credential_process: "credential_process",
  other: "other",
};

/** The role a scan needs: a read-only one when the sign-in offers it. */
function suggestedRole(accounts: SsoAccount[]): string | null {
  const all = [...new Set(accounts.flatMap((a) => a.roles))];
  return all.find((r) => /read.?only/i.test(r)) ?? all.find((r) => /view|audit|security/i.test(r)) ?? all[0] ?? null;
}

export function SetupView(props: {
  setup: SetupState;
  firstRun: boolean;
  onDone: (s: SetupState) => void;
  onClose: () => void;
}) {
  const { setup } = props;
  const [profiles, setProfiles] = useState<ProfileInfo[] | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [selected, setSelected] = useState<string | null>(setup.saved.profile ?? setup.profile);
  const [checks, setChecks] = useState<Record<string, ProfileCheck | "testing">>({});
  const [status, setStatus] = useState<SignIn | null>(null);
  const [code, setCode] = useState<DeviceCode | null>(null);
  const [signingIn, setSigningIn] = useState(false);
  const [accounts, setAccounts] = useState<SsoAccount[] | null>(null);
  const saved = setup.saved.profile === selected ? setup.saved.sso_roles : null;
  const [roleAll, setRoleAll] = useState<string>(saved?.all ?? "");
  const [perAccount, setPerAccount] = useState<Record<string, string>>(saved?.accounts ?? {});
  const [path, setPath] = useState("");
  const [proposal, setProposal] = useState<WorkspaceProposal | null>(null);
  const [workspaceError, setWorkspaceError] = useState<UiError | null>(null);
  const [saving, setSaving] = useState(false);

  useEffect(() => {
    awsProfiles()
      .then(setProfiles)
      .catch((e) => setError(asUiError(e)));
  }, []);

  const profile = profiles?.find((p) => p.name === selected) ?? null;
  const isSso = profile?.kind === "sso";

  // An IAM Identity Center profile: is it signed in? Then what does the sign-in open?
  useEffect(() => {
    setStatus(null);
    setAccounts(null);
    if (!profile || profile.kind !== "sso") return;
    signInStatus(profile.name)
      .then(setStatus)
      .catch((e) => setError(asUiError(e)));
  }, [profile?.name, profile?.kind]);

  useEffect(() => {
    if (!profile || status?.status !== "signed_in") return;
    ssoAccounts(profile.name)
      .then((list) => {
        setAccounts(list);
        if (!saved?.all && !Object.keys(perAccount).length) setRoleAll(suggestedRole(list) ?? "");
      })
      .catch((e) => setError(asUiError(e)));
  }, [profile?.name, status?.status]);

  const roles = useMemo(() => [...new Set((accounts ?? []).flatMap((a) => a.roles))].sort(), [accounts]);

  const test = (name: string) => {
    setChecks((c) => ({ ...c, [name]: "testing" }));
    testProfile(name)
      .then((r) => setChecks((c) => ({ ...c, [name]: r })))
      .catch((e) => setError(asUiError(e)));
  };

  const startSignIn = () => {
    if (!profile) return;
    setSigningIn(true);
    setError(null);
    signIn(profile.name, setCode)
      .then(setStatus)
      .catch((e) => setError(asUiError(e)))
      .finally(() => {
        setSigningIn(false);
        setCode(null);
      });
  };

  const open = (dir: string | null) => {
    setWorkspaceError(null);
    openWorkspace(dir)
      .then((p) => p && setProposal(p))
      .catch((e) => setWorkspaceError(asUiError(e)));
  };

  const save = () => {
    if (!proposal) return;
    saveWorkspace(proposal.dir, proposal.text)
      .then(setProposal)
      .catch((e) => setWorkspaceError(asUiError(e)));
  };

  // An IAM Identity Center profile's own keys come through the sign-in too.
  const ready = setup.profile_from_env || (!!selected && (!isSso || status?.status === "signed_in"));
  const done = () => {
    if (setup.profile_from_env) return props.onDone(setup);
    if (!selected) return;
    setSaving(true);
    const accountsRoles = Object.fromEntries(Object.entries(perAccount).filter(([, r]) => r));
    const useRoles = isSso && status?.status === "signed_in";
    chooseProfile(selected, {
      all: useRoles && roleAll ? roleAll : null,
      accounts: useRoles ? accountsRoles : {},
    })
      .then(props.onDone)
      .catch((e) => setError(asUiError(e)))
      .finally(() => setSaving(false));
  };

  const workspace = proposal?.exists ? proposal.config_path : setup.config_path;

  return (
    <main class="content setup" data-testid="setup">
      <div class="setup-inner">
        <h1>{props.firstRun ? "Reach your organization" : "Profile and workspace"}</h1>
        {setup.needs_setup && (
          <p class="setup-why" data-testid="setup-why">
            {setup.needs_setup}
          </p>
        )}
        {setup.warning && <p class="warn-text">{setup.warning}</p>}
        {error && (
          <p class="card-error" role="alert" data-testid="setup-error">
            {error.message}
          </p>
        )}

        <section class="setup-section">
          <h2>1 · AWS profile of the management account</h2>
          {setup.profile_from_env && (
            <p class="muted">
              STAGECRAFT_PROFILE chooses <code>{setup.profile}</code> for this window; unset it to choose here.
            </p>
          )}
          <p class="muted">
            From {setup.aws_files}.{" "}
            {profiles?.length === 0 && "There are none: add one (for IAM Identity Center, `aws configure sso`)."}
          </p>
          {profiles === null && !error && (
            <p>
              <span class="spinner" /> Reading your AWS profiles…
            </p>
          )}
          <div class="profile-list" role="radiogroup" aria-label="AWS profiles">
            {profiles?.map((p) => {
              const check = checks[p.name];
              return (
                <div
                  key={p.name}
                  class={`profile-row${selected === p.name ? " selected" : ""}`}
                  data-testid="profile-row"
                  data-profile={p.name}
                >
                  <label>
                    <input
                      type="radio"
                      name="profile"
                      checked={selected === p.name}
                      disabled={setup.profile_from_env}
                      onChange={() => setSelected(p.name)}
                    />
                    <code class="profile-name">{p.name}</code>
                    <span class={`badge kind-${p.kind}`}>{KIND[p.kind]}</span>
                    <span class="muted">{p.region ?? "no region"}</span>
                    {p.sso?.account_id && <span class="muted">account {p.sso.account_id}</span>}
                    {p.endpoint_url && (
                      <span class="muted" title="endpoint_url">
                        → {p.endpoint_url}
                      </span>
                    )}
                  </label>
                  <button class="ghost" data-testid="test-profile" onClick={() => test(p.name)} disabled={check === "testing"}>
                    {check === "testing" ? "Testing…" : "Test"}
                  </button>
                  {check && check !== "testing" && (
                    <p class={`profile-check standing-${check.standing}`} data-testid="profile-check">
                      {check.standing === "management" ? "✔ " : "✖ "}
                      {check.message}
                    </p>
                  )}
                </div>
              );
            })}
          </div>
          <StartUrlForm
            onSaved={(list, name) => {
              setProfiles(list);
              setSelected(name);
            }}
          />
        </section>

        {isSso && profile && (
          <section class="setup-section" data-testid="sign-in-section">
            <h2>2 · Sign in through IAM Identity Center</h2>
            <p class="muted">
              {profile.sso?.start_url} ({profile.sso?.region}) — the sign-in is shared with the AWS CLI (~/.aws/sso/cache).
            </p>
            <p data-testid="sign-in-status" data-status={status?.status ?? "unknown"}>
              {status === null
                ? "…"
                : status.status === "signed_in"
                  ? `✔ Signed in until ${new Date(status.expires_at).toLocaleString()}${status.refreshable ? " (renews itself)" : ""}`
                  : status.status === "expired"
                    ? `Signed out: the sign-in lapsed at ${new Date(status.expired_at).toLocaleString()}. Sign in again.`
                    : "Signed out."}
            </p>
            {code && <DeviceCodeBox code={code} />}
            <div class="row">
              {status?.status !== "signed_in" && (
                <button class="primary" data-testid="sign-in" disabled={signingIn} onClick={startSignIn}>
                  {signingIn ? "Signing in…" : "Sign in"}
                </button>
              )}
              {signingIn && (
                <button class="ghost" onClick={() => void signInCancel()}>
                  Cancel
                </button>
              )}
              {status?.status === "signed_in" && (
                <button class="ghost" data-testid="sign-out" onClick={() => signOut(profile.name).then(setStatus)}>
                  Sign out
                </button>
              )}
            </div>
            {status?.status === "signed_in" && (
              <div class="sso-roles" data-testid="sso-roles">
                <h3>Roles taken in the member accounts</h3>
                {accounts === null ? (
                  <p>
                    <span class="spinner" /> Listing the accounts of the sign-in…
                  </p>
                ) : (
                  <>
                    <label class="row">
                      One role for every account{" "}
                      <select
                        data-testid="role-all"
                        value={roleAll}
                        onChange={(e) => setRoleAll((e.target as HTMLSelectElement).value)}
                      >
                        <option value="">— none: use stage profiles or OrganizationAccountAccessRole</option>
                        {roles.map((r) => (
                          <option key={r} value={r}>
                            {r}
                          </option>
                        ))}
                      </select>
                    </label>
                    <p class="muted">A scan only reads: a read-only role is enough (and the safest).</p>
                    <table class="role-table">
                      <tbody>
                        {accounts.map((a) => (
                          <tr key={a.id} data-testid="sso-account" data-account={a.id}>
                            <td>{a.name}</td>
                            <td class="muted">{a.id}</td>
                            <td>
                              <select
                                value={perAccount[a.id] ?? ""}
                                onChange={(e) =>
                                  setPerAccount({ ...perAccount, [a.id]: (e.target as HTMLSelectElement).value })
                                }
                              >
                                <option value="">{roleAll ? `as above (${roleAll})` : "—"}</option>
                                {a.roles.map((r) => (
                                  <option key={r} value={r}>
                                    {r}
                                  </option>
                                ))}
                              </select>
                            </td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </>
                )}
              </div>
            )}
          </section>
        )}

        <section class="setup-section" data-testid="workspace-section">
          <h2>{isSso ? "3" : "2"} · Workspace (optional)</h2>
          <p class="muted">
            The folder with your Terraform and serverless.yml files. Without one, Stagecraft still finds stages and Terraform
            state; with one, it also reads the code.
          </p>
          {setup.config_from_env && <p class="muted">STAGECRAFT_CONFIG chooses the workspace for this window.</p>}
          <p data-testid="workspace-current">
            {workspace ? (
              <>
                Using <code>{workspace}</code>
              </>
            ) : (
              "No workspace."
            )}
          </p>
          <div class="row">
            <input
              class="path"
              data-testid="workspace-path"
              placeholder="/path/to/your/repository"
              value={path}
              onInput={(e) => setPath((e.target as HTMLInputElement).value)}
              onKeyDown={(e) => e.key === "Enter" && path.trim() && open(path)}
            />
            <button class="ghost" data-testid="open-workspace" disabled={!path.trim()} onClick={() => open(path)}>
              Open
            </button>
            <button class="ghost" data-testid="browse-workspace" onClick={() => open(null)}>
              Browse…
            </button>
          </div>
          {setup.saved.recent_workspaces.length > 0 && (
            <div class="recent">
              <span class="muted">Recent:</span>
              {setup.saved.recent_workspaces.map((w) => (
                <button key={w} class="link" onClick={() => open(w.replace(/\/stagecraft\.toml$/, ""))}>
                  {w.replace(/\/stagecraft\.toml$/, "")}
                </button>
              ))}
            </div>
          )}
          {workspaceError && (
            <p class="card-error" role="alert" data-testid="workspace-error">
              {workspaceError.message}
            </p>
          )}
          {proposal && (
            <div class="proposal" data-testid="workspace-proposal" data-exists={String(proposal.exists)}>
              <p>
                {proposal.exists ? "✔ Opened " : "No stagecraft.toml in "}
                <code>{proposal.exists ? proposal.config_path : proposal.dir}</code>: found{" "}
                {proposal.terraform_roots.length} Terraform root(s)
                {proposal.terraform_roots.length > 0 && ` (${proposal.terraform_roots.join(", ")})`} and{" "}
                {proposal.services.length} Serverless service(s)
                {proposal.services.length > 0 && ` (${proposal.services.join(", ")})`}.
              </p>
              {!proposal.exists && (
                <>
                  <p>This is the config Stagecraft would write; edit it if you like, then save it:</p>
                  <textarea
                    class="config-text"
                    data-testid="proposal-text"
                    value={proposal.text}
                    onInput={(e) => setProposal({ ...proposal, text: (e.target as HTMLTextAreaElement).value })}
                  />
                  <button class="primary" data-testid="save-workspace" onClick={save}>
                    Save stagecraft.toml
                  </button>
                </>
              )}
            </div>
          )}
        </section>

        <div class="row setup-actions">
          <button class="primary" data-testid="setup-done" disabled={!ready || saving} onClick={done}>
            {saving ? "Saving…" : "Use this profile and scan"}
          </button>
          {!props.firstRun && (
            <button class="ghost" data-testid="setup-close" onClick={props.onClose}>
              Close
            </button>
          )}
          {isSso && status?.status !== "signed_in" && (
            <span class="muted">Sign in first: this profile's keys come through the sign-in.</span>
          )}
        </div>
      </div>
    </main>
  );
}

/** The device code of a sign-in in progress, with the page to approve it on. */
function DeviceCodeBox({ code }: { code: DeviceCode }) {
  return (
    <div class="device-code" data-testid="device-code" data-uri={code.verification_uri_complete}>
      <p>
        Approve this device on the page opened in your browser, or open{" "}
        <a href={code.verification_uri_complete} target="_blank" rel="noreferrer" data-testid="verification-uri">
          {code.verification_uri}
        </a>{" "}
        and enter:
      </p>
      <p class="code">{code.user_code}</p>
      <p class="muted">
        <span class="spinner" /> Waiting for the approval (the code is valid {Math.round(code.expires_in / 60)} min)…
      </p>
    </div>
  );
}

/** No profile yet: sign in at the AWS access portal URL, then save it as a profile acting in the
 * management account (what `aws configure sso` writes). */
function StartUrlForm(props: { onSaved: (profiles: ProfileInfo[], name: string) => void }) {
  const [name, setName] = useState("identity-center");
  const [url, setUrl] = useState("");
  const [region, setRegion] = useState("us-east-1");
  const [code, setCode] = useState<DeviceCode | null>(null);
  const [busy, setBusy] = useState(false);
  const [accounts, setAccounts] = useState<SsoAccount[] | null>(null);
  const [account, setAccount] = useState("");
  const [role, setRole] = useState("");
  const [error, setError] = useState<UiError | null>(null);
  const chosen = accounts?.find((a) => a.id === account) ?? null;

  const signInHere = () => {
    setBusy(true);
    setError(null);
    setAccounts(null);
    signInStartUrl(name, url, region, setCode)
      .then((list) => {
        setAccounts(list);
        const management = list.find((a) => /manag|master|root|org/i.test(a.name)) ?? list[0];
        setAccount(management?.id ?? "");
        setRole(suggestedRole(management ? [management] : []) ?? "");
      })
      .catch((e) => setError(asUiError(e)))
      .finally(() => {
        setBusy(false);
        setCode(null);
      });
  };

  const save = () => {
    setError(null);
    saveSsoProfile(name, url, region, account, role)
      .then((list) => props.onSaved(list, name))
      .catch((e) => setError(asUiError(e)));
  };

  return (
    <details class="start-url" data-testid="start-url">
      <summary>No profile for your organization yet? Sign in with its AWS access portal URL</summary>
      <div class="start-url-form">
        <label>
          Portal (start) URL{" "}
          <input
            data-testid="start-url-input"
            placeholder="https://my-org.awsapps.com/start"
            value={url}
            onInput={(e) => setUrl((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Its region{" "}
          <input data-testid="start-url-region" value={region} onInput={(e) => setRegion((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Save as profile{" "}
          <input data-testid="start-url-name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <div class="row">
          <button class="primary" data-testid="start-url-sign-in" disabled={busy || !url.trim()} onClick={signInHere}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
          {busy && (
            <button class="ghost" onClick={() => void signInCancel()}>
              Cancel
            </button>
          )}
        </div>
        {error && (
          <p class="card-error" role="alert" data-testid="start-url-error">
            {error.message}
          </p>
        )}
        {code && <DeviceCodeBox code={code} />}
        {accounts && (
          <div class="row" data-testid="start-url-accounts">
            <label>
              Management account{" "}
              <select data-testid="start-url-account" value={account} onChange={(e) => {
                const id = (e.target as HTMLSelectElement).value;
                setAccount(id);
                setRole(suggestedRole(accounts.filter((a) => a.id === id)) ?? "");
              }}>
                {accounts.map((a) => (
                  <option key={a.id} value={a.id}>
                    {a.name} ({a.id})
                  </option>
                ))}
              </select>
            </label>
            <label>
              Role{" "}
              <select data-testid="start-url-role" value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value)}>
                {(chosen?.roles ?? []).map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </label>
            <button class="primary" data-testid="start-url-save" disabled={!account || !role} onClick={save}>
              Save profile
            </button>
          </div>
        )}
      </div>
    </details>
  );
}
