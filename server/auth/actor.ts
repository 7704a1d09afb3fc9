import type { TokenRole, UserRole } from "../db/schema.ts";

/** Who is making a request: a signed-in person (cookie) or a script/trainer (API token). */
export type SessionUser = { id: string; email: string; name: string; role: UserRole };

export type Actor =
  | { kind: "session"; user: SessionUser; role: UserRole; sessionId: string }
  | { kind: "token"; user: SessionUser; role: TokenRole; tokenId: string };
