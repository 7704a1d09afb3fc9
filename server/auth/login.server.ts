import type pg from "pg";
import { RateLimiterPostgres, RateLimiterRes } from "rate-limiter-flexible";
import { AppError } from "../lib/app-error.ts";
import type { Db } from "../db/database.server.ts";
import type { SessionUser } from "./actor.ts";
import { burnPasswordCheck, verifyPassword } from "./password.server.ts";

/** The one message for every failed login, so the form never tells which part was wrong. */
export const LOGIN_FAILED = "The e-mail address or password is not correct.";
const WINDOW_SECONDS = 15 * 60;

export type LoginLimiter = { perAccount: RateLimiterPostgres; perIp: RateLimiterPostgres };

/** Counters live in Postgres so every server instance sees the same attempts. */
export function createLoginLimiter(pool: pg.Pool, attemptsPerAccount: number): LoginLimiter {
  const common = { storeClient: pool, storeType: "pool", tableName: "rate_limits", tableCreated: true, duration: WINDOW_SECONDS } as const;
  return {
    perAccount: new RateLimiterPostgres({ ...common, keyPrefix: "login_account", points: attemptsPerAccount }),
    perIp: new RateLimiterPostgres({ ...common, keyPrefix: "login_ip", points: attemptsPerAccount * 20 }),
  };
}

export async function authenticate(
  db: Db,
  limiter: LoginLimiter,
  email: string,
  password: string,
  ip: string,
): Promise<SessionUser> {
  const accountKey = `${email.toLowerCase()}|${ip}`;
  try {
    // Every attempt takes a point first (atomic, so a burst of guesses cannot all slip past a
    // check-then-count); a success gives the address its point back and clears the account
    // counter below. So only failures count: a team of 200 behind one NAT can all sign in,
    // while guessing from one address or at one account is still stopped (decision 0024).
    await Promise.all([limiter.perAccount.consume(accountKey), limiter.perIp.consume(ip)]);
  } catch (error) {
    if (error instanceof RateLimiterRes) {
      // msBeforeNext can be 0 or negative right at a window edge; never tell anyone to retry "now".
      const seconds = Math.max(1, Math.ceil(error.msBeforeNext / 1000));
      throw new AppError("rate_limited", `Too many sign-in attempts. Try again in ${Math.ceil(seconds / 60)} minutes.`, [], seconds);
    }
    throw error;
  }
  const row = await db
    .selectFrom("users")
    .select(["id", "email", "name", "role", "password_hash", "active"])
    .where((eb) => eb(eb.fn("lower", ["email"]), "=", email.toLowerCase()))
    .executeTakeFirst();
  if (!row) {
    await burnPasswordCheck(password);
    throw new AppError("unauthenticated", LOGIN_FAILED);
  }
  const ok = await verifyPassword(row.password_hash, password);
  if (!ok || !row.active) throw new AppError("unauthenticated", LOGIN_FAILED);
  await Promise.all([limiter.perAccount.delete(accountKey), limiter.perIp.reward(ip, 1)]);
  return { id: row.id, email: row.email, name: row.name, role: row.role };
}
