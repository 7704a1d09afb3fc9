import { expect, test } from "@playwright/test";
import { addMembers, app, asLabeler, createUser, expectAccessible, signIn } from "./support.ts";

// Issue 14: a labeler's home lists their projects with what is waiting, and one key starts.
test("a labeler's home lists their queues and leads to a task in one key", async ({ page, browser }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  await createUser(page, "Hana Home", "hana@example.test", "labeler");
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Home queue");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectUrl = page.url();
  const projectId = projectUrl.split("/").pop()!;
  const prompts = ["Say hello.", "Say goodbye.", "Name a colour."].map((prompt) => JSON.stringify({ prompt })).join("\n");
  const imported = await page.request.post(`${url}/api/v1/projects/${projectId}/imports`, { data: { content: prompts, commit: true }, headers: { origin: url } });
  expect(imported.status(), await imported.text()).toBe(200);

  // Not a member yet: the home page says so, without the old "once a researcher has imported prompts".
  const hana = await asLabeler(browser, "hana@example.test");
  await hana.page.goto(url + "/");
  await expect(hana.page.getByText("No project is open to you yet")).toBeVisible();
  await expect(hana.page.getByText(/once a researcher has imported prompts/)).toHaveCount(0);

  await addMembers(page, projectUrl, ["hana@example.test"]);
  await hana.page.goto(url + "/");
  const row = hana.page.getByTestId(`home-project-${projectId}`);
  await expect(row.getByTestId("queue-left")).toHaveText("3 left for you");
  await expect(row.getByTestId("done-today")).toHaveText("0 done today");
  await expectAccessible(hana.page);
  await hana.page.keyboard.press("Enter");
  await hana.page.waitForURL(/\/tasks\/\d+$/);
  await expect(hana.page.getByRole("heading", { level: 1, name: "Write the assistant's reply" })).toBeVisible();
  // Back home: the lease is there to resume, under the number key too.
  await hana.page.goto(url + "/");
  await expect(row.getByRole("button", { name: /Resume/ })).toBeVisible();
  await hana.page.keyboard.press("1");
  await hana.page.waitForURL(/\/tasks\/\d+$/);
  await hana.close();
});
