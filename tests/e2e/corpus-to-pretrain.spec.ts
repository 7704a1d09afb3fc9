/**
 * Issue 17's whole walk in one browser session, through the UI only: three corpora uploaded (two generated languages and
 * a news sample of the second) → a cleaning job flags two documents with e-mail addresses → a reviewer redacts one and
 * drops the other → every kept document is rated 1–5 (the ones that read as lessons score 5) → a quality classifier is
 * trained from the ratings, its samples read and a threshold chosen that keeps the lessons → a data-mix search over the two
 * languages at that threshold picks the news' language and saves the mix → a pretrain round from scratch on the saved mix
 * finishes, shows its loss curve and its held-out loss falling, with its lineage back to the classifier and the mix.
 * A nano model, a 300-token vocabulary and a handful of steps: the rounds take seconds.
 */
import { expect, test, type Page } from "@playwright/test";
import { app, expectAccessible, languageDocs, signIn } from "./support.ts";

/** What makes a document a "lesson" here: raters score it 5, others 2, and the classifier has to learn it from that. */
const MARKER = "lesson";
const withMarker = (text: string) => text.split(" ").map((w, i) => (i % 5 === 0 ? MARKER : w)).join(" ");

/**
 * A JSONL corpus: every even document is a lesson; `extra` appends text to a document by index (the PII the
 * cleaning job flags).
 */
function corpusFile(name: string, letters: string, seed: number, docs: number, extra: Record<number, string> = {}) {
  const lines = languageDocs(letters, seed, docs).map((text, i) => JSON.stringify({ title: `${name} ${i}`, text: (i % 2 === 0 ? withMarker(text) : text) + (extra[i] ?? "") }));
  return { name: `${name}.jsonl`, mimeType: "application/jsonl", buffer: Buffer.from(lines.join("\n") + "\n") };
}

async function addCorpus(page: Page, name: string, file: ReturnType<typeof corpusFile>, documents: number) {
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("License").fill("CC0-1.0");
  await page.getByLabel("Provenance").fill(`${name}, generated for the corpus-to-pretrain walk`);
  await page.getByLabel("Files to upload").setInputFiles(file);
  await page.getByRole("button", { name: "Add corpus" }).click();
  await expect(page.getByRole("status").filter({ hasText: file.name })).toContainText(`${documents} documents`);
}

