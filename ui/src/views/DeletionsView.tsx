// Pending deletion across the organization: a countdown per resource, the deploys each one will
// break, and — where AWS allows — restore or cancel, behind a confirmation that names the account,
// stage and resource (a protected stage's name must be typed).
import { useEffect, useState } from "preact/hooks";
import type { ActionRecord } from "../generated/ActionRecord";
import type { PendingDeletion } from "../generated/PendingDeletion";
import { actionHistory, asUiError, deletions, undelete } from "../ipc";
import { Rich } from "../rich";
import { countdown, useNow } from "../time";
import { StageSelect } from "./StageSelect";

interface Props {
  /** Changes after every scan: the list is reloaded. */
  refresh: number;
  protectedStages: string[];
  accountName: (id: string) => string;
  /** Rescans the account an action touched, so the view shows AWS's state. */
  onRescan: (accountId: string) => void;
  busy: boolean;
}

const VERB: Record<string, string> = {
  restore_secret: "Restore secret",
  cancel_key_deletion: "Cancel the deletion of key",
};

export function DeletionsView({ refresh, protectedStages, accountName, onRescan, busy }: Props) {
  const now = useNow(1000);
  const [list, setList] = useState<PendingDeletion[] | null>(null);
  const [history, setHistory] = useState<ActionRecord[]>([]);
  const [stage, setStage] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<PendingDeletion | null>(null);
  const [last, setLast] = useState<ActionRecord | null>(null);

  useEffect(() => {
    deletions()
      .then(setList)
      .catch((e) => setError(asUiError(e).message));
    actionHistory()
      .then(setHistory)
      .catch(() => setHistory([]));
  }, [refresh]);

  if (error) return <main class="content"><div class="banner error">{error}</div></main>;
  if (!list) return <main class="content empty"><span class="spinner" /> Reading pending deletions…</main>;
  const stages = [...new Set(list.map((p) => p.stage ?? ""))].filter(Boolean);
  const shown = list.filter((p) => !stage || p.stage === stage);
  return (
    <main class="content deletions" data-testid="deletions-view">
      <div class="toolbar">
        <StageSelect stages={stages} value={stage} onChange={setStage} all />
        <span class="muted">{shown.length} pending · soonest first · times are live</span>
      </div>
      {last && (
        <div class={`banner ${last.outcome === "done" ? "info" : "error"}`} data-testid="action-result">
          {last.outcome === "done" ? "Done: " : "Failed: "}
          <Rich text={last.message} />
          {last.outcome === "done" && busy && " · refreshing the account from AWS…"}
        </div>
      )}
      {shown.length === 0 && <p class="empty">Nothing is waiting out a deletion window{stage ? ` in ${stage}` : ""}.</p>}
      {shown.length > 0 && (
        <table class="deletions-table">
          <thead>
            <tr>
              <th>Time left</th>
              <th>Resource</th>
              <th>Stage · account</th>
              <th>Owner</th>
              <th>What it means</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {shown.map((p) => (
              <tr key={p.id} data-testid="pending" data-name={p.name} data-stage={p.stage ?? ""}>
                <td class="countdown" data-testid="countdown" title={p.deletion_date ?? ""}>
                  {p.deletion_date ? countdown(p.deletion_date, now) : p.state}
                  {p.deletion_date && !p.date_certain && (
                    <div class="muted" data-testid="uncertain" title="No scheduling call in the CloudTrail history read; the date is read from a field AWS documents two ways">
                      uncertain
                    </div>
                  )}
                </td>
                <td>
                  <code>{p.name}</code>
                  <div class="muted">{p.type.replace(/^AWS::/, "")}</div>
                </td>
                <td>
                  {p.stage ?? "—"}
                  <div class="muted">{accountName(p.account_id)}</div>
                </td>
                <td>{p.owner.kind === "terraform" ? `Terraform ${p.owner.address}` : p.owner.kind}</td>
                <td>
                  <Rich text={p.detail} />
                  {p.scheduled_by && (
                    <div class="muted" data-testid="scheduled-by">
                      scheduled by {p.scheduled_by}
                    </div>
                  )}
                  {p.blocks.map((b, i) => (
                    <div key={i} class="blocker" data-testid="blocker">
                      ✗ <Rich text={b.message} />
                      <div class="muted">declared by {b.declared_by}</div>
                    </div>
                  ))}
                </td>
                <td>
                  {p.action && (
                    <button data-testid="undelete" disabled={busy} onClick={() => setConfirm(p)}>
                      {p.action === "restore_secret" ? "Restore…" : "Cancel deletion…"}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {history.length > 0 && (
        <section class="action-history" data-testid="action-history">
          <h3>Actions taken</h3>
          <ul class="plain">
            {history.map((a, i) => (
              <li key={i} data-testid="action-record">
                <span class={a.outcome === "done" ? "ok" : "warn-text"}>{a.outcome}</span>{" "}
                {new Date(a.at).toLocaleString()} · {VERB[a.action] ?? a.action} <code>{a.resource_name}</code> in{" "}
                {a.stage ?? a.account_id} · by {a.who}
                <div class="muted">{a.message}</div>
              </li>
            ))}
          </ul>
        </section>
      )}
      {confirm && (
        <Confirm
          item={confirm}
          account={accountName(confirm.account_id)}
          protectedStage={!!confirm.stage && protectedStages.includes(confirm.stage)}
          onCancel={() => setConfirm(null)}
          onConfirm={(typed) => {
            const item = confirm;
            setConfirm(null);
            undelete({ action: item.action ?? "", resource_id: item.id, typed_stage: typed })
              .then((record) => {
                setLast(record);
                if (record.outcome === "done") onRescan(item.account_id);
              })
              .catch((e) => setError(asUiError(e).message));
          }}
        />
      )}
    </main>
  );
}

function Confirm(props: {
  item: PendingDeletion;
  account: string;
  protectedStage: boolean;
  onCancel: () => void;
  onConfirm: (typedStage: string | null) => void;
}) {
  const { item } = props;
  const [typed, setTyped] = useState("");
  const ok = !props.protectedStage || typed === item.stage;
  return (
    <div class="palette-backdrop" onClick={props.onCancel}>
      <div class="dialog" role="dialog" aria-modal="true" aria-label="Confirm" data-testid="confirm" onClick={(e) => e.stopPropagation()}>
        <h3>{VERB[item.action ?? ""] ?? item.action}?</h3>
        <dl>
          <dt>Resource</dt>
          <dd>
            <code>{item.name}</code> ({item.type})
          </dd>
          <dt>Stage</dt>
          <dd>{item.stage ?? "none"}</dd>
          <dt>Account</dt>
          <dd>
            {props.account} (<code>{item.account_id}</code>)
          </dd>
        </dl>
        <p class="muted">
          {item.action === "restore_secret"
            ? "The secret stays, with its value, and its name is usable again; the code that deleted it may delete it again."
            : "The key stays, disabled; enable it where it is still used."}
        </p>
        {props.protectedStage && (
          <label class="typed">
            {item.stage} is a protected stage. Type <strong>{item.stage}</strong> to confirm:
            <input
              data-testid="confirm-stage"
              value={typed}
              onInput={(e) => setTyped((e.target as HTMLInputElement).value)}
              autoFocus
            />
          </label>
        )}
        <div class="dialog-buttons">
          <button onClick={props.onCancel}>Keep it as it is</button>
          <button
            class="primary"
            data-testid="confirm-button"
            disabled={!ok}
            onClick={() => props.onConfirm(props.protectedStage ? typed : null)}
          >
            {VERB[item.action ?? ""] ?? "Confirm"}
          </button>
        </div>
      </div>
    </div>
  );
}
