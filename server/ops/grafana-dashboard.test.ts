// The Grafana dashboard in docs/ may only query metrics this server registers, so renaming a
// metric without updating the dashboard (or the reverse) fails here rather than in someone's Grafana.
import assert from "node:assert/strict";
import fs from "node:fs";
import { test } from "node:test";
import pino from "pino";
import type pg from "pg";
import type { Db } from "../db/database.server.ts";
import { createMetrics } from "../http/metrics.server.ts";
import { registerOpsMetrics } from "./ops-metrics.server.ts";

type Panel = { type: string; title: string; datasource?: { uid?: string }; targets?: Array<{ expr: string; datasource?: { uid?: string } }>; panels?: Panel[] };
const dashboard = JSON.parse(fs.readFileSync(new URL("../../docs/grafana/tandem-dashboard.json", import.meta.url), "utf8")) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
};

/** Every series name the server exposes: metric names, plus _bucket/_sum/_count of histograms and summaries. */
function registeredSeries(): Set<string> {
  const metrics = createMetrics();
  // Registration only: collect() (which reads the database) never runs in this test.
  registerOpsMetrics(metrics.registry, { db: {} as Db, pool: {} as pg.Pool, log: pino({ level: "silent" }), agreementRefreshSeconds: 60 });
  const names = new Set<string>();
  for (const metric of metrics.registry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: string };
    names.add(name);
    if (type === "histogram" || type === "summary") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
  }
  return names;
}

const panels = (list: Panel[]): Panel[] => list.flatMap((p) => [p, ...panels(p.panels ?? [])]);

test("every dashboard query references only metrics the server registers", () => {
  const known = registeredSeries();
  const queries = panels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
  assert.ok(queries.length >= 15, `only ${queries.length} queries`);
  const used = new Set<string>();
  for (const { panel, expr } of queries) {
    const names = expr.match(/\btandem_[a-z0-9_]+/g) ?? [];
    assert.ok(names.length > 0, `${panel}: "${expr}" queries no tandem_ metric`);
    for (const name of names) {
      assert.ok(known.has(name), `${panel}: ${name} is not a metric the server registers`);
      used.add(name);
    }
  }
  // The five areas each have a panel.
  for (const name of ["tandem_queue_open_tasks", "tandem_submissions_total", "tandem_agreement_pairwise", "tandem_jobs", "tandem_trainer_tokens_per_second"]) {
    assert.ok(used.has(name), `no panel shows ${name}`);
  }
});

test("the dashboard imports anywhere: a Prometheus datasource variable used by every panel", () => {
  const variable = dashboard.templating.list.find((v) => v.type === "datasource");
  assert.ok(variable, "no datasource variable");
  assert.equal(variable.query, "prometheus");
  for (const panel of panels(dashboard.panels).filter((p) => p.type !== "row")) {
    assert.equal(panel.datasource?.uid, `\${${variable.name}}`, `${panel.title} has a fixed datasource`);
    for (const target of panel.targets ?? []) assert.equal(target.datasource?.uid, `\${${variable.name}}`, panel.title);
  }
  assert.ok(dashboard.uid && dashboard.title);
});
