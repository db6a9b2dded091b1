// The Live strip: while Live is on, each pass reads every account's CloudTrail history since the
// snapshot on screen; what arrived is listed here, newest first, with who made it and with which tool.
import type { ChangeEvent } from "../generated/ChangeEvent";
import type { LivePass } from "../generated/LivePass";
import type { UiError } from "../generated/UiError";
import { TOOL_LABEL, targetNames } from "../changes";
import { timeAgo } from "../time";

export interface LiveState {
  on: boolean;
  interval: number;
  /** A pass is running. */
  busy: boolean;
  last: LivePass | null;
  lastAt: number | null;
  /** The changes the passes found since Live was turned on, newest first (at most 50). */
  changes: ChangeEvent[];
  error: UiError | null;
}

export const INTERVALS = [5, 15, 30, 60, 300];

interface Props {
  live: LiveState;
  now: number;
  accountName: (id: string) => string;
  onInterval: (seconds: number) => void;
  onOpen: (change: ChangeEvent) => void;
}

export function LiveFeed({ live, now, accountName, onInterval, onOpen }: Props) {
  const last = live.last;
  const unwatched = last?.unwatched ?? [];
  return (
    <section class="live-feed" data-testid="live-feed" aria-live="polite">
      <div class="live-head">
        <span class={`live-dot${live.busy ? " busy" : ""}`} aria-hidden="true" />
        <strong>Live</strong>
        <span
          class="muted"
          data-testid="live-status"
          title={last?.history_from ? `The history was read from ${last.history_from}, once for every account` : undefined}
        >
          {live.busy
            ? "reading the history…"
            : live.lastAt
              ? `checked ${timeAgo(live.lastAt, now)}${last?.history_from ? " · history from the organization trail" : ""}${last && last.read_again.length > 0 ? ` · read again ${describeReads(last)}` : ""}`
              : "first pass…"}
        </span>
        <span class="spacer" />
        <label class="muted">
          every{" "}
          <select
            data-testid="live-interval"
            value={String(live.interval)}
            onChange={(e) => onInterval(Number((e.target as HTMLSelectElement).value))}
          >
            {[...new Set([...INTERVALS, live.interval])].sort((a, b) => a - b).map((s) => (
              <option key={s} value={String(s)}>
                {s < 60 ? `${s} s` : `${s / 60} min`}
              </option>
            ))}
          </select>
        </label>
      </div>
      {live.error && (
        <p class="live-note error" data-testid="live-error">
          This pass failed: {live.error.message}. The next one tries again.
        </p>
      )}
      {last?.full_scan && (
        <p class="live-note" data-testid="live-fallback">
          Scanned the whole organization: {last.full_scan}.
        </p>
      )}
      {last && last.states_written.length > 0 && (
        <p class="live-note" data-testid="live-states-written">
          Terraform state written with no CloudTrail event (an import, a <code>state rm</code> or <code>mv</code>):{" "}
          {last.states_written.map((s) => s.replace(/^s3:\/\//, "")).join(", ")}, read again.
        </p>
      )}
      {unwatched.length > 0 && (
        <p class="live-note" data-testid="live-unwatched">
          Not watched ({unwatched.length} account{unwatched.length === 1 ? "" : "s"} and regions, e.g.{" "}
          {unwatched[0]?.account_id} {unwatched[0]?.region}): their history cannot be read, so changes there appear only
          after a full scan.
        </p>
      )}
      {live.changes.length > 0 ? (
        <ul class="plain live-changes">
          {live.changes.slice(0, 6).map((c) => (
            <li key={c.id} data-testid="live-change" data-action={c.action} data-tool={c.tool}>
              <button class="link" onClick={() => onOpen(c)} title={c.user_agent}>
                <code>{c.action}</code> {targetNames(c).join(", ") || c.source}
              </button>{" "}
              <span class="muted">
                in {accountName(c.account_id)} {c.region} by {c.who} with <strong>{TOOL_LABEL[c.tool]}</strong>,{" "}
                {c.at.slice(11, 19)} UTC
              </span>
            </li>
          ))}
        </ul>
      ) : (
        !live.busy &&
        live.lastAt && (
          <p class="muted live-note" data-testid="live-quiet">
            No change since Live was turned on. CloudTrail delivers an event about 5 minutes after the call on
            average, at most about 15: a change shows here once it is delivered.
          </p>
        )
      )}
    </section>
  );
}

function describeReads(p: LivePass): string {
  const names = [...new Set(p.read_again.filter((r) => r.collector !== "tags").map((r) => r.collector))];
  return names.join(", ") || "tags";
}
