import { sql } from "kysely";
import { AppError } from "../lib/app-error.ts";
import { recordAudit } from "../auth/audit.server.ts";
import type { Db } from "../db/database.server.ts";
import type { ProjectAccessMode } from "../db/schema.ts";
import { visibleProjects, type Caller } from "../auth/project-access.server.ts";
import { addCreator } from "./members.server.ts";
import { projectSettingsSchema, type ProjectInput, type ProjectSettings } from "./project-settings.ts";

export type Project = { id: string; name: string; guidelines: string; settings: ProjectSettings; created_at: Date; access: ProjectAccessMode };

const projectColumns = ["id", "name", "guidelines", "settings", "created_at", "access"] as const;

/** New projects are members-only unless `access` says otherwise; the creator is their first researcher. */
export async function createProject(db: Db, actorId: string, input: ProjectInput & { access?: ProjectAccessMode }): Promise<Project> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto("projects")
      .values({ name: input.name, guidelines: input.guidelines, settings: JSON.stringify(input.settings), created_by: actorId, access: input.access ?? "members" })
      .returning(projectColumns)
      .executeTakeFirstOrThrow();
    await refuseForeignJudge(trx, row.id, input.settings);
    await refuseForeignRewardModel(trx, row.id, input.settings);
    await addCreator(trx, row.id, actorId);
    await recordAudit(trx, { actorUserId: actorId, action: "project.create", target: `project:${row.id}`, details: { access: row.access } });
    return { ...row, settings: projectSettingsSchema.parse(row.settings) };
  });
}

export async function updateProject(db: Db, actorId: string, projectId: string, input: ProjectInput): Promise<Project> {
  return db.transaction().execute(async (trx) => {
    await refuseForeignJudge(trx, projectId, input.settings);
    await refuseForeignRewardModel(trx, projectId, input.settings);
    const row = await trx
      .updateTable("projects")
      .set({ name: input.name, guidelines: input.guidelines, settings: JSON.stringify(input.settings), updated_at: new Date() })
      .where("id", "=", projectId)
      .returning(projectColumns)
      .executeTakeFirst();
    if (!row) throw new AppError("not_found", "No such project.");
    await recordAudit(trx, { actorUserId: actorId, action: "project.update", target: `project:${projectId}` });
    return { ...row, settings: projectSettingsSchema.parse(row.settings) };
  });
}

/**
 * A judge must be one of this project's endpoints, a registered chat model or a registered reward
 * model (decision 0053) whose files Tandem holds: checked before anything is saved.
 */
async function refuseForeignJudge(db: Db, projectId: string, settings: ProjectSettings): Promise<void> {
  const source = settings.judge?.source;
  if (!source) return;
  if (source.kind === "endpoint") {
    const endpoint = await db.selectFrom("external_endpoints").select("project_id").where("id", "=", source.endpointId).executeTakeFirst();
    if (endpoint?.project_id === projectId) return;
    throw new AppError("validation_failed", "The settings were not saved.", [{ path: "settings.judge.source.endpointId", message: "not an external endpoint of this project" }]);
  }
  // A project's models are its data (decision 0031): a judge is this project's model or one registered for every project.
  const model = await db.selectFrom("models").select(["kind", "project_id", "external_uri"]).where("id", "=", source.modelId).executeTakeFirst();
  const problem = !model
    ? "no such registered model"
    : model.project_id !== null && model.project_id !== projectId
      ? "a model of another project"
      : source.kind === "model" && model.kind === "reward"
        ? "a reward model scores text; attach it as a reward-model judge, or choose a chat model"
        : source.kind === "reward-model" && model.kind !== "reward"
          ? `a ${model.kind} model; a reward-model judge must be a reward model`
          : source.kind === "reward-model" && model.external_uri
            ? "trained outside Tandem; its files are not here to score with"
            : null;
  if (problem === null) return;
  throw new AppError("validation_failed", "The settings were not saved.", [{ path: "settings.judge.source.modelId", message: problem }]);
}

