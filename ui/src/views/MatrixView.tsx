// The stage matrix: logical resources as rows, stages as columns; present, missing or different.
import { useState } from "preact/hooks";
import type { Analysis } from "../generated/Analysis";
import type { MatrixRow } from "../generated/MatrixRow";
import type { ChangeEvent } from "../generated/ChangeEvent";
import { TOOL_LABEL, changeLine } from "../changes";
import { Chunked } from "./Chunked";

interface Props {
  analysis: Analysis;
  onOpen: (id: string) => void;
}

export function MatrixView({ analysis, onOpen }: Props) {
  const m = analysis.matrix;
  const [status, setStatus] = useState("changed");
  const [kind, setKind] = useState("");
  const [text, setText] = useState("");
  const q = text.trim().toLowerCase();
  const rows = m.rows.filter(
    (r: MatrixRow) =>
      (status === "all" || (status === "changed" ? r.status !== "same" : r.status === status)) &&
      (!kind || r.kind === kind) &&
      (!q || r.label.toLowerCase().includes(q) || r.type.toLowerCase().includes(q)),
  );
  const counts = { missing: 0, differs: 0, same: 0 } as Record<string, number>;
  for (const r of m.rows) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return (
    <main class="content matrix" data-testid="matrix-view">
      <div class="toolbar">
        <label>
          Show{" "}
          <select data-testid="matrix-status" value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
            <option value="changed">missing or different ({(counts.missing ?? 0) + (counts.differs ?? 0)})</option>
            <option value="missing">missing somewhere ({counts.missing ?? 0})</option>
            <option value="differs">different ({counts.differs ?? 0})</option>
            <option value="all">everything ({m.rows.length})</option>
          </select>
        </label>
        <label>
          Owner{" "}
          <select value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
            <option value="">any</option>
            <option value="terraform">Terraform</option>
            <option value="serverless">Serverless</option>
            <option value="cloudformation">other stacks</option>
            <option value="parameter">SSM parameters</option>
          </select>
        </label>
        <input
          data-testid="matrix-filter"
          placeholder="Filter rows"
          value={text}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
        />
        {m.incomplete.length > 0 && (
          <span class="warn-text">Not scanned completely: {m.incomplete.join(", ")} — a gap there may not be real.</span>
        )}
      </div>
      <table class="matrix-table">
        <thead>
          <tr>
            <th>Resource</th>
            <th>Type</th>
            {m.stages.map((s) => (
              <th key={s}>{s}</th>
            ))}
          </tr>
        </thead>
        <Chunked
          as="tbody"
          items={rows}
          size={100}
          estimate={38}
          render={(chunk) =>
            chunk.map((r) => (
              <tr key={r.key} data-testid="matrix-row" data-key={r.key} data-status={r.status}>
                <td>
                  <code>{r.label}</code>
                </td>
                <td class="muted">{r.type.replace(/^AWS::/, "")}</td>
                {m.stages.map((s) => {
                  const c = r.cells[s];
                  if (!c?.id) {
                    return (
                      <td key={s} class="cell missing" data-stage={s} data-cell="missing" title={`missing in ${s}`}>
                        ✗ missing
                      </td>
                    );
                  }
                  return (
                    <td key={s} class={`cell ${c.differs ? "differs" : "present"}`} data-stage={s} data-cell={c.differs ? "differs" : "present"}>
                      <button class="link" onClick={() => c.id && onOpen(c.id)} title={c.id}>
                        {c.differs ? "≠ " : "✓ "}
                        {c.compared ?? "present"}
                      </button>
                      <LastChange last={c.last_change} />
                    </td>
                  );
                })}
              </tr>
            ))
          }
        />
      </table>
      {rows.length === 0 && <p class="empty">No rows match. The stages agree on everything shown here.</p>}
    </main>
  );
}

/** Who last changed a cell's resource, and when, as far as the history read reaches. */
function LastChange({ last }: { last: ChangeEvent | null }) {
  if (!last) return null;
  return (
    <div class="muted cell-changed" data-testid="cell-changed" title={changeLine(last)}>
      {TOOL_LABEL[last.tool]}, {last.at.slice(5, 10)}
    </div>
  );
}
