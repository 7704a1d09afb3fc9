import type { UserRole } from "../../server/db/schema.ts";

/** The navigation, by the lowest role that may open each page. */
export const navItems: Array<{ to: string; label: string; role: UserRole }> = [
  { to: "/", label: "Home", role: "labeler" },
  { to: "/projects", label: "Projects", role: "labeler" },
  { to: "/models", label: "Models", role: "researcher" },
  { to: "/playground", label: "Playground", role: "researcher" },
  { to: "/admin/users", label: "Users", role: "admin" },
  { to: "/admin/tokens", label: "API tokens", role: "admin" },
  { to: "/admin/audit", label: "Audit log", role: "admin" },
];
