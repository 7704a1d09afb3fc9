import { sql, type Transaction } from "kysely";
import { z } from "zod";
import { AppError, type FieldError } from "../lib/app-error.ts";
import type { Actor } from "../auth/actor.ts";
import { recordAudit } from "../auth/audit.server.ts";
import { projectRoles } from "../auth/project-access.server.ts";
import { emailSchema } from "../auth/user-schemas.ts";
import type { Db } from "../db/database.server.ts";
import type { Database, ProjectAccessMode, ProjectRole, UserRole } from "../db/schema.ts";

/**
 * Project membership: who may work on a members-only project, and with which role there
 * (decision 0031). The access check itself lives in server/auth/project-access.server.ts; this
 * module only changes the membership rows, each change in one transaction and audited.
 */
export const MAX_EMAILS_PER_CHANGE = 1000;

const emailList = z
  .array(emailSchema, { error: "Send the e-mail addresses as a list." })
  .min(1, "Name at least one e-mail address.")
  .max(MAX_EMAILS_PER_CHANGE, `At most ${MAX_EMAILS_PER_CHANGE} addresses at once.`);

export const addMembersSchema = z.object({ emails: emailList, role: z.enum(projectRoles, { error: "Pick labeler, reviewer or researcher." }) });
export const removeMembersSchema = z.object({ emails: emailList });
export const projectAccessSchema = z.object({ access: z.enum(["open", "members"], { error: "Pick open or members." }) });

/** Splits what a person pastes (one address a line, or separated by commas, semicolons or spaces). */
export function splitEmails(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}

export type Member = {
  user_id: string;
  email: string;
  name: string;
  global_role: UserRole;
  project_role: ProjectRole;
  /** What they may do here: the lower of the two (admins are admins everywhere). */
  effective_role: UserRole;
  active: boolean;
  created_at: Date;
};

const rank: Record<UserRole, number> = { labeler: 1, reviewer: 2, researcher: 3, admin: 4 };

export async function listMembers(db: Db, projectId: string): Promise<Member[]> {
  const rows = await db
    .selectFrom("project_members as m")
    .innerJoin("users as u", "u.id", "m.user_id")
    .select(["m.user_id", "u.email", "u.name", "u.role as global_role", "m.role as project_role", "u.active", "m.created_at"])
    .where("m.project_id", "=", projectId)
    .orderBy("u.email")
    .execute();
  return rows.map((row) => ({
    ...row,
    effective_role: row.global_role === "admin" ? "admin" : rank[row.global_role] <= rank[row.project_role] ? row.global_role : row.project_role,
  }));
}

/** The accounts behind the addresses, in order; every unknown address is one field error, and nothing is changed. */
async function usersFor(trx: Transaction<Database>, emails: string[]): Promise<Array<{ id: string; email: string }>> {
  const wanted = [...new Set(emails)];
  const found = await trx
    .selectFrom("users")
    .select(["id", "email"])
    .where((eb) => eb(eb.fn("lower", ["email"]), "in", wanted))
    .execute();
  const byEmail = new Map(found.map((row) => [row.email.toLowerCase(), row]));
  const errors: FieldError[] = [];
  emails.forEach((email, i) => {
    if (!byEmail.has(email)) errors.push({ path: `emails.${i}`, message: `No account has the address ${email}.` });
  });
  if (errors.length > 0) {
    throw new AppError("validation_failed", `${errors.length} of the addresses belong to no account; nothing was changed. Ask an admin to create them first.`, errors);
  }
  return wanted.map((email) => byEmail.get(email)!);
}

/** Adds people (or changes their project role when they are members already). All or nothing. */
export async function addMembers(db: Db, actor: Actor, projectId: string, input: z.infer<typeof addMembersSchema>): Promise<{ added: number; updated: number }> {
  return db.transaction().execute(async (trx) => {
    const users = await usersFor(trx, input.emails);
    const before = await trx.selectFrom("project_members").select("user_id").where("project_id", "=", projectId).where("user_id", "in", users.map((u) => u.id)).execute();
    await trx
      .insertInto("project_members")
      .values(users.map((user) => ({ project_id: projectId, user_id: user.id, role: input.role, added_by: actor.user.id })))
      .onConflict((oc) => oc.columns(["project_id", "user_id"]).doUpdateSet({ role: input.role }))
      .execute();
    await recordAudit(trx, { actor, action: "project.members_add", target: `project:${projectId}`, details: { role: input.role, userIds: users.map((u) => u.id) } });
    return { added: users.length - before.length, updated: before.length };
  });
}

