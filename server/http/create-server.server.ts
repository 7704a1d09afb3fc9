import http from "node:http";
import path from "node:path";
import { createRequestHandler } from "@react-router/express";
import { parse as parseCookies } from "cookie";
import express, { type NextFunction, type Request, type Response } from "express";
import type { ServerBuild } from "react-router";
import type pg from "pg";
import type { Logger } from "pino";
import type { TandemContext } from "../../app/context.ts";
import type { Actor } from "../auth/actor.ts";
import { createLoginLimiter } from "../auth/login.server.ts";
import { hasRole } from "../auth/roles.ts";
import { findSessionUser, SESSION_COOKIE } from "../auth/sessions.server.ts";
import { findTokenActor } from "../auth/tokens.server.ts";
import type { Config } from "../config.server.ts";
import type { Db } from "../db/database.server.ts";
import { createDbHealth } from "../db/db-health.server.ts";
import { AppError, toProblem } from "../lib/app-error.ts";
import { buildOpenApiDocument, runEndpoint } from "../api/endpoint.server.ts";
import { compressResponses } from "./compression.server.ts";
import { logRequest } from "./request-log.server.ts";
import { apiEndpoints } from "../api/all-endpoints.server.ts";
import { attachSocketServer } from "../socket/socket-server.server.ts";
import { allowedOrigins, csrfGuard } from "./csrf.server.ts";
import { guardFormText } from "./form-text-guard.server.ts";
import { openAiRouter } from "../api/openai-routes.server.ts";
import { createInference } from "../rounds/inference.server.ts";
import { startRewardScoreRunner } from "../labeling/active/reward-scores.server.ts";
import { startRayRunner } from "../bridges/ray/ray-handoff.server.ts";
import { createMetrics, routeGroup } from "./metrics.server.ts";
import { parseSize } from "../lib/size.ts";
import { findDisallowed } from "../lib/unsafe-text.ts";
import { isMetricsToken } from "../ops/metrics-access.server.ts";
import { registerOpsMetrics } from "../ops/ops-metrics.server.ts";
import { startExternalModels } from "../bridges/external/external-models.server.ts";
import { startCleaningRunner } from "../corpora/cleaning-runner.server.ts";

export type ServerDeps = {
  config: Config;
  db: Db;
  pool: pg.Pool;
  log: Logger;
  /** The React Router build, or a loader for it (dev mode re-imports on change). */
  build: ServerBuild | (() => Promise<ServerBuild>);
  /** Extra Express middleware mounted before the app (Vite's in dev mode). */
  before?: express.RequestHandler;
  clientDir?: string;
};

export type TandemServer = { httpServer: http.Server; close: () => Promise<void> };

type Locals = { actor: Actor | null };

/** Uploads that may be as large as TANDEM_IMPORT_LIMIT: prompt imports, dataset-format imports, documents. */
const IMPORT_PATH = /^\/api\/v1\/projects\/\d+\/(imports(\/(trl|openrlhf|verl|hf))?|documents)$/;
/** Dataset-format imports (server/bridges/formats): the file itself is the body. */
const FILE_IMPORT_PATH = /^\/api\/v1\/projects\/\d+\/imports\/(trl|openrlhf|verl|hf)$/;
/** Corpus files (server/corpora): raw bytes, streamed into the database, with their own limit. */
const CORPUS_UPLOAD_PATH = /^\/api\/v1\/corpora\/\d+\/files$/;
/** Trainer uploads of checkpoint files: raw bytes, streamed to disk, with their own limit. */
const UPLOAD_PATH = /^\/api\/v1\/trainer\/jobs\/\d+\/(files|resume)\/[\w.-]+$/;

