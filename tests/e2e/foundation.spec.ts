import { expect, test } from "@playwright/test";
import { app, expectAccessible, signIn } from "./support.ts";

test("admin signs in with the printed password, creates a labeler who cannot open admin pages", async ({ page, browser }) => {
  const { url, email, password } = app();
  await page.goto(url);
  await expect(page).toHaveURL(/\/login\?redirectTo=%2F/);
  await expectAccessible(page);

  await signIn(page, email, password);
  await expect(page.getByRole("heading", { name: /Welcome, Administrator/ })).toBeVisible();
  await expectAccessible(page);

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
  await expect(page.getByRole("heading", { name: "Users" })).toBeVisible();
  await expectAccessible(page);
  const form = page.locator("form", { has: page.getByRole("button", { name: "Create user" }) });
  await form.getByLabel("Name").fill("Lee Labeler");
  await form.getByLabel("E-mail").fill("lee@example.test");
  await form.getByLabel("Role").selectOption("labeler");
  await form.getByLabel(/Initial password/).fill("lee-labels-all-day");
  await form.getByRole("button", { name: "Create user" }).click();
  await expect(page.getByRole("status")).toContainText("Created lee@example.test as Labeler");
  // The form is cleared for the next person: above all the initial password, which must not stay on screen.
  await expect(form.getByLabel(/Initial password/)).toHaveValue("");
  await expect(form.getByLabel("E-mail")).toHaveValue("");
  await expect(form.getByLabel("Name")).toHaveValue("");
  await expect(form.getByLabel("Role")).toHaveValue("labeler");
  await expect(page.getByTestId("user-lee@example.test")).toBeVisible();

  // The labeler, in a separate browser context (own cookies).
  const labelerContext = await browser.newContext();
  const labeler = await labelerContext.newPage();
  await signIn(labeler, "lee@example.test", "lee-labels-all-day");
  await expect(labeler.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" })).toHaveCount(0);
  const response = await labeler.goto(url + "/admin/users");
  expect(response?.status()).toBe(403);
  await expect(labeler.getByRole("heading", { name: "Not allowed" })).toBeVisible();
  await expectAccessible(labeler);
  expect((await labeler.goto(url + "/admin/tokens"))?.status()).toBe(403);
  await labelerContext.close();
});

test("a wrong password shows one generic message and keeps the e-mail", async ({ page }) => {
  await page.goto(app().url + "/login");
  await page.getByLabel("E-mail").fill("nobody@example.test");
  await page.getByLabel("Password").fill("wrong-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("The e-mail address or password is not correct.");
  await expect(page.getByLabel("E-mail")).toHaveValue("nobody@example.test");
});

test("admin creates an API token that is shown once", async ({ page }) => {
  const { email, password } = app();
  await signIn(page, email, password);
  await page.goto(app().url + "/admin/tokens");
  await page.getByLabel("Name").fill("trainer on laptop");
  await page.getByLabel("Role").selectOption("trainer");
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = await page.getByTestId("new-token").textContent();
  expect(secret).toMatch(/^tdm_/);
  await expectAccessible(page);
  await page.reload();
  await expect(page.getByTestId("new-token")).toHaveCount(0);
  await expect(page.getByRole("cell", { name: "trainer on laptop", exact: true })).toBeVisible();
  const me = await page.request.get(app().url + "/api/v1/me", { headers: { authorization: `Bearer ${secret}` } });
  expect((await me.json()).role).toBe("trainer");
});

test("dark mode can be chosen and the 404 page is accessible in it", async ({ page }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  await page.getByLabel("Colour theme").selectOption("dark");
  await expect(page.locator("html")).toHaveClass(/dark/);
  await expectAccessible(page);
  const response = await page.goto(url + "/no/such/page");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await expectAccessible(page);
});

test("the layout adapts to a phone-sized screen", async ({ page }) => {
  const { email, password } = app();
  await page.setViewportSize({ width: 390, height: 800 });
  await signIn(page, email, password);
  await expect(page.getByRole("navigation", { name: "Main", exact: true })).toBeHidden();
  await page.getByText("Menu").click();
  await expect(page.getByRole("navigation", { name: "Main (compact)" }).getByRole("link", { name: "Users" })).toBeVisible();
  await expectAccessible(page);
});
