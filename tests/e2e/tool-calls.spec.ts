import { expect, test, type Page } from "@playwright/test";
import { app, expectAccessible, signIn } from "./support.ts";

// Tool transcripts for labelers (issue #11, decision 0020): completions that called the
// calculator are seeded through the normal import API, then labeled in the browser.

const calculated = (expression: string, result: string, final: string) => [
  { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "calculator", arguments: { expression } } }] },
  { role: "tool", name: "calculator", content: result },
  { role: "assistant", content: final },
];

/** A project made in the UI, with the calculator declared and a checker set on the settings page. */
async function projectWithCalculator(page: Page, name: string): Promise<string> {
  const { url } = app();
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill(name);
  await page.getByLabel(/Completions per ranking task/).fill("3");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectId = page.url().split("/").pop()!;
  await page.goto(`${url}/projects/${projectId}/settings`);
  await page.getByRole("checkbox", { name: "calculator" }).check();
  await page.getByLabel("Checker").selectOption("numeric");
  await page.getByLabel("Metadata field with the reference answer").fill("answer");
  await page.getByLabel(/Tolerance \(absolute/).fill("a little");
  await page.getByRole("button", { name: "Save settings" }).click();
  // Refused, with the field named and what was typed still there.
  await expect(page.getByRole("alert")).toContainText("settings.checker.tolerance");
  await expect(page.getByLabel(/Tolerance \(absolute/)).toHaveValue("a little");
  await expect(page.getByRole("checkbox", { name: "calculator" })).toBeChecked();
  await expectAccessible(page);
  await page.getByLabel(/Tolerance \(absolute/).fill("0.5");
  await page.getByRole("button", { name: "Save settings" }).click();
  await page.waitForURL(new RegExp(`/projects/${projectId}/settings\\?saved=1$`));
  await expect(page.getByRole("status")).toContainText("Settings saved");
  const project = (await (await page.request.get(`${url}/api/v1/projects/${projectId}`)).json()) as { settings: { tools: string[]; checker: unknown } };
  expect(project.settings.tools).toEqual(["calculator"]);
  expect(project.settings.checker).toEqual({ kind: "numeric", field: "answer", tolerance: 0.5, relativeTolerance: 0 });
  return projectId;
}

async function importLines(page: Page, projectId: string, lines: unknown[]) {
  const { url } = app();
  const response = await page.request.post(`${url}/api/v1/projects/${projectId}/imports`, {
    data: { content: lines.map((l) => JSON.stringify(l)).join("\n"), commit: true },
    headers: { origin: url },
  });
  expect(response.status(), await response.text()).toBe(200);
}

async function startLabeling(page: Page, projectId: string) {
  await page.goto(`${app().url}/projects/${projectId}`);
  await page.getByRole("button", { name: "Start labeling" }).click();
  await page.waitForURL(/\/tasks\/\d+/);
  await page.locator('html[data-socket="connected"]').waitFor();
}

test("a labeler sees each tool call and its result in a ranking task, apart from the assistant's words, and ranks by keyboard", async ({ page }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  const projectId = await projectWithCalculator(page, "Calculator ranking");
  await importLines(page, projectId, [
    {
      prompt: "What is 37 × 4?",
      completions: [
        calculated("37*4", "148", "The answer is **148**."),
        calculated("37*5", "185 <img src=x onerror=\"window.xss=1\">", "The answer is 185."),
        "About 150, I think.",
      ],
      metadata: { answer: 148 },
    },
  ]);
  await startLabeling(page, projectId);
  await expect(page.getByRole("heading", { level: 1, name: "Rank the completions" })).toBeVisible();

  const card = (text: string) => page.getByRole("listitem").filter({ hasText: text });
  const right = card("The answer is 148.");
  // The call and the result are labelled groups with visible headings, not just colour.
  await expect(right.getByRole("group", { name: "Tool call: calculator" })).toContainText("Tool call · calculator");
  await expect(right.getByRole("group", { name: "Tool call: calculator" })).toContainText("37*4");
  await expect(right.getByRole("group", { name: "Tool result: calculator" })).toContainText("148");
  await expect(right.getByRole("group", { name: "Tool result: calculator" })).toContainText("of 37*4");
  await expect(right.locator("strong")).toHaveText("148"); // the final words are markdown
  // A tool result is text, never markup.
  const wrong = card("The answer is 185.");
  await expect(wrong.getByRole("group", { name: "Tool result: calculator" })).toContainText('185 <img src=x onerror="window.xss=1">');
  expect(await page.evaluate(() => (window as unknown as { xss?: number }).xss)).toBeUndefined();
  // The plain completion has no tool parts.
  await expect(card("About 150, I think.").getByRole("group", { name: /^Tool / })).toHaveCount(0);
  await expectAccessible(page);

  // Keyboard flow as on any ranking: focus a card, press its rank, Ctrl+Enter.
  for (const [text, rank] of [["The answer is 148.", "1"], ["About 150, I think.", "2"], ["The answer is 185.", "3"]] as const) {
    await page.getByTestId(/^completion-/).filter({ hasText: text }).focus();
    await page.keyboard.press(rank);
  }
  await page.keyboard.press("Control+Enter");
  await page.waitForURL(/empty=1/);
  const exported = await page.request.get(`${url}/api/v1/projects/${projectId}/exports/preferences.jsonl`);
  const pairs = (await exported.text()).trim().split("\n").map((l) => JSON.parse(l) as { chosen: Array<{ role: string; content: string }> });
  expect(pairs).toHaveLength(3);
  expect(pairs[0]!.chosen).toEqual(calculated("37*4", "148", "The answer is **148**."));
});

test("the demonstration editor inserts a calculator call and its result; the draft keeps them; the submission stores them", async ({ page }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  const projectId = await projectWithCalculator(page, "Calculator demonstrations");
  await importLines(page, projectId, [{ prompt: "What is 12 × 13?", metadata: { answer: 156 } }]);
  await startLabeling(page, projectId);
  await expect(page.getByRole("heading", { level: 1, name: "Write the assistant's reply" })).toBeVisible();

  await page.getByRole("button", { name: "Insert a calculator call (reply)" }).click();
  const expression = page.getByLabel("Expression for the calculator (call 1)");
  await expect(expression).toBeFocused();
  await page.keyboard.type("12*13");
  await page.getByLabel("Your reply as the assistant").fill("12 × 13 = **156**.");
  // Submitted without the result: refused with the call named, nothing typed is lost.
  await page.keyboard.press("Control+Enter");
  await expect(page.getByRole("alert")).toContainText("Reply, tool call 1, result: Write the tool's result");
  await expect(expression).toHaveValue("12*13");
  await page.getByLabel("Result the calculator returns (call 1)").fill("156");
  await page.reload(); // the call and its result are in the draft
  await page.locator('html[data-socket="connected"]').waitFor();
  await expect(page.getByLabel("Expression for the calculator (call 1)")).toHaveValue("12*13");
  await expect(page.getByLabel("Result the calculator returns (call 1)")).toHaveValue("156");
  await page.getByRole("tab", { name: "Preview" }).click();
  await expect(page.getByTestId("preview").getByRole("group", { name: "Tool call: calculator" })).toContainText("12*13");
  await expect(page.getByTestId("preview").getByRole("group", { name: "Tool result: calculator" })).toContainText("156");
  await expectAccessible(page);
  await page.getByRole("tab", { name: "Write" }).click();
  await page.keyboard.press("Control+Enter");
  await page.waitForURL(/empty=1/);

  const sft = await page.request.get(`${url}/api/v1/projects/${projectId}/exports/sft.jsonl`);
  expect(JSON.parse((await sft.text()).trim())).toEqual({ messages: [{ role: "user", content: "What is 12 × 13?" }, ...calculated("12*13", "156", "12 × 13 = **156**.")] });
});
