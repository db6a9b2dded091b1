// Runs the layout off the UI thread: one request in, one layout out (with how long it took).
import { layout, type LayoutRequest } from "./layout";

interface WorkerScope {
  onmessage: ((e: MessageEvent<{ seq: number; req: LayoutRequest }>) => void) | null;
  postMessage(message: unknown): void;
}

const scope = self as unknown as WorkerScope;
scope.onmessage = (e) => {
  const t0 = performance.now();
  const result = layout(e.data.req);
  scope.postMessage({ seq: e.data.seq, layout: result, ms: performance.now() - t0 });
};
