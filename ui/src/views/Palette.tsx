// The command palette (Ctrl+K): views, actions, resources and findings, by typing.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Analysis } from "../generated/Analysis";
import type { Node } from "../generated/Node";
import { findNodes } from "../ipc";

export interface PaletteItem {
  label: string;
  hint: string;
  run: () => void;
}

interface Props {
  actions: PaletteItem[];
  analysis: Analysis | null;
  onResource: (id: string) => void;
  onClose: () => void;
}

export function Palette({ actions, analysis, onResource, onClose }: Props) {
  const [q, setQ] = useState("");
  const [i, setI] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  // Resources come from the core, which holds every stage's; the window holds none of them.
  const [found, setFound] = useState<Node[]>([]);
  useEffect(() => {
    const t = q.trim();
    if (t.length < 2 || !analysis) {
      setFound([]);
      return;
    }
    let current = true;
    findNodes(t, null, 15)
      .then((ns) => {
        if (current) setFound(ns);
      })
      .catch(() => {
        if (current) setFound([]);
      });
    return () => {
      current = false;
    };
  }, [q, analysis]);
  const items = useMemo<PaletteItem[]>(() => {
    const t = q.trim().toLowerCase();
    const acts = actions.filter((a) => !t || a.label.toLowerCase().includes(t));
    const res = found.map((n) => ({
      label: n.name,
      hint: `${n.type.replace(/^AWS::/, "")} · ${n.stage ?? "no stage"} · ${n.owner}`,
      run: () => onResource(n.id),
    }));
    return [...acts, ...res];
  }, [q, actions, found]);
  const pick = (k: number) => {
    const it = items[k];
    if (!it) return;
    onClose();
    it.run();
  };
  return (
    <div class="palette-backdrop" onClick={onClose}>
      <div class="palette" role="dialog" aria-label="Command palette" onClick={(e) => e.stopPropagation()}>
        <input
          ref={input}
          data-testid="palette-input"
          placeholder="Go to a view, run an action, or find a resource…"
          value={q}
          onInput={(e) => {
            setQ((e.target as HTMLInputElement).value);
            setI(0);
          }}
          onKeyDown={(e) => {
            if (e.key === "Escape") onClose();
            else if (e.key === "ArrowDown") setI((x) => Math.min(items.length - 1, x + 1));
            else if (e.key === "ArrowUp") setI((x) => Math.max(0, x - 1));
            else if (e.key === "Enter") pick(i);
            else return;
            e.preventDefault();
          }}
        />
        <ul role="listbox">
          {items.map((it, k) => (
            <li key={`${it.label}-${k}`} class={k === i ? "active" : ""} onMouseEnter={() => setI(k)} onClick={() => pick(k)}>
              {it.label} <small>{it.hint}</small>
            </li>
          ))}
        </ul>
      </div>
    </div>
  );
}
