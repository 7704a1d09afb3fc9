import { expect, test } from "@playwright/test";
import { addMembers, app, asLabeler, createUser, expectAccessible, rankAllByApi, signIn } from "./support.ts";

// Issue 14 item 3: a researcher sees the burndown, each labeler's figures drawn with uPlot, and
// goes from the quality page to the most disputed item's page.
test("progress and analytics: burndown, labeler charts, and the disputed drill-down", async ({ page, browser }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  await createUser(page, "Ada Analytics", "ada-analytics@example.test", "labeler");
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Analytics e2e");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectUrl = page.url();
  const projectId = projectUrl.split("/").pop()!;
  const content = ["Pick a fruit.", "Pick a colour."].map((prompt, i) => JSON.stringify({ prompt, completions: [`a${i}`, `b${i}`, `c${i}`] })).join("\n");
  const imported = await page.request.post(`${url}/api/v1/projects/${projectId}/imports`, { data: { content, commit: true }, headers: { origin: url } });
  expect(imported.status(), await imported.text()).toBe(200);
  await addMembers(page, projectUrl, ["ada-analytics@example.test"]);

  // The admin ranks both items alphabetically, Ada reverses them: every item is disputed.
  expect(await rankAllByApi(page.request, projectId, false)).toBe(2);
  const ada = await asLabeler(browser, "ada-analytics@example.test");
  expect(await rankAllByApi(ada.page.request, projectId, true)).toBe(2);
  await ada.close();

  await page.goto(`${projectUrl}/quality`);
  await page.getByRole("link", { name: "Most disputed items" }).click();
  await page.waitForURL(/\/analytics#disputed$/);
  await expect(page.getByRole("heading", { level: 1, name: "Progress and analytics" })).toBeVisible();
  // Both open rank tasks still need a third person (overlap 3): 2 open, 0 done, no ETA yet.
  await expect(page.getByTestId("eta-rank")).toContainText("2 open, 0 done");
  await expect(page.getByTestId("eta-rank")).toContainText("No ETA");
  // uPlot drew the charts (a canvas in each), and the table has both people.
  await expect(page.getByTestId("chart-burndown-rank").locator("canvas")).toHaveCount(1);
  await expect(page.getByTestId("chart-throughput").locator("canvas")).toHaveCount(1);
  const table = page.getByTestId("labeler-analytics");
  await expect(table.getByRole("row")).toHaveCount(3);
  await expect(table.getByRole("row", { name: /Ada Analytics/ })).toContainText("2");
  await expectAccessible(page);

  // A bad range is named beside its field.
  await page.getByLabel("From (UTC day)").fill("2026-12-31");
  await page.getByLabel("To (UTC day, included)").fill("2026-01-01");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page.getByRole("alert")).toContainText("to: must not be before from");
  await expect(page.getByLabel("To (UTC day, included)")).toHaveAttribute("aria-invalid", "true");

  // The drill-down: the most disputed item opens in the data browser's item page.
  const disputed = page.getByTestId("disputed-items");
  await expect(disputed.getByRole("row")).toHaveCount(3);
  await expect(disputed).toContainText("0 of 3 pairs");
  await disputed.getByRole("link").first().click();
  await page.waitForURL(new RegExp(`/projects/${projectId}/prompts/\\d+$`));
});
