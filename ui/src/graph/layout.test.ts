// The layout on real scans of the sandbox's two organization shapes (fixtures/: `stagecraft graph
// --format json` of the demo and the spread organization), held to the quality a reader needs: no
// edge through a box, no box on another, names legible at Fit.
import { describe, expect, it } from "vitest";
import type { GraphData } from "../generated/GraphData";
import demo from "./fixtures/demo.json";
import spread from "./fixtures/spread.json";
import { fitLabel, fitView, labelsOf } from "./labels";
import { layout, PARAM_GROUP_AT, type Layout, type LayoutRequest } from "./layout";
import { crossings, quality } from "./quality";

const graphs: [string, GraphData][] = [
  ["demo", demo as GraphData],
  ["spread", spread as GraphData],
];
// A little smaller than the graph's canvas in the app's 1280 × 800 window (920 × 700 beside the details panel).
const SCREEN = [880, 640] as const;

function view(g: GraphData, stage: string | null, more: Partial<LayoutRequest> = {}): Layout {
  const only = stage === null ? null : g.nodes.filter((n) => n.stage === stage).map((n) => n.id);
  return layout({ graph: g, only, open: [], openAll: false, stageOrder: ["dev", "qa", "prod"], aspect: SCREEN[0] / SCREEN[1], ...more });
}

describe.each(graphs)("the %s organization", (_, g) => {
  for (const stage of ["dev", "prod", null]) {
    const name = stage ?? "whole organization";
    it(`${name}: clusters, no edge through a box, no overlap`, () => {
      const lay = view(g, stage);
      const q = quality(lay, ...SCREEN);
      expect(lay.nodes.some((n) => n.kind === "cluster")).toBe(true);
      expect(lay.edges.length).toBeGreaterThan(3);
      expect(q.edgesThroughBoxes).toBe(0);
      expect(q.overlaps).toBe(0);
    });
    it(`${name}: every cluster open, still no edge through a box, no overlap`, () => {
      const all = view(g, stage);
      const lay = view(g, stage, { open: all.nodes.filter((n) => n.kind === "cluster").map((n) => n.cluster) });
      expect(lay.boxes.length).toBe(all.nodes.filter((n) => n.kind === "cluster").length);
      const q = quality(lay, ...SCREEN);
      expect(q.edgesThroughBoxes).toBe(0);
      expect(q.overlaps).toBe(0);
    });
  }
  it("a stage's titles and parameter names are whole and at least 11 px at Fit", () => {
    for (const stage of ["dev", "prod"]) {
      const q = quality(view(g, stage), ...SCREEN);
      expect(q.minTitlePx).toBeGreaterThanOrEqual(11);
      expect(q.truncatedTitles).toBe(0);
    }
  });
  it("every link of the stage is drawn, between what stands for its ends", () => {
    const lay = view(g, "prod");
    const ids = new Set(lay.nodes.map((n) => n.id));
    for (const e of lay.edges) {
      expect(ids.has(e.from) && ids.has(e.to)).toBe(true);
      expect(e.points.length).toBeGreaterThanOrEqual(8);
    }
    const inStage = new Set(g.nodes.filter((n) => n.stage === "prod").map((n) => n.id));
    const links = g.links.filter((l) => inStage.has(l.from) && inStage.has(l.to) && lay.drawnAs[l.from] !== lay.drawnAs[l.to]);
    expect(lay.edges.reduce((s, e) => s + e.count, 0)).toBe(links.length);
  });
});

describe("the demo's stage view", () => {
  it("reads Terraform → parameter → service: the parameters stand alone, written from the left, read on the right", () => {
    const lay = view(demo as GraphData, "dev");
    const param = lay.nodes.find((n) => n.label === "/db_pw_name");
    const state = lay.nodes.find((n) => n.label === "Terraform state");
    const users = lay.nodes.find((n) => n.label === "stack users-dev");
    expect(param?.kind).toBe("param");
    expect(state && param && users && state.x < param.x && param.x < users.x).toBe(true);
    const write = lay.edges.find((e) => e.kind === "ssm-write" && e.to === param?.id);
    expect(write?.from).toBe(state?.id);
  });
  it("a focus opens every cluster: resources one by one", () => {
    const lay = view(demo as GraphData, "dev", { openAll: true });
    expect(lay.nodes.some((n) => n.kind === "cluster")).toBe(false);
    expect(lay.nodes.length).toBe((demo as GraphData).nodes.filter((n) => n.stage === "dev").length);
  });
  it("text under 9 px is hidden, never drawn", () => {
    const lay = view(demo as GraphData, null);
    for (const k of [0.05, 0.2, 0.5, 1]) {
      for (const l of labelsOf(lay)) {
        const f = fitLabel(l, k);
        if (f) expect(f.px).toBeGreaterThanOrEqual(9);
      }
    }
    expect(fitView(lay, ...SCREEN).k).toBeGreaterThan(0.25);
  });
});

describe("parameters", () => {
  it("are grouped by path prefix when a stage has many", () => {
    const nodes = Array.from({ length: PARAM_GROUP_AT + 6 }, (_, i) => ({
      id: `p${i}`,
      type: "AWS::SSM::Parameter",
      name: `/${i % 3 === 0 ? "api" : "db"}/value_${i}`,
      account_id: "1",
      stage: "dev",
      owner: "terraform",
      cluster: "workspace dev",
    }));
    const lay = layout({ graph: { nodes, links: [] }, only: null, open: [], openAll: false, stageOrder: [] });
    expect(lay.nodes.map((n) => n.label).sort()).toEqual(["parameters /api/", "parameters /db/"]);
  });
});

describe("crossings", () => {
  it("counts proper crossings only, not shared ends or shared runs", () => {
    expect(crossings([[0, 5, 10, 5], [5, 0, 5, 10]])).toBe(1);
    expect(crossings([[0, 0, 10, 0], [10, 0, 10, 10]])).toBe(0);
    expect(crossings([[0, 0, 10, 0], [5, 0, 20, 0]])).toBe(0);
    expect(crossings([[0, 5, 300, 5], [250, -400, 250, 400], [0, 0, 0, 1]])).toBe(1);
  });
});

describe("links between stages", () => {
  it("go around every box, also from and to a resource listed in an open cluster", () => {
    const g = demo as GraphData;
    const from = g.nodes.find((n) => n.stage === "dev" && n.cluster === "stack orders-dev" && n.type === "AWS::Lambda::Function");
    const to = g.nodes.find((n) => n.stage === "prod" && n.cluster === "stack users-prod" && n.type === "AWS::Lambda::Function");
    expect(from && to).toBeTruthy();
    const graph: GraphData = { nodes: g.nodes, links: [...g.links, { from: from!.id, to: to!.id, kind: "invokes", evidence: "a test link" }] };
    for (const open of [[], ["dev|stack orders-dev", "prod|stack users-prod"]]) {
      const lay = layout({ graph, only: null, open, openAll: false, stageOrder: ["dev", "qa", "prod"], aspect: SCREEN[0] / SCREEN[1] });
      const q = quality(lay, ...SCREEN);
      expect(q.edgesThroughBoxes).toBe(0);
      expect(q.overlaps).toBe(0);
    }
  });
});
