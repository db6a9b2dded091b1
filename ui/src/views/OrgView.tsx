// The organization view: OUs and accounts, each with its stage, how Stagecraft reached it, and status.
import { useEffect, useMemo, useState } from "preact/hooks";
import { Chunked } from "./Chunked";
import type { Account } from "../generated/Account";
import type { Analysis } from "../generated/Analysis";
import type { OrgUnit } from "../generated/OrgUnit";
import type { RegionLimits } from "../generated/RegionLimits";
import type { State } from "../state";

interface Group {
  key: string;
  title: string;
  accounts: Account[];
}

/** Accounts grouped by OU; the core already orders them (management, then dev → qa → prod). */
function groups(state: State): Group[] {
  const ous: OrgUnit[] = state.organization?.ous ?? [];
  const rootId = state.organization?.root_id ?? "";
  const out: Group[] = [
    { key: rootId, title: "root", accounts: state.accounts.filter((a) => a.parent_id === rootId) },
  ];
  for (const ou of ous) {
    out.push({
      key: ou.id,
      title: ou.path.join(" / "),
      accounts: state.accounts.filter((a) => a.parent_id === ou.id),
    });
  }
  return out.filter((g) => g.accounts.length > 0);
}

/** Per stage: its findings and how many are high. */
function findingsByStage(analysis: Analysis | null): Map<string, { findings: number; high: number }> {
  const out = new Map<string, { findings: number; high: number }>();
  for (const f of analysis?.findings ?? []) {
    if (!f.stage) continue;
    const c = out.get(f.stage) ?? out.set(f.stage, { findings: 0, high: 0 }).get(f.stage)!;
    c.findings += 1;
    if (f.severity === "high") c.high += 1;
  }
  return out;
}

/** Per account: findings of its stage and resources waiting out a deletion window. */
function accountExtras(a: Account, byStage: Map<string, { findings: number; high: number }>, analysis: Analysis | null) {
  const f = (a.stage && byStage.get(a.stage)) || { findings: 0, high: 0 };
  return { ...f, pending: analysis?.in_deletion_window[a.id] ?? 0 };
}

export function OrgView({
  state,
  analysis,
  onRescan,
}: {
  state: State;
  analysis: Analysis | null;
  onRescan: ((accountId: string) => void) | null;
}) {
  const [selected, setSelected] = useState<string | null>(null);
  const gs = useMemo(() => groups(state), [state.accounts, state.organization]);
  const byStage = useMemo(() => findingsByStage(analysis), [analysis]);
  // A chosen account is scrolled to once its chunk is drawn.
  useEffect(() => {
    if (!selected) return;
    const id = requestAnimationFrame(() =>
      document.getElementById(`account-${selected}`)?.scrollIntoView({ block: "nearest" }),
    );
    return () => cancelAnimationFrame(id);
  }, [selected]);
  if (state.accounts.length === 0) {
    return (
      <main class="empty" data-testid="org-empty">
        {state.scanning ? (
          <p>
            <span class="spinner" /> Discovering the organization…
          </p>
        ) : (
          <p>No accounts yet. Press Scan to discover the organization.</p>
        )}
      </main>
    );
  }
  return (
    <div class="body">
      <nav class="sidebar" aria-label="Organization">
        <h2>Organization</h2>
        {gs.map((g) => (
          <div class="tree-group" key={g.key}>
            <div class="tree-ou">▾ {g.title}</div>
            <Chunked
              items={g.accounts}
              size={120}
              estimate={30}
              reveal={selected ? g.accounts.findIndex((a) => a.id === selected) : null}
              render={(accounts) =>
                accounts.map((a) => (
                  <button
                    class={`tree-account ${selected === a.id ? "selected" : ""}`}
                    key={a.id}
                    onClick={() => setSelected(a.id)}
                  >
                    <span class={`dot ${a.status}`} aria-label={a.status} />
                    <span class="tree-name">{a.name}</span>
                    <StageBadge account={a} />
                  </button>
                ))
              }
            />
          </div>
        ))}
      </nav>
      <main class="content">
        {gs.map((g) => (
          <section key={g.key} class="ou-section" data-testid="ou-section">
            <h3>{g.title}</h3>
            <Chunked
              items={g.accounts}
              size={60}
              estimate={70}
              class="cards"
              reveal={selected ? g.accounts.findIndex((a) => a.id === selected) : null}
              render={(accounts) =>
                accounts.map((a) => (
                  <AccountCard
                    key={a.id}
                    account={a}
                    progress={state.progress[a.id]}
                    scanning={state.scanning}
                    selected={selected === a.id}
                    extras={accountExtras(a, byStage, analysis)}
                    onRescan={state.report && onRescan && a.status !== "other_shard" ? () => onRescan(a.id) : null}
                  />
                ))
              }
            />
          </section>
        ))}
      </main>
    </div>
  );
}

