// The picture of a replica's DAG: events as nodes, by clock from left to
// right, one lane per author; parent edges; heads ringed.
import { svg, short, show } from "./dom.js";

const step = 46;
const lane = 34;

/**
 * @param {{id: string, peer: string, clock: number, type: string, value: any, item: string}[]} events in replay order
 * @param {{parent_id: string, event_id: string}[]} edges
 * @param {Set<string>} heads
 * @param {(peer: string) => {color: string, name: string}} peerStyle
 */
export function dagSVG(events, edges, heads, peerStyle) {
  const lanes = new Map();
  for (const e of events) if (!lanes.has(e.peer)) lanes.set(e.peer, lanes.size);
  const pos = new Map();
  const perClock = new Map();
  for (const e of events) {
    const k = `${e.clock}/${lanes.get(e.peer)}`;
    const n = perClock.get(k) || 0; // an author's concurrent events (equivocation) would overlap; never happens
    perClock.set(k, n + 1);
    pos.set(e.id, { x: 24 + (e.clock - 1) * step + n * 8, y: 20 + lanes.get(e.peer) * lane });
  }
  const maxClock = events.reduce((m, e) => Math.max(m, e.clock), 1);
  const width = 48 + (maxClock - 1) * step;
  const height = 24 + Math.max(lanes.size, 1) * lane;
  const lines = edges
    .filter((d) => pos.has(d.parent_id) && pos.has(d.event_id))
    .map((d) => {
      const a = pos.get(d.parent_id);
      const b = pos.get(d.event_id);
      return svg("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: "edge" });
    });
  const nodes = events.map((e) => {
    const { x, y } = pos.get(e.id);
    const p = peerStyle(e.peer);
    return svg(
      "g",
      { class: heads.has(e.id) ? "node head" : "node", transform: `translate(${x},${y})` },
      svg("title", {}, `${e.type} ${show(e.value)} on ${e.item}\nby ${p.name}, clock ${e.clock}\n${short(e.id, 16)}`),
      heads.has(e.id) ? svg("circle", { r: 13, class: "ring", stroke: p.color }) : null,
      svg("circle", { r: 9, fill: p.color }),
      svg("text", { y: 3.5 }, abbrev(e.type)),
    );
  });
  return svg("svg", { class: "dag", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `DAG of ${events.length} events, ${heads.size} heads` }, lines, nodes);
}

function abbrev(type) {
  return { create: "+", set_content: "✎", set_completed: "✓" }[type] || type[0];
}