test("upload → review → rating → classifier threshold → mix search → pretrain, in the browser", async ({ page }) => {
  test.setTimeout(150_000);
  const { url, email, password } = app();
  await signIn(page, email, password);
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Corpus to base model");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("heading", { name: "Corpus to base model" })).toBeVisible();
  const projectUrl = page.url();

  // 1. Upload: alpha (17 documents, two of them with an e-mail address), beta (16) and beta-news (8, the target domain).
  await page.getByRole("link", { name: "Pre-training corpora" }).click();
  await addCorpus(page, "alpha", corpusFile("alpha", "abcdefghijklm", 11, 17, { 3: " Write to ada@example.org for the notes.", 5: " Buy now from bob@example.net today." }), 17);
  await addCorpus(page, "beta", corpusFile("beta", "nopqrstuvwxyz", 12, 16), 16);
  await addCorpus(page, "beta-news", corpusFile("beta-news", "nopqrstuvwxyz", 13, 8), 8);
  for (const name of ["alpha", "beta", "beta-news"]) await page.getByRole("checkbox", { name, exact: true }).check();
  await page.getByLabel(/Fewest characters/).fill("50");
  await page.getByLabel("PII").selectOption("flag");
  await page.getByRole("button", { name: "Start cleaning" }).click();
  await expect(page.getByTestId("cleaning-jobs").getByTestId("job-state").first()).toHaveText("done", { timeout: 20_000 });
  await expect(page.getByTestId("cleaning-jobs")).toContainText("kept 39, flagged 2, dropped 0");

  // 2. Review: the filter flagged both e-mail documents; one is redacted, the other (spam) dropped.
  await page.getByRole("link", { name: "Open the review queue" }).click();
  await page.getByRole("button", { name: "Next document" }).click();
  let previous = "";
  for (let i = 0; i < 2; i++) {
    // a decision takes the next document by itself: wait until it is on the page
    const mark = page.getByTestId("review-text").locator("mark");
    await expect(mark).not.toHaveText(previous);
    const marked = (await mark.textContent()) ?? "";
    previous = marked;
    const spam = marked === "bob@example.net";
    await page.getByLabel(/Category/).selectOption(spam ? "spam" : "pii");
    await page.getByRole("button", { name: spam ? "Drop" : "Redact the hits" }).click();
  }
  await expect(page.getByRole("status")).toContainText("Nothing waits for review");
  await expect(page.getByTestId("review-decided")).toContainText("alpha 3: redact (pii)");
  await expect(page.getByTestId("review-decided")).toContainText("alpha 5: drop (spam)");
  await expectAccessible(page);

  // 3. Rating: all 40 kept documents, one rater each; a lesson scores 5, anything else 2 (keys 1–5).
  await page.goto(projectUrl + "/corpora");
  await page.getByLabel("Documents", { exact: true }).fill("40");
  await page.getByLabel("Raters each").fill("1");
  await page.getByRole("button", { name: "Send a sample to rating" }).click();
  await expect(page.getByRole("status").filter({ hasText: "sent to rating" })).toContainText("40 document(s) sent to rating.");
  await page.goto(projectUrl + "/corpus-rating");
  await page.getByRole("button", { name: "Next document" }).click();
  let redactedSeen = false;
  for (let i = 0; i < 40; i++) {
    // the count and the document come from one revalidation: at count i the text is the (i + 1)th document
    await expect(page.getByTestId("rated-count")).toContainText(`You have rated ${i} document(s)`);
    const text = (await page.getByTestId("rating-text").textContent()) ?? "";
    // raters read what training reads: the reviewer's redaction, never the address
    expect(text).not.toContain("ada@example.org");
    redactedSeen ||= text.includes("[PII]");
    await page.keyboard.press(text.includes(MARKER) ? "5" : "2");
  }
  await expect(page.getByRole("status")).toContainText("No document needs your rating right now");
  expect(redactedSeen, "the redacted document was among those rated").toBe(true);

  // 4. Classifier: trained on the ratings; the best-scored samples are lessons; the threshold that keeps the 21 lessons.
  await page.goto(projectUrl + "/corpora");
  await expect(page.getByTestId("rating-summary")).toContainText("40 document(s) to rate, 40 complete, 40 rating(s)");
  await page.getByRole("button", { name: "Train from the ratings" }).click();
  await expect(page.getByTestId("classifier-metrics")).toContainText("Scored documents40");
  // every held-out lesson ranked above every other held-out document
  await expect(page.getByTestId("classifier-metrics")).toContainText("Ranking (AUC, 50 % = chance)100 %");
  const curve = page.getByTestId("threshold-curve").locator("tbody tr");
  await expect(curve.first()).toContainText("40");
  const rows = await curve.all();
  await rows.at(-1)!.getByRole("button", { name: /Read samples at/ }).click();
  const samples = page.getByTestId("threshold-samples").locator("li");
  await expect(samples.first()).toBeVisible();
  for (const sample of await samples.all()) await expect(sample).toContainText(MARKER);
  // the point that keeps exactly the 21 lessons (10 quantiles of 40 scores: one of them falls on the lowest lesson)
  const counts = await Promise.all(rows.map(async (row) => (await row.locator("td").nth(1).textContent())?.trim()));
  const lessonsOnly = rows[counts.indexOf("21")];
  expect(lessonsOnly, `a curve point keeping 21 documents in ${counts.join(", ")}`).toBeTruthy();
  const threshold = ((await lessonsOnly!.locator("td").first().textContent()) ?? "").trim();
  await lessonsOnly!.getByRole("button", { name: `Choose ${threshold}` }).click();
  await expect(page.getByTestId("chosen-threshold")).toHaveText(threshold);
  await expectAccessible(page);

  // 5. Mix: a search over alpha and beta at the chosen threshold, scored on the news, picks beta and saves the mix.
  await page.goto(projectUrl + "/rounds");
  await page.getByLabel("Name").fill("Mix for the news");
  await page.getByLabel("Path").selectOption("mix-search");
  await page.getByLabel("Starting policy").selectOption("scratch");
  await page.getByLabel("Tokenizer vocabulary").fill("300");
  const search = page.getByTestId("mix-search-fields");
  await search.getByLabel("Quality filter").selectOption({ index: 1 });
  await search.getByRole("checkbox", { name: "alpha", exact: true }).check();
  await search.getByRole("checkbox", { name: "beta", exact: true }).check();
  await page.getByLabel("Target domain (held-out text)").selectOption({ label: "beta-news" });
  await page.getByLabel(/Weight levels per source/).fill("2");
  await page.getByLabel(/Save the chosen mix as/).fill("news mix");
  await page.locator("#field-pretrain\\.steps").fill("3");
  await page.locator("#field-pretrain\\.batchSize").fill("2");
  await page.getByRole("button", { name: "Launch round" }).click();
  await page.waitForURL(/\/rounds\/\d+$/);
  await expect(page.getByTestId("round-state")).toHaveAttribute("data-state", "done", { timeout: 60_000 });
  await expect(page.getByTestId("mix-search-table").locator("tbody tr")).toHaveCount(2);
  const chosen = page.getByTestId("chosen-mix");
  await expect(chosen).toContainText("alpha 0 %, beta 100 %");
  const mixId = /Saved as mix #(\d+)/.exec((await chosen.textContent()) ?? "")?.[1];
  expect(mixId).toBeTruthy();

  // 6. Pretrain: from scratch on the saved mix (its classifier and threshold come with it); it finishes and shows its losses.
  await page.goto(projectUrl + "/rounds");
  await page.getByLabel("Name").fill("Base on the news mix");
  await page.getByLabel("Path").selectOption("pretrain");
  await page.getByLabel("Starting policy").selectOption("scratch");
  await page.getByLabel("Tokenizer vocabulary").fill("300");
  await page.getByLabel("A saved mix (from a mix search)").selectOption({ label: `Mix #${mixId} news mix` });
  await page.locator("#field-pretrain\\.steps").fill("4");
  await page.locator("#field-pretrain\\.batchSize").fill("2");
  await page.locator("#field-pretrain\\.optim\\.lr").fill("0.01");
  await page.locator("#field-pretrain\\.optim\\.warmupSteps").fill("1");
  await page.getByRole("button", { name: "Launch round" }).click();
  await page.waitForURL(/\/rounds\/\d+$/);
  await expect(page.getByTestId("round-state")).toHaveAttribute("data-state", "done", { timeout: 60_000 });
  await expect(page.getByTestId("chart-loss")).toBeVisible();
  const heldOut = page.getByTestId("lm-eval").locator("tbody tr");
  await expect(heldOut).toHaveCount(1);
  await expect(heldOut.first()).toContainText("Held-out documents of the mix");
  // before → after: the change is negative (the model learned the mix's language)
  await expect(heldOut.first().locator("td").nth(2)).toHaveText(/^-\d/);
  await expect(page.getByTestId("round-models")).toContainText("(base)");
  const snapshot = page.getByText(/Kept documents of/);
  await expect(snapshot).toContainText(`at ≥ ${threshold}`);
  await expect(snapshot).toContainText(`saved mix #${mixId}`);
  await expect(page.getByTestId("corpus-parts")).toContainText("beta");
  await expect(page.getByTestId("corpus-parts")).not.toContainText("alpha");
  await expectAccessible(page);
});
