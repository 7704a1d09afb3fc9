import { redirect } from "react-router";
import type { Route } from "./+types/project-browser-export";
import { downloadSelection } from "../lib/browser-bulk.server.ts";
import { requireProjectRole } from "../lib/auth.server.ts";

/**
 * The data browser's "export the selection" download (decision 0047): a resource route, so the
 * confirmed form's answer is the file itself. Opened directly, it leads back to the browser.
 */
export async function loader({ context, request, params }: Route.LoaderArgs) {
  await requireProjectRole(context, request, params.projectId, "researcher");
  return redirect(`/projects/${params.projectId}/browser`);
}

export async function action({ context, request, params }: Route.ActionArgs) {
  await requireProjectRole(context, request, params.projectId, "researcher");
  return downloadSelection(context, params.projectId, await request.formData());
}
