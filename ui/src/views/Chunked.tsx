// Long lists drawn a chunk at a time: only the chunks near the viewport are in the document; the
// others are placeholders of their measured (or estimated) height, so the scrollbar stays true.
// Rows may differ in height and a chunk may be a grid or a table body.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

/** Chunks drawn before anything is measured (a short list is drawn whole). */
const EAGER = 2;
/** How far outside the viewport a chunk is already drawn. */
const MARGIN = "1200px 0px";

interface Props<T> {
  items: T[];
  /** Items per chunk. */
  size: number;
  /** The height of one item before a chunk of them has been measured (px). */
  estimate: number;
  /** Draws one chunk's items; `key` identifies the chunk. */
  render: (items: T[], first: number) => ComponentChildren;
  /** What wraps each chunk: a `div` (default) or a `tbody` inside a table. */
  as?: "div" | "tbody";
  class?: string;
  /** An item that must be drawn (one about to be scrolled to), by its index. */
  reveal?: number | null;
}

export function Chunked<T>({ items, size, estimate, render, as = "div", class: cls, reveal }: Props<T>) {
  const chunks = Math.ceil(items.length / size);
  const [shown, setShown] = useState<Set<number>>(() => new Set(Array.from({ length: Math.min(EAGER, chunks) }, (_, i) => i)));
  const heights = useRef(new Map<number, number>());
  const refs = useRef<(HTMLElement | null)[]>([]);

  useEffect(() => {
    const observer = new IntersectionObserver(
      (entries) => {
        setShown((before) => {
          let next: Set<number> | null = null;
          for (const e of entries) {
            const i = Number((e.target as HTMLElement).dataset.chunk);
            const el = e.target as HTMLElement;
            if (e.isIntersecting && !before.has(i)) (next ??= new Set(before)).add(i);
            if (!e.isIntersecting && before.has(i) && i >= EAGER) {
              heights.current.set(i, el.getBoundingClientRect().height);
              (next ??= new Set(before)).delete(i);
            }
          }
          return next ?? before;
        });
      },
      { rootMargin: MARGIN },
    );
    for (const el of refs.current.slice(0, chunks)) if (el) observer.observe(el);
    return () => observer.disconnect();
  }, [chunks]);

  const revealed = reveal != null && reveal >= 0 ? Math.floor(reveal / size) : null;
  useEffect(() => {
    if (revealed !== null && revealed < chunks) setShown((before) => (before.has(revealed) ? before : new Set(before).add(revealed)));
  }, [revealed, chunks]);

  const Tag = as;
  const out = [];
  for (let i = 0; i < chunks; i++) {
    const first = i * size;
    const slice = items.slice(first, first + size);
    const ref = (el: HTMLElement | null) => {
      refs.current[i] = el;
    };
    if (shown.has(i)) {
      out.push(
        <Tag key={i} ref={ref} data-chunk={i} class={cls}>
          {render(slice, first)}
        </Tag>,
      );
    } else {
      const h = heights.current.get(i) ?? slice.length * estimate;
      out.push(
        as === "tbody" ? (
          <tbody key={i} ref={ref} data-chunk={i} data-placeholder="">
            <tr style={{ height: `${h}px` }} />
          </tbody>
        ) : (
          <div key={i} ref={ref} data-chunk={i} data-placeholder="" style={{ height: `${h}px` }} />
        ),
      );
    }
  }
  return <>{out}</>;
}
