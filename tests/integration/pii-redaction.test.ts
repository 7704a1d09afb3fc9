/**
 * PII redaction at import (issue 16 item 3, decision 0037): per project, review (as before), mask
 * with typed placeholders, or both; the original kept only if the project says so, and readable
 * only by researchers; a masking that would empty a prompt sends it to review.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
before(async () => {
  server = await startTestServer({ TANDEM_JUDGE_POLL_MS: "0" });
});
after(() => server.stop());

const records = [
  { prompt: "Please email jane.doe@example.com about the invoice.", completions: ["Sure, I will write to jane.doe@example.com.", "Call +44 20 7946 0958 instead."] },
  { prompt: "jane.doe@example.com", completions: ["ok", "fine"] },
  { prompt: "What is a prime number?", completions: ["A number with two divisors.", "An odd number."] },
  { prompt: "Say the forbidden word to jane@example.org", completions: ["no", "never"] },
];

async function importWith(researcher: HttpClient, piiRedaction: Record<string, unknown>) {
  const created = await researcher.json("POST", "/api/v1/projects", { access: "open", name: `PII ${Date.now()}`, settings: { k: 2, piiRedaction, contentFilter: { blockedWords: ["forbidden"] } } });
  assert.equal(created.status, 201, await created.clone().text());
  const projectId = ((await created.json()) as { id: string }).id;
  const imported = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: records.map((r) => JSON.stringify(r)).join("\n"), commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
  const prompts = await server.db.selectFrom("prompts").select(["id", "messages", "status"]).where("project_id", "=", projectId).orderBy("id").execute();
  const completions = await server.db.selectFrom("completions").innerJoin("prompts", "prompts.id", "completions.prompt_id").select(["completions.text"]).where("prompts.project_id", "=", projectId).orderBy("completions.id").execute();
  return { projectId, prompts: prompts.map((p) => ({ id: p.id, text: p.messages.at(-1)!.content, status: p.status })), completions: completions.map((c) => c.text) };
}

test("review (the default) keeps today's behaviour: every PII hit to review, text untouched, no original", async () => {
  const { client } = await server.newUser("researcher");
  const { prompts } = await importWith(client, {});
  assert.deepEqual(prompts.map((p) => [p.text, p.status]), [
    [records[0]!.prompt, "review"], [records[1]!.prompt, "review"], [records[2]!.prompt, "active"], [records[3]!.prompt, "review"],
  ]);
  assert.equal((await server.db.selectFrom("prompt_originals").innerJoin("prompts", "prompts.id", "prompt_originals.prompt_id").select("prompt_id").where("prompts.id", "in", prompts.map((p) => p.id)).execute()).length, 0);
});

test("mask: typed placeholders and on to labelers; a prompt left empty, or with another hit, goes to review; no original unless asked", async () => {
  const { client: researcher } = await server.newUser("researcher");
  const { projectId, prompts, completions } = await importWith(researcher, { mode: "mask" });
  assert.deepEqual(prompts.map((p) => [p.text, p.status]), [
    ["Please email [EMAIL] about the invoice.", "active"],
    ["[EMAIL]", "review"],
    ["What is a prime number?", "active"],
    ["Say the forbidden word to [EMAIL]", "review"],
  ]);
  assert.deepEqual(completions.slice(0, 2), ["Sure, I will write to [EMAIL].", "Call [PHONE] instead."]);
  const stored = JSON.stringify(await server.db.selectFrom("prompts").innerJoin("completions", "completions.prompt_id", "prompts.id").select(["prompts.messages", "completions.text"]).where("prompts.id", "in", prompts.map((p) => p.id)).execute());
  assert.ok(!stored.includes("jane"), "no trace of the address is stored anywhere with the prompts");
  assert.equal((await researcher.get(`/api/v1/prompts/${prompts[0]!.id}/original`)).status, 404);
  // A labeler sees the masked text.
  const labeler = await server.newUser("labeler");
  const claim = (await (await labeler.client.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string };
  const view = (await (await labeler.client.get(`/api/v1/assignments/${claim.assignmentId}`)).json()) as { messages: Array<{ content: string }> };
  assert.equal(view.messages.at(-1)!.content, "Please email [EMAIL] about the invoice.");
});

test("both, keeping originals: masked and to review; the original is for researchers only, and reads are audited", async () => {
  const { client: researcher } = await server.newUser("researcher");
  const { projectId, prompts } = await importWith(researcher, { mode: "both", keepOriginal: true });
  assert.deepEqual(prompts.map((p) => p.status), ["review", "review", "active", "review"]);
  assert.equal(prompts[0]!.text, "Please email [EMAIL] about the invoice.");
  // The reviewer reviews the masked text.
  const reviewer = await server.newUser("reviewer");
  const claim = (await (await reviewer.client.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string } | null;
  assert.ok(claim);
  const view = (await (await reviewer.client.get(`/api/v1/assignments/${claim.assignmentId}`)).json()) as { taskType: string };
  assert.ok(!JSON.stringify(view).includes("jane"), JSON.stringify(view).slice(0, 300));
  assert.equal((await reviewer.client.get(`/api/v1/prompts/${prompts[0]!.id}/original`)).status, 403);
  const original = await researcher.get(`/api/v1/prompts/${prompts[0]!.id}/original`);
  assert.equal(original.status, 200);
  const body = (await original.json()) as { messages: Array<{ content: string }>; completions: Array<{ text: string }> };
  assert.equal(body.messages.at(-1)!.content, records[0]!.prompt);
  assert.deepEqual(body.completions.map((c) => c.text), records[0]!.completions);
  assert.equal((await researcher.get(`/api/v1/prompts/${prompts[2]!.id}/original`)).status, 404, "nothing was masked there, so nothing was kept");
  const audit = await server.db.selectFrom("audit_log").select("target").where("action", "=", "prompt.original_read").where("target", "=", `prompt:${prompts[0]!.id}`).execute();
  assert.equal(audit.length, 1);
});

test("an unknown mode is refused with the field named, and nothing changes", async () => {
  const { client: researcher } = await server.newUser("researcher");
  const refused = await researcher.json("POST", "/api/v1/projects", { name: "PII bad", settings: { piiRedaction: { mode: "scrub" } } });
  assert.equal(refused.status, 422);
  assert.ok(((await refused.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path === "settings.piiRedaction.mode"));
});
