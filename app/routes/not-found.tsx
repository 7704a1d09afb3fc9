import type { Route } from "./+types/not-found";

// Any path no other route claims: a real 404 status, rendered by the root error boundary.
export function loader(_: Route.LoaderArgs) {
  throw new Response("There is no page at this address.", { status: 404, statusText: "Not Found" });
}

export function action(_: Route.ActionArgs) {
  throw new Response("There is no page at this address.", { status: 404, statusText: "Not Found" });
}

export default function NotFound() {
  return null;
}
