import type { TokenRole, UserRole } from "../db/schema.ts";

/**
 * Roles are ranked: each role can do what the roles below it can (an admin can label,
 * a researcher can review). `trainer` is a token-only role outside the ladder: it can
 * reach the trainer endpoints and nothing a person uses.
 */
export const userRoles = ["labeler", "reviewer", "researcher", "admin"] as const satisfies readonly UserRole[];
export const tokenRoles = [...userRoles, "trainer"] as const satisfies readonly TokenRole[];

const rank: Record<UserRole, number> = { labeler: 1, reviewer: 2, researcher: 3, admin: 4 };

export function hasRole(actual: TokenRole, needed: UserRole): boolean {
  if (actual === "trainer") return false;
  return rank[actual] >= rank[needed];
}

/**
 * What a token may do right now: the lower of its own role and its owner's current role, so a
 * demoted owner's tokens are demoted with them (decision 0021). `trainer` sits outside the
 * ladder; only admins mint trainer tokens, so a trainer token works while its owner is an admin
 * and not at all (null) once they are not.
 */
export function effectiveTokenRole(tokenRole: TokenRole, ownerRole: UserRole): TokenRole | null {
  if (tokenRole === "trainer") return ownerRole === "admin" ? "trainer" : null;
  return rank[tokenRole] <= rank[ownerRole] ? tokenRole : ownerRole;
}

export const roleLabels: Record<TokenRole, string> = {
  labeler: "Labeler",
  reviewer: "Reviewer",
  researcher: "Researcher",
  admin: "Admin",
  trainer: "Trainer service",
};
