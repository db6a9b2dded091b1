import { useEffect, useState } from "preact/hooks";

/** Re-renders every `ms` so relative times stay true. */
export function useNow(ms: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return now;
}

export function timeAgo(at: number, now: number): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  return `${Math.round(h / 24)} d ago`;
}

/** "6 d 22 h 13 m" until `date`, or "any moment now". */
export function countdown(date: string, now: number): string {
  const s = Math.floor((Date.parse(date) - now) / 1000);
  if (Number.isNaN(s)) return "unknown";
  if (s <= 0) return "any moment now";
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d} d ${h} h ${m} m`;
  if (h > 0) return `${h} h ${m} m ${sec} s`;
  return `${m} m ${sec} s`;
}
