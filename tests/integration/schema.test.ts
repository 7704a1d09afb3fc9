import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { createDb, createPool, migrateDown, migrateToLatest, type Db } from "../../server/db/database.server.ts";
import { schemaColumns } from "../../server/db/schema.ts";
import { migrations } from "../../migrations/migration-list.ts";

let db: Db;
before(async () => {
  db = createDb(createPool(process.env.DATABASE_URL!));
  await migrateToLatest(db);
});
after(() => db.destroy());

async function liveColumns(): Promise<Record<string, Record<string, string>>> {
  const rows = await sql<{ table_name: string; column_name: string; data_type: string }>`
    select table_name, column_name, data_type from information_schema.columns
    where table_schema = 'public' and table_name not like 'kysely_%'`.execute(db);
  const tables: Record<string, Record<string, string>> = {};
  for (const row of rows.rows) (tables[row.table_name] ??= {})[row.column_name] = row.data_type;
  return tables;
}

test("the Database interface (via schemaColumns) matches the migrated schema exactly", async () => {
  assert.deepEqual(await liveColumns(), schemaColumns);
});

test("every migration rolls back and re-applies cleanly", async () => {
  const count = Object.keys(migrations).length;
  for (let i = 0; i < count; i++) await migrateDown(db);
  assert.deepEqual(await liveColumns(), {});
  await migrateToLatest(db);
  assert.deepEqual(await liveColumns(), schemaColumns);
});
