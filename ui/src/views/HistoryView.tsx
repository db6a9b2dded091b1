// History: the stored snapshots, and what changed between two of them ("since the last review").
import { useEffect, useState } from "preact/hooks";
import type { SnapshotDiff } from "../generated/SnapshotDiff";
import type { SnapshotSummary } from "../generated/SnapshotSummary";
import type { ChangeEvent } from "../generated/ChangeEvent";
import type { Resource } from "../generated/Resource";
import { asUiError, snapshotDiff, snapshots } from "../ipc";
import { changeLine } from "../changes";

/** Who made a change the diff lists, when the history holds it. */
function By({ change }: { change: ChangeEvent | null | undefined }) {
  if (!change) return null;
  return (
    <div class="muted" data-testid="diff-by">
      {changeLine(change)}
    </div>
  );
}

/** An added resource's creating call, else its latest change, if after the older snapshot. */
function createdBy(r: Resource, since: string): ChangeEvent | null {
  const c = r.changed?.created ?? r.changed?.last_change ?? null;
  return c && c.at.slice(0, 19) >= since.slice(0, 19) ? c : null;
}

export function HistoryView({ refresh }: { refresh: number }) {
  const [list, setList] = useState<SnapshotSummary[] | null>(null);
  const [from, setFrom] = useState<number | null>(null);
  const [to, setTo] = useState<number | null>(null);
  const [diff, setDiff] = useState<SnapshotDiff | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    snapshots()
      .then((l) => {
        setList(l);
        setTo(l[0]?.id ?? null);
        setFrom(l[1]?.id ?? null);
      })
      .catch((e) => setError(asUiError(e).message));
  }, [refresh]);

  useEffect(() => {
    if (from === null || to === null || from === to) {
      setDiff(null);
      return;
    }
    snapshotDiff(from, to)
      .then(setDiff)
      .catch((e) => setError(asUiError(e).message));
  }, [from, to]);

  if (error) return <main class="content"><div class="banner error">{error}</div></main>;
  if (!list) return <main class="content empty"><span class="spinner" /> Loading snapshots…</main>;
  return (
    <div class="body" data-testid="history-view">
      <nav class="sidebar snapshots" aria-label="Snapshots">
        <h2>Snapshots ({list.length})</h2>
        {list.map((s) => (
          <div key={s.id} class={`snapshot ${s.id === to ? "to" : ""} ${s.id === from ? "from" : ""}`} data-testid="snapshot">
            <div>
              <strong>#{s.id}</strong> {new Date(s.started_at).toLocaleString()}
            </div>
            <div class="muted">
              {s.resources} resources · {s.accounts} accounts
              {s.accounts_with_errors > 0 ? ` · ${s.accounts_with_errors} incomplete` : ""}
            </div>
            {list.length > 1 && (
              <>
                <button class="link" onClick={() => setFrom(s.id)} disabled={s.id === from}>
                  {s.id === from ? "older of the two" : "compare as older"}
                </button>
                {" · "}
                <button class="link" onClick={() => setTo(s.id)} disabled={s.id === to}>
                  {s.id === to ? "newer of the two" : "as newer"}
                </button>
              </>
            )}
          </div>
        ))}
      </nav>
      <main class="content">
        {list.length < 2 ? (
          <p class="empty">One snapshot so far. Scan again later to see what changed since.</p>
        ) : !diff ? (
          <p class="empty">Pick two different snapshots.</p>
        ) : (
          <div data-testid="diff">
            <h3>
              What changed from #{diff.from} to #{diff.to}
            </h3>
            {diff.added.length + diff.removed.length + diff.changed.length + diff.accounts.length === 0 && (
              <p class="muted">Nothing changed.</p>
            )}
            {diff.added.length > 0 && <h4>Added ({diff.added.length})</h4>}
            <ul class="plain">
              {diff.added.map((r) => (
                <li key={r.id} class="added" data-testid="diff-added">
                  + {r.type} <code>{r.name}</code> <span class="muted">{r.stage ?? r.account_id} · {r.owner.kind}</span>
                  <By change={createdBy(r, diff.from_started_at)} />
                </li>
              ))}
            </ul>
            {diff.removed.length > 0 && <h4>Removed ({diff.removed.length})</h4>}
            <ul class="plain">
              {diff.removed.map((r) => (
                <li key={r.id} class="removed">
                  − {r.type} <code>{r.name}</code> <span class="muted">{r.stage ?? r.account_id} · {r.owner.kind}</span>
                  <By change={diff.removed_by[r.id]} />
                </li>
              ))}
            </ul>
            {diff.changed.length > 0 && <h4>Changed ({diff.changed.length})</h4>}
            <ul class="plain">
              {diff.changed.map((c) => (
                <li key={c.id} class="changed">
                  ~ {c.type} <code>{c.name}</code>
                  <By change={c.by} />
                  <ul>
                    {c.changes.map((f) => (
                      <li key={f.field}>
                        <code>{f.field}</code>: {JSON.stringify(f.before ?? null)} → {JSON.stringify(f.after ?? null)}
                      </li>
                    ))}
                  </ul>
                </li>
              ))}
            </ul>
          </div>
        )}
      </main>
    </div>
  );
}
