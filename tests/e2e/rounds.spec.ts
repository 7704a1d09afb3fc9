import fs from "node:fs";
import path from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { addMembers, app, asLabeler, createUser, expectAccessible, signIn } from "./support.ts";

// The whole loop in the browser, on `npm start`'s embedded default (its own trainer service):
// labelers rank and write, a researcher launches an SFT → DPO round, the curves move while it
// trains, the round completes, and the new policy's completions come back as ranking tasks.

const records = [
  ...["2 + 3", "7 - 4", "3 + 3"].map((q, i) => ({ prompt: `What is ${q}?`, completions: [`The answer is ${[5, 3, 6][i]}.`, "I am not sure."], model: "seed" })),
  ...["4 + 4", "9 - 2", "1 + 8"].map((q) => ({ prompt: `What is ${q}?` })),
];

/** Screenshots for the README, written only when asked (TANDEM_SCREENSHOTS=1), never in CI by default. */
async function screenshot(page: Page, name: string) {
  if (process.env.TANDEM_SCREENSHOTS !== "1") return;
  const dir = path.resolve("docs/screenshots");
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`) });
}

/** Works the queue in the UI: correct answers ranked first by keyboard, demonstrations typed. */
async function labelAll(page: Page, projectUrl: string, only?: "rank") {
  await page.goto(projectUrl);
  let previous = page.url();
  let done = 0;
  await page.getByRole("button", { name: "Start labeling" }).click();
  for (;;) {
    await page.waitForURL((url) => url.toString() !== previous && /\/tasks\/\d+|empty=1/.test(url.toString()));
    previous = page.url();
    if (page.url().includes("empty=1")) return done;
    // The next task arrives without a page load (React Router navigates): wait until it is the one on screen.
    await page.locator(`html[data-task-ready="${page.url().split("/").pop()}"]`).waitFor();
    const heading = await page.getByRole("heading", { level: 1, name: /Rank the completions|Write the assistant/ }).textContent();
    await page.locator('html[data-socket="connected"]').waitFor();
    if (only === "rank") return heading?.includes("Rank") ? 1 : 0;
    if (heading?.includes("Rank")) {
      for (const c of ["A", "B"]) {
        const card = page.getByTestId(`completion-${c}`);
        await card.focus();
        await page.keyboard.press((await card.innerText()).includes("The answer") ? "1" : "2");
      }
      await page.keyboard.press("Control+Enter");
    } else {
      await page.getByLabel("Your reply as the assistant").fill("The answer is 8.");
      await page.keyboard.press("Control+Enter");
    }
    done++;
  }
}

test("label → launch a DPO round → watch it train → rank the new policy's completions", async ({ page, browser }) => {
  test.setTimeout(300_000);
  const { url, email, password } = app();
  await signIn(page, email, password);
  await createUser(page, "Lena Labeler", "lena@example.test", "labeler");
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Loop");
  await page.getByLabel(/Completions per ranking task/).fill("2");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectUrl = page.url();
  const projectId = projectUrl.split("/").pop()!;
  const imported = await page.request.post(`${url}/api/v1/projects/${projectId}/imports`, {
    data: { content: records.map((r) => JSON.stringify(r)).join("\n"), commit: true },
    headers: { origin: url },
  });
  expect(imported.status(), await imported.text()).toBe(200);

  await addMembers(page, projectUrl, ["lena@example.test"]);
  const lena = await asLabeler(browser, "lena@example.test");
  expect(await labelAll(lena.page, projectUrl)).toBe(6);

  // The launch form is generated from the trainer's schemas; a bad value is refused with its field named and kept as typed.
  await page.goto(projectUrl);
  await page.getByRole("link", { name: "Training rounds" }).click();
  await page.getByLabel("Path").selectOption("sft-dpo");
  await page.getByLabel("Starting policy").selectOption("scratch");
  await page.locator("summary", { hasText: "SFT hyperparameters" }).click();
  await page.locator("#field-sft\\.steps").fill("six");
  await page.getByRole("button", { name: "Launch round" }).click();
  await expect(page.getByRole("alert")).toContainText("nothing was launched");
  await expect(page.locator("#field-sft\\.steps")).toHaveValue("six");
  await expect(page.locator("#field-sft\\.steps-error")).toBeVisible();
  await expectAccessible(page);

  await page.locator("#field-sft\\.steps").fill("8");
  await page.locator("#field-sft\\.batchSize").fill("2");
  await page.locator("summary", { hasText: "DPO hyperparameters" }).click();
  await page.locator("#field-dpo\\.steps").fill("6");
  await page.locator("#field-dpo\\.batchSize").fill("2");
  // Which pairs each ranking yields: the choice is kept in the round's data snapshot and shown with it
  await page.locator("summary", { hasText: "Preference data" }).click();
  await page.getByLabel("Pairs from each ranking").selectOption("best_vs_rest");
  // leaving out pairs with a wrong preferred answer needs a checker, and this project has none: refused, kept as ticked
  const rightChosen = page.getByLabel(/Leave out pairs whose preferred answer the checker marks wrong/);
  await rightChosen.check();
  await page.getByRole("button", { name: "Launch round" }).click();
  await expect(page.getByRole("alert")).toContainText("nothing was launched");
  await expect(page.getByText(/no checker to mark chosen answers wrong/)).toBeVisible();
  await expect(rightChosen).toBeChecked();
  await expect(page.getByLabel("Pairs from each ranking")).toHaveValue("best_vs_rest");
  await rightChosen.uncheck();
  await page.locator("#field-next\\.prompts").fill("4");
  await page.locator("#field-next\\.maxNewTokens").fill("12");
  await page.getByRole("button", { name: "Launch round" }).click();
  await page.waitForURL(/\/rounds\/\d+$/);
  await page.locator('html[data-socket="connected"]').waitFor();

  // The curves grow while it trains (pushed over socket.io, not reloaded).
  const loss = page.getByTestId("chart-loss");
  await expect(loss).toHaveAttribute("data-points", /^[1-9]\d*$/, { timeout: 120_000 });
  const seen = Number(await loss.getAttribute("data-points"));
  await expect.poll(async () => Number(await loss.getAttribute("data-points")), { timeout: 120_000 }).toBeGreaterThan(seen);
  await screenshot(page, "round-training");
  await expect(page.getByTestId("round-state")).toHaveAttribute("data-state", "done", { timeout: 180_000 });
  await expect(page.getByTestId("round-models")).toContainText("(policy)");
  await expect(page.getByTestId("pairs-mode")).toHaveText("the best tier against every other tier");
  await expect(page.getByTestId("round-report")).toContainText("new ranking tasks");
  await expect(page.getByTestId("round-evaluation")).toContainText("KL ≈");
  await expect(page.getByTestId("chart-reward")).toBeVisible();
  await expectAccessible(page);
  await screenshot(page, "round-done");

  await page.getByRole("link", { name: "Models" }).first().click();
  await expect(page.getByTestId("model-table")).toContainText("policy");

  // New work from the new policy is waiting for the labeler.
  expect(await labelAll(lena.page, projectUrl, "rank")).toBe(1);
  await screenshot(lena.page, "rank-new-policy");
  await lena.close();
});
