/**
 * Export options over real HTTP: the minimum-agreement filter, the consensus preference set,
 * and the Parquet preference file read back and compared with the JSONL export.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { parquetReadObjects } from "hyparquet";
import { startTestServer, type HttpClient, type TestServer } from "../support/test-server.ts";

let server: TestServer;
let researcher: HttpClient;
let projectId = "";

type View = { assignmentId: string; messages: Array<{ content: string }>; completions: Array<{ id: string; text: string }> };

/**
 * Two items of K = 3, each ranked by three labelers:
 *  "Agreed": all three say a > b > c (agreement 1);
 *  "Split": two say a > b > c, one says c > b > a (pairwise agreement 3/9 = 1/3).
 */
before(async () => {
  server = await startTestServer();
  researcher = (await server.newUser("researcher")).client;
  const created = await researcher.json("POST", "/api/v1/projects", { name: "Filters", settings: { k: 3, overlap: { rank: 3 }, goldRate: 0 } });
  projectId = ((await created.json()) as { id: string }).id;
  const content = ["Agreed", "Split"].map((prompt) => JSON.stringify({ prompt, completions: ["a", "b", "c"] })).join("\n");
  const imported = await researcher.json("POST", `/api/v1/projects/${projectId}/imports`, { content, commit: true });
  assert.equal(imported.status, 200, await imported.clone().text());
  for (let person = 0; person < 3; person++) {
    const labeler = (await server.newMember(projectId, "labeler")).client;
    for (;;) {
      const claim = (await (await labeler.json("POST", `/api/v1/projects/${projectId}/next-task`)).json()) as { assignmentId: string } | null;
      if (!claim) break;
      const view = (await (await labeler.json("GET", `/api/v1/assignments/${claim.assignmentId}`)).json()) as View;
      const id = Object.fromEntries(view.completions.map((c) => [c.text, c.id]));
      const reversed = view.messages[0]!.content === "Split" && person === 2;
      const order = reversed ? ["c", "b", "a"] : ["a", "b", "c"];
      const response = await labeler.json("POST", `/api/v1/assignments/${claim.assignmentId}/submit`, {
        idempotencyKey: `filters-${claim.assignmentId}`,
        payload: { ranking: { tiers: order.map((text) => [id[text]]) } },
      });
      assert.equal(response.status, 200, await response.clone().text());
    }
  }
});
after(() => server.stop());

type Pair = { prompt: string; chosen: string; rejected: string; margin: number; weight: number };

