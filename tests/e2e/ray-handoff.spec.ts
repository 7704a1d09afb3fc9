import { expect, test } from "@playwright/test";
import { app, expectAccessible, signIn } from "./support.ts";

// Labeled data to train on, imported in TRL's formats: demonstrations for SFT, pairs for DPO.
const sft = [
  { messages: [{ role: "user", content: "What is 2 + 2?" }, { role: "assistant", content: "<<2+2=4>> The answer is 4." }] },
  { messages: [{ role: "user", content: "What is 3 * 5?" }, { role: "assistant", content: "<<3*5=15>> The answer is 15." }] },
];
const pairs = [
  { prompt: [{ role: "user", content: "What is 6 * 7?" }], chosen: [{ role: "assistant", content: "<<6*7=42>> 42" }], rejected: [{ role: "assistant", content: "48" }] },
];
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

test("a round handed to the Ray cluster: launched from the form, its status and logs follow the cluster live on the round page", async ({ page }) => {
  const { email, password, url, rayUrl } = app();
  await signIn(page, email, password);
  await page.goto(url + "/projects");
  await page.getByLabel("Name").fill("On the cluster");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("heading", { name: "On the cluster" })).toBeVisible();
  const projectUrl = page.url();
  for (const [dataset, rows] of [["sft", sft], ["preferences", pairs]] as const) {
    await page.goto(projectUrl + "/import");
    await page.getByLabel("Prompt file").setInputFiles({ name: `${dataset}.jsonl`, mimeType: "application/jsonl", buffer: Buffer.from(jsonl(rows)) });
    await page.getByLabel("File format").selectOption("trl");
    await page.getByLabel("Dataset").selectOption(dataset);
    await page.getByRole("button", { name: "Preview" }).click();
    await page.getByRole("button", { name: "Import" }).click();
    await expect(page.getByRole("status")).toContainText("Imported");
  }

  await page.goto(projectUrl + "/rounds");
  await page.getByLabel("The Ray cluster (OpenRLHF or TRL)").check();
  await page.getByLabel("Engine").selectOption("openrlhf");
  // A model name a shell could misread is refused, and what was typed stays.
  await page.getByLabel("Base model (Hugging Face id or path)").fill("gpt2; rm -rf /");
  await page.getByLabel("Path", { exact: true }).selectOption("sft-dpo");
  await page.getByLabel("Starting policy").selectOption("scratch");
  await page.getByRole("button", { name: "Launch round" }).click();
  await expect(page.getByText("may hold only letters")).toBeVisible();
  await expect(page.getByLabel("Base model (Hugging Face id or path)")).toHaveValue("gpt2; rm -rf /");
  await page.getByLabel("Base model (Hugging Face id or path)").fill("Qwen/Qwen2.5-0.5B-Instruct");
  await page.getByRole("button", { name: "Launch round" }).click();

  await expect(page).toHaveURL(/\/rounds\/\d+$/);
  const card = page.getByTestId("ray-submission");
  await expect(page.getByTestId("ray-status")).toHaveText("RUNNING", { timeout: 20_000 });
  await expect(card).toContainText("openrlhf · Qwen/Qwen2.5-0.5B-Instruct");
  await expectAccessible(page);

  // The cluster finishes the job: the page follows without a reload (socket.io), logs and all.
  const submission = (await card.getByRole("link").textContent())!.trim();
  expect(submission).toMatch(/^tandem-round-\d+-1-[0-9a-f]{6}$/);
  expect((await (await page.request.get(rayUrl + "/_fake/jobs")).json()) as string[]).toContain(submission);
  expect((await page.request.post(`${rayUrl}/_fake/release/${submission}`)).status()).toBe(200);
  await expect(page.getByTestId("ray-status")).toHaveText("SUCCEEDED", { timeout: 20_000 });
  await expect(page.getByTestId("ray-logs")).toContainText("deepspeed --module openrlhf.cli.train_dpo");
  await expect(page.getByTestId("round-models")).toContainText("on the cluster at");
});
