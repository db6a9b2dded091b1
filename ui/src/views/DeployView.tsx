// Deploy a stage: the phased plan with each step's reason and profiles, the preflight, the preview of
// what each step would change (made before the button is enabled), one button, the live log, cancel,
// retry from the step that stopped, and the stage's run history.
import { useEffect, useRef, useState } from "preact/hooks";
import type { DeployPreview } from "../generated/DeployPreview";
import type { DeployRun } from "../generated/DeployRun";
import type { Outcome } from "../generated/Outcome";
import type { ChangeAction } from "../generated/ChangeAction";
import type { StageChanges } from "../generated/StageChanges";
import { asUiError, deployCancel, deployChanges, deployHistory, deployPlan, deployRun, deployStopLeftover } from "../ipc";
import { Rich } from "../rich";
import { StageSelect } from "./StageSelect";

interface Props {
  stages: string[];
  /** After a successful run: rescan the stage's account so the graph shows what was deployed. */
  onDeployed: (accountId: string | null) => void;
  refresh: number;
}

interface LogLine {
  index: number;
  at: string;
  stream: string;
  text: string;
}

export function DeployView({ stages, onDeployed, refresh }: Props) {
  const [stage, setStage] = useState(stages.find((s) => s === "qa") ?? stages[0] ?? "");
  const [preview, setPreview] = useState<DeployPreview | null>(null);
  const [history, setHistory] = useState<DeployRun[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [typed, setTyped] = useState("");
  const [status, setStatus] = useState<Record<number, StepStatus>>({});
  const [log, setLog] = useState<LogLine[]>([]);
  const [running, setRunning] = useState(false);
  const [last, setLast] = useState<DeployRun | null>(null);
  const [changes, setChanges] = useState<StageChanges | null>(null);
  const [previewing, setPreviewing] = useState<string | null>(null);
  const logRef = useRef<HTMLDivElement>(null);

  // The stages arrive with the snapshot: a view opened before it picks its stage then.
  useEffect(() => {
    if (stages.length > 0 && !stages.includes(stage)) setStage(stages.find((s) => s === "qa") ?? stages[0] ?? "");
  }, [stages, stage]);

  const load = () => {
    if (!stage) return;
    setError(null);
    // The plan on screen stays until the new one arrives (its steps keep their colours).
    deployPlan(stage)
      .then(setPreview)
      .catch((e) => setError(asUiError(e).message));
    deployHistory(stage)
      .then(setHistory)
      .catch(() => setHistory([]));
  };
  useEffect(() => {
    setPreview(null);
    setStatus({});
    setChanges(null);
    setTyped("");
  }, [stage]);

  const previewChanges = () => {
    setError(null);
    setChanges(null);
    setPreviewing("starting");
    const forStage = stage;
    deployChanges(forStage, (what) => setPreviewing(what))
      .then((c) => {
        if (c.stage === forStage) setChanges(c);
      })
      .catch((e) => setError(asUiError(e).message))
      .finally(() => setPreviewing(null));
  };
  useEffect(load, [stage, refresh]);
  useEffect(() => {
    logRef.current?.scrollTo({ top: logRef.current.scrollHeight });
  }, [log]);

  const start = (from: number) => {
    if (!preview) return;
    setRunning(true);
    setLast(null);
    setError(null);
    setLog([]);
    setStatus(Object.fromEntries(preview.plan.steps.map((_, i) => [i, (i < from ? "succeeded" : "pending") as StepStatus])));
    deployRun(stage, needsName ? typed : null, from, (e) => {
      if (e.type === "step_started") setStatus((s) => ({ ...s, [e.index]: "running" }));
      else if (e.type === "step_finished") setStatus((s) => ({ ...s, [e.index]: e.outcome }));
      else setLog((l) => [...l.slice(-4000), { index: e.index, at: e.at, stream: e.stream, text: e.text }]);
    })
      .then((run) => {
        setLast(run);
        // What was previewed is no longer what a deploy would do.
        setChanges(null);
        setTyped("");
        if (run.outcome === "succeeded") onDeployed(preview.plan.account_id);
        load();
      })
      .catch((e) => setError(asUiError(e).message))
      .finally(() => setRunning(false));
  };

  const failedAt = last && last.outcome !== "succeeded" ? last.steps.find((s) => s.outcome !== "succeeded") : undefined;
  const blocked = preview?.preflight.some((p) => !p.ok) ?? true;
  // A protected stage, or a preview that deletes or replaces something, needs the stage's name.
  const needsName = (preview?.plan.protected ?? false) || (changes?.destructive ?? false);
  const confirmed = !needsName || typed === stage;
  const previewed = changes !== null && changes.stage === stage;
  return (
    <main class="content deploy" data-testid="deploy-view">
      <div class="toolbar">
        <StageSelect stages={stages} value={stage} onChange={setStage} disabled={running} testid="deploy-stage" />
        {preview && (
          <span class="muted">
            account <code>{preview.plan.account_id ?? "unknown"}</code> · profile <code>{preview.plan.profile}</code>
            {preview.plan.protected && " · protected"}
          </span>
        )}
        <span class="spacer" />
        {needsName && (
          <input
            data-testid="deploy-confirm-stage"
            placeholder={`type ${stage} to confirm`}
            value={typed}
            disabled={running}
            onInput={(e) => setTyped((e.target as HTMLInputElement).value)}
          />
        )}
        {!running && (
          <button
            data-testid="deploy-preview"
            disabled={!preview || blocked || previewing !== null}
            onClick={previewChanges}
            title="What each step would change: Terraform's plan and a CloudFormation change set per service; nothing is applied"
          >
            {previewed ? "Preview again" : "Preview changes"}
          </button>
        )}
        {running ? (
          <button data-testid="deploy-cancel" onClick={() => void deployCancel()}>
            Cancel
          </button>
        ) : (
          <button
            class="primary big"
            data-testid="deploy-button"
            disabled={!preview || blocked || !confirmed || !previewed || previewing !== null}
            onClick={() => start(0)}
            title={
              blocked
                ? "The preflight must pass first"
                : !previewed
                  ? "Preview the changes first"
                  : !confirmed
                    ? `Type ${stage} to confirm`
                    : `Deploy ${stage}`
            }
          >
            Deploy {stage}
          </button>
        )}
        {failedAt && !running && (
          <button data-testid="deploy-retry" onClick={() => start(failedAt.index)}>
            Retry from step {failedAt.index + 1}
          </button>
        )}
      </div>
      {error && <div class="banner error" data-testid="deploy-error"><Rich text={error} /></div>}
      {preview?.leftover && !running && (
        <div class="banner error" data-testid="deploy-leftover">
          <Rich text={preview.leftover} />{" "}
          <button
            data-testid="deploy-stop-leftover"
            onClick={() =>
              void deployStopLeftover(stage)
                .then(load)
                .catch((e) => setError(asUiError(e).message))
            }
          >
            Stop it
          </button>
        </div>
      )}
      {last && (
        <div class={`banner ${last.outcome === "succeeded" ? "info" : "error"}`} data-testid="deploy-result">
          Run #{last.id} {last.outcome}
          {last.outcome === "succeeded" && " · rescanning the stage's account"}
        </div>
      )}
      <div class="deploy-body">
        <section class="plan">
          <h3>Plan</h3>
          {!preview && !error && <p class="muted"><span class="spinner" /> Planning…</p>}
          {preview &&
            preview.phases.map(({ phase, number, title }) => {
              const steps = preview.plan.steps.map((s, i) => [s, i] as const).filter(([s]) => s.phase === phase);
              if (steps.length === 0) return null;
              return (
                <div key={phase} class="phase">
                  <h4>
                    Phase {number}: {title}
                  </h4>
                  <ol start={(steps[0]?.[1] ?? 0) + 1}>
                    {steps.map(([s, i]) => (
                      <li key={i} class={`step ${status[i] ?? ""}`} data-testid="deploy-step" data-status={status[i] ?? "pending"}>
                        <span class="step-icon">{icon(status[i])}</span> <strong>{s.title}</strong>
                        <div>
                          <code>$ {s.command.join(" ")}</code>
                        </div>
                        <div class="muted">
                          in {s.dir} · profile {s.profile}
                        </div>
                        {s.profiles
                          .filter((u) => !u.used_by.startsWith("AWS_PROFILE"))
                          .map((u, k) => (
                            <div key={k} class="muted" data-testid="deploy-step-profile">
                              profile <code>{u.profile}</code> for {u.used_by} ({u.named_at})
                            </div>
                          ))}
                        <div class="muted">why: {s.reason}</div>
                      </li>
                    ))}
                  </ol>
                </div>
              );
            })}
          <h3>Preflight</h3>

          <ul class="plain preflight">
            {preview?.preflight.map((p, i) => (
              <li key={i} data-testid="preflight" data-ok={p.ok ? "yes" : "no"}>
                <span class={p.ok ? "ok" : "warn-text"}>{p.ok ? "✔" : "✗"}</span> {p.check}
                <div class="muted">
                  <Rich text={p.detail} />
                  {p.fix && <> — fix: {p.fix}</>}
                </div>
              </li>
            ))}
          </ul>
        </section>
        <section class="log-pane">
          <h3>Changes</h3>
          <ChangesPanel changes={changes} previewing={previewing} />
          <h3>Log</h3>
          <div class="log" ref={logRef} data-testid="deploy-log">
            {log.length === 0 && <span class="muted">The output of each step appears here as it runs.</span>}
            {log.map((l, i) => (
              <div key={i} class={`line ${l.stream}`}>
                <span class="clock">{l.at.slice(11, 19)}</span> <span class="step-no">{l.index + 1}</span> {l.text}
              </div>
            ))}
          </div>
          <h3>Runs of {stage}</h3>
          <ul class="plain runs" data-testid="deploy-history">
            {history.length === 0 && <li class="muted">No deploy of {stage} yet.</li>}
            {history.map((r) => (
              <li key={r.id} data-testid="deploy-run" data-outcome={r.outcome}>
                <details>
                  <summary>
                    <span class={r.outcome === "succeeded" ? "ok" : "warn-text"}>
                      #{r.id} {r.outcome}
                    </span>{" "}
                    {new Date(r.started_at).toLocaleString()} · {r.who} · {r.steps.length} step(s)
                  </summary>
                  <ol class="run-steps">
                    {r.steps.map((s) => (
                      <li key={s.index} value={s.index + 1} data-testid="deploy-run-step" data-outcome={s.outcome}>
                        <span class={`step ${s.outcome}`}>
                          {icon(s.outcome)} {s.title}
                        </span>{" "}
                        <span class="muted">
                          {s.outcome}
                          {s.exit_code !== null && ` · exit ${s.exit_code}`} · {(s.duration_ms / 1000).toFixed(1)} s
                        </span>
                        {s.log && <pre class="step-log">{s.log}</pre>}
                      </li>
                    ))}
                  </ol>
                </details>
              </li>
            ))}
          </ul>
        </section>
      </div>
    </main>
  );
}

const MARK: Record<ChangeAction, string> = { create: "+", update: "~", replace: "-/+", delete: "-" };
/** What destroys comes first in each step. */
const ORDER: Record<ChangeAction, number> = { delete: 0, replace: 1, update: 2, create: 3 };

/** What each step would change, deletes and replaces in red. */
function ChangesPanel({ changes, previewing }: { changes: StageChanges | null; previewing: string | null }) {
  if (previewing !== null) {
    return (
      <p class="muted" data-testid="deploy-changes-progress">
        <span class="spinner" /> Previewing: {previewing}…
      </p>
    );
  }
  if (!changes) {
    return <p class="muted">Preview the changes to see what each step would create, change, replace or delete; the deploy is enabled after it.</p>;
  }
  const all = changes.steps.flatMap((s) => s.changes);
  const count = (a: ChangeAction) => all.filter((c) => c.action === a).length;
  return (
    <div class="changes" data-testid="deploy-changes" data-destructive={changes.destructive ? "yes" : "no"}>
      <p class={changes.destructive ? "warn-text" : "muted"} data-testid="deploy-changes-summary">
        {count("create")} to create, {count("update")} to update, {count("replace")} to replace, {count("delete")} to delete
        {changes.destructive && " — it deletes or replaces resources: type the stage's name to deploy"}
      </p>
      {changes.steps.map((s) => (
        <details key={s.index} open={s.changes.some((c) => c.action === "replace" || c.action === "delete") || s.error !== null} data-testid="deploy-changes-step">
          <summary>
            <strong>
              {s.index + 1}. {s.title}
            </strong>{" "}
            <span class="muted">{s.error ? "no preview" : `${s.changes.length} change(s)`}</span>
            {s.provisional && (
              <span class="badge warn" data-testid="deploy-changes-provisional" title={s.provisional}>
                provisional
              </span>
            )}
          </summary>
          <div class="muted">{s.source}</div>
          {s.provisional && <div class="muted">{s.provisional}</div>}
          {s.error && <pre class="step-log error-text">{s.error}</pre>}
          <ul class="plain change-list">
            {[...s.changes].sort((a, b) => ORDER[a.action] - ORDER[b.action]).map((c, i) => (
              <li key={i} class={`change ${c.action}`} data-testid="deploy-change" data-action={c.action}>
                <code class="mark">{MARK[c.action]}</code> <code>{c.address}</code> <span class="muted">{c.type_name}</span>
                {c.details.map((d, k) => (
                  <div key={k} class="detail muted">
                    {d}
                  </div>
                ))}
              </li>
            ))}
          </ul>
        </details>
      ))}
    </div>
  );
}

/** A step's state on screen: an outcome, or not started yet. */
type StepStatus = Outcome | "pending";

function icon(status: StepStatus | undefined): string {
  switch (status) {
    case "running":
      return "◐";
    case "succeeded":
      return "✔";
    case "failed":
    case "refused":
    case "interrupted":
      return "✗";
    case "cancelled":
      return "■";
    case "pending":
    case undefined:
      return "○";
    default: {
      const unhandled: never = status;
      return unhandled;
    }
  }
}
