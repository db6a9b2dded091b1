import { useCallback, useEffect, useReducer, useRef, useState } from "preact/hooks";
import type { Analysis } from "./generated/Analysis";
import type { ErrorCode } from "./generated/ErrorCode";
import type { UiError } from "./generated/UiError";
import type { SetupState } from "./generated/SetupState";
import {
  analysis as fetchAnalysis,
  asUiError,
  findNodes,
  lastSnapshot,
  liveRefresh,
  painted,
  rescanAccount,
  scan,
  scanTarget,
  setLiveInterval,
  setupState,
} from "./ipc";
import { LiveFeed, type LiveState } from "./views/LiveFeed";
import { SetupView } from "./views/SetupView";
import { DeletionsView } from "./views/DeletionsView";
import { DeployView } from "./views/DeployView";
import { FindingsView } from "./views/FindingsView";
import { GraphView, type GraphFocus } from "./views/GraphView";
import { HistoryView } from "./views/HistoryView";
import { MatrixView } from "./views/MatrixView";
import { CoverageBanner } from "./views/CoverageBanner";
import { OrgSwitcher } from "./views/OrgSwitcher";
import { TeamBanner, TeamOpen } from "./views/TeamSnapshot";
import type { TeamSnapshotHead } from "./ipc";
import { OrgView } from "./views/OrgView";
import { Palette, type PaletteItem } from "./views/Palette";
import { initialState, reduce } from "./state";
import { timeAgo, useNow } from "./time";

const VIEWS = [
  { id: "org", label: "Organization", key: "1" },
  { id: "graph", label: "Graph", key: "2" },
  { id: "matrix", label: "Stages", key: "3" },
  { id: "findings", label: "Findings", key: "4" },
  { id: "deletions", label: "Deletions", key: "5" },
  { id: "deploy", label: "Deploy", key: "6" },
  { id: "history", label: "History", key: "7" },
] as const;
type ViewId = (typeof VIEWS)[number]["id"];

const LAST_VIEW = "stagecraft.view";
const LIVE = "stagecraft.live";

