import { expect, test } from "@playwright/test";
import { addMembers, app, asLabeler, createUser, expectAccessible, signIn } from "./support.ts";

// Issue 14 item 4 (decision 0044): a reviewer sends a labeler's demonstration back with a comment; the labeler
// sees it on their home, redoes it from what they wrote before, and the new submission is exported instead.
test("a reviewer sends a demonstration back; the labeler sees the comment and resubmits", async ({ page, browser }) => {
  // Two people in two browsers through a whole review loop: more than the default minute on a busy machine.
  test.setTimeout(150_000);
  const { url, email, password } = app();
  await signIn(page, email, password);
  await createUser(page, "Rita Redo", "rita-redo@example.test", "labeler");
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Annotation review");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectUrl = page.url();
  const projectId = projectUrl.split("/").pop()!;
  const imported = await page.request.post(`${url}/api/v1/projects/${projectId}/imports`, { data: { content: JSON.stringify({ prompt: "Greet a new colleague." }), commit: true }, headers: { origin: url } });
  expect(imported.status(), await imported.text()).toBe(200);
  await addMembers(page, projectUrl, ["rita-redo@example.test"]);

  const rita = await asLabeler(browser, "rita-redo@example.test");
  await rita.page.goto(url + "/");
  // Keys work once React has hydrated (the socket connects right after); a busy machine can be slower than the key.
  await rita.page.locator('html[data-socket="connected"]').waitFor();
  await rita.page.keyboard.press("Enter");
  await rita.page.waitForURL(/\/tasks\/\d+$/);
  await rita.page.getByLabel("Your reply as the assistant").fill("Hi.");
  await rita.page.keyboard.press("Control+Enter");
  await rita.page.waitForURL(/empty=1/);

  // The reviewer (the admin) samples at random and sends it back, by keyboard.
  await page.goto(projectUrl);
  await page.getByRole("link", { name: "Review labelers' annotations" }).click();
  await expect(page.getByRole("heading", { name: "Review labelers' annotations" })).toBeVisible();
  await expectAccessible(page);
  await page.keyboard.press("n");
  await expect(page.getByTestId("labeler-answer")).toContainText("Hi.");
  await expectAccessible(page);
  await page.keyboard.press("s");
  const comment = page.getByLabel(/What should the labeler change/);
  await expect(comment).toBeFocused();
  await page.getByRole("button", { name: "Send back", exact: true }).click();
  await expect(page.getByRole("alert")).toContainText("Say what the labeler should change");
  await comment.fill("Welcome them by name and offer help.");
  await page.getByRole("button", { name: "Send back", exact: true }).click();
  await expect(page.getByText(/^Submission \d+ sent back\.$/)).toBeVisible();
  await expect(page.getByTestId("annotation-decided")).toContainText("Welcome them by name and offer help.");

  // The labeler sees it on her home and redoes it; what she wrote is there to start from.
  await rita.page.goto(url + "/");
  const sentBack = rita.page.getByTestId("sent-back-list");
  await expect(sentBack).toContainText("Welcome them by name and offer help.");
  await expectAccessible(rita.page);
  await sentBack.getByRole("link", { name: "Redo it" }).click();
  await rita.page.waitForURL(/\/tasks\/\d+$/);
  await expect(rita.page.getByTestId("sent-back-comment")).toHaveText("Welcome them by name and offer help.");
  const reply = rita.page.getByLabel("Your reply as the assistant");
  await expect(reply).toHaveValue("Hi.");
  await reply.fill("Hi Sam, welcome to the team! Tell me if you need anything.");
  await rita.page.keyboard.press("Control+Enter");
  await rita.page.waitForURL(/empty=1/);
  await rita.page.goto(url + "/");
  await expect(rita.page.getByTestId("sent-back-list")).toHaveCount(0);
  await rita.close();

  const sft = await page.request.get(`${url}/api/v1/projects/${projectId}/exports/sft.jsonl`);
  expect((await sft.text()).trim().split("\n").map((l) => (JSON.parse(l) as { messages: Array<{ content: string }> }).messages.at(-1)!.content)).toEqual([
    "Hi Sam, welcome to the team! Tell me if you need anything.",
  ]);
});