async function pairs(query: string): Promise<Pair[]> {
  const response = await researcher.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?format=standard&${query}`);
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.text()).trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as Pair);
}

const count = (list: Pair[], prompt: string) => list.filter((p) => p.prompt === prompt).length;

test("minAgreement keeps only items whose rankings agree at least that much", async () => {
  const all = await pairs("");
  assert.equal(all.length, 18, "2 items × 3 labelers × 3 pairs");
  const agreedOnly = await pairs("minAgreement=0.5");
  assert.equal(agreedOnly.length, 9);
  assert.equal(count(agreedOnly, "Split"), 0);
  // 1/3 is the split item's agreement: a threshold at it keeps it, just above drops it.
  assert.equal(count(await pairs(`minAgreement=${1 / 3}`), "Split"), 9);
  assert.equal(count(await pairs("minAgreement=0.34"), "Split"), 0);
  assert.equal((await pairs("minAgreement=0")).length, 18);

  const raw = (await (await researcher.get(`/api/v1/projects/${projectId}/exports/rankings.jsonl?minAgreement=0.5`)).text()).trim().split("\n");
  assert.equal(raw.length, 3, "the three rankings of the agreed item");
});

test("consensus=true: one pair set per item from the ranked-pairs consensus", async () => {
  const consensus = await pairs("consensus=true");
  // Split: two of three say a > b > c, so the consensus is a > b > c — the dissent adds no pair.
  assert.equal(consensus.length, 6);
  for (const prompt of ["Agreed", "Split"]) {
    assert.deepEqual(
      consensus.filter((p) => p.prompt === prompt).map((p) => `${p.chosen}>${p.rejected}:${p.margin}`).sort(),
      ["a>b:1", "a>c:2", "b>c:1"],
    );
  }
  assert.ok(consensus.every((p) => Math.abs(p.weight - 1 / 3) < 1e-12), "one item still weighs 1 in total");
  assert.equal((await pairs("consensus=true&minAgreement=0.5")).length, 3);
});

test("bad or inapplicable filters are refused with the reason", async () => {
  for (const [path, query, field] of [
    ["preferences.jsonl", "minAgreement=high", "minAgreement"],
    ["preferences.jsonl", "minAgreement=1.5", "minAgreement"],
    ["preferences.jsonl", "consensus=yes", "consensus"],
    ["sft.jsonl", "minAgreement=0.5", "minAgreement"],
    ["rankings.jsonl", "consensus=true", "consensus"],
    ["preferences.parquet", "minAgreement=-1", "minAgreement"],
  ] as const) {
    const response = await researcher.get(`/api/v1/projects/${projectId}/exports/${path}?${query}`);
    assert.equal(response.status, 422, `${path}?${query}`);
    const problem = (await response.json()) as { errors: Array<{ path: string; message: string }> };
    assert.equal(problem.errors[0]?.path, field, JSON.stringify(problem));
  }
});

async function parquetRows(query: string): Promise<Array<Record<string, unknown>>> {
  const response = await researcher.get(`/api/v1/projects/${projectId}/exports/preferences.parquet?${query}`);
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(response.headers.get("content-type"), "application/vnd.apache.parquet");
  assert.match(response.headers.get("content-disposition") ?? "", /preferences\.parquet/);
  return parquetReadObjects({ file: await response.arrayBuffer() });
}

test("preferences.parquet holds exactly the JSONL export's records, in both formats and with filters", async () => {
  for (const query of ["format=standard", "format=conversational", "format=standard&minAgreement=0.5", "format=conversational&consensus=true"]) {
    const jsonl = (await (await researcher.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?${query}`)).text()).trim().split("\n").map((l) => JSON.parse(l) as unknown);
    assert.ok(jsonl.length > 0);
    assert.deepEqual(await parquetRows(query), jsonl, query);
  }
});

test("data-mix weights: 2 doubles the rankings' pairs, 0 leaves them out, 0.5 keeps about half; a round freezes its mix and its trainer's download applies it", async () => {
  const all = await pairs("");
  const doubled = await pairs("mix=rankings:2");
  assert.equal(doubled.length, 2 * all.length);
  assert.deepEqual(doubled.filter((_, i) => i % 2 === 0), all, "each pair twice, in place");
  assert.equal((await researcher.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?mix=rankings:0`)).status, 200);
  assert.equal(await (await researcher.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?mix=rankings:0`)).text(), "");
  const half = await pairs("mix=rankings:0.5");
  assert.ok(half.length > 0 && half.length < all.length, `about half of 18: ${half.length}`);
  assert.deepEqual(await pairs("mix=rankings:0.5"), half, "the same data give the same file");

  // A weight for a source the dataset does not have is refused.
  const wrong = await researcher.get(`/api/v1/projects/${projectId}/exports/preferences.jsonl?mix=demonstrations:2`);
  assert.equal(wrong.status, 422);
  assert.match(await wrong.text(), /made of rankings, compares, corrections/);

  // The round: its snapshot keeps the mix and its job's dataUrl carries it.
  const model = await server.db.insertInto("models").values({ project_id: projectId, name: "base", kind: "base", storage_key: `mix-test-${projectId}`, config: JSON.stringify({}) }).returning("id").executeTakeFirstOrThrow();
  const launched = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "Mixed", path: "dpo", base: { modelId: model.id }, data: { mix: { rankings: 2 } }, next: { prompts: 0 } });
  assert.equal(launched.status, 201, await launched.clone().text());
  const { id, dataSnapshot } = (await launched.json()) as { id: string; dataSnapshot: { mix: unknown } };
  assert.deepEqual(dataSnapshot.mix, { rankings: 2 });
  const job = await server.db.selectFrom("jobs").select("spec").where("round_id", "=", id).executeTakeFirstOrThrow();
  const download = (await (await researcher.get((job.spec as { dataUrl: string }).dataUrl)).text()).trim().split("\n");
  assert.equal(download.length, 2 * all.length);
  assert.equal((await researcher.json("POST", `/api/v1/rounds/${id}/cancel`)).status, 200, "no trainer here: leave no job for another test's");
  const refused = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "Bad mix", path: "dpo", base: { modelId: model.id }, data: { mix: { rankings: 11 } } });
  assert.equal(refused.status, 422);
  assert.ok(((await refused.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path === "data.mix.rankings"));
  const nothing = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "Empty mix", path: "dpo", base: { modelId: model.id }, data: { mix: { rankings: 0 } } });
  assert.equal(nothing.status, 422, "a mix that leaves DPO nothing is refused at launch, not at the trainer");
  assert.ok(((await nothing.json()) as { errors: Array<{ path: string }> }).errors.some((e) => e.path === "data.mix"));
});

