import { sql, type ExpressionBuilder } from "kysely";
import { AppError } from "../lib/app-error.ts";
import type { Database, ProjectRole, TokenRole, UserRole } from "../db/schema.ts";
import type { DbOrTrx } from "./audit.server.ts";
import { hasRole } from "./roles.ts";

/**
 * THE project membership check (decision 0031). Every route, API endpoint, export and socket
 * room that touches a project's data asks here, and nowhere else, whether the caller may enter
 * the project and with which role:
 *
 *  - API endpoints: `runEndpoint` (server/api/endpoint.server.ts) calls `requireProjectAccess`
 *    for every endpoint under `/projects/:id` and for every endpoint that declares
 *    `project: "<resource>"` (a round, an assignment, a document …), then re-checks the
 *    endpoint's role rule against the project role. A new endpoint needs nothing more than that.
 *  - Pages: `requireProjectRole` (app/lib/auth.server.ts) wraps the same function for loaders
 *    and actions.
 *  - Sockets: `mayJoinRoom` asks `projectAccessOf` before a `project:` or `round:` room is
 *    joined, and `recheckProjectSockets` makes sockets leave when access ends.
 *  - Lists (projects, models): `visibleProjects` narrows a query to the projects one may enter.
 *
 * The role in a project: admins (and trainer tokens, which only admins mint) enter every
 * project, with the role they act with (an admin's reviewer token reviews). Anyone else gets min(their global role, their member role) when they are a
 * member; in an open project a non-member keeps their global role; in a members-only project
 * a non-member cannot enter at all.
 */
export type ProjectAccess = {
  projectId: string;
  /** What the caller may do in this project. */
  role: TokenRole;
  via: "admin" | "trainer" | "member" | "open";
};

/**
 * Who asks: a request's actor, or a socket's user with their role of now. `user.role` is the
 * person's own role (a token's owner), `role` what they act with (a token's role is capped).
 */
export type Caller = { user: { id: string; role?: UserRole }; role: TokenRole };

const rank: Record<UserRole, number> = { labeler: 1, reviewer: 2, researcher: 3, admin: 4 };
const lower = (a: UserRole, b: UserRole): UserRole => (rank[a] <= rank[b] ? a : b);

/** The caller's role in the project, or null when they may not enter. A missing project is a 404. */
export async function projectAccessOf(db: DbOrTrx, caller: Caller, projectId: string): Promise<ProjectAccess | null> {
  if (!/^\d{1,18}$/.test(projectId)) throw new AppError("not_found", "No such project.");
  const row = await db
    .selectFrom("projects as p")
    .leftJoin("project_members as m", (join) => join.onRef("m.project_id", "=", "p.id").on("m.user_id", "=", caller.user.id))
    .select(["p.access", "m.role as member_role"])
    .where("p.id", "=", projectId)
    .executeTakeFirst();
  if (!row) throw new AppError("not_found", "No such project.");
  if (caller.role === "trainer") return { projectId, role: "trainer", via: "trainer" };
  // An admin enters every project; through a token, with the token's (lower) role.
  if (caller.role === "admin" || caller.user.role === "admin") return { projectId, role: caller.role, via: "admin" };
  if (row.member_role) return { projectId, role: lower(caller.role, row.member_role), via: "member" };
  if (row.access === "open") return { projectId, role: caller.role, via: "open" };
  return null;
}

/**
 * As `projectAccessOf`, but refuses: a non-member of a members-only project gets `forbidden`
 * ("not a member"), a member whose project role is below `needed` gets `forbidden` too.
 */
export async function requireProjectAccess(db: DbOrTrx, caller: Caller, projectId: string, needed?: UserRole): Promise<ProjectAccess> {
  const access = await projectAccessOf(db, caller, projectId);
  if (!access) throw new AppError("forbidden", "You are not a member of this project; a researcher of the project can add you.");
  if (needed && !(access.role === "trainer" || hasRole(access.role, needed))) {
    throw new AppError("forbidden", "Your role in this project does not allow this.");
  }
  return access;
}

/** Things that belong to one project; an API path's `:id` names one of these. */
export const projectResources = [
  "project", "assignment", "round", "external_endpoint", "generation_run", "document", "qa_run", "model", "prompt",
  // pre-training data (issue 17)
  "corpus", "cleaning_job", "corpus_review", "corpus_rating", "quality_classifier",
  // annotation review (issue 14 item 4)
  "annotation_review",
] as const;
export type ProjectResource = (typeof projectResources)[number];

const ownerTable = {
  round: "rounds",
  external_endpoint: "external_endpoints",
  generation_run: "generation_runs",
  document: "documents",
  qa_run: "qa_runs",
  model: "models",
  prompt: "prompts",
  corpus: "corpora",
  cleaning_job: "cleaning_jobs",
  corpus_review: "corpus_reviews",
  quality_classifier: "quality_classifiers",
  annotation_review: "annotation_reviews",
} as const;

/**
 * The project a resource belongs to. Throws not_found when the resource does not exist; null
 * only for a model that belongs to no project (an imported base model: global, role rules only).
 */
export async function projectIdOf(db: DbOrTrx, resource: ProjectResource, id: string): Promise<string | null> {
  if (!/^\d{1,18}$/.test(id)) throw new AppError("not_found", "Not found.");
  if (resource === "project") return id;
  if (resource === "assignment") {
    const row = await db
      .selectFrom("assignments")
      .innerJoin("tasks", "tasks.id", "assignments.task_id")
      .select("tasks.project_id")
      .where("assignments.id", "=", id)
      .executeTakeFirst();
    if (!row) throw new AppError("not_found", "This task is not one of yours.");
    return row.project_id;
  }
  if (resource === "corpus_rating") {
    const row = await db
      .selectFrom("corpus_ratings")
      .innerJoin("corpus_rating_tasks", "corpus_rating_tasks.id", "corpus_ratings.task_id")
      .select("corpus_rating_tasks.project_id")
      .where("corpus_ratings.id", "=", id)
      .executeTakeFirst();
    if (!row) throw new AppError("not_found", "Not found.");
    return row.project_id;
  }
  const row = await db.selectFrom(ownerTable[resource]).select("project_id").where("id", "=", id).executeTakeFirst();
  if (!row) throw new AppError("not_found", "Not found.");
  return row.project_id;
}

/**
 * A where-clause for queries over `projects`: the projects the caller may enter. Use as
 * `.where((eb) => visibleProjects(eb, caller))` on a query that has `projects` in scope.
 */
export function visibleProjects(eb: ExpressionBuilder<Database, "projects">, caller: Caller) {
  if (caller.role === "admin" || caller.role === "trainer" || caller.user.role === "admin") return sql<boolean>`true`;
  return eb.or([
    eb("projects.access", "=", "open"),
    eb.exists(eb.selectFrom("project_members").select(sql`1`.as("one")).whereRef("project_members.project_id", "=", "projects.id").where("project_members.user_id", "=", caller.user.id)),
  ]);
}

export type { ProjectRole };

/** Checked in one place so pages and the API agree on what a project role may be. */
export const projectRoles = ["labeler", "reviewer", "researcher"] as const satisfies readonly ProjectRole[];
