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

export const roleLabels: Record<TokenRole, string> = {
  labeler: "Labeler",
  reviewer: "Reviewer",
  researcher: "Researcher",
  admin: "Admin",
  trainer: "Trainer service",
};
