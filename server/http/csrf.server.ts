import type { NextFunction, Request, Response } from "express";
import { AppError } from "../lib/app-error.ts";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * CSRF defence for every mutation: browsers attach Origin to every POST/PUT/PATCH/DELETE,
 * so a request that carries cookies must come from our own origin. Requests authenticated
 * only by a bearer token carry no ambient credentials and are exempt.
 * See docs/decisions/0004-csrf-origin-check.md.
 */
export function csrfGuard(allowedOrigins: (req: Request) => string[]) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    if (SAFE_METHODS.has(req.method)) return next();
    const bearerOnly = req.headers.authorization?.startsWith("Bearer ") && !req.headers.cookie;
    if (bearerOnly) return next();
    const origin = req.headers.origin ?? originOf(req.headers.referer);
    if (origin && allowedOrigins(req).includes(origin)) return next();
    next(new AppError("csrf_failed", "This request did not come from a Tandem page. Reload the page and try again."));
  };
}

function originOf(referer: string | undefined): string | undefined {
  if (!referer) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return undefined;
  }
}
