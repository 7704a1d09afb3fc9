/**
 * An OpenAI-compatible surface over the model registry, so any OpenAI client (and the bridges
 * to other tools) can chat with a registered policy: GET /v1/models and POST /v1/chat/completions
 * (with `stream: true` as server-sent events). Authenticated by API token (researcher role or
 * above), or a researcher's session. Errors use OpenAI's shape: {"error": {"message", "type", "code"}}.
 * Unknown request fields (penalties, logit_bias, user …) are accepted and ignored, as vLLM does.
 */
import { randomUUID } from "node:crypto";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Logger } from "pino";
import { z } from "zod";
import type { Actor } from "../auth/actor.ts";
import type { Db } from "../db/database.server.ts";
import { AppError, toProblem } from "../lib/app-error.ts";
import type { Inference } from "../rounds/inference.server.ts";
import { checkAccess } from "./endpoint.server.ts";

const modelName = (id: string) => `tandem-${id}`;
const modelIdOf = (name: string) => /^tandem-(\d{1,18})$/.exec(name)?.[1] ?? null;

export const chatCompletionSchema = z.object({
  model: z.string().min(1),
  messages: z.array(z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string() })).min(1),
  max_tokens: z.number().int().positive().max(2048).optional(),
  max_completion_tokens: z.number().int().positive().max(2048).optional(),
  temperature: z.number().min(0).max(2).default(1),
  top_p: z.number().gt(0).max(1).default(1),
  n: z.number().int().min(1).max(8).default(1),
  seed: z.number().int().nonnegative().optional(),
  stream: z.boolean().default(false),
});

export function openAiRouter(deps: { db: Db; inference: Inference; log: Logger; actorOf: (res: Response) => Actor | null }): express.Router {
  const router = express.Router();
  router.use(express.json({ limit: "1mb", strict: true }));

  router.get("/models", async (_req, res, next) => {
    try {
      checkAccess("researcher", deps.actorOf(res));
      const models = await deps.db.selectFrom("models").select(["id", "kind", "created_at"]).where("kind", "!=", "reward").where("external_uri", "is", null).orderBy("id").execute();
      res.json({ object: "list", data: models.map((m) => ({ id: modelName(m.id), object: "model", created: Math.floor(m.created_at.getTime() / 1000), owned_by: "tandem" })) });
    } catch (error) {
      next(error);
    }
  });

  router.post("/chat/completions", async (req: Request, res: Response, next: NextFunction) => {
    try {
      checkAccess("researcher", deps.actorOf(res));
      const parsed = chatCompletionSchema.safeParse(req.body);
      if (!parsed.success) throw AppError.fromZod(parsed.error, "The request body is not valid.");
      const body = parsed.data;
      const modelId = modelIdOf(body.model);
      if (!modelId) throw new AppError("not_found", `No model ${JSON.stringify(body.model)}; GET /v1/models lists them (tandem-<id>).`);
      const result = await deps.inference.generate(deps.db, modelId, {
        messages: body.messages,
        maxNewTokens: body.max_completion_tokens ?? body.max_tokens ?? 64,
        temperature: body.temperature,
        topP: body.top_p,
        topK: 0,
        seed: body.seed ?? Math.floor(Math.random() * 2 ** 31),
        n: body.n,
      });
      const id = `chatcmpl-${randomUUID()}`;
      const created = Math.floor(Date.now() / 1000);
      const finish = (finished: boolean) => (finished ? "stop" : "length");
      if (!body.stream) {
        const completionTokens = result.choices.reduce((n, c) => n + c.tokens, 0);
        res.json({
          id, object: "chat.completion", created, model: body.model,
          choices: result.choices.map((c, index) => ({ index, message: { role: "assistant", content: c.text }, finish_reason: finish(c.finished) })),
          usage: { prompt_tokens: result.promptTokens, completion_tokens: completionTokens, total_tokens: result.promptTokens + completionTokens },
        });
        return;
      }
      // Streaming: the text arrives whole from the worker, so each choice is one content chunk.
      res.status(200).setHeader("Content-Type", "text/event-stream");
      res.setHeader("Cache-Control", "no-cache");
      const chunk = (choices: unknown[]) => res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: body.model, choices })}\n\n`);
      result.choices.forEach((c, index) => chunk([{ index, delta: { role: "assistant", content: c.text }, finish_reason: null }]));
      chunk(result.choices.map((c, index) => ({ index, delta: {}, finish_reason: finish(c.finished) })));
      res.end("data: [DONE]\n\n");
    } catch (error) {
      next(error);
    }
  });

  router.use((req, _res, next) => next(new AppError("not_found", `No endpoint ${req.method} /v1${req.path}.`)));
  // OpenAI's error shape, so OpenAI clients show the message.
  router.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const type = (error as { type?: string }).type;
    const appError =
      error instanceof AppError
        ? error
        : type === "entity.parse.failed"
          ? new AppError("bad_request", "The request body is not valid JSON.")
          : type === "entity.too.large"
            ? new AppError("payload_too_large", "The request body is larger than 1 MB.")
            : new AppError("internal", "Something went wrong on our side.");
    if (appError.code === "internal") deps.log.error({ err: error, path: req.path }, "openai-compatible endpoint failed");
    const problem = toProblem(appError);
    res.status(problem.status).json({ error: { message: problem.detail + (problem.errors ? ` (${problem.errors.map((e) => `${e.path}: ${e.message}`).join("; ")})` : ""), type: problem.code, code: problem.code } });
  });
  return router;
}
