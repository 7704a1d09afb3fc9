import { data, redirect } from "react-router";
import { serialize } from "cookie";
import { z } from "zod";
import type { Route } from "./+types/theme";
import { safeRedirect } from "../lib/auth.server.ts";
import { THEME_COOKIE, themes } from "../lib/theme.ts";

const themeForm = z.object({ theme: z.enum(themes) });

export async function action({ request }: Route.ActionArgs) {
  const form = await request.formData();
  const parsed = themeForm.safeParse({ theme: form.get("theme") });
  if (!parsed.success) return data({ error: "Pick system, light or dark." }, { status: 400 });
  const cookie = serialize(THEME_COOKIE, parsed.data.theme, { path: "/", sameSite: "lax", maxAge: 60 * 60 * 24 * 365 });
  return redirect(safeRedirect(form.get("returnTo")), { headers: { "Set-Cookie": cookie } });
}

export function loader() {
  return redirect("/");
}
