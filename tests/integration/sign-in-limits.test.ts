/**
 * Sign-in limits that fit teams (issue 14, item 7): a whole team behind one office NAT signs in,
 * because only failures count toward the per-address limit; guessing from one address, and
 * guessing at one account, are still stopped.
 */
import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { after, before, test } from "node:test";
import { hash } from "@node-rs/argon2";
import { startTestServer, uniqueEmail, type HttpClient, type TestServer } from "../support/test-server.ts";

// TANDEM_LOGIN_ATTEMPTS=2: two failures per account and address, 40 per address.
const ATTEMPTS = 2;
const PER_ADDRESS = ATTEMPTS * 20;
const PASSWORD = "team-member-password";

let server: TestServer;
// One cheap argon2id hash shared by every bulk user: verification reads the cost from the hash
// itself, so the test is fast while the server's own hashing profile stays as it is.
let cheapHash: string;
before(async () => {
  // Trusting the proxy lets each test speak from its own address (X-Forwarded-For), so the
  // counters of one test never leak into another, nor into earlier runs on the same database.
  server = await startTestServer({ TANDEM_LOGIN_ATTEMPTS: String(ATTEMPTS), TANDEM_TRUST_PROXY: "true" });
  cheapHash = await hash(PASSWORD, { memoryCost: 1024, timeCost: 1, parallelism: 1 });
});
after(() => server.stop());

const address = () => `198.51.${randomInt(0, 256)}.${randomInt(1, 255)}`;

async function bulkUsers(count: number): Promise<string[]> {
  const rows = Array.from({ length: count }, (_, i) => ({
    email: uniqueEmail(`member${i}`),
    name: `Team member ${i}`,
    role: "labeler" as const,
    password_hash: cheapHash,
  }));
  await server.db.insertInto("users").values(rows).execute();
  return rows.map((row) => row.email);
}

function signIn(email: string, password: string, ip: string): Promise<Response> {
  const client: HttpClient = server.client();
  return client.postForm("/login", { email, password }, { "x-forwarded-for": ip });
}

test("300 different people sign in from one address (successes do not count toward its limit)", async () => {
  const office = address();
  const emails = await bulkUsers(300);
  const statuses: number[] = [];
  // A few at a time, like a team arriving in the morning.
  for (let i = 0; i < emails.length; i += 10) {
    const batch = await Promise.all(emails.slice(i, i + 10).map((email) => signIn(email, PASSWORD, office)));
    statuses.push(...batch.map((response) => response.status));
  }
  assert.equal(statuses.length, 300);
  assert.deepEqual(
    statuses.filter((status) => status !== 302),
    [],
    "every sign-in is a redirect to the app",
  );
  assert.ok(300 > PER_ADDRESS, "more sign-ins than the address may fail");
  // Each of them holds a session now.
  const sessions = await server.db
    .selectFrom("sessions")
    .innerJoin("users", "users.id", "sessions.user_id")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("users.email", "in", emails)
    .executeTakeFirstOrThrow();
  assert.equal(Number(sessions.n), 300);
});

test("failures from one address still count: once they reach the limit the address is refused, other addresses are not", async () => {
  const office = address();
  const emails = await bulkUsers(PER_ADDRESS / ATTEMPTS + 1);
  const [bystander, ...guessed] = emails as [string, ...string[]];
  let failures = 0;
  for (const email of guessed) {
    for (let i = 0; i < ATTEMPTS; i++) {
      assert.equal((await signIn(email, `wrong-${i}`, office)).status, 401);
      failures++;
    }
    // Successes from the same address between the failures give back only their own point.
    if (failures < PER_ADDRESS) assert.equal((await signIn(bystander, PASSWORD, office)).status, 302);
  }
  assert.equal(failures, PER_ADDRESS);
  const refused = await signIn(bystander, PASSWORD, office);
  assert.equal(refused.status, 429, "the right password from the exhausted address is refused");
  assert.ok(Number(refused.headers.get("retry-after")) > 0);
  assert.match(await refused.text(), /Too many sign-in attempts/);
  // Nobody else is hurt: the same person from another address signs in.
  assert.equal((await signIn(bystander, PASSWORD, address())).status, 302);
});

test("failures at one account still count: after the account's limit even the right password waits", async () => {
  const ip = address();
  const [email, other] = (await bulkUsers(2)) as [string, string];
  for (let i = 0; i < ATTEMPTS; i++) assert.equal((await signIn(email, `wrong-${i}`, ip)).status, 401);
  assert.equal((await signIn(email, PASSWORD, ip)).status, 429);
  // The address itself is still open for the rest of the team.
  assert.equal((await signIn(other, PASSWORD, ip)).status, 302);
});

test("a success clears the account's failures, so a typo now and then never locks a person out", async () => {
  const ip = address();
  const [email] = (await bulkUsers(1)) as [string];
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < ATTEMPTS - 1; i++) assert.equal((await signIn(email, `typo-${round}-${i}`, ip)).status, 401);
    assert.equal((await signIn(email, PASSWORD, ip)).status, 302);
  }
});