/**
 * Removes people from the project. Every address must be a member's (each other one is
 * reported, and nothing is changed). Their unfinished leases in the project end at once, so the
 * tasks go back to the queue; the caller then closes their sockets' project rooms.
 */
export async function removeMembers(db: Db, actor: Actor, projectId: string, emails: string[]): Promise<{ removed: string[] }> {
  return db.transaction().execute(async (trx) => {
    const users = await usersFor(trx, emails);
    const members = new Set(
      (await trx.selectFrom("project_members").select("user_id").where("project_id", "=", projectId).where("user_id", "in", users.map((u) => u.id)).execute()).map((r) => r.user_id),
    );
    const errors: FieldError[] = [];
    emails.forEach((email, i) => {
      const user = users.find((u) => u.email.toLowerCase() === email)!;
      if (!members.has(user.id)) errors.push({ path: `emails.${i}`, message: `${email} is not a member of this project.` });
    });
    if (errors.length > 0) throw new AppError("validation_failed", "Some of the addresses are not members; nothing was changed.", errors);
    return { removed: await removeUsers(trx, actor, projectId, [...members]) };
  });
}

export async function removeMember(db: Db, actor: Actor, projectId: string, userId: string): Promise<{ removed: string[] }> {
  return db.transaction().execute(async (trx) => {
    const member = await trx.selectFrom("project_members").select("user_id").where("project_id", "=", projectId).where("user_id", "=", userId).executeTakeFirst();
    if (!member) throw new AppError("not_found", "This person is not a member of this project.");
    return { removed: await removeUsers(trx, actor, projectId, [userId]) };
  });
}

async function removeUsers(trx: Transaction<Database>, actor: Actor, projectId: string, userIds: string[]): Promise<string[]> {
  await trx.deleteFrom("project_members").where("project_id", "=", projectId).where("user_id", "in", userIds).execute();
  await endLostLeases(trx, projectId);
  await recordAudit(trx, { actor, action: "project.members_remove", target: `project:${projectId}`, details: { userIds } });
  return userIds;
}

/** Open to everyone, or members only. Closing a project ends the leases of those left outside. */
export async function setProjectAccess(db: Db, actor: Actor, projectId: string, access: ProjectAccessMode): Promise<{ access: ProjectAccessMode }> {
  return db.transaction().execute(async (trx) => {
    const row = await trx.updateTable("projects").set({ access, updated_at: new Date() }).where("id", "=", projectId).returning("access").executeTakeFirst();
    if (!row) throw new AppError("not_found", "No such project.");
    await endLostLeases(trx, projectId);
    await recordAudit(trx, { actor, action: "project.access", target: `project:${projectId}`, details: { access } });
    return { access: row.access };
  });
}

/**
 * In a members-only project, an active lease held by someone who is neither a member nor an
 * admin ends now (state expired): the task returns to the queue and a submit on it is refused.
 */
async function endLostLeases(trx: Transaction<Database>, projectId: string): Promise<void> {
  await sql`
    update assignments a set state = 'expired', updated_at = now()
    from tasks t, projects p, users u
    where t.id = a.task_id and p.id = t.project_id and u.id = a.user_id
      and t.project_id = ${projectId} and a.state = 'active' and p.access = 'members' and u.role <> 'admin'
      and not exists (select 1 from project_members m where m.project_id = p.id and m.user_id = a.user_id)`.execute(trx);
}

/** The creator of a project is its first researcher: a members-only project is never born empty. */
export async function addCreator(trx: Transaction<Database>, projectId: string, userId: string): Promise<void> {
  await trx.insertInto("project_members").values({ project_id: projectId, user_id: userId, role: "researcher", added_by: userId }).execute();
}
