import { type RouteConfig, index, layout, route } from "@react-router/dev/routes";

export default [
  route("login", "routes/login.tsx"),
  route("logout", "routes/logout.tsx"),
  route("theme", "routes/theme.tsx"),
  layout("routes/shell.tsx", [
    index("routes/home.tsx"),
    route("account", "routes/account.tsx"),
    route("projects", "routes/projects.tsx"),
    route("projects/:projectId", "routes/project.tsx"),
    route("projects/:projectId/settings", "routes/project-settings.tsx"),
    route("projects/:projectId/import", "routes/project-import.tsx"),
    route("projects/:projectId/quality", "routes/project-quality.tsx"),
    route("projects/:projectId/rounds", "routes/project-rounds.tsx"),
    route("projects/:projectId/endpoints", "routes/project-endpoints.tsx"),
    route("projects/:projectId/documents", "routes/project-documents.tsx"),
    route("projects/:projectId/corpora", "routes/project-corpora.tsx"),
    route("rounds/:roundId", "routes/round.tsx"),
    route("models", "routes/models.tsx"),
    route("playground", "routes/playground.tsx"),
    route("tasks/:assignmentId", "routes/task.tsx"),
    route("admin/users", "routes/admin-users.tsx"),
    route("admin/tokens", "routes/admin-tokens.tsx"),
    route("admin/audit", "routes/admin-audit.tsx"),
  ]),
  route("*", "routes/not-found.tsx"),
] satisfies RouteConfig;
