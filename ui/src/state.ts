// The window's state, driven by scan events: a pure reducer, so every transition is easy to follow.
import type { Account } from "./generated/Account";
import type { Organization } from "./generated/Organization";
import type { ScanEvent } from "./generated/ScanEvent";
import type { SnapshotHead } from "./ipc";
import type { ScanTarget } from "./generated/ScanTarget";
import type { UiError } from "./generated/UiError";

export interface Progress {
  step: string;
  done: number;
  total: number;
}

export interface State {
  target: ScanTarget | null;
  organization: Organization | null;
  accounts: Account[];
  progress: Record<string, Progress>;
  scanning: boolean;
  finishedAt: number | null;
  /** What the scan does after the accounts: reading state, services, deciding owners. */
  phase: string | null;
  error: UiError | null;
  /** The snapshot on screen (stored or fresh), for details the views look up by resource id. */
  report: SnapshotHead | null;
}

export const initialState: State = {
  target: null,
  organization: null,
  accounts: [],
  progress: {},
  scanning: false,
  finishedAt: null,
  phase: null,
  error: null,
  report: null,
};

export type Action =
  | { type: "target"; target: ScanTarget }
  | { type: "scan_started" }
  | { type: "event"; event: ScanEvent }
  | { type: "scan_done"; report: SnapshotHead }
  | { type: "snapshot"; report: SnapshotHead }
  /** Another organization's newest snapshot, chosen in the header: replaces what is on screen. */
  | { type: "switched"; report: SnapshotHead }
  | { type: "scan_failed"; error: UiError };

function upsert(accounts: Account[], account: Account): Account[] {
  const i = accounts.findIndex((a) => a.id === account.id);
  if (i < 0) return [...accounts, account];
  const next = accounts.slice();
  next[i] = account;
  return next;
}

export function reduce(state: State, action: Action): State {
  switch (action.type) {
    case "target":
      return { ...state, target: action.target };
    case "scan_started":
      return { ...state, scanning: true, error: null, progress: {} };
    case "scan_done":
      return {
        ...state,
        scanning: false,
        phase: null,
        organization: action.report.organization,
        accounts: action.report.accounts,
        finishedAt: Date.now(),
        report: action.report,
      };
    case "switched":
      return {
        ...state,
        error: null,
        organization: action.report.organization,
        accounts: action.report.accounts,
        progress: {},
        finishedAt: Date.parse(action.report.started_at) || null,
        report: action.report,
      };
    case "snapshot":
      // Only until the first live scan reports: never overwrite fresher data with a stored one.
      if (state.finishedAt !== null) return state;
      return {
        ...state,
        organization: action.report.organization,
        accounts: action.report.accounts,
        finishedAt: Date.parse(action.report.started_at) || null,
        report: action.report,
      };
    case "scan_failed":
      return { ...state, scanning: false, phase: null, error: action.error };
    case "event": {
      const e = action.event;
      switch (e.type) {
        case "discovered":
          // Keep what the previous scan showed until each account reports again.
          return {
            ...state,
            organization: e.organization,
            accounts: e.accounts.map((a) => {
              const old = state.accounts.find((o) => o.id === a.id);
              return old ? { ...old, status: "pending" } : a;
            }),
          };
        case "account_progress":
          return {
            ...state,
            progress: { ...state.progress, [e.account_id]: { step: e.step, done: e.done, total: e.total } },
          };
        case "account_finished":
          return { ...state, accounts: upsert(state.accounts, e.account) };
        case "phase":
          return { ...state, phase: e.detail };
        case "started":
        case "finished":
          return state;
      }
    }
  }
}
