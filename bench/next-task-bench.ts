/**
 * From submit to the next task, in Chromium (issue 14, item 8: "the next task appears without a full
 * page reload, < 150 ms from submit to the next task being interactive").
 *
 * A labeler ranks two completions per task with the keyboard, then the clock runs from the moment
 * of submitting until the next task is on screen with its handlers attached (the task page sets
 * `html[data-task-ready]` in its effect, which runs after hydration). Tasks alternate between:
 *   product   Ctrl+Enter: the page posts the submission, asks for the next task and moves to it
 *             with React Router (only the new task's data is fetched);
 *   baseline  what the page did before: the same two POSTs from the page, then
 *             `window.location.assign` — a full page load of the next task (HTML, scripts,
 *             hydration, a new socket).
 * Both clocks are the page's own (Date.now in the page, kept in sessionStorage across the load).
 *
 *   npm run build && npm run bench:next-task [-- --tasks 40]
 *
 * Wall time on a shared machine: read the ratio of the medians, measured side by side in one run.
 */
import { parseArgs } from "node:util";
import { chromium, type Page } from "@playwright/test";
import { startTestServer } from "../tests/support/test-server.ts";

const { values } = parseArgs({ options: { tasks: { type: "string", default: "40" } } });
const TASKS = Number(values.tasks);
if (!Number.isInteger(TASKS) || TASKS < 4) throw new Error("--tasks: a whole number ≥ 4");

const server = await startTestServer();
const researcher = (await server.newUser("researcher")).client;
const created = await researcher.json("POST", "/api/v1/projects", { name: "Next-task bench", access: "open", settings: { k: 2, overlap: { rank: 1 }, goldRate: 0 } });
if (!created.ok) throw new Error(`project: ${created.status} ${await created.text()}`);
const projectId = ((await created.json()) as { id: string }).id;
const lines = Array.from({ length: TASKS + 1 }, (_, i) => JSON.stringify({ prompt: `Question ${i}: name a colour.`, completions: [`Red, number ${i}.`, `Blue, number ${i}.`] }));
const imported = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content: lines.join("\n"), commit: true });
if (!imported.ok) throw new Error(`import: ${imported.status} ${await imported.text()}`);

const labeler = await server.newUser("labeler");
const browser = await chromium.launch({
  executablePath: process.env.TANDEM_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
await context.addCookies([{ name: "tandem_session", value: labeler.client.cookies.get("tandem_session")!, url: server.url }]);
const page = await context.newPage();
// In every document: note when a task first becomes ready, on the page's clock.
await page.addInitScript(() => {
  new MutationObserver(() => {
    const id = document.documentElement.dataset.taskReady;
    if (id && sessionStorage.getItem("readyFor") !== id) {
      sessionStorage.setItem("readyFor", id);
      sessionStorage.setItem("readyAt", String(Date.now()));
    }
  }).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-task-ready"] });
});

const readyFor = (p: Page) => p.evaluate(() => sessionStorage.getItem("readyFor"));
async function waitForTaskAfter(p: Page, previous: string | null): Promise<string> {
  await p.waitForFunction((prev) => {
    const id = sessionStorage.getItem("readyFor");
    return id !== null && id !== prev;
  }, previous);
  return (await readyFor(p))!;
}

/** Ranks A over B with the keyboard, as a labeler would (not timed). */
async function rank(p: Page): Promise<void> {
  for (const [card, key] of [["A", "1"], ["B", "2"]] as const) {
    await p.getByTestId(`completion-${card}`).focus();
    await p.keyboard.press(key);
  }
}

const timings: Record<"product" | "baseline", number[]> = { product: [], baseline: [] };
await page.goto(`${server.url}/projects/${projectId}`);
await page.getByRole("button", { name: "Start labeling" }).click();
let current = await waitForTaskAfter(page, null);
for (let i = 0; i < TASKS; i++) {
  const mode = i % 2 === 0 ? "product" : "baseline";
  await rank(page);
  if (mode === "product") {
    await page.evaluate(() => sessionStorage.setItem("submittedAt", String(Date.now())));
    await page.keyboard.press("Control+Enter");
  } else {
    // the page's former goToNextTask, with the same submission the ranking page sends
    await page.evaluate(async ({ assignmentId, projectId: project }) => {
      const view = (await (await fetch(`/api/v1/assignments/${assignmentId}`)).json()) as { completions: Array<{ id: string; label: string }> };
      const tiers = ["A", "B"].map((label) => [view.completions.find((c) => c.label === label)!.id]);
      sessionStorage.setItem("submittedAt", String(Date.now()));
      // (no named helper functions in here: tsx wraps them in a __name the page does not have)
      const headers = { "content-type": "application/json" };
      const body = JSON.stringify({ idempotencyKey: crypto.randomUUID(), payload: { ranking: { tiers } } });
      const submitted = await fetch(`/api/v1/assignments/${assignmentId}/submit`, { method: "POST", headers, body });
      if (!submitted.ok) throw new Error(`submit: ${submitted.status} ${await submitted.text()}`);
      const next = (await (await fetch(`/api/v1/projects/${project}/next-task`, { method: "POST", headers })).json()) as { assignmentId: string } | null;
      window.location.assign(next ? `/tasks/${next.assignmentId}` : `/projects/${project}?empty=1`);
    }, { assignmentId: current, projectId });
  }
  current = await waitForTaskAfter(page, current);
  const ms = await page.evaluate(() => Number(sessionStorage.getItem("readyAt")) - Number(sessionStorage.getItem("submittedAt")));
  timings[mode].push(ms);
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
console.log(`\nNext-task transition, ${TASKS} ranking tasks (2 completions each), alternating; ms on the page's clock`);
console.log("| path | tasks | median | p90 | max |");
console.log("| --- | --- | --- | --- | --- |");
for (const [name, xs] of Object.entries(timings)) console.log(`| ${name} | ${xs.length} | ${quantile(xs, 0.5)} | ${quantile(xs, 0.9)} | ${Math.max(...xs)} |`);
console.log(`product / baseline (medians): ${(quantile(timings.product, 0.5) / quantile(timings.baseline, 0.5)).toFixed(2)}`);
await browser.close();
await server.stop();
process.exit(0);
