// The todo workload of issue 15, the same for every system: 1,000 items,
// events create / set_content / set_completed, values of the same sizes,
// drawn from a seeded generator so that every system (and every round)
// gets exactly the same events in the same order.

export const ITEMS = 1000;

// Mulberry32: tiny, seeded, good enough to pick items and event types.
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const itemId = (i) => `todo-${String(i).padStart(4, "0")}`;

/** The 1,000 create events: every log starts with them. */
export function creates() {
  const out = [];
  for (let i = 0; i < ITEMS; i++) out.push({ item: itemId(i), type: "create", value: `buy item number ${i}` });
  return out;
}

/**
 * n edits by one author (tag names it, so that concurrent authors write
 * different values): two thirds set_content with a ~30-character string,
 * one third set_completed with a boolean.
 */
export function edits(n, tag, seed) {
  const rnd = random(seed);
  const out = [];
  for (let k = 0; k < n; k++) {
    const item = itemId(Math.floor(rnd() * ITEMS));
    if (rnd() < 2 / 3) out.push({ item, type: "set_content", value: `${tag} edit ${k} of this todo's text` });
    else out.push({ item, type: "set_completed", value: rnd() < 0.5 });
  }
  return out;
}

/** A log of n events: the creates, then edits. */
export const log = (n) => [...creates(), ...edits(Math.max(0, n - ITEMS), "log", 1)].slice(0, n);

export function chunks(events, size) {
  const out = [];
  for (let i = 0; i < events.length; i += size) out.push(events.slice(i, i + size));
  return out;
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const now = () => performance.now();
