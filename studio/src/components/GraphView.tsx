// Draws a graph from GET /assistants/{id}/graph: a small layered (Sugiyama-style) layout in SVG.
// Layers are longest paths from the start node with back edges set aside, the order inside a
// layer is improved by a few barycenter sweeps, and subgraph nodes (xray ids "child:inner") are
// boxed together.
import { useMemo } from "react";

export interface GraphNode {
  id: string | number;
  type?: string;
  data?: unknown;
}
export interface GraphEdge {
  source: string | number;
  target: string | number;
  conditional?: boolean;
  data?: unknown;
}
export interface GraphJson {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

const NODE_H = 34;
const LAYER_GAP = 64;
const NODE_GAP = 28;
const MARGIN = 24;
const CHAR_W = 7.4;

interface Placed {
  id: string;
  label: string;
  layer: number;
  x: number; // center
  y: number; // top
  w: number;
  terminal: boolean;
}

function labelOf(node: GraphNode): string {
  const data = node.data as { name?: unknown } | string | undefined;
  if (typeof data === "string" && data) return data;
  if (data && typeof data === "object" && typeof data.name === "string") return data.name;
  return String(node.id);
}

export function layout(graph: GraphJson) {
  const ids = graph.nodes.map((n) => String(n.id));
  const known = new Set(ids);
  const edges = graph.edges
    .map((e) => ({ source: String(e.source), target: String(e.target), conditional: !!e.conditional, label: typeof e.data === "string" ? e.data : "" }))
    .filter((e) => known.has(e.source) && known.has(e.target));
  const out = new Map<string, string[]>(ids.map((id) => [id, []]));
  const inDegree = new Map<string, number>(ids.map((id) => [id, 0]));
  for (const e of edges) {
    out.get(e.source)!.push(e.target);
    inDegree.set(e.target, (inDegree.get(e.target) ?? 0) + 1);
  }
  // Depth-first from the roots (the start node first) to find back edges.
  const roots = [
    ...ids.filter((id) => id === "__start__"),
    ...ids.filter((id) => id !== "__start__" && inDegree.get(id) === 0),
    ...ids,
  ];
  const state = new Map<string, 0 | 1 | 2>();
  const order: string[] = [];
  const back = new Set<string>();
  const visit = (id: string) => {
    state.set(id, 1);
    order.push(id);
    for (const next of out.get(id) ?? []) {
      const s = state.get(next) ?? 0;
      if (s === 1) back.add(`${id}->${next}`);
      else if (s === 0) visit(next);
    }
    state.set(id, 2);
  };
  for (const root of roots) if (!state.get(root)) visit(root);
  const forward = edges.filter((e) => !back.has(`${e.source}->${e.target}`) && e.source !== e.target);
  // Longest path layering over the forward edges, in topological order.
  const layer = new Map<string, number>(ids.map((id) => [id, 0]));
  const indeg = new Map<string, number>(ids.map((id) => [id, 0]));
  for (const e of forward) indeg.set(e.target, indeg.get(e.target)! + 1);
  const queue = order.filter((id) => indeg.get(id) === 0);
  while (queue.length) {
    const id = queue.shift()!;
    for (const e of forward) {
      if (e.source !== id) continue;
      layer.set(e.target, Math.max(layer.get(e.target)!, layer.get(id)! + 1));
      indeg.set(e.target, indeg.get(e.target)! - 1);
      if (indeg.get(e.target) === 0) queue.push(e.target);
    }
  }
  const maxLayer = Math.max(0, ...layer.values());
  if (known.has("__end__")) layer.set("__end__", Math.max(maxLayer, layer.get("__end__")!));
  const layers: string[][] = [];
  for (const id of order) (layers[layer.get(id)!] ??= []).push(id);
  for (let i = 0; i < layers.length; i++) layers[i] ??= [];
  // Barycenter sweeps, down then up.
  const position = () => new Map(layers.flatMap((ids) => ids.map((id, i) => [id, i] as const)));
  for (let sweep = 0; sweep < 4; sweep++) {
    const pos = position();
    const down = sweep % 2 === 0;
    for (let l = down ? 1 : layers.length - 2; down ? l < layers.length : l >= 0; l += down ? 1 : -1) {
      const bary = new Map<string, number>();
      for (const id of layers[l]) {
        const neighbours = forward
          .filter((e) => (down ? e.target === id : e.source === id))
          .map((e) => pos.get(down ? e.source : e.target)!)
          .filter((p) => p !== undefined);
        bary.set(id, neighbours.length ? neighbours.reduce((a, b) => a + b, 0) / neighbours.length : pos.get(id)!);
      }
      layers[l].sort((a, b) => bary.get(a)! - bary.get(b)!);
      layers[l].forEach((id, i) => pos.set(id, i));
    }
  }
  const byId = new Map(graph.nodes.map((n) => [String(n.id), n]));
  const placed = new Map<string, Placed>();
  const widths = layers.map((ids) =>
    ids.reduce((sum, id) => sum + nodeWidth(labelOf(byId.get(id)!)), 0) + Math.max(0, ids.length - 1) * NODE_GAP,
  );
  const width = Math.max(160, ...widths) + MARGIN * 2;
  layers.forEach((ids, l) => {
    let x = (width - widths[l]) / 2;
    for (const id of ids) {
      const label = labelOf(byId.get(id)!);
      const w = nodeWidth(label);
      placed.set(id, { id, label, layer: l, x: x + w / 2, y: MARGIN + l * (NODE_H + LAYER_GAP), w, terminal: id === "__start__" || id === "__end__" });
      x += w + NODE_GAP;
    }
  });
  const height = MARGIN * 2 + layers.length * NODE_H + Math.max(0, layers.length - 1) * LAYER_GAP;
  // Subgraph boxes: nodes whose ids share a "name:" prefix.
  const groups = new Map<string, Placed[]>();
  for (const p of placed.values()) {
    const cut = p.id.lastIndexOf(":");
    if (cut > 0) {
      const prefix = p.id.slice(0, cut);
      groups.set(prefix, [...(groups.get(prefix) ?? []), p]);
    }
  }
  const clusters = [...groups.entries()].map(([name, members]) => ({
    name,
    x0: Math.min(...members.map((m) => m.x - m.w / 2)) - 12,
    x1: Math.max(...members.map((m) => m.x + m.w / 2)) + 12,
    y0: Math.min(...members.map((m) => m.y)) - 20,
    y1: Math.max(...members.map((m) => m.y + NODE_H)) + 10,
  }));
  const drawn = edges.map((e) => ({ ...e, back: back.has(`${e.source}->${e.target}`) || e.source === e.target }));
  return { nodes: [...placed.values()], edges: drawn, clusters, width, height, placed };
}

function nodeWidth(label: string): number {
  return Math.max(72, Math.round(label.length * CHAR_W + 28));
}

function edgePath(a: Placed, b: Placed, back: boolean, width: number): string {
  if (back) {
    // Loop around on the right: out of the source's right side, into the target's right side.
    const x1 = a.x + a.w / 2;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x + b.w / 2;
    const y2 = b.y + NODE_H / 2;
    const bend = Math.min(width - 6, Math.max(x1, x2) + 40);
    return `M${x1},${y1} C${bend},${y1} ${bend},${y2} ${x2 + 6},${y2}`;
  }
  const x1 = a.x;
  const y1 = a.y + NODE_H;
  const x2 = b.x;
  const y2 = b.y - 6;
  const dy = Math.max(24, (y2 - y1) / 2);
  return `M${x1},${y1} C${x1},${y1 + dy} ${x2},${y2 - dy} ${x2},${y2}`;
}

export function GraphView({ graph }: { graph: GraphJson }) {
  const drawn = useMemo(() => layout(graph), [graph]);
  const { nodes, edges, clusters, width, height, placed } = drawn;
  return (
    <div className="graph-view">
      <svg
        data-testid="graph-svg"
        viewBox={`0 0 ${width + 30} ${height}`}
        width={width + 30}
        height={height}
        role="img"
        aria-label="graph"
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" className="arrow-head" />
          </marker>
        </defs>
        {clusters.map((c) => (
          <g key={c.name} className="cluster" data-testid="graph-cluster" data-cluster={c.name}>
            <rect x={c.x0} y={c.y0} width={c.x1 - c.x0} height={c.y1 - c.y0} rx={10} />
            <text x={c.x0 + 8} y={c.y0 + 13}>
              {c.name}
            </text>
          </g>
        ))}
        {edges.map((e, i) => {
          const a = placed.get(e.source)!;
          const b = placed.get(e.target)!;
          return (
            <g key={i} className={`edge${e.conditional ? " conditional" : ""}`} data-testid="graph-edge" data-source={e.source} data-target={e.target}>
              <path d={edgePath(a, b, e.back, width + 28)} markerEnd="url(#arrow)" />
              {e.label && (
                <text x={(a.x + b.x) / 2 + 6} y={(a.y + NODE_H + b.y) / 2}>
                  {e.label}
                </text>
              )}
            </g>
          );
        })}
        {nodes.map((n) => (
          <g key={n.id} className={n.terminal ? "node terminal" : "node"} data-testid="graph-node" data-node-id={n.id}>
            <rect x={n.x - n.w / 2} y={n.y} width={n.w} height={NODE_H} rx={n.terminal ? NODE_H / 2 : 8} />
            <text x={n.x} y={n.y + NODE_H / 2 + 4} textAnchor="middle">
              {n.label}
            </text>
          </g>
        ))}
      </svg>
    </div>
  );
}
