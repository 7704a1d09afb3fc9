export const themes = ["system", "light", "dark"] as const;
export type Theme = (typeof themes)[number];
export const THEME_COOKIE = "tandem_theme";

export function readTheme(cookieHeader: string | null): Theme {
  const match = cookieHeader?.match(/(?:^|;\s*)tandem_theme=(system|light|dark)/);
  return (match?.[1] as Theme | undefined) ?? "system";
}
