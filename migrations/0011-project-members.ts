import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * Project membership (issue 14, decision 0031). A project is open to every signed-in person or
 * to its members only; new projects are members-only. Projects that exist when this runs were
 * open to everyone until now and have no members yet, so they stay open: an upgrade must not
 * lock a running team out of its work. Researchers close them when they have added members.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("projects")
    .addColumn("access", "text", (col) => col.notNull().defaultTo("open").check(sql`access in ('open', 'members')`))
    .execute();
  // Existing rows took 'open' above; from now on a project made without saying is members-only.
  await sql`alter table projects alter column access set default 'members'`.execute(db);

  await db.schema
    .createTable("project_members")
    .addColumn("project_id", "bigint", (col) => col.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("user_id", "bigint", (col) => col.notNull().references("users.id").onDelete("cascade"))
    // The most this person may do in this project; their global role caps it (admins excepted).
    .addColumn("role", "text", (col) => col.notNull().check(sql`role in ('labeler', 'reviewer', 'researcher')`))
    .addColumn("added_by", "bigint", (col) => col.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("project_members_pkey", ["project_id", "user_id"])
    .execute();
  // "Which projects may this person open": the home page, the project list, the socket check.
  await sql`create index project_members_user on project_members (user_id, project_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("project_members").execute();
  await db.schema.alterTable("projects").dropColumn("access").execute();
}
