// Runs the layout off the UI thread: one request in, the layout out (with how long it took), then
// its quality at Fit for the screen it was asked for (measured after, so it never delays the picture).
import { layout, type LayoutRequest } from "./layout";
import { quality } from "./quality";

interface WorkerScope {
  onmessage: ((e: MessageEvent<{ seq: number; req: LayoutRequest }>) => void) | null;
  postMessage(message: unknown): void;
}

const scope = self as unknown as WorkerScope;
let newest = 0;
scope.onmessage = (e) => {
  newest = e.data.seq;
  const t0 = performance.now();
  const result = layout(e.data.req);
  scope.postMessage({ seq: e.data.seq, layout: result, ms: performance.now() - t0 });
  // Measured in a later task, and only if no newer request came in meanwhile: a second of
  // measuring a 5,000-node layout must not hold up the next picture.
  setTimeout(() => {
    if (e.data.seq !== newest) return;
    const [w, h] = e.data.req.screen ?? [920, 700];
    scope.postMessage({ seq: e.data.seq, quality: { ...quality(result, w, h), stages: result.stages.length, open: result.boxes.length } });
  }, 0);
};
