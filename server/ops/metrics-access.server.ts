import { timingSafeEqual } from "node:crypto";
import { sha256 } from "../auth/secrets.server.ts";

/**
 * True when the Authorization header carries the configured metrics-only secret. Both sides are
 * hashed first so the comparison is constant-time whatever the lengths.
 */
export function isMetricsToken(authorization: string | undefined, configured: string | undefined): boolean {
  if (!configured || !authorization?.startsWith("Bearer ")) return false;
  const offered = Buffer.from(sha256(authorization.slice(7).trim()), "hex");
  return timingSafeEqual(offered, Buffer.from(sha256(configured), "hex"));
}