// Lowest agreement first serves the item two labelers ranked in opposite orders; the reviewer's own ranking (a tie
// here) is stored beside theirs and exported with its provenance.
test("a reviewer overrides the most disputed ranking by keyboard; the export keeps both", async ({ page, browser }) => {
  test.setTimeout(150_000);
  const { url, email, password } = app();
  await signIn(page, email, password);
  await createUser(page, "Ann Agree", "ann-agree@example.test", "labeler");
  await createUser(page, "Ben Differ", "ben-differ@example.test", "labeler");
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Disputed rankings");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectUrl = page.url();
  const projectId = projectUrl.split("/").pop()!;
  const content = [{ prompt: "What is 2 + 2?", completions: ["4", "5"] }, { prompt: "Capital of France?", completions: ["Paris", "Lyon"] }].map((l) => JSON.stringify(l)).join("\n");
  const imported = await page.request.post(`${url}/api/v1/projects/${projectId}/imports`, { data: { content, commit: true }, headers: { origin: url } });
  expect(imported.status(), await imported.text()).toBe(200);
  await addMembers(page, projectUrl, ["ann-agree@example.test", "ben-differ@example.test"]);

  // Both rank both items over the API; they agree on France and disagree on 2 + 2.
  for (const [who, best] of [["ann-agree@example.test", ["4", "Paris"]], ["ben-differ@example.test", ["5", "Paris"]]] as const) {
    const labeler = await asLabeler(browser, who);
    for (;;) {
      const claim = await labeler.page.request.post(`${url}/api/v1/projects/${projectId}/next-task`, { headers: { origin: url } });
      const body = (await claim.json()) as { assignmentId: string } | null;
      if (!body) break;
      const view = (await (await labeler.page.request.get(`${url}/api/v1/assignments/${body.assignmentId}`)).json()) as { completions: Array<{ id: string; text: string }> };
      const top = view.completions.find((c) => (best as readonly string[]).includes(c.text))!;
      const other = view.completions.find((c) => c !== top)!;
      const submitted = await labeler.page.request.post(`${url}/api/v1/assignments/${body.assignmentId}/submit`, {
        data: { idempotencyKey: `e2e-review-${body.assignmentId}`, payload: { ranking: { tiers: [[top.id], [other.id]] } } },
        headers: { origin: url },
      });
      expect(submitted.status(), await submitted.text()).toBe(200);
    }
    await labeler.close();
  }

  await page.goto(`${projectUrl}/annotation-review`);
  await page.getByLabel("Lowest agreement first").check();
  await page.keyboard.press("n");
  await expect(page.getByRole("region", { name: "Conversation" })).toContainText("What is 2 + 2?");
  await expect(page.getByTestId("annotation-meta")).toContainText("item agreement 0 %");
  await page.keyboard.press("o");
  await expect(page.getByLabel("Rank of A")).toBeFocused();
  await page.getByLabel("Rank of A").fill("1");
  await page.getByLabel("Rank of B").fill("1");
  await page.getByLabel("Comment (optional)").fill("Both are arguable here.");
  await expectAccessible(page);
  await page.getByRole("button", { name: "Save override" }).click();
  await expect(page.getByText(/^Submission \d+ overridden\.$/)).toBeVisible();

  const exported = await page.request.get(`${url}/api/v1/projects/${projectId}/exports/annotation-reviews.jsonl`);
  const lines = (await exported.text()).trim().split("\n").map((l) => JSON.parse(l) as { override: { ranking: { tiers: string[][] } }; original: { payload: { ranking: { tiers: string[][] } } }; review: { decision: string; comment: string } });
  expect(lines).toHaveLength(1);
  expect(lines[0]!.review).toMatchObject({ decision: "override", comment: "Both are arguable here." });
  expect(lines[0]!.override.ranking.tiers).toHaveLength(1);
  expect(lines[0]!.original.payload.ranking.tiers).toHaveLength(2);
});
