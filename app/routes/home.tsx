import type { Route } from "./+types/home";
import { roleLabels } from "../../server/auth/roles.ts";
import { Card, PageTitle } from "../components/ui.tsx";
import { requireUser } from "../lib/auth.server.ts";

export const meta: Route.MetaFunction = () => [{ title: "Home · Tandem" }];

export function loader({ context, request }: Route.LoaderArgs) {
  return { user: requireUser(context, request) };
}

const roleSummary = {
  labeler: "You write demonstrations and rank model completions. Labeling queues appear here once a researcher has imported prompts.",
  reviewer: "You review synthetic Q&A and flagged items, and you can label too.",
  researcher: "You import prompts, run preference-tuning rounds and export data; you can review and label too.",
  admin: "You manage users, roles and API tokens, and can do everything a researcher can.",
} as const;

export default function Home({ loaderData }: Route.ComponentProps) {
  const { user } = loaderData;
  return (
    <>
      <PageTitle lead={`Signed in as ${user.email} · ${roleLabels[user.role]}`}>Welcome, {user.name}</PageTitle>
      <Card title="What you can do">
        <p>{roleSummary[user.role]}</p>
      </Card>
    </>
  );
}
