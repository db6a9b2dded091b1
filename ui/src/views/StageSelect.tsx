// The stage picker of the Deletions, Findings and Deploy toolbars.

interface Props {
  stages: string[];
  value: string;
  onChange: (stage: string) => void;
  /** Offer "all stages" (the empty value) first. */
  all?: boolean;
  disabled?: boolean;
  testid?: string;
}

export function StageSelect({ stages, value, onChange, all = false, disabled = false, testid }: Props) {
  return (
    <label>
      Stage{" "}
      <select
        data-testid={testid}
        value={value}
        disabled={disabled}
        onChange={(e) => onChange((e.target as HTMLSelectElement).value)}
      >
        {all && <option value="">all stages</option>}
        {stages.map((s) => (
          <option key={s} value={s}>
            {s}
          </option>
        ))}
      </select>
    </label>
  );
}
