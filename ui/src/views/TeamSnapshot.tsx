// The team's snapshot, published to S3 by a scheduled scan (`stagecraft publish`): opened read-only
// from a location, shown with who published it and when, and compared with this computer's.
import { useEffect, useRef, useState } from "preact/hooks";
import type { TeamSnapshotHead } from "../ipc";
import type { UiError } from "../generated/UiError";
import { asUiError, openTeamSnapshot } from "../ipc";
import { timeAgo } from "../time";

/** Asks where the team publishes and opens the newest generation there. */
export function TeamOpen(props: {
  remembered: string | null;
  onOpened: (team: TeamSnapshotHead) => void;
  onClose: () => void;
}) {
  const [location, setLocation] = useState(props.remembered ?? "s3://");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);

  const open = (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    openTeamSnapshot(location.trim())
      .then(props.onOpened)
      .catch((x) => setError(asUiError(x)))
      .finally(() => setBusy(false));
  };

  return (
    <form class="banner info team-open" data-testid="team-open" onSubmit={open}>
      <label>
        <strong>Open team snapshot</strong>{" "}
        <span class="muted">where the team publishes it (read with the chosen profile):</span>{" "}
        <input
          ref={input}
          data-testid="team-location"
          value={location}
          spellcheck={false}
          placeholder="s3://bucket/prefix"
          onInput={(e) => setLocation((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => e.key === "Escape" && props.onClose()}
        />
      </label>{" "}
      <button class="primary" type="submit" data-testid="team-open-button" disabled={busy || !location.trim()}>
        {busy ? "Reading…" : "Open"}
      </button>{" "}
      <button class="ghost" type="button" onClick={props.onClose}>
        Cancel
      </button>
      {error && (
        <div class="team-error" role="alert" data-testid="team-error">
          {error.message}
        </div>
      )}
    </form>
  );
}

/** Above every view while a team snapshot is on screen: whose it is, and how it differs. */
export function TeamBanner(props: { team: TeamSnapshotHead; now: number; onBack: () => void }) {
  const [open, setOpen] = useState(false);
  const t = props.team;
  const c = t.comparison;
  const differs = c ? c.diff.added.length + c.diff.removed.length + c.diff.changed.length : 0;
  const who = t.published_by.split(":").pop() ?? t.published_by;
  return (
    <div class="banner info team-banner" role="status" data-testid="team-banner">
      <strong>Team snapshot, read-only</strong> <code>{t.location}</code> · generation{" "}
      <span data-testid="team-generation">{t.generation}</span> · published by{" "}
      <span title={t.published_by} data-testid="team-publisher">
        {who}
      </span>{" "}
      {timeAgo(Date.parse(t.published_at), props.now)} · scanned {timeAgo(Date.parse(t.scanned_at), props.now)}
      {t.shards > 1 && ` in ${t.shards} shards`}.{" "}
      <span data-testid="team-comparison">
        {c ? (
          <>
            Against this computer's snapshot of {timeAgo(Date.parse(c.local_started_at), props.now)}:{" "}
            <strong>{c.diff.added.length}</strong> only in the team's, <strong>{c.diff.removed.length}</strong> only
            here, <strong>{c.diff.changed.length}</strong> changed
            {!c.hashes_comparable &&
              ` (values were hashed with another key than this computer's: ${c.hash_changes_left_out} difference(s) in hashed values cannot show)`}
            .
            {differs > 0 && (
              <button class="ghost" data-testid="team-details" onClick={() => setOpen(!open)}>
                {open ? "hide" : "what differs"}
              </button>
            )}
          </>
        ) : (
          <>This computer has no snapshot of organization {t.report.organization.id} to compare with.</>
        )}
      </span>{" "}
      <button class="ghost" data-testid="team-back" onClick={props.onBack}>
        Back to this computer's snapshot
      </button>
      {open && c && (
        <ul class="coverage-list team-differs" data-testid="team-differs">
          {[
            ...c.diff.added.map((r) => ({ key: `+${r.id}`, what: "only in the team's", r })),
            ...c.diff.removed.map((r) => ({ key: `-${r.id}`, what: "only here", r })),
          ]
            .slice(0, LISTED)
            .map(({ key, what, r }) => (
              <li key={key}>
                {what}: <code>{r.name}</code> <span class="muted">{r.type} · {r.account_id}</span>
              </li>
            ))}
          {c.diff.changed.slice(0, LISTED).map((ch) => (
            <li key={`~${ch.id}`}>
              changed: <code>{ch.name}</code>{" "}
              <span class="muted">
                {ch.type} · {ch.account_id} · {ch.changes.map((f) => f.field).join(", ")}
              </span>
            </li>
          ))}
          {(c.diff.added.length + c.diff.removed.length > LISTED || c.diff.changed.length > LISTED) && (
            <li class="muted">… and more: `stagecraft team --json` lists them all.</li>
          )}
        </ul>
      )}
    </div>
  );
}

/** Differences listed in the banner, per kind; the CLI's JSON has them all. */
const LISTED = 50;
