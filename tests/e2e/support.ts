import AxeBuilder from "@axe-core/playwright";
import { expect, type APIRequestContext, type Browser, type Page } from "@playwright/test";

export function app(): { url: string; email: string; password: string; rayUrl: string } {
  return JSON.parse(process.env.TANDEM_E2E ?? "null") as { url: string; email: string; password: string; rayUrl: string };
}

export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto(app().url + "/login");
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
}

/** axe-core on the current page: no serious or critical violation is allowed. */
export async function expectAccessible(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.length} nodes)`)).toEqual([]);
}

/** Creates a user on the admin page (the page must belong to a signed-in admin). */
export async function createUser(page: Page, name: string, email: string, role: string): Promise<void> {
  await page.goto(app().url + "/admin/users");
  const form = page.locator("form", { has: page.getByRole("button", { name: "Create user" }) });
  await form.getByLabel("Name").fill(name);
  await form.getByLabel("E-mail").fill(email);
  await form.getByLabel("Role").selectOption(role);
  await form.getByLabel(/Initial password/).fill("labeling-all-day");
  await form.getByRole("button", { name: "Create user" }).click();
  await expect(page.getByRole("status")).toContainText(`Created ${email}`);
}

/** A second browser context signed in as a user created by createUser. */
export async function asLabeler(browser: Browser, email: string): Promise<{ page: Page; close: () => Promise<void> }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, email, "labeling-all-day");
  return { page, close: () => context.close() };
}

/**
 * Adds people to a (members-only) project through its settings page's members form, as a
 * researcher would (decision 0031). The page must belong to a researcher of the project or an admin.
 */
export async function addMembers(page: Page, projectUrl: string, emails: string[], role = "labeler"): Promise<void> {
  await page.goto(projectUrl + "/settings");
  await page.getByLabel(/Add people/).fill(emails.join("\n"));
  await page.getByLabel("Their role in this project").selectOption(role);
  await page.getByRole("button", { name: "Add members" }).click();
  await expect(page.getByRole("status")).toContainText(`${emails.length} added`);
}

/**
 * Takes every task this person's queue offers, over the API, and ranks it alphabetically by text
 * (or reversed): two people ranking opposite ways disagree on every item.
 */
export async function rankAllByApi(request: APIRequestContext, projectId: string, reverse: boolean): Promise<number> {
  const { url } = app();
  let done = 0;
  for (;;) {
    const claim = await request.post(`${url}/api/v1/projects/${projectId}/next-task`, { headers: { origin: url } });
    expect(claim.status(), await claim.text()).toBe(200);
    const next = (await claim.json()) as { assignmentId: string } | null;
    if (!next) return done;
    const view = (await (await request.get(`${url}/api/v1/assignments/${next.assignmentId}`)).json()) as { completions: Array<{ id: string; text: string }> };
    const ids = [...view.completions].sort((a, b) => a.text.localeCompare(b.text)).map((c) => [c.id]);
    const submitted = await request.post(`${url}/api/v1/assignments/${next.assignmentId}/submit`, {
      data: { idempotencyKey: `e2e-rank-all-${next.assignmentId}`, payload: { ranking: { tiers: reverse ? ids.reverse() : ids } } },
      headers: { origin: url },
    });
    expect(submitted.status(), await submitted.text()).toBe(200);
    done++;
  }
}

/**
 * Documents in a generated "language": 40 words of letter pairs from its own alphabet, seeded. Two alphabets share no
 * word, so a model trained on one has a clearly lower loss on more text of it than on the other (the mix specs).
 */
export function languageDocs(letters: string, seed: number, docs: number): string[] {
  let state = seed;
  const next = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0), state / 4294967296);
  const pick = () => letters[Math.floor(next() * letters.length)]!;
  const word = () => Array.from({ length: 2 + Math.floor(next() * 3) }, () => pick() + pick()).join("");
  return Array.from({ length: docs }, () => Array.from({ length: 40 }, word).join(" "));
}
