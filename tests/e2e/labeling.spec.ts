import { expect, test } from "@playwright/test";
import { addMembers, app, asLabeler, createUser, expectAccessible, signIn } from "./support.ts";

const file = [
  JSON.stringify({ prompt: "What is 6 * 7?", completions: ["42", "48", "forty-two"], model: "tiny" }),
  JSON.stringify({ prompt: "What is 6 * 7?", completions: ["42", "48", "forty-two"], model: "tiny" }),
  "this line is not json",
  JSON.stringify({ prompt: "Greet a new colleague warmly." }),
].join("\n");

test("import with a report, rank with ties by keyboard, write a demonstration, export the implied pairs", async ({ page, browser }) => {
  // Four browser contexts (an admin, three labelers) each signing in and labeling: about a minute
  // on a busy shared machine, which is the default limit.
  test.setTimeout(120_000);
  const { email, password } = app();
  await signIn(page, email, password);
  for (const n of [1, 2, 3]) await createUser(page, `Labeler ${n}`, `l${n}@example.test`, "labeler");

  // A researcher's work (the admin can do it too): project, then import with a preview.
  await page.goto(app().url + "/projects");
  await page.getByLabel("Name").fill("Mental math");
  await page.getByLabel(/Completions per ranking task/).fill("3");
  await page.getByLabel("Guidelines (markdown)").fill("**Correct** answers first. Equal answers tie.");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("heading", { name: "Mental math" })).toBeVisible();
  const projectUrl = page.url();
  await page.getByRole("link", { name: "Import prompts" }).click();
  await page.getByLabel("Prompt file").setInputFiles({ name: "prompts.jsonl", mimeType: "application/jsonl", buffer: Buffer.from(file) });
  await page.getByRole("button", { name: "Preview" }).click();
  const report = page.getByTestId("import-report");
  await expect(report).toContainText("Line 3:");
  await expect(report).toContainText("Line 2: duplicate in this file");
  await expectAccessible(page);
  await page.getByRole("button", { name: "Import" }).click();
  await expect(page.getByRole("alert")).toContainText("nothing was imported");
  await page.getByLabel(/Import the valid lines/).check();
  await page.getByRole("button", { name: "Preview" }).click();
  await page.getByRole("button", { name: "Import" }).click();
  await expect(page.getByRole("status")).toContainText("Imported 2 prompts: 1 ranking, 1 demonstration");

  // The project is members-only (the default): the three labelers join it.
  await addMembers(page, projectUrl, ["l1@example.test", "l2@example.test", "l3@example.test"]);
  // Three labelers rank the same item: "42" and "forty-two" tie at the top, "48" last.
  for (const n of [1, 2, 3]) {
    const labeler = await asLabeler(browser, `l${n}@example.test`);
    await labeler.page.goto(projectUrl);
    let previous = labeler.page.url();
    await labeler.page.getByRole("button", { name: "Start labeling" }).click();
    for (;;) {
      await labeler.page.waitForURL((url) => url.toString() !== previous && /\/tasks\/\d+|empty=1/.test(url.toString()));
      previous = labeler.page.url();
      if (labeler.page.url().includes("empty=1")) break;
      // The next task arrives without a page load (React Router navigates): wait until it is the one on screen.
      await labeler.page.locator(`html[data-task-ready="${labeler.page.url().split("/").pop()}"]`).waitFor();
      // Marked on the first task's page; still there at the end means no submit reloaded the page.
      await labeler.page.evaluate(() => {
        (window as unknown as { sameDocument?: boolean }).sameDocument ??= true;
      });
      // The URL can change before the task renders: wait for the task's own heading.
      const heading = await labeler.page.getByRole("heading", { level: 1, name: /Rank the completions|Write the assistant/ }).textContent();
      // Keyboard handlers exist only once React has hydrated; the socket connects right after.
      await labeler.page.locator('html[data-socket="connected"]').waitFor();
      if (heading?.includes("Rank")) {
        await expectAccessible(labeler.page);
        // 42 first at 1, forty-two tied with it (Shift+1: ties are explicit), 48 at 2.
        const cardOf: Record<string, string> = {};
        for (const c of ["A", "B", "C"]) {
          const text = await labeler.page.getByTestId(`completion-${c}`).innerText();
          cardOf[text.includes("forty-two") ? "forty-two" : text.includes("48") ? "48" : "42"] = c;
        }
        for (const [text, key] of [["42", "1"], ["forty-two", "Shift+1"], ["48", "2"]] as const) {
          await labeler.page.getByTestId(`completion-${cardOf[text]}`).focus();
          await labeler.page.keyboard.press(key);
        }
        await expect(labeler.page.getByTestId("tier-1")).toContainText("(tie)");
        await labeler.page.keyboard.press("Control+Enter");
      } else {
        await labeler.page.getByLabel("Your reply as the assistant").fill("Welcome aboard! Great to have you with us.");
        await labeler.page.keyboard.press("Control+Enter");
      }
    }
    await expect(labeler.page.getByRole("status")).toContainText("no task for you");
    expect(await labeler.page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    await labeler.close();
  }

  await page.goto(projectUrl);
  await expect(page.getByTestId("complete-rank")).toHaveText("1");
  await expect(page.getByTestId("submission-count")).toContainText("4 submissions");
  // All three ranked alike: full agreement on the one overlapping item.
  await page.getByRole("link", { name: "Quality and agreement" }).click();
  await expect(page.getByTestId("overlapping-items")).toHaveText("1");
  await expect(page.getByTestId("pairwise-agreement")).toHaveText("100.0 %");
  await expect(page.getByTestId("kendall")).toHaveText("1.000");
  await expectAccessible(page);
  const projectId = projectUrl.split("/").pop();
  const exported = await page.request.get(`${app().url}/api/v1/projects/${projectId}/exports/preferences.jsonl?format=standard`);
  const pairs = (await exported.text()).trim().split("\n").map((l) => JSON.parse(l) as { chosen: string; rejected: string });
  expect(pairs).toHaveLength(6); // 3 labelers × (42 ≻ 48, forty-two ≻ 48); the tie gives none
  for (const pair of pairs) {
    expect(["42", "forty-two"]).toContain(pair.chosen);
    expect(pair.rejected).toBe("48");
  }
});