function StageBadge({ account }: { account: Account }) {
  if (account.is_management) return <span class="badge mgmt">mgmt</span>;
  if (!account.stage) return <span class="badge none">no stage</span>;
  return <span class={`badge stage-${account.stage}`}>{account.stage}</span>;
}

const SOURCE_TEXT: Record<string, string> = {
  config: "from stagecraft.toml",
  tag: "from the account's tag",
  name: "from the account name",
  management: "management account",
  none: "no stage found: tag the account with Stage=<name> or map it in stagecraft.toml",
};

const OWNER_KINDS: { kind: string; label: string; title: string }[] = [
  { kind: "terraform", label: "TF", title: "owned by Terraform" },
  { kind: "serverless", label: "SLS", title: "owned by a Serverless service" },
  { kind: "cloudformation", label: "CFN", title: "owned by another CloudFormation stack" },
  { kind: "unmanaged", label: "none", title: "no tool owns it" },
  { kind: "conflict", label: "both", title: "claimed by two owners" },
];

/** Use at or above this share of a limit is near it (the audit's `near-limit`). */
const NEAR = 0.8;

/** One region's use of the limits one account per stage exists for; near ones stand out. */
function RegionLimitsLine({ limits: l }: { limits: RegionLimits }) {
  const part = (label: string, used: number, limit: number | null, title: string) => {
    if (limit == null) return null;
    const near = limit > 0 && used >= NEAR * limit;
    return (
      <span class={near ? "near" : ""} title={title}>
        {label} {used}/{limit}
      </span>
    );
  };
  const reserved =
    l.concurrency_limit != null && l.unreserved_concurrency != null ? l.concurrency_limit - l.unreserved_concurrency : 0;
  const reservedBy = Object.entries(l.reserved)
    .map(([f, n]) => `${f} ${n}`)
    .join(", ");
  return (
    <span data-testid="region-limits">
      <span class="muted">{l.region}</span>{" "}
      {part("stacks", l.stacks, l.stack_limit, "live CloudFormation stacks / the account's stack quota")}
      {" · "}
      {part(
        "λ reserved",
        reserved,
        l.concurrency_limit,
        `Lambda concurrency reserved by functions / the account's concurrent executions${reservedBy ? `: ${reservedBy}` : ""}`,
      )}
      {l.largest_stack && " · "}
      {l.largest_stack && part("largest stack", l.largest_stack_resources, 500, `${l.largest_stack}: resources / 500`)}
      {l.errors.length > 0 && (
        <span class="warn-text" title={l.errors.join("\n")}>
          {" "}
          ({l.errors.length} unread)
        </span>
      )}
    </span>
  );
}

/** Resource counts per owner kind, zeros left out. */
function OwnerCounts(props: { counts: Record<string, number> }) {
  const shown = OWNER_KINDS.filter((k) => (props.counts[k.kind] ?? 0) > 0);
  if (shown.length === 0) return <>—</>;
  return (
    <>
      {shown.map((k) => (
        <span key={k.kind} class={`owner owner-${k.kind}`} title={k.title} data-kind={k.kind}>
          {k.label} {props.counts[k.kind]}
        </span>
      ))}
    </>
  );
}

