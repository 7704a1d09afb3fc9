import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import type { NextFunction, Request, Response } from "express";
import type { Config } from "../config.server.ts";
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

/**
 * The origins our own pages are served from: the one this request was addressed to, and
 * TANDEM_PUBLIC_URL's. The CSRF check and the socket.io handshake check use the same list.
 */
export function allowedOrigins(config: Pick<Config, "TANDEM_PUBLIC_URL">, request: { protocol: string; host: string | undefined }): string[] {
  const origins = [`${request.protocol}://${request.host}`];
  if (config.TANDEM_PUBLIC_URL) origins.push(new URL(config.TANDEM_PUBLIC_URL).origin);
  return origins;
}

/** Protocol and Host of a raw Node request, read the way Express reads them for `req.protocol`. */
export function rawRequestAddress(req: IncomingMessage, trustProxy: boolean): { protocol: string; host: string | undefined } {
  const forwarded = trustProxy ? String(req.headers["x-forwarded-proto"] ?? "").split(",")[0]?.trim() : "";
  const protocol = forwarded || ((req.socket as TLSSocket).encrypted ? "https" : "http");
  return { protocol, host: req.headers.host };
}
