/**
 * The synthetic Q&A page in a browser: refused uploads and templates keep what was typed, a run
 * from an external endpoint shows its progress, pairs and per-chunk errors.
 *
 * The endpoint is a small local HTTP server started by this test: it stands in for a hosted
 * OpenAI-compatible model outside this machine (the only thing faked) and answers with
 * deterministic Q&A JSON, or with prose for a passage that says MALFORMED.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { expect, test } from "@playwright/test";
import { app, expectAccessible, signIn } from "./support.ts";

let fake: http.Server;
let fakeUrl = "";
test.beforeAll(async () => {
  fake = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      const prompt = (JSON.parse(body) as { messages: Array<{ content: string }> }).messages.at(-1)!.content;
      const passage = /"""\n([\s\S]*?)\n"""/.exec(prompt)?.[1] ?? "";
      const content = passage.includes("MALFORMED")
        ? "I would rather not."
        : JSON.stringify([{ question: `What does "${passage.slice(0, 20)}" say?`, answer: passage }]);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }] }));
    });
  });
  await new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", resolve));
  fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
});
test.afterAll(async () => {
  fake.closeAllConnections();
  await new Promise((resolve) => fake.close(resolve));
});

test("upload documents, fix a refused template, generate Q&A from an endpoint and see the chunk errors", async ({ page }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Docs to Q&A");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("heading", { name: "Docs to Q&A" })).toBeVisible();
  const projectId = /\/projects\/(\d+)/.exec(page.url())![1]!;
  await page.getByRole("link", { name: "Synthetic Q&A from documents" }).click();
  await expect(page.getByRole("heading", { name: "Synthetic Q&A from documents" })).toBeVisible();
  await expectAccessible(page);

  // A bad line refuses the upload, naming file and line.
  const files = page.getByLabel("Files");
  await files.setInputFiles({ name: "bad.jsonl", mimeType: "application/jsonl", buffer: Buffer.from('{"title": "ok", "text": "fine"}\n{broken') });
  await page.getByRole("button", { name: "Upload" }).click();
  await expect(page.getByRole("alert")).toContainText("bad.jsonl line 2");
  const markdown = "# Tea\n\nGreen tea is steamed soon after picking.\n\n# Odd\n\nMALFORMED passage.";
  await files.setInputFiles({ name: "tea.md", mimeType: "text/markdown", buffer: Buffer.from(markdown) });
  await page.getByRole("button", { name: "Upload" }).click();
  await expect(page.getByRole("status")).toContainText("Stored 1 documents (2 chunks)");

  // A refused template stays as typed.
  const template = page.getByLabel(/^Template/);
  const typed = "Write {{n}} pairs about {{chunck}}";
  await template.fill(typed);
  await page.getByRole("button", { name: "Save template" }).click();
  await expect(page.getByRole("alert")).toContainText("template line 1: Unknown placeholder {{chunck}}");
  await expect(template).toHaveValue(typed);
  await page.getByRole("button", { name: "Use the default" }).click();
  await page.getByRole("button", { name: "Save template" }).click();
  await expect(page.getByText("Template saved.")).toBeVisible();

  // Register the endpoint (its own page belongs to the external-models feature), then generate.
  const registered = await page.request.post(`${url}/api/v1/projects/${projectId}/external-endpoints`, {
    data: { name: "fake-hosted", baseUrl: `${fakeUrl}/v1`, model: "qa-model", maxRetries: 0 },
    headers: { origin: url },
  });
  expect(registered.status()).toBe(201);
  await page.reload();
  await page.getByLabel("Generator").selectOption({ label: "Endpoint: fake-hosted (qa-model)" });
  await page.getByRole("button", { name: "Start" }).click();
  await expect(page.getByTestId("qa-runs")).toContainText("done", { timeout: 30_000 });
  await expect(page.getByTestId("qa-runs")).toContainText("2/2 chunks · 1 pairs, 1 failed");
  await expect(page.getByTestId("chunk-errors")).toContainText("tea, chunk 2: The model's answer is neither a JSON list");
  await expectAccessible(page);
});
