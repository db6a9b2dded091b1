// The header's organization switcher: the organizations the store holds snapshots of (a company's
// main and sandbox organizations, a consultant's clients), each opening on its newest snapshot.
import { useEffect, useRef, useState } from "preact/hooks";
import type { OrganizationSummary } from "../generated/OrganizationSummary";
import type { SnapshotHead } from "../ipc";
import type { UiError } from "../generated/UiError";
import { asUiError, openOrganization, organizations } from "../ipc";
import { timeAgo } from "../time";

export function OrgSwitcher(props: {
  current: string | null;
  placeholder: string;
  now: number;
  onSwitch: (report: SnapshotHead) => void;
  onOpenTeam: () => void;
}) {
  const [open, setOpen] = useState(false);
  const [list, setList] = useState<OrganizationSummary[] | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const box = useRef<HTMLSpanElement>(null);

  useEffect(() => {
    if (!open) return;
    setList(null);
    setError(null);
    organizations()
      .then(setList)
      .catch((e) => setError(asUiError(e)));
    const away = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) setOpen(false);
    };
    const escape = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    document.addEventListener("mousedown", away);
    document.addEventListener("keydown", escape);
    return () => {
      document.removeEventListener("mousedown", away);
      document.removeEventListener("keydown", escape);
    };
  }, [open]);

  const choose = (id: string) => {
    if (id === props.current) {
      setOpen(false);
      return;
    }
    openOrganization(id)
      .then((report) => {
        setOpen(false);
        props.onSwitch(report);
      })
      .catch((e) => setError(asUiError(e)));
  };

  return (
    <span class="org-switcher" ref={box}>
      <button
        class="ghost crumb-button org-button"
        data-testid="org-switcher"
        data-org={props.current ?? ""}
        title="AWS Organization: switch to another one this computer has scanned"
        aria-haspopup="listbox"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
      >
        {props.current ?? props.placeholder} ▾
      </button>
      {open && (
        <div class="menu" role="listbox" data-testid="org-menu">
          {error && <div class="banner error">{error.message}</div>}
          {!list && !error && (
            <div class="muted">
              <span class="spinner" /> Reading the stored organizations…
            </div>
          )}
          {list && list.length === 0 && <div class="muted">No organization scanned yet.</div>}
          {list?.map((o) => (
            <button
              key={o.id}
              role="option"
              aria-selected={o.id === props.current}
              class={`menu-item${o.id === props.current ? " current" : ""}`}
              data-testid="org-option"
              data-org={o.id}
              onClick={() => choose(o.id)}
            >
              <strong>{o.id}</strong>
              <span class="muted">
                management account {o.management_account_id} · profile <code>{o.profile}</code> · {o.accounts}{" "}
                accounts · scanned {timeAgo(Date.parse(o.last_scan), props.now)} · {o.snapshots} snapshot(s)
              </span>
            </button>
          ))}
          <button
            class="menu-item"
            data-testid="open-team"
            onClick={() => {
              setOpen(false);
              props.onOpenTeam();
            }}
          >
            <strong>Open team snapshot…</strong>
            <span class="muted">the organization as the team's scheduled scan published it to S3 (read-only)</span>
          </button>
        </div>
      )}
    </span>
  );
}