function AccountCard(props: {
  account: Account;
  progress: { step: string; done: number; total: number } | undefined;
  scanning: boolean;
  selected: boolean;
  extras: { findings: number; high: number; pending: number };
  onRescan: (() => void) | null;
}) {
  const { account: a, progress } = props;
  const pending = a.status === "pending";
  const pct = progress && progress.total > 0 ? Math.round((100 * progress.done) / progress.total) : 0;
  return (
    <article
      id={`account-${a.id}`}
      class={`card status-${a.status} ${props.selected ? "selected" : ""}`}
      data-testid="account-card"
      data-account-id={a.id}
      data-stage={a.stage ?? ""}
      data-status={a.status}
    >
      <header>
        <span class="card-name">{a.name}</span>
        <span class="card-actions">
          {props.onRescan && (
            <button
              class="icon"
              data-testid="rescan-account"
              disabled={props.scanning}
              onClick={props.onRescan}
              title={`Rescan ${a.name} only`}
              aria-label={`Rescan ${a.name}`}
            >
              ⟳
            </button>
          )}
          <StageBadge account={a} />
        </span>
      </header>
      {a.status === "other_shard" && (
        <div class="muted shard-note" data-testid="card-other-shard">
          Scanned by another shard of this scan: seen once the shards are assembled.
        </div>
      )}
      <dl>
        <dt>Account</dt>
        <dd>
          <code>{a.id}</code>
        </dd>
        <dt>Stage</dt>
        <dd class="muted">{SOURCE_TEXT[a.stage_source] ?? a.stage_source}</dd>
        <dt>Access</dt>
        <dd data-testid="card-access">
          {a.access == null ? (
            "…"
          ) : a.access.kind === "profile" ? (
            <>profile <code>{a.access.profile}</code></>
          ) : a.access.kind === "sso" ? (
            <span title={`role ${a.access.role_name} through the IAM Identity Center sign-in of profile ${a.access.profile}`}>
              Identity Center <code>{a.access.role_name}</code>
            </span>
          ) : (
            <>assumes <code>{a.access.role_arn.split("/").pop()}</code></>
          )}
        </dd>
        <dt>Identity</dt>
        <dd class="ellipsis" title={a.identity?.arn ?? ""}>
          {a.identity ? <span class="ok">✔ verified</span> : pending ? "…" : "—"}
        </dd>
        <dt>Resources</dt>
        <dd data-testid="resource-count">{a.counts["resources"] ?? (pending ? "…" : "—")}</dd>
        <dt>Owners</dt>
        <dd class="owners" data-testid="owner-counts">
          {a.counts["resources"] === undefined && pending ? "…" : <OwnerCounts counts={a.counts} />}
        </dd>
        {(a.limits ?? []).length > 0 && (
          <>
            <dt>Limits</dt>
            <dd class="limits" data-testid="card-limits">
              {a.limits.map((l) => (
                <RegionLimitsLine key={l.region} limits={l} />
              ))}
            </dd>
          </>
        )}
        {a.stage && (
          <>
            <dt>Findings</dt>
            <dd data-testid="card-findings">
              {props.extras.findings === 0 ? (
                <span class="ok">none</span>
              ) : (
                <>
                  {props.extras.findings}
                  {props.extras.high > 0 && <span class="sev sev-high card-sev">{props.extras.high} high</span>}
                </>
              )}
            </dd>
            <dt>Deleting</dt>
            <dd data-testid="card-pending">
              {props.extras.pending === 0 ? "—" : <span class="warn-text">{props.extras.pending} in a deletion window</span>}
            </dd>
          </>
        )}
      </dl>
      {pending && props.scanning && (
        <div class="progress" title={progress?.step ?? "waiting"}>
          <div class="bar" style={{ width: `${Math.max(pct, 4)}%` }} />
          <span class="step">{progress?.step ?? "waiting…"}</span>
        </div>
      )}
      {a.error && (
        <p class="card-error" role="alert">
          <strong>{a.error.code}</strong> {a.error.message}
        </p>
      )}
      {a.collect_errors.length > 0 && (
        <ul class="card-error" role="alert" data-testid="collect-errors">
          {a.collect_errors.map((e) => (
            <li key={`${e.collector}-${e.region}`}>
              <strong>{e.collector}</strong> {e.region}: {e.message}
            </li>
          ))}
        </ul>
      )}
    </article>
  );
}
