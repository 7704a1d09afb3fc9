import { expect, test, type Page } from "@playwright/test";
import { addMembers, app, asLabeler, createUser, expectAccessible, rankAllByApi, signIn } from "./support.ts";

const hydrated = (page: Page) => page.locator('html[data-socket="connected"]').waitFor();
/** The task on screen has its handlers (task.tsx marks it), whether it came by a client navigation or a page load. */
const taskReady = (page: Page) => page.locator(`html[data-task-ready="${page.url().split("/").pop()}"]`).waitFor();

// Issue 14's "done when" (decisions 0045, 0047): a reviewer finds the disputed item with the data browser, sends the
// labeler's ranking back from the item page with a comment, and the labeler sees the comment, finds everything she
// typed still there (her order and her rationale), changes the order and resubmits.
test("data browser: a reviewer sends a disputed ranking back; the labeler sees the comment and resubmits", async ({ page, browser }) => {
  // Three people in three browsers through a whole loop: more than the default minute on a busy machine.
  test.setTimeout(180_000);
  const { url, email, password } = app();
  await signIn(page, email, password);
  await createUser(page, "Sam Sendback", "sam-sendback@example.test", "labeler");
  await createUser(page, "Rae Browser", "rae-browser@example.test", "reviewer");
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Browser send-back");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectUrl = page.url();
  const projectId = projectUrl.split("/").pop()!;
  const content = JSON.stringify({ prompt: "Name a bird.", completions: ["finch", "heron", "wren"] });
  const imported = await page.request.post(`${url}/api/v1/projects/${projectId}/imports`, { data: { content, commit: true }, headers: { origin: url } });
  expect(imported.status(), await imported.text()).toBe(200);
  await addMembers(page, projectUrl, ["sam-sendback@example.test"]);
  await addMembers(page, projectUrl, ["rae-browser@example.test"], "reviewer");
  // The admin ranks alphabetically (finch, heron, wren) over the API.
  expect(await rankAllByApi(page.request, projectId, false)).toBe(1);

  // Sam ranks in the task page the other way round and says why: the item is disputed (agreement 0).
  const sam = await asLabeler(browser, "sam-sendback@example.test");
  await sam.page.goto(url + "/");
  // Keys work once React has hydrated; the socket connects right after.
  await hydrated(sam.page);
  await sam.page.keyboard.press("Enter");
  await sam.page.waitForURL(/\/tasks\/\d+$/);
  await taskReady(sam.page);
  const card = (text: string) => sam.page.locator('[data-testid^="completion-"]', { hasText: text });
  await card("wren").getByLabel("Rank").selectOption("1");
  await card("heron").getByLabel("Rank").selectOption("2");
  await card("finch").getByLabel("Rank").selectOption("3");
  await sam.page.getByLabel("Rationale (optional)").fill("Wren is the smallest, so it wins.");
  await sam.page.keyboard.press("Control+Enter");
  await sam.page.waitForURL(/empty=1/);

  // Rae, a reviewer of the project, finds it in the data browser: Tasks tab, disputed only.
  const rae = await asLabeler(browser, "rae-browser@example.test");
  await rae.page.goto(`${projectUrl}/browser`);
  await rae.page.getByRole("navigation", { name: "Data browser" }).getByRole("link", { name: "Tasks" }).click();
  await rae.page.waitForURL(/\/browser\/tasks$/);
  await rae.page.getByLabel(/Disputed/).check();
  await rae.page.getByRole("button", { name: "Search" }).click();
  await rae.page.waitForURL(/disputed=true/);
  const results = rae.page.getByTestId("task-results");
  await expect(results.getByRole("row")).toHaveCount(2);
  await expect(results).toContainText("0 %");
  await expectAccessible(rae.page);
  await results.getByRole("link", { name: "Name a bird." }).click();
  await rae.page.waitForURL(/\/prompts\/\d+$/);
  await hydrated(rae.page);

  // On the item page she sends Sam's ranking back with a comment (the admin's stays as it is).
  const submissions = rae.page.getByTestId("prompt-submissions").locator('[data-testid^="submission-"]');
  await expect(submissions).toHaveCount(2);
  const sams = submissions.filter({ hasText: "Sam Sendback" });
  await expect(sams).toContainText("wren");
  await sams.getByRole("button", { name: "Send back to Sam Sendback…" }).click();
  await expectAccessible(rae.page);
  await sams.getByRole("button", { name: "Send back", exact: true }).click();
  // An empty comment is refused, with the field named; the form stays open.
  await expect(rae.page.getByRole("alert")).toContainText("comment: Say what the labeler should change.");
  await sams.getByLabel(/What should Sam Sendback change/).fill("The question asks for a bird, not the smallest one: put the most common bird first.");
  await sams.getByRole("button", { name: "Send back", exact: true }).click();
  await expect(rae.page.getByText("Sent back to Sam Sendback: they see your comment with the task.")).toBeVisible();
  await expect(sams).toContainText("sent back: The question asks for a bird");
  await expect(sams.getByRole("button", { name: /Send back/ })).toHaveCount(0);
  await rae.close();

  // Sam sees the comment on her home, opens the redo, and finds her ranking and her rationale as she left them.
  await sam.page.goto(url + "/");
  const sentBack = sam.page.getByTestId("sent-back-list");
  await expect(sentBack).toContainText("put the most common bird first");
  await sentBack.getByRole("link", { name: "Redo it" }).click();
  await sam.page.waitForURL(/\/tasks\/\d+$/);
  await taskReady(sam.page);
  await expect(sam.page.getByTestId("sent-back-comment")).toHaveText("The question asks for a bird, not the smallest one: put the most common bird first.");
  await expect(card("wren")).toHaveAccessibleName(/rank 1$/);
  await expect(card("finch")).toHaveAccessibleName(/rank 3$/);
  await expect(sam.page.getByLabel("Rationale (optional)")).toHaveValue("Wren is the smallest, so it wins.");
  await expectAccessible(sam.page);
  // She moves the finch to the top (the others move down) and resubmits.
  await card("finch").getByLabel("Rank").selectOption("1");
  await expect(sam.page.getByTestId("ranking-summary")).toContainText(/1\. \w\s+2\. \w\s+3\. \w/);
  await expect(card("wren")).toHaveAccessibleName(/rank 2$/);
  await sam.page.keyboard.press("Control+Enter");
  await sam.page.waitForURL(/empty=1/);
  await sam.page.goto(url + "/");
  await expect(sam.page.getByTestId("sent-back-list")).toHaveCount(0);
  await sam.close();

  // The raw rankings hold the admin's and Sam's redo (the sent-back original left the data), rationale kept.
  const exported = await page.request.get(`${url}/api/v1/projects/${projectId}/exports/rankings.jsonl`);
  const lines = (await exported.text()).trim().split("\n").map((l) => JSON.parse(l) as { rationale: string; ranking: { tiers: string[][] } });
  expect(lines).toHaveLength(2);
  const redo = lines.find((l) => l.rationale === "Wren is the smallest, so it wins.")!;
  expect(redo).toBeTruthy();
  const completions = (await (await page.request.get(`${url}/api/v1/projects/${projectId}/prompts?q=bird`)).json()) as { items: Array<{ id: string }> };
  const history = (await (await page.request.get(`${url}/api/v1/projects/${projectId}/prompts/${completions.items[0]!.id}`)).json()) as { completions: Array<{ id: string; text: string }> };
  const textOf = new Map(history.completions.map((c) => [c.id, c.text]));
  expect(redo.ranking.tiers.map((tier) => tier.map((id) => textOf.get(id)))).toEqual([["finch"], ["wren"], ["heron"]]);
});