export function createTandemServer(deps: ServerDeps): TandemServer {
  const { config, db, log } = deps;
  const app = express();
  const httpServer = http.createServer(app);
  const metrics = createMetrics();
  registerOpsMetrics(metrics.registry, { db, pool: deps.pool, log, agreementRefreshSeconds: config.TANDEM_METRICS_AGREEMENT_REFRESH_SECONDS });
  const loginLimiter = createLoginLimiter(deps.pool, config.TANDEM_LOGIN_ATTEMPTS);
  // Database outages: noted from every pool and client error, answered with 503 (decision 0023).
  const dbHealth = createDbHealth(deps.pool, log);
  deps.pool.on("error", (error) => dbHealth.noteError(error));
  const io = attachSocketServer(httpServer, { db, pool: deps.pool, log, config, metrics });
  const inference = createInference(config.TANDEM_DATA_DIR, log);
  // Rounds handed to a Ray cluster are submitted and mirrored from here (decision 0017).
  const rayRunner = config.TANDEM_RAY_DASHBOARD_URL ? startRayRunner({ db, io, log, config }) : null;
  const external = startExternalModels({ config, db, log, inference });
  const cleaning = startCleaningRunner({
    db,
    log: log.child({ component: "cleaning-runner" }),
    pollMs: config.TANDEM_CLEANING_POLL_MS,
    index: { maxInMemory: config.TANDEM_CLEANING_INDEX_MEMORY, spillDir: config.TANDEM_CLEANING_SPILL_DIR },
  });
  // Reward-model scores for uncertainty-first queues (decision 0048), in the background.
  const scoring = startRewardScoreRunner({ db, log: log.child({ component: "reward-score-runner" }), inference, pollMs: config.TANDEM_SCORE_POLL_MS });

  app.disable("x-powered-by");
  app.set("trust proxy", config.TANDEM_TRUST_PROXY);

  // 1. Access log + metrics for every request.
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const urlPath = req.originalUrl.split("?")[0] ?? "/";
      const group = routeGroup(urlPath);
      metrics.httpRequests.inc({ method: req.method, group, status: String(res.statusCode) });
      metrics.httpDuration.observe({ group }, seconds);
      if (group !== "/assets") logRequest(log, { method: req.method, path: urlPath, status: res.statusCode, ms: Math.round(seconds * 1000) }, config.TANDEM_SLOW_REQUEST_MS, res.locals);
    });
    next();
  });

  // 2. Security headers. Pages are never framed; sniffing is off.
  app.use((_req, res, next) => {
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("X-Frame-Options", "DENY");
    res.setHeader("Referrer-Policy", "same-origin");
    res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
    next();
  });

  // 2b. gzip / brotli for pages, scripts and JSON (decision 0026).
  app.use(compressResponses());

  // 3. Static files first: they need no session lookup.
  const clientDir = deps.clientDir ?? path.resolve("build/client");
  app.use("/assets", express.static(path.join(clientDir, "assets"), { immutable: true, maxAge: "1y", fallthrough: false }));
  app.use(express.static(clientDir, { maxAge: "1h", index: false }));
  // Pages link /favicon.svg; clients that ask for the classic path get sent there.
  app.get("/favicon.ico", (_req, res) => res.redirect(301, "/favicon.svg"));
  if (deps.before) app.use(deps.before);

  // 3b. Health: always answers, and says whether the database is reachable (it asks it, so a
  // load balancer's probe also ends an outage as soon as the database is back).
  app.get("/healthz", async (_req, res) => {
    try {
      await db.selectNoFrom((eb) => eb.val(1).as("one")).execute();
      dbHealth.noteOk();
      res.json({ status: "ok", database: "ok" });
    } catch (error) {
      if (!dbHealth.noteError(error)) log.error({ err: error }, "health check failed");
      res.status(503).setHeader("Retry-After", "5").json({ status: "unavailable", database: "unreachable" });
    }
  });

  // 3c. While the database is known to be down, every other request gets a 503 at once (a
  // problem document for the API, a page for people) instead of waiting on a connection.
  app.use((_req, _res, next) => {
    next(dbHealth.down ? databaseDown() : undefined);
  });

  // 4. Oversized bodies are refused before anyone reads them (forms included, not only JSON).
  // Prompt imports and document uploads carry whole files and get their own, larger limit.
  const limitBytes = parseSize(config.TANDEM_BODY_LIMIT);
  const importLimitBytes = parseSize(config.TANDEM_IMPORT_LIMIT);
  const uploadLimitBytes = parseSize(config.TANDEM_MODEL_UPLOAD_LIMIT);
  const corpusLimitBytes = parseSize(config.TANDEM_CORPUS_UPLOAD_LIMIT);
  app.use((req, _res, next) => {
    const length = Number(req.headers["content-length"] ?? 0);
    const [limit, label] = IMPORT_PATH.test(req.path)
      ? [importLimitBytes, config.TANDEM_IMPORT_LIMIT]
      : UPLOAD_PATH.test(req.path)
        ? [uploadLimitBytes, config.TANDEM_MODEL_UPLOAD_LIMIT]
        : CORPUS_UPLOAD_PATH.test(req.path)
          ? [corpusLimitBytes, config.TANDEM_CORPUS_UPLOAD_LIMIT]
          : [limitBytes, config.TANDEM_BODY_LIMIT];
    next(length > limit ? new AppError("payload_too_large", `The request body is larger than ${label}.`) : undefined);
  });

  // 4a. Page query strings with NUL, control characters or lone surrogates are refused before a
  // loader passes them to PostgreSQL (decision 0022); the JSON API refuses them per endpoint (422).
  app.use((req, _res, next) => {
    if (req.path.startsWith("/api/") || req.path.startsWith("/v1/")) return next();
    const found = findDisallowed(req.query);
    next(found ? new AppError("bad_request", `The query parameter "${found.path}" contains ${found.problem}.`, [{ path: found.path, message: `Contains ${found.problem}.` }]) : undefined);
  });

  // 4b. Prometheus. Before the session lookup: a metrics-only bearer (TANDEM_METRICS_TOKEN) is no
  // API token. Metrics reveal traffic and load: that secret, admins and admin tokens only.
  app.get("/metrics", async (req, res, next) => {
    try {
      if (!isMetricsToken(req.headers.authorization, config.TANDEM_METRICS_TOKEN)) {
        const actor = await resolveActor(db, req);
        if (!actor) throw new AppError("unauthenticated", "Send the metrics token or an admin API token.");
        if (!hasRole(actor.role, "admin")) throw new AppError("forbidden", "Your role does not allow this.");
      }
      res.setHeader("Content-Type", metrics.registry.contentType);
      res.setHeader("Cache-Control", "no-store");
      res.send(await metrics.registry.metrics());
    } catch (error) {
      next(error);
    }
  });

  // 5. Who is asking: session cookie or bearer token.
  app.use(async (req, res: Response<unknown, Locals>, next) => {
    try {
      res.locals.actor = await resolveActor(db, req);
      next();
    } catch (error) {
      next(error);
    }
  });

  // 6. CSRF: cookie-carrying mutations must come from our own origin.
  app.use(csrfGuard((req) => allowedOrigins(config, { protocol: req.protocol, host: req.get("host") })));

  const contextFor = (req: Request, res: Response<unknown, Locals>): TandemContext => ({
    actor: res.locals.actor,
    db,
    io,
    log,
    config,
    loginLimiter,
    inference,
    external,
    cleaning,
    clientIp: req.ip ?? "unknown",
    secureCookies: req.secure || config.TANDEM_PUBLIC_URL?.startsWith("https:") === true,
  });

  // 8. JSON API.
  const api = express.Router();
  api.use((req, _res, next) => {
    const hasBody = Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
    if ((req.method === "PUT" && UPLOAD_PATH.test(req.baseUrl + req.path)) || (req.method === "POST" && FILE_IMPORT_PATH.test(req.baseUrl + req.path))) {
      if (!req.is("application/octet-stream")) return next(new AppError("unsupported_media_type", "Send the file as application/octet-stream."));
      return next();
    }
    // A corpus file streams to its handler, which checks the type after the caller's role (so a refusal says 401/403 first).
    if (req.method === "POST" && CORPUS_UPLOAD_PATH.test(req.baseUrl + req.path) && req.is("application/octet-stream")) return next();
    if (hasBody && !req.is("application/json")) {
      return next(new AppError("unsupported_media_type", "Send the body as application/json."));
    }
    next();
  });
  api.use("/projects/:id/imports", express.json({ limit: config.TANDEM_IMPORT_LIMIT, strict: true }));
  api.use("/projects/:id/documents", express.json({ limit: config.TANDEM_IMPORT_LIMIT, strict: true }));
  api.use(express.json({ limit: config.TANDEM_BODY_LIMIT, strict: true }));
  const openApi = buildOpenApiDocument(apiEndpoints, "/api/v1");
  api.get("/openapi.json", (_req, res) => void res.json(openApi));
  for (const ep of apiEndpoints) {
    api[ep.method](ep.path, (req: Request, res: Response<unknown, Locals>, next: NextFunction) => {
      runEndpoint(ep, req, res, contextFor(req, res)).catch(next);
    });
  }
  api.use((req, _res, next) => next(new AppError("not_found", `No API endpoint ${req.method} ${req.baseUrl}${req.path}.`)));
  app.use("/api/v1", api);
  app.use("/api", (req, _res, next) => next(new AppError("not_found", `No API endpoint ${req.method} ${req.originalUrl}.`)));
  // 8b. The OpenAI-compatible surface over registered policies (chat completions, models).
  app.use("/v1", openAiRouter({ db, inference, log, actorOf: (res) => (res as Response<unknown, Locals>).locals.actor }));

  // 9. Every page: React Router (its splat route renders the 404 page); forms with NUL or
  // control characters are refused first (decision 0022).
  app.all(
    "/{*path}",
    guardFormText(
      createRequestHandler({
        build: deps.build,
        mode: config.NODE_ENV,
        getLoadContext: (req, res) => contextFor(req, res as Response<unknown, Locals>),
      }),
      limitBytes,
    ),
  );

  // 10. Errors: expected ones become problem documents; the rest are logged, never shown raw.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const appError = dbHealth.noteError(error) ? databaseDown() : toAppError(error);
    if (appError.code === "internal") log.error({ err: error, method: req.method, path: req.path }, "unhandled error");
    if (appError.retryAfterSeconds) res.setHeader("Retry-After", String(appError.retryAfterSeconds));
    const problem = toProblem(appError);
    if (req.accepts(["json", "html"]) === "html" && !req.path.startsWith("/api/")) {
      res.status(problem.status).type("html").send(errorPage(problem.title, problem.detail));
      return;
    }
    res.status(problem.status).type("application/problem+json").send(JSON.stringify(problem));
  });

  const close = async () => {
    dbHealth.stop();
    rayRunner?.stop();
    await external.stop();
    await cleaning.stop();
    await scoring.stop();
    inference.close();
    await new Promise<void>((resolve) => {
      io.close(() => resolve());
    });
    httpServer.closeAllConnections();
  };
  return { httpServer, close };
}

