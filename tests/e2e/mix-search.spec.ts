/**
 * The data-mix search in a browser: two corpora of different generated languages and a target sample of one are
 * uploaded and cleaned; on Training rounds the mix-search section is filled in (a target share that is not allowed is
 * refused with its field named), the search runs on the embedded trainer, and the round page shows the table of
 * candidates with the chosen mix — all of the target's language — saved for pretraining. Accessible throughout.
 */
import { expect, test } from "@playwright/test";
import { app, expectAccessible, languageDocs, signIn } from "./support.ts";

/** A corpus file of `docs` documents in a generated language. */
const language = (letters: string, seed: number, docs: number) => languageDocs(letters, seed, docs).map((text) => JSON.stringify({ text })).join("\n") + "\n";

test("a mix search over two corpora picks the target's language and shows its table", async ({ page }) => {
  test.setTimeout(240_000);
  const { url, email, password } = app();
  await signIn(page, email, password);
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("Mix search");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("heading", { name: "Mix search" })).toBeVisible();
  const projectUrl = page.url();
  await page.getByRole("link", { name: "Pre-training corpora" }).click();
  const add = async (name: string, body: string) => {
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByLabel("License").fill("CC0-1.0");
    await page.getByLabel("Provenance").fill("generated for the test");
    await page.getByLabel("Files to upload").setInputFiles({ name: `${name}.jsonl`, mimeType: "application/jsonl", buffer: Buffer.from(body) });
    await page.getByRole("button", { name: "Add corpus" }).click();
    await expect(page.getByTestId("corpora")).toContainText(name);
  };
  await add("alpha", language("abcdefghijklm", 1, 10));
  await add("beta", language("nopqrstuvwxyz", 2, 10));
  await add("beta-news", language("nopqrstuvwxyz", 3, 3));
  for (const name of ["alpha", "beta", "beta-news"]) await page.getByRole("checkbox", { name, exact: true }).check();
  await page.getByLabel(/Fewest characters/).fill("50");
  await page.getByRole("button", { name: "Start cleaning" }).click();
  await expect(page.getByTestId("cleaning-jobs").getByTestId("job-state").first()).toHaveText("done", { timeout: 20_000 });

  await page.goto(projectUrl);
  await page.getByRole("link", { name: "Training rounds" }).click();
  await page.getByLabel("Name").fill("Which mix");
  await page.getByLabel("Path").selectOption("mix-search");
  await page.getByLabel("Starting policy").selectOption("scratch");
  const section = page.getByTestId("mix-search-fields");
  await section.getByRole("checkbox", { name: "alpha", exact: true }).check();
  await section.getByRole("checkbox", { name: "beta", exact: true }).check();
  // the target is also a source: more than half of it held out leaves too little to train on
  await page.getByLabel("Target domain (held-out text)").selectOption({ label: "beta" });
  await page.getByLabel(/Share of the target held out/).fill("0.8");
  await page.locator("#field-pretrain\\.steps").fill("3");
  await page.locator("#field-pretrain\\.batchSize").fill("2");
  await page.getByRole("button", { name: "Launch round" }).click();
  await expect(page.getByRole("alert").first()).toContainText("nothing was launched");
  await expect(page.getByTestId("mix-search-fields").getByRole("alert")).toContainText("mixSearch.target.share");
  await expectAccessible(page);

  await page.getByLabel("Target domain (held-out text)").selectOption({ label: "beta-news" });
  await page.getByLabel(/Share of the target held out/).fill("");
  const section2 = page.getByTestId("mix-search-fields");
  await section2.getByRole("checkbox", { name: "alpha", exact: true }).check();
  await section2.getByRole("checkbox", { name: "beta", exact: true }).check();
  await page.getByLabel(/Save the chosen mix as/).fill("beta only");
  await page.getByRole("button", { name: "Launch round" }).click();
  await page.waitForURL(/\/rounds\/\d+$/);
  await expect(page.getByTestId("round-state")).toHaveAttribute("data-state", "done", { timeout: 200_000 });
  const table = page.getByTestId("mix-search-table");
  await expect(table.locator("tbody tr")).toHaveCount(3);
  await expect(table.locator('tbody tr[aria-current="true"]')).toContainText("0 %");
  await expect(table.locator('tbody tr[aria-current="true"] td').nth(1)).toHaveText("100 %");
  await expect(page.getByTestId("chosen-mix")).toContainText("alpha 0 %, beta 100 %");
  await expect(page.getByTestId("corpus-parts")).toContainText("target:beta-news");
  await expectAccessible(page);
});