test("a typed demonstration survives a reload", async ({ page }) => {
  const { email, password } = app();
  await signIn(page, email, password);
  await page.goto(app().url + "/projects");
  await page.getByLabel("Name").fill("Drafts");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectId = page.url().split("/").pop();
  const imported = await page.request.post(`${app().url}/api/v1/projects/${projectId}/imports`, {
    data: { content: JSON.stringify({ prompt: "Describe your favourite tool." }), commit: true },
    headers: { origin: app().url },
  });
  expect(imported.status(), await imported.text()).toBe(200);
  await page.goto(`${app().url}/projects/${projectId}`);
  await page.getByRole("button", { name: "Start labeling" }).click();
  await page.waitForURL(/\/tasks\/\d+/);
  await page.locator('html[data-socket="connected"]').waitFor();
  await page.getByLabel("Your reply as the assistant").fill("A well-kept **hammer**.");
  await page.reload();
  await page.locator('html[data-socket="connected"]').waitFor();
  await expect(page.getByLabel("Your reply as the assistant")).toHaveValue("A well-kept **hammer**.");
  await page.getByRole("tab", { name: "Preview" }).click();
  await expect(page.getByTestId("preview").locator("strong")).toHaveText("hammer");
});

test("a demonstration continues for more turns and exports every turn; task pages list their shortcuts on ?", async ({ page }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Conversations");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectId = page.url().split("/").pop();
  const imported = await page.request.post(`${url}/api/v1/projects/${projectId}/imports`, {
    data: { content: JSON.stringify({ prompt: "Help me plan a picnic." }), commit: true },
    headers: { origin: url },
  });
  expect(imported.status(), await imported.text()).toBe(200);
  await page.goto(`${url}/projects/${projectId}`);
  await page.getByRole("button", { name: "Start labeling" }).click();
  await page.waitForURL(/\/tasks\/\d+/);
  await page.locator('html[data-socket="connected"]').waitFor();

  const help = page.getByRole("dialog", { name: "Keyboard shortcuts" });
  // "?" outside a text field opens the help; the reply box may have taken focus by now (a "?" typed there is text, below)
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.keyboard.press("?");
  await expect(help).toContainText("continue the conversation");
  await page.keyboard.press("Escape");
  await expect(help).toBeHidden();

  await page.getByLabel("Your reply as the assistant").fill("Pick a shady park near you.");
  await expect(help).toBeHidden();
  await page.keyboard.type("?");
  await expect(help).toBeHidden(); // a "?" typed into the reply is text
  await expect(page.getByLabel("Your reply as the assistant")).toHaveValue("Pick a shady park near you.?");
  await page.getByLabel("Your reply as the assistant").fill("Pick a shady park near you.");
  await page.getByRole("button", { name: "Continue the conversation" }).click();
  await expect(page.getByLabel("User's next message")).toBeFocused();
  await page.getByLabel("User's next message").fill("What food should I bring?");
  await page.getByLabel("Assistant's reply").fill("Sandwiches, fruit and **plenty of water**.");
  await page.reload(); // the whole conversation is in the draft
  await page.locator('html[data-socket="connected"]').waitFor();
  await expect(page.getByLabel("Assistant's reply")).toHaveValue("Sandwiches, fruit and **plenty of water**.");
  await page.getByRole("tab", { name: "Preview" }).click();
  await expect(page.getByTestId("preview").locator("strong")).toHaveText("plenty of water");
  await expectAccessible(page);
  await page.getByRole("tab", { name: "Write" }).click();

  // An exchange left half-written is refused with the reason, and nothing typed is lost.
  await page.getByRole("button", { name: "Continue the conversation" }).click();
  await page.getByLabel("User's next message").last().fill("And games?");
  await page.keyboard.press("Control+Enter");
  await expect(page.getByRole("alert")).toContainText("Write the assistant's reply or remove the turn");
  await expect(page.getByLabel("User's next message").last()).toHaveValue("And games?");
  await page.getByRole("button", { name: "Remove this turn" }).click();
  await page.keyboard.press("Control+Enter");
  await page.waitForURL(/empty=1/);

  const sft = await page.request.get(`${url}/api/v1/projects/${projectId}/exports/sft.jsonl`);
  expect(JSON.parse((await sft.text()).trim())).toEqual({
    messages: [
      { role: "user", content: "Help me plan a picnic." },
      { role: "assistant", content: "Pick a shady park near you." },
      { role: "user", content: "What food should I bring?" },
      { role: "assistant", content: "Sandwiches, fruit and **plenty of water**." },
    ],
  });

  // The A/B page lists its keys too.
  const compare = await page.request.post(`${url}/api/v1/projects/${projectId}/imports`, {
    data: { content: JSON.stringify({ prompt: "Name a fruit.", completions: [{ text: "Apple", model: "m1" }, { text: "Pear", model: "m2" }] }), commit: true, purpose: "compare" },
    headers: { origin: url },
  });
  expect(compare.status(), await compare.text()).toBe(200);
  await page.goto(`${url}/projects/${projectId}`);
  await page.getByRole("button", { name: "Start labeling" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Compare two answers" })).toBeVisible();
  await page.locator('html[data-socket="connected"]').waitFor();
  await page.keyboard.press("?");
  await expect(help).toContainText("about the same (tie)");
});

test("a reviewer corrects a synthetic answer with a diff; XSS in the content stays inert", async ({ page, browser }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  await createUser(page, "Rita Reviewer", "rita@example.test", "reviewer");
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Synthetic Q&A <script>alert('name')</script>");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectId = page.url().split("/").pop();
  const qa = { prompt: "Which planet is largest? <img src=x onerror=alert('q')>", completions: ["Saturn is the largest planet. <script>alert('a')</script>"] };
  const imported = await page.request.post(`${url}/api/v1/projects/${projectId}/imports`, {
    data: { content: JSON.stringify(qa), commit: true, purpose: "qa" },
    headers: { origin: url },
  });
  expect(imported.status(), await imported.text()).toBe(200);
  await addMembers(page, `${url}/projects/${projectId}`, ["rita@example.test"], "reviewer");

  const context = await browser.newContext();
  const reviewer = await context.newPage();
  const dialogs: string[] = [];
  reviewer.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await signIn(reviewer, "rita@example.test", "labeling-all-day");
  await reviewer.goto(`${url}/projects/${projectId}`);
  await reviewer.getByRole("button", { name: "Start labeling" }).click();
  await expect(reviewer.getByRole("heading", { level: 1, name: "Review the answer" })).toBeVisible();
  await reviewer.locator('html[data-socket="connected"]').waitFor();
  await expectAccessible(reviewer);
  await reviewer.keyboard.press("?");
  await expect(reviewer.getByRole("dialog", { name: "Keyboard shortcuts" })).toContainText("edit the answer");
  await reviewer.keyboard.press("Escape");
  await reviewer.getByRole("button", { name: "Edit the answer" }).click();
  await reviewer.getByLabel("Corrected answer").fill("Jupiter is the largest planet.");
  await expect(reviewer.getByTestId("diff").locator("ins").first()).toHaveText("Jupiter");
  await expect(reviewer.getByTestId("diff").locator("del").first()).toHaveText("Saturn");
  // A correction's reason is marked as required; without one, the error shows by the buttons and
  // at the reasons, and nothing is sent.
  await expect(reviewer.getByTestId("reasons-required")).toContainText("required for a correction");
  const actions = reviewer.getByTestId("review-actions");
  await reviewer.getByRole("button", { name: /Save the correction/ }).click();
  await expect(actions.getByRole("alert")).toContainText("tick at least one reason");
  await expect(reviewer.getByLabel("Factual error")).toHaveAttribute("aria-invalid", "true");
  await expect(reviewer.getByLabel("Factual error")).toBeFocused();
  await expectAccessible(reviewer);
  await reviewer.getByLabel("Factual error").check();
  await expect(actions.getByRole("alert")).toHaveCount(0);
  // The server's refusals land there too (an empty correction), with what was typed kept.
  await reviewer.getByLabel("Corrected answer").fill("   ");
  await reviewer.getByRole("button", { name: /Save the correction/ }).click();
  await expect(actions.getByRole("alert")).toContainText("Write the corrected answer");
  await expect(reviewer.getByLabel("Factual error")).toBeChecked();
  await reviewer.getByLabel("Corrected answer").fill("Jupiter is the largest planet.");
  await reviewer.getByRole("button", { name: /Save the correction/ }).click();
  await reviewer.waitForURL(/empty=1/);
  expect(dialogs).toEqual([]);
  await context.close();

  const prefs = await page.request.get(`${url}/api/v1/projects/${projectId}/exports/preferences.jsonl?format=standard`);
  const lines = (await prefs.text()).trim().split("\n").map((l) => JSON.parse(l) as { chosen: string; rejected: string });
  expect(lines).toEqual([expect.objectContaining({ chosen: "Jupiter is the largest planet.", rejected: qa.completions[0] })]);
});
