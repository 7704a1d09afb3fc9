/**
 * The quality dashboard as JSON (issue 14, item 6): GET /api/v1/projects/:id/quality gives the
 * numbers the page shows, for reviewers and up, documented in the OpenAPI document.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { qualityReport } from "../../server/labeling/quality-report.server.ts";
import { takeTask } from "../support/take-task.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.stop());

type Report = Awaited<ReturnType<typeof qualityReport>>;

/** The text of the element with this data-testid on a server-rendered page. */
function testId(html: string, id: string): string {
  const match = new RegExp(`data-testid="${id}"[^>]*>([^<]*)<`).exec(html);
  assert.ok(match, `the page has ${id}`);
  return match[1]!;
}

test("GET /projects/:id/quality: the page's numbers as JSON, per labeler too", async () => {
  const researcher = await server.newUser("researcher");
  const created = await researcher.client.json("POST", "/api/v1/projects", { name: "Quality JSON", settings: { k: 3, overlap: { rank: 3 } } });
  assert.equal(created.status, 201, await created.clone().text());
  const projectId = ((await created.json()) as { id: string }).id;
  const content = [
    { prompt: "Capital of France?", completions: ["Paris", "Lyon", "Nice"] },
    { prompt: "2 + 2?", completions: ["4", "5", "22"] },
  ]
    .map((record) => JSON.stringify(record))
    .join("\n");
  assert.equal((await researcher.client.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true })).status, 200);

  // Three labelers rank both items; the third reverses the others on the first item.
  const best = { "Capital of France?": ["Paris", "Lyon", "Nice"], "2 + 2?": ["4", "22", "5"] } as Record<string, string[]>;
  const labelers = [await server.newMember(projectId, "labeler"), await server.newMember(projectId, "labeler"), await server.newMember(projectId, "labeler")];
  for (const [i, labeler] of labelers.entries()) {
    for (let n = 0; n < 2; n++) {
      const view = await takeTask(labeler.client, projectId);
      assert.ok(view);
      const prompt = view.messages[0]!.content;
      const order = i === 2 && prompt.startsWith("Capital") ? [...best[prompt]!].reverse() : best[prompt]!;
      const byText = Object.fromEntries(view.completions.map((c) => [c.text, c.id]));
      const submitted = await labeler.client.json("POST", `/api/v1/assignments/${view.assignmentId}/submit`, {
        idempotencyKey: `quality-${view.assignmentId}`,
        payload: { ranking: { tiers: order.map((text) => [byText[text]]) } },
      });
      assert.equal(submitted.status, 200, await submitted.clone().text());
    }
  }

  const reviewer = await server.newMember(projectId, "reviewer");
  const response = await reviewer.client.get(`/api/v1/projects/${projectId}/quality`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /application\/json/);
  const report = (await response.json()) as Report;
  // The same computation as the page's loader.
  assert.deepEqual(report, JSON.parse(JSON.stringify(await qualityReport(server.db, projectId))));
  assert.equal(report.project.overlappingItems, 2);
  assert.equal(report.project.pairwise.compared, 2 * 3 * 3, "two items × three labeler pairs × three completion pairs");
  assert.equal(report.project.pairwise.agreed, 3 + 9, "item 1: only the first two labelers agree (3 pairs); item 2: all three pairs agree (9)");
  assert.ok(report.project.alpha.alpha !== null && report.project.alpha.alpha < 1);
  assert.equal(report.labelers.length, 3);
  const third = report.labelers.find((l) => l.labelerId === labelers[2]!.id)!;
  const first = report.labelers.find((l) => l.labelerId === labelers[0]!.id)!;
  assert.ok(third.vsConsensus.rate! < first.vsConsensus.rate!, "the dissenter agrees less with the consensus");
  assert.equal(first.bias.position.submissions, 2);
  assert.ok(typeof first.name === "string" && first.name.length > 0);

  // What the page shows, figure by figure.
  const page = await reviewer.client.get(`/projects/${projectId}/quality`, { accept: "text/html" });
  const html = await page.text();
  assert.equal(testId(html, "overlapping-items"), String(report.project.overlappingItems));
  assert.equal(testId(html, "pairwise-agreement"), `${(report.project.pairwise.rate! * 100).toFixed(1)} %`);
  assert.equal(testId(html, "kendall"), report.project.kendall.meanTau!.toFixed(3));
  assert.equal(testId(html, "alpha"), report.project.alpha.alpha!.toFixed(3));
});

test("GET /projects/:id/quality: labelers are refused, unknown projects are 404, bad ids 422", async () => {
  const labeler = await server.newUser("labeler");
  const researcher = await server.newUser("researcher");
  const projectId = ((await (await researcher.client.json("POST", "/api/v1/projects", { name: "Quality refusals" })).json()) as { id: string }).id;
  const refused = await labeler.client.get(`/api/v1/projects/${projectId}/quality`);
  assert.equal(refused.status, 403);
  assert.equal(((await refused.json()) as { code: string }).code, "forbidden");
  const missing = await researcher.client.get("/api/v1/projects/999999999/quality");
  assert.equal(missing.status, 404);
  const bad = await researcher.client.get("/api/v1/projects/abc/quality");
  assert.equal(bad.status, 422);
  const problem = (await bad.json()) as { errors: Array<{ path: string }> };
  assert.deepEqual(problem.errors.map((e) => e.path), ["id"]);
  // An empty project has a report with nothing in it, not an error.
  const empty = (await (await researcher.client.get(`/api/v1/projects/${projectId}/quality`)).json()) as Report;
  assert.equal(empty.project.overlappingItems, 0);
  assert.equal(empty.project.pairwise.rate, null);
  assert.deepEqual(empty.labelers, []);
});

test("the OpenAPI document describes the quality report", async () => {
  const doc = (await (await server.client().get("/api/v1/openapi.json")).json()) as {
    paths: Record<string, Record<string, { operationId?: string; responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> }>>;
    components: { schemas: Record<string, { properties: Record<string, unknown> }> };
  };
  const operation = doc.paths["/api/v1/projects/{id}/quality"]?.get;
  assert.ok(operation, "GET /api/v1/projects/{id}/quality is documented");
  assert.equal(operation.responses["200"]!.content!["application/json"]!.schema.$ref, "#/components/schemas/QualityReport");
  assert.deepEqual(Object.keys(doc.components.schemas.QualityReport!.properties).sort(), ["judge", "labelers", "project"]);
});
