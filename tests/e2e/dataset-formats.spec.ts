import { expect, test } from "@playwright/test";
import { app, expectAccessible, signIn } from "./support.ts";

const pairs = [
  { prompt: [{ role: "user", content: "What is 6 * 7?" }], chosen: [{ role: "assistant", content: "42" }], rejected: [{ role: "assistant", content: "48" }], margin: 1, weight: 1 },
  { prompt: [{ role: "user", content: "What is 6 * 7?" }], chosen: [{ role: "assistant", content: "42" }], rejected: [{ role: "assistant", content: "forty" }], margin: 2, weight: 0.5 },
];
const file = pairs.map((p) => JSON.stringify(p)).join("\n") + "\n";

test("import a TRL preference file on the import page, then download it again from the project page", async ({ page }) => {
  const { email, password, url } = app();
  await signIn(page, email, password);
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Formats in and out");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("heading", { name: "Formats in and out" })).toBeVisible();
  const projectUrl = page.url();

  await page.getByRole("link", { name: "Import prompts" }).click();
  await page.getByLabel("Prompt file").setInputFiles({ name: "prefs.jsonl", mimeType: "application/jsonl", buffer: Buffer.from(file + "{ broken\n") });
  await page.getByLabel("File format").selectOption("trl");
  await page.getByLabel("Dataset").selectOption("preferences");
  await expectAccessible(page);
  await page.getByRole("button", { name: "Preview" }).click();
  await expect(page.getByTestId("import-report")).toContainText("Line 3: invalid JSON");
  await page.getByRole("button", { name: "Import" }).click();
  await expect(page.getByRole("alert")).toContainText("nothing was imported");

  await page.getByLabel("Prompt file").setInputFiles({ name: "prefs.jsonl", mimeType: "application/jsonl", buffer: Buffer.from(file) });
  await page.getByRole("button", { name: "Preview" }).click();
  await expect(page.getByTestId("import-report")).toContainText("2 valid records");
  await page.getByRole("button", { name: "Import" }).click();
  await expect(page.getByRole("status")).toContainText("Imported 1 prompts");

  await page.goto(projectUrl);
  const exporter = page.getByTestId("dataset-export");
  await exporter.getByLabel("Format", { exact: true }).selectOption("trl");
  await exporter.getByLabel("Dataset", { exact: true }).selectOption("preferences");
  await expectAccessible(page);
  const href = await exporter.getByRole("link", { name: /Download preference pairs/ }).getAttribute("href");
  expect(href).toMatch(/\/exports\/trl\/preferences\.jsonl\?format=conversational$/);
  const download = await page.request.get(url + href!);
  expect(await download.text()).toBe(file);
});