async function resolveActor(db: Db, req: Request): Promise<Actor | null> {
  const auth = req.headers.authorization;
  if (auth?.startsWith("Bearer ")) {
    const actor = await findTokenActor(db, auth.slice(7).trim());
    if (!actor) throw new AppError("unauthenticated", "The API token is unknown or revoked.");
    return actor;
  }
  const cookieValue = req.headers.cookie ? parseCookies(req.headers.cookie)[SESSION_COOKIE] : undefined;
  if (!cookieValue) return null;
  const found = await findSessionUser(db, cookieValue);
  return found ? { kind: "session", user: found.user, role: found.user.role, sessionId: found.sessionId } : null;
}

function databaseDown(): AppError {
  return new AppError("service_unavailable", "The database is unreachable; Tandem is reconnecting. Try again in a few seconds.", [], 5);
}

function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const bodyError = error as { type?: string; status?: number };
  if (bodyError.type === "entity.too.large") return new AppError("payload_too_large", "The request body is too large.");
  if (bodyError.type === "entity.parse.failed") return new AppError("bad_request", "The request body is not valid JSON.");
  if (bodyError.status === 404) return new AppError("not_found", "Not found.");
  // Last line of defence behind the input checks (decision 0022): text PostgreSQL cannot store.
  const pgError = error as { code?: string; message?: string };
  if (pgError.code === "22021" || pgError.code === "22P05" || (pgError.code === "22P02" && /unicode|surrogate/i.test(pgError.message ?? ""))) {
    return new AppError("validation_failed", "The request holds text the database cannot store (a NUL character or broken Unicode).");
  }
  return new AppError("internal", "Something went wrong on our side. It has been logged.");
}


function errorPage(title: string, detail: string): string {
  const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)} · Tandem</title></head><body style="font-family:system-ui;max-width:40rem;margin:4rem auto;padding:0 1rem"><main><h1>${escape(title)}</h1><p>${escape(detail)}</p><p><a href="/">Back to Tandem</a></p></main></body></html>`;
}
