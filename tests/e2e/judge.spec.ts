import http from "node:http";
import type { AddressInfo } from "node:net";
import { expect, test } from "@playwright/test";
import { app, asLabeler, createUser, expectAccessible, signIn } from "./support.ts";

/**
 * A labeler reveals the model judge's suggestion (issue 16 item 1, decision 0035), and the page
 * records it. The judge model is outside the machine: a local OpenAI-compatible stand-in that
 * prefers the answer with the higher "score:N".
 */
let judge: http.Server;
let judgeUrl = "";
test.beforeAll(async () => {
  judge = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      const prompt = (JSON.parse(raw) as { messages: Array<{ content: string }> }).messages.at(-1)!.content;
      const scores = [...prompt.matchAll(/\[Answer [A-Z]\]\n[^\n]*score:(\d+)/g)].map((m) => Number(m[1]));
      const content = scores[0]! > scores[1]! ? "A" : "B";
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }] }));
    });
  });
  await new Promise<void>((resolve) => judge.listen(0, "127.0.0.1", resolve));
  judgeUrl = `http://127.0.0.1:${(judge.address() as AddressInfo).port}/v1`;
});
test.afterAll(() => new Promise<void>((resolve) => judge.close(() => resolve())));

test("a labeler reveals the judge's suggestion; the reveal is recorded and survives a reload", async ({ page, browser }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  const post = (path: string, data: unknown, method = "POST") => page.request.fetch(`${url}${path}`, { method, data, headers: { origin: url } });
  const created = await post("/api/v1/projects", { access: "open", name: `Judged ${Date.now()}`, settings: { k: 3, overlap: { rank: 1 }, goldRate: 0 } });
  expect(created.status(), await created.text()).toBe(201);
  const project = (await created.json()) as { id: string; name: string };
  const endpoint = await post(`/api/v1/projects/${project.id}/external-endpoints`, { name: "stand-in judge", baseUrl: judgeUrl, model: "judge", timeoutMs: 5000, maxRetries: 0 });
  expect(endpoint.status(), await endpoint.text()).toBe(201);
  const endpointId = ((await endpoint.json()) as { id: string }).id;
  const imported = await post(`/api/v1/projects/${project.id}/imports`, {
    content: JSON.stringify({ prompt: "Which planet is largest?", completions: ["Mars, score:1", "Jupiter, score:3", "Venus, score:2"] }),
    commit: true,
  });
  expect(imported.status(), await imported.text()).toBe(200);
  const settings = ((await (await page.request.get(`${url}/api/v1/projects/${project.id}`)).json()) as { settings: Record<string, unknown> }).settings;
  const put = await post(`/api/v1/projects/${project.id}`, { name: project.name, settings: { ...settings, judge: { source: { kind: "endpoint", endpointId }, suggestions: "shown", withheldShare: 0 } } }, "PUT");
  expect(put.status(), await put.text()).toBe(200);
  await expect
    .poll(async () => ((await (await page.request.get(`${url}/api/v1/projects/${project.id}/quality`)).json()) as { judge: { status: { done: number } } }).judge.status.done, { timeout: 30_000 })
    .toBe(1);

  const labelerEmail = `judged-${Date.now()}@example.test`;
  await createUser(page, "Judged Labeler", labelerEmail, "labeler");
  const labeler = await asLabeler(browser, labelerEmail);
  const lp = labeler.page;
  await lp.goto(`${url}/projects/${project.id}`);
  await lp.getByRole("button", { name: "Start labeling" }).click();
  await expect(lp.getByRole("heading", { level: 1, name: "Rank the completions" })).toBeVisible();
  await lp.locator('html[data-socket="connected"]').waitFor();
  const assignmentId = lp.url().split("/").pop()!;
  // Nothing of the verdict is on the page until it is asked for.
  await expect(lp.getByTestId("suggestion")).toHaveCount(0);
  await expectAccessible(lp);
  await lp.getByRole("button", { name: "Reveal the model judge's suggestion" }).click();
  const letter = async (word: string) => (await lp.locator('[data-testid^="completion-"]', { hasText: word }).getAttribute("data-testid"))!.replace("completion-", "");
  const expected = `${await letter("Jupiter")} > ${await letter("Venus")} > ${await letter("Mars")}`;
  await expect(lp.getByTestId("suggestion")).toContainText(`The model judge suggests: ${expected}`);

  // Recorded on the server: the assignment knows, and a reload shows the revealed suggestion at once.
  const view = (await (await lp.request.get(`${url}/api/v1/assignments/${assignmentId}`)).json()) as { suggestion: { state: string; revealed: string[][] | null } };
  expect(view.suggestion.state).toBe("available");
  expect(view.suggestion.revealed?.map((t) => t.join(" = ")).join(" > ")).toBe(expected);
  await lp.reload();
  await expect(lp.getByTestId("suggestion")).toContainText(expected);
  await labeler.close();
});
