// The window's side of the layout worker: the latest request wins, older answers are dropped.
import type { Layout, LayoutRequest } from "./layout";
import type { Quality } from "./quality";

let worker: Worker | null = null;
let seq = 0;
export interface LayoutAnswer {
  layout: Layout;
  ms: number;
  /** Still the newest request: an older answer arriving late must not replace a newer picture. */
  latest: boolean;
}

/** A layout's quality at Fit, with how many stages and open clusters it shows. */
export type PublishedQuality = Quality & { stages: number; open: number };

const waiting = new Map<number, { done: (r: LayoutAnswer) => void; quality?: (q: PublishedQuality) => void }>();

type Answer = { seq: number; layout: Layout; ms: number } | { seq: number; quality: PublishedQuality };

export function layoutInWorker(req: LayoutRequest, onQuality?: (q: PublishedQuality) => void): Promise<LayoutAnswer> {
  if (!worker) {
    worker = new Worker(new URL("./layout.worker.ts", import.meta.url), { type: "module" });
    worker.onmessage = (e: MessageEvent<Answer>) => {
      const w = waiting.get(e.data.seq);
      if ("quality" in e.data) {
        waiting.delete(e.data.seq);
        if (e.data.seq === seq) w?.quality?.(e.data.quality);
        return;
      }
      w?.done({ layout: e.data.layout, ms: e.data.ms, latest: e.data.seq === seq });
      // Older requests' quality is never measured once a newer layout is out.
      for (const k of waiting.keys()) if (k < e.data.seq) waiting.delete(k);
    };
  }
  const id = ++seq;
  return new Promise((resolve) => {
    waiting.set(id, { done: resolve, quality: onQuality });
    worker?.postMessage({ seq: id, req });
  });
}
