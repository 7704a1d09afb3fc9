/**
 * Starts a real Tandem server (Express + React Router build + socket.io) on a free port,
 * against the database in DATABASE_URL (tests/support/with-postgres.ts provides one).
 */
import fs from "node:fs";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type { DestinationStream } from "pino";
import type { ServerBuild } from "react-router";
import { createSession } from "../../server/auth/sessions.server.ts";
import { createApiToken } from "../../server/auth/tokens.server.ts";
import { createUser } from "../../server/auth/users.server.ts";
import { loadConfig, type Config } from "../../server/config.server.ts";
import { createDb, createPool, migrateToLatest, type Db } from "../../server/db/database.server.ts";
import type { ProjectRole, TokenRole, UserRole } from "../../server/db/schema.ts";
import { createTandemServer } from "../../server/http/create-server.server.ts";
import { createLogger } from "../../server/lib/logger.server.ts";

export type TestServer = {
  url: string;
  db: Db;
  config: Config;
  /** A person with a role and a signed-in browser-like client. */
  newUser: (role: UserRole, password?: string) => Promise<{ id: string; email: string; password: string; client: HttpClient }>;
  /**
   * Makes people members of a (members-only) project, as a researcher of it would (decision
   * 0031). The project role defaults to each person's global role (researcher for admins).
   */
  addMembers: (projectId: string, people: Array<{ id: string; role?: ProjectRole }>, role?: ProjectRole) => Promise<void>;
  /** newUser, then a member of the project with their own role there. */
  newMember: (projectId: string, role: UserRole) => Promise<{ id: string; email: string; password: string; client: HttpClient }>;
  newToken: (role: TokenRole) => Promise<string>;
  client: () => HttpClient;
  stop: () => Promise<void>;
};

let counter = 0;
export const uniqueEmail = (prefix = "user") => `${prefix}-${process.pid}-${Date.now()}-${counter++}@example.test`;

export async function startTestServer(env: Record<string, string> = {}, options: { logDestination?: DestinationStream } = {}): Promise<TestServer> {
  if (!process.env.DATABASE_URL) throw new Error("DATABASE_URL is not set: run through tests/support/with-postgres.ts");
  const entry = path.resolve("build/server/index.js");
  if (!fs.existsSync(entry)) throw new Error("no UI build: run `npm run build` first");
  // The model judge works on any project with a judge, and test files share one database: a judge
  // left on would keep judging an earlier file's projects under a later file's feet. Off unless asked.
  const config = loadConfig({ ...process.env, PORT: "0", LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent", TANDEM_JUDGE_POLL_MS: "0", TANDEM_SCORE_POLL_MS: "0", ...env });
  const pool = createPool(config.DATABASE_URL!);
  pool.on("error", () => undefined);
  const db = createDb(pool);
  await migrateToLatest(db);
  const build = (await import(entry)) as ServerBuild;
  const server = createTandemServer({ config, db, pool, log: createLogger(config.LOG_LEVEL, "tandem", options.logDestination), build });
  await new Promise<void>((resolve) => server.httpServer.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.httpServer.address() as AddressInfo).port}`;

  const admin = await createUser(db, null, { email: uniqueEmail("owner"), name: "Token owner", role: "admin", password: "owner-password-123" });

  const server_: TestServer = {
    url,
    db,
    config,
    client: () => new HttpClient(url),
    newUser: async (role, password = "correct-horse-battery") => {
      const email = uniqueEmail(role);
      const user = await createUser(db, null, { email, name: `${role} ${counter}`, role, password });
      const session = await createSession(db, user.id, 1, {});
      const client = new HttpClient(url);
      client.cookies.set("tandem_session", session.cookieValue);
      return { id: user.id, email, password, client };
    },
    addMembers: async (projectId, people, role) => {
      const globals = await db.selectFrom("users").select(["id", "role"]).where("id", "in", people.map((p) => p.id)).execute();
      const globalRole = new Map(globals.map((row) => [row.id, row.role]));
      await db
        .insertInto("project_members")
        .values(
          people.map((person) => {
            const own = globalRole.get(person.id);
            const projectRole = role ?? person.role ?? (own === "admin" || own === undefined ? "researcher" : own);
            return { project_id: projectId, user_id: person.id, role: projectRole, added_by: admin.id };
          }),
        )
        .onConflict((oc) => oc.columns(["project_id", "user_id"]).doUpdateSet((eb) => ({ role: eb.ref("excluded.role") })))
        .execute();
    },
    newMember: async (projectId, role) => {
      const person = await server_.newUser(role);
      await server_.addMembers(projectId, [person]);
      return person;
    },
    newToken: async (role) => (await createApiToken(db, admin.id, { name: `test ${role}`, role })).secret,
    stop: async () => {
      await server.close();
      await new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
      await db.destroy();
    },
  };
  return server_;
}

/** A cookie-keeping client that behaves like a same-origin browser page (sends Origin on writes). */
export class HttpClient {
  readonly cookies = new Map<string, string>();
  constructor(readonly baseUrl: string) {}

  async request(method: string, urlPath: string, init: { body?: BodyInit; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    if (method !== "GET" && method !== "HEAD" && !("origin" in headers)) headers.origin = this.baseUrl;
    const response = await fetch(this.baseUrl + urlPath, { method, headers, body: init.body, redirect: "manual" });
    for (const setCookie of response.headers.getSetCookie()) {
      const [pair] = setCookie.split(";");
      const [name, ...rest] = (pair ?? "").split("=");
      const value = rest.join("=");
      if (!name) continue;
      if (value === "" || /max-age=0/i.test(setCookie)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  get(urlPath: string, headers: Record<string, string> = {}) {
    return this.request("GET", urlPath, { headers });
  }

  postForm(urlPath: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
    return this.request("POST", urlPath, { body: new URLSearchParams(fields), headers: { "content-type": "application/x-www-form-urlencoded", ...headers } });
  }

  json(method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}) {
    return this.request(method, urlPath, {
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    });
  }
}