export function App() {
  const [state, dispatch] = useReducer(reduce, initialState);
  const now = useNow(30_000);
  const [view, setView] = useState<ViewId>(() => (localStorage.getItem(LAST_VIEW) as ViewId | null) ?? "org");
  const [analysis, setAnalysis] = useState<Analysis | null>(null);
  const [analysisError, setAnalysisError] = useState<UiError | null>(null);
  const [focus, setFocus] = useState<GraphFocus | null>(null);
  const [palette, setPalette] = useState(false);
  const [scans, setScans] = useState(0);
  // The profile and workspace: the first-run screen until a scan can start, then the header's menu.
  const [setup, setSetup] = useState<SetupState | null>(null);
  const [setupOpen, setSetupOpen] = useState(false);
  // A team snapshot on screen (read-only), and the form that opens one.
  const [team, setTeam] = useState<TeamSnapshotHead | null>(null);
  const [teamOpen, setTeamOpen] = useState(false);

  const [live, setLive] = useState<LiveState>(() => ({
    on: localStorage.getItem(LIVE) === "1",
    interval: 30,
    busy: false,
    last: null,
    lastAt: null,
    changes: [],
    error: null,
  }));
  // What the Live loop reads between passes without restarting.
  const scanningRef = useRef(false);
  scanningRef.current = state.scanning;
  const hasReport = useRef(false);
  hasReport.current = state.report !== null;
  const liveNow = useRef(false);

  const show = (v: ViewId) => {
    setView(v);
    localStorage.setItem(LAST_VIEW, v);
  };

  const refreshAnalysis = useCallback(() => {
    const t0 = performance.now();
    fetchAnalysis()
      .then((a) => {
        document.documentElement.dataset.analysisMs = (performance.now() - t0).toFixed(1);
        setAnalysis(a);
        setAnalysisError(null);
      })
      .catch((e) => setAnalysisError(asUiError(e)));
  }, []);

  const runScan = useCallback((accountId?: string) => {
    dispatch({ type: "scan_started" });
    const onEvent = (event: Parameters<Parameters<typeof scan>[0]>[0]) => dispatch({ type: "event", event });
    (accountId ? rescanAccount(accountId, onEvent) : scan(onEvent))
      .then((report) => {
        dispatch({ type: "scan_done", report });
        setTeam(null);
        setScans((n) => n + 1);
        refreshAnalysis();
      })
      .catch((e) => dispatch({ type: "scan_failed", error: asUiError(e) }));
  }, [refreshAnalysis]);

  const openedTeam = (t: TeamSnapshotHead) => {
    dispatch({ type: "switched", report: t.report });
    setTeam(t);
    setTeamOpen(false);
    setScans((n) => n + 1);
    refreshAnalysis();
  };

  const backToLocal = () => {
    lastSnapshot()
      .then((report) => {
        setTeam(null);
        if (report) {
          dispatch({ type: "switched", report });
          setScans((n) => n + 1);
          refreshAnalysis();
        } else {
          runScan();
        }
      })
      .catch((e) => dispatch({ type: "scan_failed", error: asUiError(e) }));
  };

  const livePass = useCallback(() => {
    setLive((l) => ({ ...l, busy: true }));
    const onEvent = (event: Parameters<Parameters<typeof liveRefresh>[0]>[0]) => {
      // The history could not say what changed: the pass scans in full, and shows it.
      if (event.type === "started") dispatch({ type: "scan_started" });
      dispatch({ type: "event", event });
    };
    return liveRefresh(onEvent)
      .then((u) => {
        if (u.report) {
          dispatch({ type: "scan_done", report: u.report });
          setScans((n) => n + 1);
          refreshAnalysis();
        }
        setLive((l) => ({
          ...l,
          busy: false,
          last: u.pass,
          lastAt: Date.now(),
          error: null,
          changes: [...u.pass.changes, ...l.changes].slice(0, 50),
        }));
      })
      .catch((e) => {
        if (scanningRef.current) dispatch({ type: "scan_failed", error: asUiError(e) });
        setLive((l) => ({ ...l, busy: false, lastAt: Date.now(), error: asUiError(e) }));
      });
  }, [refreshAnalysis]);

  const toggleLive = () => {
    const on = !live.on;
    localStorage.setItem(LIVE, on ? "1" : "0");
    liveNow.current = on;
    setLive((l) => ({ ...l, on, error: null, changes: on ? [] : l.changes }));
  };

  const liveInterval = state.target?.live_interval;
  useEffect(() => {
    if (liveInterval) setLive((l) => ({ ...l, interval: liveInterval }));
  }, [liveInterval]);

  // The Live mode follows this computer's snapshot: paused while a team snapshot is on screen.
  const blocked = setupOpen || !!setup?.needs_setup || team !== null;
  useEffect(() => {
    if (!live.on || blocked) return;
    let cancelled = false;
    let timer: number | undefined;
    const tick = () => {
      if (cancelled) return;
      // After a scan, not beside it; and only once a snapshot is on screen to refresh.
      if (scanningRef.current || !hasReport.current) {
        timer = window.setTimeout(tick, 1000);
        return;
      }
      void livePass().finally(() => {
        if (!cancelled) timer = window.setTimeout(tick, live.interval * 1000);
      });
    };
    // Turned on now: a pass at once; restored at start: after one interval (the window scans first).
    timer = window.setTimeout(tick, liveNow.current ? 0 : live.interval * 1000);
    liveNow.current = false;
    return () => {
      cancelled = true;
      window.clearTimeout(timer);
    };
  }, [live.on, live.interval, blocked, livePass]);

  const changeInterval = (seconds: number) => {
    setLiveInterval(seconds)
      .then((s) => setLive((l) => ({ ...l, interval: s })))
      .catch((e) => setLive((l) => ({ ...l, error: asUiError(e) })));
  };

  const loadTarget = useCallback(() => {
    const target = scanTarget().then((t) => {
      dispatch({ type: "target", target: t });
      return t;
    });
    target.catch((e) => dispatch({ type: "scan_failed", error: asUiError(e) }));
    return target;
  }, []);

  useEffect(() => {
    const ready = setupState().then((s) => {
      setSetup(s);
      // Nothing to scan with yet: the first-run screen asks for it.
      if (s.needs_setup) setSetupOpen(true);
      return s;
    });
    const target = loadTarget();
    // Open on the last snapshot at once; the fresh scan then replaces it account by account.
    const last = lastSnapshot().then((report) => {
      if (report) {
        dispatch({ type: "snapshot", report });
        refreshAnalysis();
        // The frame after next is on screen: the snapshot has been painted.
        requestAnimationFrame(() =>
          requestAnimationFrame(() => {
            document.documentElement.dataset.painted = performance.now().toFixed(1);
            void painted().catch(() => undefined);
          }),
        );
      }
      return report;
    });
    last.catch((e) => dispatch({ type: "scan_failed", error: asUiError(e) }));
    void Promise.allSettled([target, last, ready]).then(([t, r, s]) => {
      if (s.status === "fulfilled" && s.value.needs_setup) return;
      const scanOnOpen = t.status !== "fulfilled" || t.value.scan_on_open;
      const hasSnapshot = r.status === "fulfilled" && r.value !== null;
      if (scanOnOpen || !hasSnapshot) runScan();
    });
  }, [runScan, refreshAnalysis, loadTarget]);

  const setupDone = (s: SetupState) => {
    setSetup(s);
    setSetupOpen(false);
    void loadTarget().finally(() => runScan());
  };

  const openSetup = () => {
    void setupState()
      .then((s) => {
        setSetup(s);
        setSetupOpen(true);
      })
      .catch((e) => dispatch({ type: "scan_failed", error: asUiError(e) }));
  };

  const openResource = (id: string) => {
    setFocus({ ids: [id], depth: 1, select: id, nonce: Date.now() });
    show("graph");
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement?.tagName ?? "");
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "r") {
        e.preventDefault();
        if (!state.scanning) runScan();
      } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
        e.preventDefault();
        setPalette(true);
      } else if (!typing && e.altKey) {
        const v = VIEWS.find((x) => x.key === e.key);
        if (v) {
          e.preventDefault();
          show(v.id);
        }
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [runScan, state.scanning]);

  const actions: PaletteItem[] = [
    ...VIEWS.map((v) => ({ label: `Go to ${v.label}`, hint: `Alt+${v.key}`, run: () => show(v.id) })),
    { label: "Scan the organization", hint: "Ctrl+R", run: () => !state.scanning && runScan() },
    { label: "Open team snapshot…", hint: "s3://", run: () => setTeamOpen(true) },
    ...state.accounts.map((a) => ({
      label: `Rescan ${a.name}`,
      hint: a.stage ? `stage ${a.stage}` : a.id,
      run: () => !state.scanning && runScan(a.id),
    })),
  ];

  const done = state.accounts.filter((a) => a.status !== "pending").length;
  const counts = analysis ? findingCounts(analysis) : null;
  return (
    <div class="shell">
      <header class="topbar">
        <span class="brand">Stagecraft</span>
        <nav class="tabs" role="tablist" aria-label="Views">
          {VIEWS.map((v) => (
            <button
              key={v.id}
              role="tab"
              aria-selected={view === v.id}
              class={`tab tab-${v.id}${view === v.id ? " active" : ""}`}
              data-testid={`tab-${v.id}`}
              data-label={v.label}
              onClick={() => show(v.id)}
              title={`Alt+${v.key}`}
            >
              {v.label}
              {v.id === "findings" && counts && counts.total > 0 && (
                <span class={`count sev-${counts.worst}`} data-testid="findings-count">
                  {counts.total}
                </span>
              )}
            </button>
          ))}
        </nav>
        <span class="spacer" />
        {/* Right of the tabs' stretch, so the tabs stay put when these arrive. */}
        <OrgSwitcher
          current={state.organization?.id ?? null}
          placeholder={setup?.needs_setup ? "no organization yet" : "org …"}
          now={now}
          onOpenTeam={() => setTeamOpen(true)}
          onSwitch={(report) => {
            setTeam(null);
            dispatch({ type: "switched", report });
            setScans((n) => n + 1);
            refreshAnalysis();
          }}
        />
        <button
          class="ghost crumb-button"
          data-testid="profile-menu"
          onClick={openSetup}
          title={`Profile and workspace${state.target?.config_path ? ` (${state.target.config_path})` : " (no workspace)"}`}
        >
          <code>{setup?.needs_setup ? "no profile" : (state.target?.profile ?? "…")}</code>
          {" · "}
          {state.target?.config_path ? shortWorkspace(state.target.config_path) : "no workspace"} ▾
        </button>
        <button class="ghost" data-testid="palette-button" onClick={() => setPalette(true)} title="Command palette (Ctrl+K)">
          Ctrl+K
        </button>
        {(() => {
          const age = state.scanning
            ? `scanning ${done}/${state.accounts.length || "…"} accounts${state.phase ? ` · ${state.phase}` : ""}`
            : state.finishedAt
              ? `scanned ${timeAgo(state.finishedAt, now)}`
              : "";
          return (
            <span class={`age${state.scanning ? " scanning" : ""}`} data-testid="scan-age" title={age}>
              {age}
            </span>
          );
        })()}
        <button
          class={`ghost live-toggle${live.on ? " on" : ""}`}
          data-testid="live-toggle"
          aria-pressed={live.on}
          disabled={!!setup?.needs_setup}
          onClick={toggleLive}
          title={`Follow changes as they happen: each account's CloudTrail history every ${live.interval} s, only what changed read again`}
        >
          {live.on ? "● Live" : "○ Live"}
        </button>
        <button
          class="primary"
          data-testid="scan-button"
          disabled={state.scanning || !!setup?.needs_setup}
          onClick={() => runScan()}
          title="Rescan every account (Ctrl+R)"
        >
          {state.scanning ? "Scanning…" : "⟳ Scan"}
        </button>
      </header>
      {state.error && (
        <div class="banner error" role="alert" data-testid="error-banner">
          <strong>{errorTitle(state.error.code)}</strong> {state.error.message}{" "}
          {needsChoice(state.error.code) && (
            <button class="ghost" data-testid="banner-setup" onClick={openSetup}>
              {state.error.code === "signed_out" || state.error.code === "expired_credentials"
                ? "Sign in…"
                : "Choose profile…"}
            </button>
          )}
        </div>
      )}
      {!setupOpen && !state.scanning && state.report && state.target && state.report.profile !== state.target.profile && (
        <div class="banner" data-testid="other-profile-banner">
          Showing organization <code>{state.report.organization.id}</code> as scanned{" "}
          {timeAgo(Date.parse(state.report.started_at), now)} through profile <code>{state.report.profile}</code>. ⟳ Scan
          uses profile <code>{state.target.profile}</code>.{" "}
          <button class="ghost" data-testid="other-profile-setup" onClick={openSetup}>
            Choose profile…
          </button>
        </div>
      )}
      {teamOpen && (
        <TeamOpen
          remembered={setup?.saved.team_location ?? team?.location ?? null}
          onOpened={openedTeam}
          onClose={() => setTeamOpen(false)}
        />
      )}
      {team && <TeamBanner team={team} now={now} onBack={backToLocal} />}
      <CoverageBanner report={state.report} />
      {live.on && !setupOpen && (
        <LiveFeed
          live={live}
          now={now}
          accountName={(id) => {
            const a = state.accounts.find((x) => x.id === id);
            return a ? (a.stage ?? a.name) : id;
          }}
          onInterval={changeInterval}
          onOpen={(c) => {
            // The changed resource, asked of the core by each target's name.
            const names = new Set(c.targets.map((t) => t.name));
            void Promise.all([...names].map((n) => findNodes(n, null, 50).catch(() => [])))
              .then((found) =>
                found.flat().find((x) => x.account_id === c.account_id && (names.has(x.id) || names.has(x.name))),
              )
              .then((r) => {
                if (r) openResource(r.id);
              });
          }}
        />
      )}
      {setupOpen && setup && (
        <SetupView
          setup={setup}
          firstRun={!!setup.needs_setup}
          onDone={setupDone}
          onClose={() => setSetupOpen(false)}
        />
      )}
      {!setupOpen && view === "org" && (
        <OrgView
          state={state}
          analysis={analysis}
          onRescan={team ? null : (id) => !state.scanning && runScan(id)}
        />
      )}
      {!setupOpen && view !== "org" && view !== "history" && view !== "deletions" && view !== "deploy" && !analysis && (
        <main class="content empty">
          {analysisError ? (
            <p>{analysisError.message}</p>
          ) : (
            <p data-testid="analysis-waiting">
              <span class="spinner" />{" "}
              {state.report ? "Analysing the snapshot: ownership, links and findings…" : "Waiting for the first snapshot…"}
            </p>
          )}
        </main>
      )}
      {!setupOpen && view === "graph" && analysis && (
        <GraphView analysis={analysis} accounts={state.accounts} focus={focus} onFocus={setFocus} />
      )}
      {!setupOpen && view === "matrix" && analysis && <MatrixView analysis={analysis} onOpen={openResource} />}
      {!setupOpen && view === "findings" && analysis && (
        <FindingsView
          analysis={analysis}
          onOpen={(f) => {
            setFocus({ ids: f.resources, depth: 1, select: f.resources[0] ?? null, nonce: Date.now() });
            show("graph");
          }}
        />
      )}
      {!setupOpen && view === "history" && <HistoryView refresh={scans} />}
      {!setupOpen && view === "deploy" && (
        <DeployView
          refresh={scans}
          stages={[...new Set(state.accounts.map((a) => a.stage).filter((s): s is string => !!s))]}
          onDeployed={(id) => id && runScan(id)}
        />
      )}
      {!setupOpen && view === "deletions" && (
        <DeletionsView
          refresh={scans}
          busy={state.scanning}
          protectedStages={state.target?.protected_stages ?? ["prod"]}
          accountName={(id) => state.accounts.find((a) => a.id === id)?.name ?? id}
          onRescan={(id) => !state.scanning && runScan(id)}
        />
      )}
      {palette && (
        <Palette actions={actions} analysis={analysis} onResource={openResource} onClose={() => setPalette(false)} />
      )}
    </div>
  );
}

