import AxeBuilder from "@axe-core/playwright";
import { expect, type Page } from "@playwright/test";

export function app(): { url: string; email: string; password: string } {
  return JSON.parse(process.env.TANDEM_E2E ?? "null") as { url: string; email: string; password: string };
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
