/**
 * The corpora page in a browser: two sources uploaded (a bad line named by file and line), a cleaning job across them
 * with its progress and report, and a threshold out of range refused with its field named.
 */
import { expect, test } from "@playwright/test";
import { app, expectAccessible, signIn } from "./support.ts";

const words = ["river", "stone", "harbour", "lantern", "meadow", "copper", "thunder", "violet", "orchard", "glacier"];
const paragraph = (seed: number) => Array.from({ length: 50 }, (_, i) => (i % 4 === 0 ? "the" : `${words[(seed * 7 + i * 3) % words.length]}${(seed * 31 + i) % 89}`)).join(" ") + ".";

test("upload two sources, clean them together and read the duplicates in the report", async ({ page }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Pre-training data");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("heading", { name: "Pre-training data" })).toBeVisible();
  await page.getByRole("link", { name: "Pre-training corpora" }).click();
  await expect(page.getByRole("heading", { name: "Pre-training corpora" })).toBeVisible();
  await expectAccessible(page);

  const add = async (name: string, file: { name: string; mimeType: string; buffer: Buffer }) => {
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByLabel("License").fill("CC-BY-4.0");
    await page.getByLabel("Provenance").fill(`${name}, generated for the test`);
    await page.getByLabel("Files to upload").setInputFiles(file);
    await page.getByRole("button", { name: "Add corpus" }).click();
  };
  const jsonl = [paragraph(1), paragraph(2), `${paragraph(3)} Write to jane@example.org.`].map((text, i) => JSON.stringify({ title: `wiki ${i}`, text })).join("\n") + "\n{broken\n";
  await add("wiki", { name: "wiki.jsonl", mimeType: "application/jsonl", buffer: Buffer.from(jsonl) });
  await expect(page.getByRole("alert").filter({ hasText: "wiki.jsonl" })).toContainText("3 documents");
  await expect(page.getByRole("alert").filter({ hasText: "wiki.jsonl" })).toContainText("line 4: not valid JSON");
  await add("forum", { name: "forum.txt", mimeType: "text/plain", buffer: Buffer.from([paragraph(2), paragraph(4)].join("\n<|endoftext|>\n")) });
  await expect(page.getByRole("status").filter({ hasText: "forum.txt" })).toContainText("2 documents");
  await expect(page.getByTestId("corpora")).toContainText("forum");

  await page.getByRole("checkbox", { name: "wiki" }).check();
  await page.getByRole("checkbox", { name: "forum" }).check();
  await page.getByLabel(/Near-duplicate similarity/).fill("1.5");
  await page.getByRole("button", { name: "Start cleaning" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "nearDuplicateThreshold" })).toBeVisible();
  await page.getByLabel(/Near-duplicate similarity/).fill("0.8");
  await page.getByLabel("PII").selectOption("flag");
  await page.getByRole("button", { name: "Start cleaning" }).click();

  await expect(page.getByTestId("cleaning-jobs").getByTestId("job-state").first()).toHaveText("done", { timeout: 20_000 });
  await expect(page.getByTestId("cleaning-jobs")).toContainText("kept 3, flagged 1, dropped 1");
  await expect(page.getByTestId("review-counts")).toContainText("1 flagged document(s) wait for review");
  await expect(page.getByTestId("cleaning-summary")).toContainText("exact_duplicate");
  await page.getByLabel("Reason").selectOption("exact_duplicate");
  await page.getByRole("button", { name: "Show", exact: true }).click();
  const report = page.getByTestId("cleaning-report");
  await expect(report.locator("tbody tr")).toHaveCount(1);
  await expect(report).toContainText("forum · forum.txt:1");
  await expect(report).toContainText("duplicate of document");
  await page.getByRole("button", { name: "1 — list them" }).click();
  await expect(page.getByTestId(/corpus-problems-/)).toContainText("wiki.jsonl line 4: not valid JSON");
  await expectAccessible(page);

  // The flagged document is reviewed: the e-mail address is marked; keeping it overrides the filter.
  await page.getByRole("link", { name: "Open the review queue" }).click();
  await expect(page.getByRole("heading", { name: "Review flagged documents" })).toBeVisible();
  await page.getByRole("button", { name: "Next document" }).click();
  await expect(page.getByTestId("review-text").locator("mark")).toHaveText("jane@example.org");
  await expectAccessible(page);
  await page.getByRole("button", { name: "Keep" }).click();
  await expect(page.getByRole("status")).toContainText("Nothing waits for review");
  await expect(page.getByTestId("review-decided")).toContainText("wiki 2: keep");

  // Two kept documents go to rating; the rater scores them with a key and a button.
  await page.goto(page.url().replace(/corpus-review$/, "corpora"));
  await page.getByLabel("Documents", { exact: true }).fill("2");
  await page.getByLabel("Raters each").fill("1");
  await page.getByRole("button", { name: "Send a sample to rating" }).click();
  await expect(page.getByRole("status").filter({ hasText: "sent to rating" })).toContainText("2 document(s) sent to rating.");
  await page.goto(page.url().replace(/corpora(\?.*)?$/, "corpus-rating"));
  await page.getByRole("button", { name: "Next document" }).click();
  await expect(page.getByTestId("rating-text")).toBeVisible();
  await expectAccessible(page);
  await page.keyboard.press("4");
  await expect(page.getByTestId("rated-count")).toContainText("You have rated 1 document(s)");
  await page.getByRole("button", { name: "5 · Outstanding" }).click();
  await expect(page.getByRole("status")).toContainText("No document needs your rating right now");
  await page.goto(page.url().replace(/corpus-rating$/, "corpora"));
  await expect(page.getByTestId("rating-summary")).toContainText("2 document(s) to rate, 2 complete, 2 rating(s), mean 4.50");
  // Two ratings are too few to train the quality classifier: the page says how many it needs.
  await page.getByRole("button", { name: "Train from the ratings" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "at least 10 documents" })).toContainText("2 are");
  await expectAccessible(page);
});
