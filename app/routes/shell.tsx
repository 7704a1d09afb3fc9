import { Form, NavLink, Outlet, useLocation, useRouteLoaderData } from "react-router";
import type { Route } from "./+types/shell";
import type { loader as rootLoader } from "../root.tsx";
import { hasRole } from "../../server/auth/roles.ts";
import { roleLabels } from "../../server/auth/roles.ts";
import { requireUser } from "../lib/auth.server.ts";
import { navItems } from "../lib/navigation.ts";
import { SocketContext, useSessionSocket } from "../lib/use-session-socket.ts";

export function loader({ context, request }: Route.LoaderArgs) {
  const user = requireUser(context, request);
  return { user, nav: navItems.filter((item) => hasRole(user.role, item.role)) };
}

const linkClass = ({ isActive }: { isActive: boolean }) =>
  `block rounded-md px-3 py-2 text-sm font-medium ${
    isActive ? "bg-brand-700 text-white" : "text-slate-800 hover:bg-slate-200 dark:text-slate-200 dark:hover:bg-slate-800"
  }`;

export default function Shell({ loaderData }: Route.ComponentProps) {
  const { user, nav } = loaderData;
  const location = useLocation();
  const theme = useRouteLoaderData<typeof rootLoader>("root")?.theme ?? "system";
  const socket = useSessionSocket();
  const links = nav.map((item) => (
    <li key={item.to}>
      <NavLink to={item.to} end className={linkClass}>
        {item.label}
      </NavLink>
    </li>
  ));
  return (
    <div className="min-h-screen">
      <header className="border-b border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
        <div className="mx-auto flex max-w-6xl items-center gap-4 px-4 py-3">
          <a href="/" className="text-lg font-bold tracking-tight">
            Tandem
          </a>
          <nav aria-label="Main" className="hidden md:block">
            <ul className="flex gap-1">{links}</ul>
          </nav>
          <div className="ml-auto flex items-center gap-2">
            <Form method="post" action="/theme" className="hidden sm:block">
              <input type="hidden" name="returnTo" value={location.pathname + location.search} />
              <label className="sr-only" htmlFor="theme-select">
                Colour theme
              </label>
              <select
                id="theme-select"
                name="theme"
                key={theme}
                defaultValue={theme}
                onChange={(event) => event.currentTarget.form?.requestSubmit()}
                className="rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
              >
                <option value="system">System theme</option>
                <option value="light">Light</option>
                <option value="dark">Dark</option>
              </select>
            </Form>
            <NavLink to="/account" className={linkClass}>
              <span className="font-semibold">{user.name}</span> <span className="text-xs opacity-80">({roleLabels[user.role]})</span>
            </NavLink>
            <Form method="post" action="/logout">
              <button type="submit" className="rounded-md px-3 py-2 text-sm font-medium hover:bg-slate-200 dark:hover:bg-slate-800">
                Sign out
              </button>
            </Form>
          </div>
        </div>
        <details className="border-t border-slate-200 px-4 py-2 md:hidden dark:border-slate-800">
          <summary className="cursor-pointer text-sm font-medium">Menu</summary>
          <nav aria-label="Main (compact)">
            <ul className="mt-2 space-y-1">{links}</ul>
          </nav>
        </details>
      </header>
      <main className="mx-auto max-w-6xl px-4 py-8">
        <SocketContext.Provider value={socket}>
          <Outlet />
        </SocketContext.Provider>
      </main>
    </div>
  );
}
