import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { addMembers, app, asLabeler, createUser, expectAccessible, rankAllByApi, signIn } from "./support.ts";

// Issue 14 item 1 (decision 0045): a researcher finds the disputed tasks in the data browser and
// asks for one more label on one of them, counted first, then confirmed.
test("data browser: disputed tasks, re-queue with more overlap, submissions tab", async ({ page, browser }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  await createUser(page, "Bea Browser", "bea-browser@example.test", "labeler");
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Browser e2e");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectUrl = page.url();
  const projectId = projectUrl.split("/").pop()!;
  const content = ["Pick a tree.", "Pick a river."].map((prompt, i) => JSON.stringify({ prompt, completions: [`a${i}`, `b${i}`, `c${i}`] })).join("\n");
  const imported = await page.request.post(`${url}/api/v1/projects/${projectId}/imports`, { data: { content, commit: true }, headers: { origin: url } });
  expect(imported.status(), await imported.text()).toBe(200);
  await addMembers(page, projectUrl, ["bea-browser@example.test"]);
  // The admin ranks both items alphabetically, Bea reverses them: both are disputed (agreement 0).
  expect(await rankAllByApi(page.request, projectId, false)).toBe(2);
  const bea = await asLabeler(browser, "bea-browser@example.test");
  expect(await rankAllByApi(bea.page.request, projectId, true)).toBe(2);
  await bea.close();

  await page.goto(`${projectUrl}/browser`);
  await page.getByRole("navigation", { name: "Data browser" }).getByRole("link", { name: "Tasks" }).click();
  await page.waitForURL(/\/browser\/tasks$/);
  await page.getByLabel(/Disputed/).check();
  await page.getByRole("button", { name: "Search" }).click();
  await page.waitForURL(/disputed=true/);
  const results = page.getByTestId("task-results");
  await expect(results.getByRole("row")).toHaveCount(3);
  await expect(results).toContainText("0 %");
  await expectAccessible(page);

  await results.getByRole("checkbox").first().check();
  await page.getByLabel("More labels per selected task").fill("2");
  await page.getByRole("button", { name: "Count first" }).click();
  // Overlap 3: the tasks are still open, so none reopens.
  await expect(page.getByTestId("requeue-count")).toHaveText("1 task asks for 2 more labels; 0 of them reopen.");
  await page.getByRole("button", { name: "Confirm 1" }).click();
  await expect(page.getByText("1 task asks for 2 more labels; 0 reopened.")).toBeVisible();

  await page.getByRole("navigation", { name: "Data browser" }).getByRole("link", { name: "Submissions" }).click();
  await page.waitForURL(/\/browser\/submissions$/);
  await expect(page.getByTestId("submission-results").getByRole("row")).toHaveCount(5);
  await page.getByLabel("Review decision").selectOption("accept");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page.getByText("No submission matches.")).toBeVisible();
  await expectAccessible(page);
});

// Decision 0047: bulk actions over a whole filter from the prompt listing, each counted before it is confirmed —
// the selection exported as a dataset file (a download), then moved to review.
test("data browser: export a filter's prompts, then move them to review, each counted first", async ({ page }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Browser bulk e2e");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectUrl = page.url();
  const projectId = projectUrl.split("/").pop()!;
  const content = [
    { prompt: "Describe a comet.", completions: ["icy", "bright"], model: "m-sky" },
    { prompt: "Describe a canyon.", completions: ["deep", "red"], model: "m-land" },
  ].map((r) => JSON.stringify(r)).join("\n");
  const imported = await page.request.post(`${url}/api/v1/projects/${projectId}/imports`, { data: { content, commit: true }, headers: { origin: url } });
  expect(imported.status(), await imported.text()).toBe(200);

  await page.goto(`${projectUrl}/browser`);
  await page.getByLabel("Model").fill("m-sky");
  await page.getByRole("button", { name: "Search" }).click();
  await page.waitForURL(/model=m-sky/);
  await expect(page.getByTestId("browser-results").getByRole("row")).toHaveCount(2);

  await page.getByLabel("Which").selectOption("filter");
  await page.getByLabel("Action").selectOption("export");
  await page.getByLabel("Export what").selectOption("prompts");
  await page.getByLabel("Export format").selectOption("trl");
  await page.getByRole("button", { name: "Count first" }).click();
  await expect(page.getByTestId("bulk-count")).toHaveText("This exports the prompts of 1 prompt as TRL (JSONL).");
  await expectAccessible(page);
  const downloading = page.waitForEvent("download");
  await page.getByRole("button", { name: "Download 1" }).click();
  const file = await downloading;
  expect(file.suggestedFilename()).toBe(`project-${projectId}-selection-prompts-trl.jsonl`);
  const lines = readFileSync(await file.path(), "utf8").trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain("Describe a comet.");

  await page.getByLabel("Which").selectOption("filter");
  await page.getByLabel("Action").selectOption("review");
  await page.getByRole("button", { name: "Count first" }).click();
  await expect(page.getByTestId("bulk-count")).toHaveText("This moves 1 prompt to review; their open labeling tasks wait until a reviewer accepts them.");
  await page.getByRole("button", { name: "Confirm 1" }).click();
  await expect(page.getByText("1 prompt moved to review.")).toBeVisible();
  await page.goto(`${projectUrl}/browser?status=review`);
  await expect(page.getByTestId("browser-results")).toContainText("Describe a comet.");
  await expect(page.getByTestId("browser-results").getByRole("row")).toHaveCount(2);
});