test("mix=rankedBest adds each ranking's top answer to the SFT export, left out when blank; an sft-dpo round on rankings alone trains SFT on them", async () => {
  const sft = async (query: string) => {
    const response = await researcher.get(`/api/v1/projects/${projectId}/exports/sft.jsonl?${query}`);
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.text()).trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as { messages: Array<{ role: string; content: string }> });
  };
  const favourite = (record: { messages: Array<{ role: string; content: string }> }) => `${record.messages[0]!.content}:${record.messages.at(-1)!.content}`;
  assert.deepEqual(await sft(""), [], "the project has no demonstrations, and the favourites are not asked for");
  // Agreed: a first three times; Split: a twice and c once (the dissenting labeler's)
  const best = await sft("mix=rankedBest:1");
  assert.deepEqual(best.map(favourite).sort(), ["Agreed:a", "Agreed:a", "Agreed:a", "Split:a", "Split:a", "Split:c"]);
  assert.ok(best.every((r) => r.messages.at(-1)!.role === "assistant"));
  assert.equal((await sft("mix=rankedBest:2")).length, 12);
  assert.deepEqual(await sft("mix=rankedBest:0"), []);

  const model = await server.db.insertInto("models").values({ project_id: projectId, name: "base", kind: "base", storage_key: `ranked-best-${projectId}`, config: JSON.stringify({}) }).returning("id").executeTakeFirstOrThrow();
  const plain = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "No SFT data", path: "sft-dpo", base: { modelId: model.id }, next: { prompts: 0 } });
  assert.equal(plain.status, 422, "without the favourites SFT has nothing to train on");
  assert.match(await plain.text(), /SFT needs demonstrations/);
  const launched = await researcher.json("POST", `/api/v1/projects/${projectId}/rounds`, { name: "Favourites first", path: "sft-dpo", base: { modelId: model.id }, data: { mix: { rankedBest: 1 } }, next: { prompts: 0 } });
  assert.equal(launched.status, 201, await launched.clone().text());
  const { id } = (await launched.json()) as { id: string };
  const job = await server.db.selectFrom("jobs").select("spec").where("round_id", "=", id).executeTakeFirstOrThrow();
  const download = (await (await researcher.get((job.spec as { dataUrl: string }).dataUrl)).text()).trim().split("\n");
  assert.equal(download.length, 6, "the SFT step downloads the six favourites");
  const page = (await (await researcher.get(`/rounds/${id}`, { accept: "text/html" })).text()).replace(/<!-- -->/g, "");
  assert.match(page, /data-testid="data-mix">Rankings(&#x27;|')s? top answers \(SFT\) ×1</, "the round page names the mix");
  assert.equal((await researcher.json("POST", `/api/v1/rounds/${id}/cancel`)).status, 200, "no trainer here: leave no job for another test's");
});

