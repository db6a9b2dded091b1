import { useCallback, useEffect, useReducer } from "preact/hooks";
import { asUiError, lastSnapshot, scan, scanTarget } from "./ipc";
import { OrgView } from "./views/OrgView";
import { initialState, reduce } from "./state";
import { timeAgo, useNow } from "./time";

export function App() {
  const [state, dispatch] = useReducer(reduce, initialState);
  const now = useNow(30_000);

  const runScan = useCallback(() => {
    dispatch({ type: "scan_started" });
    scan((event) => dispatch({ type: "event", event }))
      .then((report) => dispatch({ type: "scan_done", report }))
      .catch((e) => dispatch({ type: "scan_failed", error: asUiError(e) }));
  }, []);

  useEffect(() => {
    scanTarget()
      .then((target) => dispatch({ type: "target", target }))
      .catch((e) => dispatch({ type: "scan_failed", error: asUiError(e) }));
    // Open on the last snapshot at once; the fresh scan then replaces it account by account.
    lastSnapshot()
      .then((report) => {
        if (report) dispatch({ type: "snapshot", report });
      })
      .catch((e) => dispatch({ type: "scan_failed", error: asUiError(e) }))
      .finally(runScan);
  }, [runScan]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "r") {
        e.preventDefault();
        if (!state.scanning) runScan();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [runScan, state.scanning]);

  const done = state.accounts.filter((a) => a.status !== "pending").length;
  return (
    <div class="shell">
      <header class="topbar">
        <span class="brand">Stagecraft</span>
        <span class="crumb" title={state.target?.config_path ?? "no workspace config"}>
          {state.organization ? `organization ${state.organization.id}` : "organization …"}
        </span>
        <span class="crumb">
          profile <code>{state.target?.profile ?? "…"}</code>
        </span>
        <span class="spacer" />
        <span class="age" data-testid="scan-age">
          {state.scanning
            ? `scanning ${done}/${state.accounts.length || "…"} accounts${state.phase ? ` · ${state.phase}` : ""}`
            : state.finishedAt
              ? `scanned ${timeAgo(state.finishedAt, now)}`
              : ""}
        </span>
        <button
          class="primary"
          data-testid="scan-button"
          disabled={state.scanning}
          onClick={runScan}
          title="Rescan every account (Ctrl+R)"
        >
          {state.scanning ? "Scanning…" : "⟳ Scan"}
        </button>
      </header>
      {state.error && (
        <div class="banner error" role="alert" data-testid="error-banner">
          <strong>{errorTitle(state.error.code)}</strong> {state.error.message}
        </div>
      )}
      <OrgView state={state} />
    </div>
  );
}

function errorTitle(code: string): string {
  switch (code) {
    case "profile_missing":
    case "profile_files":
      return "AWS profile problem.";
    case "not_management":
      return "Not a management account.";
    case "config_read":
    case "config_invalid":
      return "Workspace config problem.";
    default:
      return "Scan failed.";
  }
}
