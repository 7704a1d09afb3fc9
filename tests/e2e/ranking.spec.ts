import { expect, test, type Page } from "@playwright/test";
import { app, expectAccessible, signIn } from "./support.ts";

/**
 * The ranking task, keyboard first (issue 14, item 8): it starts unranked, a number key inserts
 * at that rank and renumbers the rest, Shift+number ties, and the summary and the submit button
 * stay in view at 1280×720 (the configured viewport).
 */
async function rankingTask(page: Page): Promise<string> {
  const { url } = app();
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Keyboard ranking");
  await page.getByLabel(/Completions per ranking task/).fill("4");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectId = page.url().split("/").pop()!;
  // Long completions, so the cards alone are taller than the window.
  const long = (word: string) => `${word}. ` + `This completion goes on about ${word} at some length. `.repeat(12);
  const imported = await page.request.post(`${url}/api/v1/projects/${projectId}/imports`, {
    data: { content: JSON.stringify({ prompt: "Name a fruit.", completions: [long("apple"), long("banana"), long("cherry"), long("damson")] }), commit: true },
    headers: { origin: url },
  });
  expect(imported.status(), await imported.text()).toBe(200);
  await page.goto(`${url}/projects/${projectId}`);
  await page.getByRole("button", { name: "Start labeling" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Rank the completions" })).toBeVisible();
  await page.locator('html[data-socket="connected"]').waitFor();
  return projectId;
}

test("the ranking starts unranked; number keys insert and renumber; Shift+number ties; summary and submit stay in view", async ({ page }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  const projectId = await rankingTask(page);
  const card = (label: string) => page.getByTestId(`completion-${label}`);
  const summary = page.getByTestId("ranking-summary");

  // Nothing pre-filled: every card says so, and the rank pickers are empty.
  for (const label of ["A", "B", "C", "D"]) {
    await expect(card(label)).toHaveAttribute("aria-label", `Completion ${label}, not ranked yet`);
    await expect(card(label).getByRole("combobox").first()).toHaveValue("");
  }
  await expect(summary).toContainText("nothing ranked yet");
  await expect(summary.getByRole("button", { name: /Submit/ })).toBeInViewport();
  await expectAccessible(page);

  // Submitting early is refused on the page, naming what is missing.
  await page.keyboard.press("Control+Enter");
  await expect(summary.getByRole("alert")).toContainText("A, B, C, D have no rank yet");

  // A to 1, B to 1 (inserted above A: A becomes 2), C to 2 (A moves to 3).
  for (const [label, key] of [["A", "1"], ["B", "1"], ["C", "2"]] as const) {
    await card(label).focus();
    await page.keyboard.press(key);
  }
  await expect(summary).toContainText("1. B   2. C   3. A — not ranked: D");
  await expect(card("A")).toHaveAttribute("aria-label", "Completion A, rank 3");
  // D ties with C (Shift+2), then 0 takes A's rank away and 4 puts it back last.
  await card("D").focus();
  await page.keyboard.press("Shift+2");
  await expect(summary).toContainText("1. B   2. C = D   3. A");
  await card("A").focus();
  await page.keyboard.press("0");
  await expect(summary).toContainText("1. B   2. C = D — not ranked: A");
  await page.keyboard.press("4");
  await expect(summary).toContainText("1. B   2. C = D   4. A");

  // Scrolled to the first card, the summary and the submit button are still in view.
  await card("A").scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollTo(0, 0));
  await expect(summary.getByRole("button", { name: /Submit/ })).toBeInViewport();
  await expect(summary.getByText("1. B   2. C = D   4. A")).toBeInViewport();

  await page.keyboard.press("Control+Enter");
  await page.waitForURL(/empty=1/);
  const rankings = await page.request.get(`${url}/api/v1/projects/${projectId}/exports/rankings.jsonl`);
  const [line] = (await rankings.text()).trim().split("\n").map((l) => JSON.parse(l) as { ranking: { tiers: string[][] }; shown_order: string[]; timings: { orderChanged: boolean } });
  // Stored as tiers of completion ids, holes closed; labels are the shown order's A, B, C, D.
  const label = (id: string) => "ABCD"[line!.shown_order.indexOf(id)];
  expect(line!.ranking.tiers.map((tier) => tier.map(label))).toEqual([["B"], ["C", "D"], ["A"]]);
  expect(line!.timings.orderChanged).toBe(true);
});
