/**
 * Labeler wellbeing (issue 16 item 3, decision 0036) through the real server and PostgreSQL:
 * sensitive marks from the import and from labelers' flags, recorded reveals, the daily cap
 * under concurrent claims, opt-outs, and a person's own exposure.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
before(async () => {
  server = await startTestServer({ TANDEM_JUDGE_POLL_MS: "0" });
});
after(() => server.stop());

type View = { assignmentId: string; completions: Array<{ id: string }>; messages: Array<{ content: string }>; sensitive: { categories: string[]; reveals: number } };

async function project(researcher: HttpClient, settings: Record<string, unknown>, records: Array<Record<string, unknown>>): Promise<string> {
  const created = await researcher.json("POST", "/api/v1/projects", { access: "open", name: `Wellbeing ${Date.now()}`, settings: { k: 2, overlap: { rank: 1 }, goldRate: 0, nearDuplicateThreshold: 0.99, maxPendingPerUser: 20, ...settings } });
  assert.equal(created.status, 201, await created.clone().text());
  const id = ((await created.json()) as { id: string }).id;
  const imported = await researcher.json("POST", `/api/v1/projects/${id}/imports`, { content: records.map((r) => JSON.stringify(r)).join("\n"), commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
  return id;
}

async function claim(client: HttpClient, projectId: string): Promise<string | null> {
  const response = await client.json("POST", `/api/v1/projects/${projectId}/next-task`);
  assert.equal(response.status, 200, await response.clone().text());
  return ((await response.json()) as { assignmentId: string } | null)?.assignmentId ?? null;
}

const view = async (client: HttpClient, id: string) => (await (await client.get(`/api/v1/assignments/${id}`)).json()) as View;

test("marks come from the import (declared, or a classifier score at the threshold) and from a labeler's sensitive flag; reveals are recorded", async () => {
  const { client: researcher } = await server.newUser("researcher");
  const projectId = await project(researcher, {}, [
    { prompt: "Describe the battle scene.", completions: ["one", "two"], metadata: { sensitive: "violent_content" } },
    { prompt: "A sad story please.", completions: ["three", "four"], metadata: { sensitivity: { self_harm: 0.8, harassment: 0.79 } } },
    { prompt: "Name a colour.", completions: ["blue", "green"], metadata: { sensitivity: { self_harm: 0.1 } } },
  ]);
  const marks = await server.db
    .selectFrom("sensitive_marks").innerJoin("prompts", "prompts.id", "sensitive_marks.prompt_id")
    .select(["sensitive_marks.category", "sensitive_marks.source", "sensitive_marks.score"]).where("prompts.project_id", "=", projectId).orderBy("sensitive_marks.category").execute();
  assert.deepEqual(marks, [{ category: "self_harm", source: "classifier", score: 0.8 }, { category: "violent_content", source: "import", score: null }]);

  const labeler = await server.newUser("labeler");
  const seen: View[] = [];
  for (let i = 0; i < 3; i++) {
    const id = await claim(labeler.client, projectId);
    assert.ok(id);
    const v = await view(labeler.client, id);
    seen.push(v);
    if (v.sensitive.categories.length > 0) {
      for (let r = 1; r <= 2; r++) {
        const revealed = await labeler.client.json("POST", `/api/v1/assignments/${id}/reveal-content`, {});
        assert.deepEqual(await revealed.json(), { reveals: r }, "every reveal is recorded");
      }
      assert.equal((await view(labeler.client, id)).sensitive.reveals, 2);
      assert.equal((await labeler.client.json("POST", `/api/v1/assignments/${id}/skip`, { reason: "not now" })).status, 200);
    } else {
      assert.equal((await labeler.client.json("POST", `/api/v1/assignments/${id}/reveal-content`, {})).status, 409);
      // A sensitive flag on the plain task marks its prompt for everyone after.
      const submitted = await labeler.client.json("POST", `/api/v1/assignments/${id}/submit`, {
        idempotencyKey: `flag-key-${id}`,
        payload: { ranking: { tiers: [[v.completions[0]!.id], [v.completions[1]!.id]] }, flags: { [v.completions[1]!.id]: ["violent_content", "hallucination"] } },
      });
      assert.equal(submitted.status, 200, await submitted.clone().text());
    }
  }
  assert.deepEqual(seen.map((v) => v.sensitive.categories), [["violent_content"], ["self_harm"], []]);
  const prompts = await server.db.selectFrom("prompts").select(["id", "messages"]).where("project_id", "=", projectId).execute();
  const colour = prompts.find((p) => p.messages[0]!.content === "Name a colour.")!;
  const flagged = await server.db.selectFrom("sensitive_marks").select(["category", "source", "marked_by"]).where("prompt_id", "=", colour.id).execute();
  assert.deepEqual(flagged, [{ category: "violent_content", source: "flag", marked_by: labeler.id }]);

  const exposure = (await (await labeler.client.get("/api/v1/me/exposure")).json()) as { sensitiveTasks: number; reveals: number };
  // The task this labeler flagged counts too: they read what they flagged.
  assert.deepEqual([exposure.sensitiveTasks, exposure.reveals], [3, 4]);
  const home = (await (await labeler.client.get("/", { accept: "text/html" })).text()).replaceAll("<!-- -->", "");
  assert.match(home, /data-testid="exposure"[^>]*>3 sensitive tasks served, content revealed 4 times/);
});

test("the daily cap holds under concurrent claims: the queue then serves other work", { timeout: 120_000 }, async () => {
  const { client: researcher } = await server.newUser("researcher");
  const cap = 3;
  const records = [
    ...Array.from({ length: 8 }, (_, i) => ({ prompt: `Sensitive item ${i} about storms`, completions: [`s${i}a`, `s${i}b`], metadata: { sensitive: "violent_content" } })),
    ...Array.from({ length: 4 }, (_, i) => ({ prompt: `Plain item ${i} about gardens`, completions: [`p${i}a`, `p${i}b`] })),
  ];
  const projectId = await project(researcher, { wellbeing: { dailySensitiveCap: cap } }, records);
  const labeler = await server.newUser("labeler");
  // Rounds of six claims at once (several tabs); what they got is skipped, and again until nothing is left.
  for (let round = 0; round < 10; round++) {
    const ids = (await Promise.all(Array.from({ length: 6 }, () => claim(labeler.client, projectId)))).filter((id): id is string => id !== null);
    if (ids.length === 0) break;
    for (const id of new Set(ids)) await labeler.client.json("POST", `/api/v1/assignments/${id}/skip`, { reason: "cap test" });
  }
  const served = await server.db
    .selectFrom("assignments").innerJoin("tasks", "tasks.id", "assignments.task_id")
    .select((eb) => ["tasks.prompt_id", eb.exists(eb.selectFrom("sensitive_marks").whereRef("sensitive_marks.prompt_id", "=", "tasks.prompt_id").select("id")).as("sensitive")])
    .where("assignments.user_id", "=", labeler.id).where("tasks.project_id", "=", projectId).execute();
  assert.equal(served.filter((s) => s.sensitive).length, cap, "exactly the cap of sensitive tasks, never more");
  assert.equal(served.filter((s) => !s.sensitive).length, 4, "and all the other work");
  // Another labeler has their own cap.
  const other = await server.newUser("labeler");
  const id = await claim(other.client, projectId);
  assert.ok(id);
  assert.deepEqual((await view(other.client, id)).sensitive.categories, ["violent_content"]);
});

test("a labeler who opts out of a category is never served it; bad opt-outs and out-of-range settings are refused with the field named", async () => {
  const { client: researcher } = await server.newUser("researcher");
  const projectId = await project(researcher, {}, [
    { prompt: "Violent one", completions: ["a1", "b1"], metadata: { sensitive: "violent_content" } },
    { prompt: "Self harm one", completions: ["a2", "b2"], metadata: { sensitive: "self_harm" } },
    { prompt: "Plain one", completions: ["a3", "b3"] },
  ]);
  const labeler = await server.newUser("labeler");
  const refused = await labeler.client.json("PUT", "/api/v1/me/opt-outs", { categories: ["Violent Content"] });
  assert.equal(refused.status, 422);
  assert.ok(((await refused.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path.startsWith("categories")));
  const saved = await labeler.client.json("PUT", "/api/v1/me/opt-outs", { categories: ["violent_content"] });
  assert.deepEqual(await saved.json(), { optOuts: ["violent_content"] });
  const got: string[][] = [];
  for (;;) {
    const id = await claim(labeler.client, projectId);
    if (!id) break;
    got.push((await view(labeler.client, id)).sensitive.categories);
    await labeler.client.json("POST", `/api/v1/assignments/${id}/skip`, { reason: "opt-out test" });
  }
  assert.deepEqual(got, [["self_harm"], []]);

  const current = (await (await researcher.get(`/api/v1/projects/${projectId}`)).json()) as { name: string; settings: Record<string, unknown> };
  for (const [change, path] of [
    [{ dailySensitiveCap: -1 }, "settings.wellbeing.dailySensitiveCap"],
    [{ breakAfterMinutes: 1 }, "settings.wellbeing.breakAfterMinutes"],
    [{ classifierThreshold: 2 }, "settings.wellbeing.classifierThreshold"],
  ] as const) {
    const response = await researcher.json("PUT", `/api/v1/projects/${projectId}`, { name: current.name, settings: { ...current.settings, wellbeing: { ...(current.settings.wellbeing as object), ...change } } });
    assert.equal(response.status, 422);
    assert.ok(((await response.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path === path), path);
  }
  assert.deepEqual(((await (await researcher.get(`/api/v1/projects/${projectId}`)).json()) as { settings: unknown }).settings, current.settings);
});
