import { expect, test } from "@playwright/test";
import { app, asLabeler, createUser, expectAccessible, signIn } from "./support.ts";

/** A labeler reveals a blurred sensitive task and the reveal is recorded (issue 16 item 3, decision 0036). */
test("sensitive content is blurred with its category until revealed; the reveal is recorded and shows on the labeler's home", async ({ page, browser }) => {
  const { url, email, password } = app();
  await signIn(page, email, password);
  const post = (path: string, data: unknown) => page.request.post(`${url}${path}`, { data, headers: { origin: url } });
  const created = await post("/api/v1/projects", { access: "open", name: `Sensitive ${Date.now()}`, settings: { k: 2, overlap: { rank: 1 }, goldRate: 0 } });
  expect(created.status(), await created.text()).toBe(201);
  const projectId = ((await created.json()) as { id: string }).id;
  const imported = await post(`/api/v1/projects/${projectId}/imports`, {
    content: JSON.stringify({ prompt: "Describe the aftermath of the battle.", completions: ["A grim field.", "A quiet dawn."], metadata: { sensitive: "violent_content" } }),
    commit: true,
  });
  expect(imported.status(), await imported.text()).toBe(200);

  const labelerEmail = `sensitive-${Date.now()}@example.test`;
  await createUser(page, "Sensitive Labeler", labelerEmail, "labeler");
  const labeler = await asLabeler(browser, labelerEmail);
  const lp = labeler.page;
  await lp.goto(`${url}/projects/${projectId}`);
  await lp.getByRole("button", { name: "Start labeling" }).click();
  await expect(lp.getByRole("heading", { level: 1, name: "Rank the completions" })).toBeVisible();
  const assignmentId = lp.url().split("/").pop()!;
  await expect(lp.getByTestId("sensitive-warning")).toContainText("violent content");
  await expect(lp.getByTestId("sensitive-content")).toHaveAttribute("data-blurred", "true");
  await expectAccessible(lp);
  await lp.getByRole("button", { name: "Reveal the content" }).click();
  await expect(lp.getByTestId("sensitive-content")).toHaveAttribute("data-blurred", "false");
  await expect(lp.getByTestId("sensitive-warning")).toHaveCount(0);
  await expect(lp.getByText("A grim field.")).toBeVisible();

  const view = (await (await lp.request.get(`${url}/api/v1/assignments/${assignmentId}`)).json()) as { sensitive: { categories: string[]; reveals: number } };
  expect(view.sensitive).toEqual({ categories: ["violent_content"], reveals: 1 });
  await lp.goto(url + "/");
  await expect(lp.getByTestId("exposure")).toContainText("1 sensitive task served, content revealed 1 time");
  await labeler.close();
});
