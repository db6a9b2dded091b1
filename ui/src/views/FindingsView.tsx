// The findings: grouped by rule, then stage, each with its fix; clicking one focuses the graph on it.
import { useMemo, useState } from "preact/hooks";
import type { Analysis } from "../generated/Analysis";
import type { Finding } from "../generated/Finding";
import { Rich } from "../rich";
import { StageSelect } from "./StageSelect";
import { Chunked } from "./Chunked";

const ORDER = ["high", "medium", "low", "info"];

interface Props {
  analysis: Analysis;
  onOpen: (f: Finding) => void;
}

export function FindingsView({ analysis, onOpen }: Props) {
  const [stage, setStage] = useState("");
  const [minSeverity, setMinSeverity] = useState("info");
  const names = useMemo(() => new Map(Object.entries(analysis.names)), [analysis]);
  const shown = analysis.findings.filter(
    (f) => (!stage || f.stage === stage) && ORDER.indexOf(f.severity) <= ORDER.indexOf(minSeverity),
  );
  // Rules in order of their worst finding, then stages in the organization's order.
  const byRule = new Map<string, Finding[]>();
  for (const f of shown) (byRule.get(f.rule) ?? byRule.set(f.rule, []).get(f.rule)!).push(f);
  const worst = (fs: Finding[]) => fs.reduce((w, f) => Math.min(w, ORDER.indexOf(f.severity)), ORDER.length);
  const rules = [...byRule.entries()].sort(([, a], [, b]) => worst(a) - worst(b));
  const stages = analysis.matrix.stages;
  return (
    <main class="content findings" data-testid="findings-view">
      <div class="toolbar">
        <StageSelect stages={stages} value={stage} onChange={setStage} all />
        <label>
          At least{" "}
          <select value={minSeverity} onChange={(e) => setMinSeverity((e.target as HTMLSelectElement).value)}>
            {ORDER.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <span class="muted">
          {shown.length} of {analysis.findings.length} findings · what to fix first is at the top
        </span>
      </div>
      {shown.length === 0 && <p class="empty">No findings{stage ? ` in ${stage}` : ""}. Nothing to fix.</p>}
      {rules.map(([rule, list]) => (
        <section key={rule} class="rule-group" data-testid="rule-group" data-rule={rule}>
          <h3>
            <span class={`sev sev-${list[0]?.severity}`}>{list[0]?.severity}</span> {rule}{" "}
            <span class="muted">({list.length})</span>
          </h3>
          {stages
            .concat([""])
            .map((s) => [s, list.filter((f) => (f.stage ?? "") === s)] as const)
            .filter(([, fs]) => fs.length > 0)
            .map(([s, fs]) => (
              <div key={s} class="stage-group">
                <h4>{s ? `stage ${s}` : "outside any stage"}</h4>
                <Chunked
                  items={fs}
                  size={50}
                  estimate={110}
                  render={(chunk, first) =>
                    chunk.map((f, j) => {
                      const i = first + j;
                      return (
                        <button
                          key={i}
                          class="finding"
                          data-testid="finding"
                          data-rule={f.rule}
                          data-stage={f.stage ?? ""}
                          onClick={() => onOpen(f)}
                          title="Show its resources in the graph"
                        >
                          <div class="message">
                            <Rich text={f.message} />
                          </div>
                          <div class="fix">
                            <strong>Fix:</strong> <Rich text={f.fix} />
                          </div>
                          <div class="resources">
                            {f.resources.slice(0, 6).map((id) => (
                              <code key={id}>{names.get(id) ?? id}</code>
                            ))}
                            {f.resources.length > 6 && <span class="muted"> +{f.resources.length - 6}</span>}
                          </div>
                        </button>
                      );
                    })
                  }
                />
              </div>
            ))}
        </section>
      ))}
    </main>
  );
}
