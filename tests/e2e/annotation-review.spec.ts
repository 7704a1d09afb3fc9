import { expect, test } from "@playwright/test";
import { addMembers, app, asLabeler, createUser, expectAccessible, signIn } from "./support.ts";

// Issue 14 item 4 (decision 0044): a reviewer sends a labeler's demonstration back with a comment; the labeler
// sees it on their home, redoes it from what they wrote before, and the new submission is exported instead.
test("a reviewer sends a demonstration back; the labeler sees the comment and resubmits", async ({ page, browser }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  await createUser(page, "Rita Redo", "rita@example.test", "labeler");
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Annotation review");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectUrl = page.url();
  const projectId = projectUrl.split("/").pop()!;
  const imported = await page.request.post(`${url}/api/v1/projects/${projectId}/imports`, { data: { content: JSON.stringify({ prompt: "Greet a new colleague." }), commit: true }, headers: { origin: url } });
  expect(imported.status(), await imported.text()).toBe(200);
  await addMembers(page, projectUrl, ["rita@example.test"]);

  const rita = await asLabeler(browser, "rita@example.test");
  await rita.page.goto(url + "/");
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