/**
 * The uncertainty-first queue's reward models (decisions 0048, 0053) must be reward models of this
 * project (or registered for every project) whose files Tandem holds: checked before anything is
 * saved, each refusal naming its field.
 */
async function refuseForeignRewardModel(db: Db, projectId: string, settings: ProjectSettings): Promise<void> {
  const errors: Array<{ path: string; message: string }> = [];
  for (const field of ["rewardModelId", "previousRewardModelId"] as const) {
    const modelId = settings.uncertaintyQueue[field];
    if (modelId === null) continue;
    const model = await db.selectFrom("models").select(["kind", "project_id", "external_uri"]).where("id", "=", modelId).executeTakeFirst();
    const problem = !model
      ? "no such registered model"
      : model.project_id !== null && model.project_id !== projectId
        ? "a model of another project"
        : model.kind !== "reward"
          ? `a ${model.kind} model; choose a reward model`
          : model.external_uri
            ? "trained outside Tandem; its files are not here to score with"
            : null;
    if (problem) errors.push({ path: `settings.uncertaintyQueue.${field}`, message: problem });
  }
  if (errors.length > 0) throw new AppError("validation_failed", "The settings were not saved.", errors);
}

export async function getProject(db: Db, projectId: string): Promise<Project> {
  if (!/^\d{1,18}$/.test(projectId)) throw new AppError("not_found", "No such project.");
  const row = await db.selectFrom("projects").select(projectColumns).where("id", "=", projectId).executeTakeFirst();
  if (!row) throw new AppError("not_found", "No such project.");
  return { ...row, settings: projectSettingsSchema.parse(row.settings) };
}

/** The projects `caller` may enter (decision 0031), newest first. */
export async function listProjects(db: Db, caller: Caller) {
  return db
    .selectFrom("projects")
    .where((eb) => visibleProjects(eb, caller))
    .select((eb) => [
      "projects.id",
      "projects.name",
      "projects.created_at",
      "projects.access",
      eb.selectFrom("prompts").whereRef("prompts.project_id", "=", "projects.id").select(eb.fn.countAll<string>().as("n")).as("prompt_count"),
      eb
        .selectFrom("tasks")
        .whereRef("tasks.project_id", "=", "projects.id")
        .where("tasks.state", "=", "open")
        // Gold tasks stay open for every labeler; they are not work waiting to be done.
        .where("tasks.gold", "is", null)
        .select(eb.fn.countAll<string>().as("n"))
        .as("open_tasks"),
    ])
    .orderBy("projects.id", "desc")
    .execute();
}

export type QueueCounters = Record<"demonstrate" | "rank" | "review" | "compare", { open: number; complete: number }> & { submissions: number };

/** Per-type open/complete task counts: what the live counters on the project page show. */
export async function queueCounters(db: Db, projectId: string): Promise<QueueCounters> {
  const rows = await db
    .selectFrom("tasks")
    .select(["type", "state", sql<string>`count(*)`.as("n")])
    .where("project_id", "=", projectId)
    .where("gold", "is", null)
    .groupBy(["type", "state"])
    .execute();
  const submissions = await db
    .selectFrom("submissions")
    .innerJoin("tasks", "tasks.id", "submissions.task_id")
    .select(sql<string>`count(*)`.as("n"))
    .where("tasks.project_id", "=", projectId)
    .executeTakeFirstOrThrow();
  const counters: QueueCounters = {
    demonstrate: { open: 0, complete: 0 },
    rank: { open: 0, complete: 0 },
    review: { open: 0, complete: 0 },
    compare: { open: 0, complete: 0 },
    submissions: Number(submissions.n),
  };
  for (const row of rows) {
    if (row.state === "open" || row.state === "complete") counters[row.type][row.state] = Number(row.n);
  }
  return counters;
}
