// What the last scan did not see, above every view: no Terraform state found, a region in use left
// out, accounts or collectors that failed. A picture built on missing data says so.

import { useState } from "preact/hooks";
import type { SnapshotHead } from "../ipc";

export function CoverageBanner({ report }: { report: SnapshotHead | null }) {
  const [open, setOpen] = useState(false);
  const c = report?.coverage;
  if (!report || !c || (!c.partial && !c.shard)) return null;
  const lines: string[] = [];
  if (c.no_state) {
    lines.push(`${c.no_state}. What Terraform owns shows as unmanaged.`);
  }
  for (const l of c.left_out) {
    lines.push(`Region ${l.region} of account ${l.account_id ?? "?"} was not scanned: ${l.why}.`);
  }
  lines.push(...c.skipped);
  const regions = [...new Set(c.accounts.flatMap((a) => a.regions))];
  return (
    <div class="banner warn" role="status" data-testid="coverage-banner">
      <strong>This picture is partial.</strong> {lines[0] ?? "Some of the organization was not seen."}
      {lines.length > 1 && (
        <button class="ghost" data-testid="coverage-more" onClick={() => setOpen(!open)}>
          {open ? "less" : `${lines.length - 1} more`}
        </button>
      )}
      {open && (
        <ul class="coverage-list">
          {lines.slice(1).map((l) => (
            <li key={l}>{l}</li>
          ))}
        </ul>
      )}
      <span class="muted coverage-seen">
        {" "}
        Scanned {c.accounts.length} accounts in {regions.join(", ")} ({c.region_source}).
      </span>
    </div>
  );
}