/** `…/acme/stagecraft.toml` → `acme`. */
function shortWorkspace(path: string): string {
  const parts = path.split("/").filter(Boolean);
  return parts.length >= 2 ? (parts[parts.length - 2] ?? path) : path;
}

/** Errors the profile and workspace screen fixes. */
function needsChoice(code: ErrorCode): boolean {
  return ["profile_missing", "profile_files", "not_management", "signed_out", "expired_credentials", "config_read", "config_invalid"].includes(code);
}

function findingCounts(a: Analysis): { total: number; worst: string } {
  const order = ["high", "medium", "low", "info"];
  let worst = "info";
  for (const f of a.findings) if (order.indexOf(f.severity) < order.indexOf(worst)) worst = f.severity;
  return { total: a.findings.length, worst };
}

function errorTitle(code: ErrorCode): string {
  switch (code) {
    case "profile_missing":
    case "profile_files":
    case "credentials":
    case "expired_credentials":
    case "identity_mismatch":
    case "role_missing":
      return "AWS profile problem.";
    case "not_management":
      return "Not a management account.";
    case "signed_out":
      return "Signed out.";
    case "config_read":
    case "config_invalid":
      return "Workspace config problem.";
    case "terraform_backend":
    case "terraform_state":
    case "terraform_code":
      return "Terraform state problem.";
    case "serverless_config":
    case "template":
      return "Serverless config problem.";
    case "access_denied":
    case "throttled":
    case "timeout":
    case "unreachable":
    case "aws":
      return "AWS call failed.";
    case "clock_skew":
      return "This machine's clock is off.";
    case "store":
      return "Snapshot store problem.";
    case "no_snapshot":
      return "No snapshot yet.";
    case "invalid_input":
      return "Request refused.";
    case "sandbox":
    case "io":
    case "other":
      return "Scan failed.";
    default: {
      const unhandled: never = code;
      return unhandled;
    }
  }
}
