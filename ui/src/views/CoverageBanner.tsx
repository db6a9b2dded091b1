// What the last scan did not see, above every view: no Terraform state found, a region in use left
// out, accounts or collectors that failed. A picture built on missing data says so.

import { useState } from "preact/hooks";
import type { ScanReport } from "../generated/ScanReport";

export function CoverageBanner({ report }: { report: ScanReport | null }) {
  const [open, setOpen] = useState(false);
  const c = report?.coverage;
  if (!report || !c || !c.partial) return null;
  const lines: string[] = [];
  if (report.terraform.length === 0) {
    lines.push(
      `No Terraform state found (${c.state.buckets_probed} bucket(s) searched in ${c.state.accounts_searched} account(s)): ` +
        "what Terraform owns shows as unmanaged. Name the backend in stagecraft.toml if it lives elsewhere.",
    );
  }
  for (const l of c.left_out) {
    lines.push(`Region ${l.region} of account ${l.account_id ?? "?"} was not scanned: ${l.why}.`);
  }
  const failed = report.accounts.filter((a) => a.status === "error" || a.status === "partial").length;
  if (failed > 0) lines.push(`${failed} account(s) were scanned partly or not at all: see their cards.`);
  const others = c.skipped.filter((s) => !s.startsWith("no Terraform state") && !s.startsWith("account "));
  lines.push(...others);
  const regions = [...new Set(c.accounts.flatMap((a) => a.regions))];
  return (
    <div class="banner warn" role="status" data-testid="coverage-banner">
      <strong>This picture is partial.</strong> {lines[0] ?? c.skipped[0] ?? "Some of the organization was not seen."}
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