test("chosenChecker leaves out the pairs whose chosen answer the checker marks wrong; a round freezes the project's checker (data.rightChosenOnly)", async () => {
  // A project with a numeric checker on metadata.answer. One labeler ranks style first, whether right or wrong:
  // "The answer is 5." > "The answer is 4." > "4" > "5". "What is 2 + 2?" carries the reference 4; "Say a number."
  // carries none, so the checker cannot mark its answers and every pair of it stays.
  const numeric = { kind: "numeric", field: "answer" };
  const created = await researcher.json("POST", "/api/v1/projects", { name: "Checked pairs", settings: { k: 4, overlap: { rank: 1 }, goldRate: 0, checker: numeric } });
  const checked = ((await created.json()) as { id: string }).id;
  const completions = ["The answer is 5.", "The answer is 4.", "4", "5"];
  const content = [
    { prompt: "What is 2 + 2?", completions, metadata: { answer: 4 } },
    { prompt: "Say a number.", completions },
  ].map((r) => JSON.stringify(r)).join("\n");
  assert.equal((await researcher.json("POST", `/api/v1/projects/${checked}/imports`, { content, commit: true })).status, 200);
  const labeler = (await server.newMember(checked, "labeler")).client;
  for (;;) {
    const claim = (await (await labeler.json("POST", `/api/v1/projects/${checked}/next-task`)).json()) as { assignmentId: string } | null;
    if (!claim) break;
    const view = (await (await labeler.json("GET", `/api/v1/assignments/${claim.assignmentId}`)).json()) as View;
    const id = Object.fromEntries(view.completions.map((c) => [c.text, c.id]));
    const submitted = await labeler.json("POST", `/api/v1/assignments/${claim.assignmentId}/submit`, {
      idempotencyKey: `checked-${claim.assignmentId}`, payload: { ranking: { tiers: completions.map((text) => [id[text]]) } },
    });
    assert.equal(submitted.status, 200, await submitted.clone().text());
  }
  const exported = async (query: string) => {
    const response = await researcher.get(`/api/v1/projects/${checked}/exports/preferences.jsonl?format=standard&${query}`);
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.text()).trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as Pair);
  };
  const on = (list: Pair[], prompt: string) => list.filter((p) => p.prompt.includes(prompt)).map((p) => `${p.chosen} > ${p.rejected}`).sort();
  const all = await exported("");
  assert.equal(all.length, 12, "2 items × 6 pairs");

  // the project's checker: the three pairs that prefer "The answer is 5." go; the right "4" beats the wrong "5" and stays
  const kept = await exported("chosenChecker=project");
  assert.deepEqual(on(kept, "2 + 2"), ["4 > 5", "The answer is 4. > 4", "The answer is 4. > 5"]);
  assert.equal(on(kept, "Say a number.").length, 6, "no reference: nothing to check, every pair stays");
  assert.ok(kept.every((p) => Math.abs(p.weight - 1 / 6) < 1e-12), "a kept pair keeps its weight; the item counts for less");
  // a checker given as JSON instead: exact match wants the bare "4", so "The answer is 4." is wrong too
  const exact = await exported(`chosenChecker=${encodeURIComponent(JSON.stringify({ kind: "exact", field: "answer" }))}`);
  assert.deepEqual(on(exact, "2 + 2"), ["4 > 5"]);

  // the Parquet file and the TRL dataset export hold the same checked pairs
  const parquet = await researcher.get(`/api/v1/projects/${checked}/exports/preferences.parquet?format=standard&chosenChecker=project`);
  assert.equal(parquet.status, 200);
  assert.equal((await parquetReadObjects({ file: await parquet.arrayBuffer() })).length, kept.length);
  const trl = await researcher.get(`/api/v1/projects/${checked}/exports/trl/preferences.jsonl?chosenChecker=project`);
  assert.equal(trl.status, 200, await trl.clone().text());
  assert.equal((await trl.text()).trim().split("\n").length, kept.length);

  // refused with the field named, before anything is streamed or audited: a bad checker, an export without pairs to
  // check, and `project` where the project has no checker (the Parquet file's first bytes would otherwise be out)
  const audits = async () => (await server.db.selectFrom("audit_log").select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow()).n;
  const auditsBefore = await audits();
  for (const [project, path, query] of [
    [checked, "preferences.jsonl", "chosenChecker=numeric"],
    [checked, "preferences.jsonl", `chosenChecker=${encodeURIComponent('{"kind":"sql"}')}`],
    [checked, "sft.jsonl", "chosenChecker=project"],
    [checked, "annotation-reviews.jsonl", "chosenChecker=project"],
    [checked, "trl/unpaired.jsonl", "chosenChecker=project"],
    [projectId, "preferences.jsonl", "chosenChecker=project"],
    [projectId, "preferences.parquet", "chosenChecker=project"],
    [projectId, "trl/preferences.jsonl", "chosenChecker=project"],
  ] as const) {
    const response = await researcher.get(`/api/v1/projects/${project}/exports/${path}?${query}`);
    assert.equal(response.status, 422, `${path}?${query}`);
    assert.equal(((await response.json()) as { errors: Array<{ path: string }> }).errors[0]?.path, "chosenChecker", `${path}?${query}`);
  }
  assert.equal(await audits(), auditsBefore, "a refused export leaves no audit entry");

  // A round freezes the project's checker at launch, and its DPO job downloads the checked pairs even after the
  // project's checker changes.
  const model = await server.db.insertInto("models").values({ project_id: checked, name: "base", kind: "base", storage_key: `checked-${checked}`, config: JSON.stringify({}) }).returning("id").executeTakeFirstOrThrow();
  const launched = await researcher.json("POST", `/api/v1/projects/${checked}/rounds`, { name: "Right chosen", path: "dpo", base: { modelId: model.id }, data: { rightChosenOnly: true }, next: { prompts: 0 } });
  assert.equal(launched.status, 201, await launched.clone().text());
  const { id, dataSnapshot } = (await launched.json()) as { id: string; dataSnapshot: { chosenChecker: unknown } };
  assert.deepEqual(dataSnapshot.chosenChecker, { ...numeric, tolerance: 0, relativeTolerance: 0 });
  const settings = (await server.db.selectFrom("projects").select("settings").where("id", "=", checked).executeTakeFirstOrThrow()).settings as Record<string, unknown>;
  await server.db.updateTable("projects").set({ settings: JSON.stringify({ ...settings, checker: { kind: "exact", field: "answer" } }) }).where("id", "=", checked).execute();
  const job = await server.db.selectFrom("jobs").select("spec").where("round_id", "=", id).executeTakeFirstOrThrow();
  const download = (await (await researcher.get(`${(job.spec as { dataUrl: string }).dataUrl}&format=standard`)).text()).trim().split("\n").map((l) => JSON.parse(l) as Pair);
  assert.deepEqual(on(download, "2 + 2"), on(kept, "2 + 2"));
  assert.equal(download.length, 9);
  assert.equal((await researcher.json("POST", `/api/v1/rounds/${id}/cancel`)).status, 200, "no trainer here: leave no job for another test's");

  // refused with the field named, and nothing launched: no checker, or a path that reads no preference pairs
  const before = (await server.db.selectFrom("rounds").select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow()).n;
  const baseHere = await server.db.insertInto("models").values({ project_id: projectId, name: "base", kind: "base", storage_key: `unchecked-${projectId}`, config: JSON.stringify({}) }).returning("id").executeTakeFirstOrThrow();
  for (const [project, body, message] of [
    [projectId, { path: "dpo", base: { modelId: baseHere.id } }, /no checker/],
    [checked, { path: "sft", base: { modelId: model.id } }, /only DPO and reward-model steps/],
  ] as const) {
    const refused = await researcher.json("POST", `/api/v1/projects/${project}/rounds`, { name: "Refused", ...body, data: { rightChosenOnly: true } });
    assert.equal(refused.status, 422);
    const errors = ((await refused.json()) as { errors: Array<{ path: string; message: string }> }).errors;
    assert.equal(errors[0]?.path, "data.rightChosenOnly");
    assert.match(errors[0]!.message, message);
  }
  assert.equal((await server.db.selectFrom("rounds").select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow()).n, before);
});
