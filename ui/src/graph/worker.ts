// The window's side of the layout worker: the latest request wins, older answers are dropped.
import type { Layout, LayoutRequest } from "./layout";

let worker: Worker | null = null;
let seq = 0;
export interface LayoutAnswer {
  layout: Layout;
  ms: number;
  /** Still the newest request: an older answer arriving late must not replace a newer picture. */
  latest: boolean;
}

const waiting = new Map<number, (r: LayoutAnswer) => void>();

export function layoutInWorker(req: LayoutRequest): Promise<LayoutAnswer> {
  if (!worker) {
    worker = new Worker(new URL("./layout.worker.ts", import.meta.url), { type: "module" });
    worker.onmessage = (e: MessageEvent<{ seq: number; layout: Layout; ms: number }>) => {
      const done = waiting.get(e.data.seq);
      waiting.delete(e.data.seq);
      done?.({ layout: e.data.layout, ms: e.data.ms, latest: e.data.seq === seq });
    };
  }
  const id = ++seq;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    worker?.postMessage({ seq: id, req });
  });
}

