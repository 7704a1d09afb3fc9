/**
 * An OpenAI-compatible surface over the model registry, so any OpenAI client (and the bridges
 * to other tools) can chat with a registered policy: GET /v1/models and POST /v1/chat/completions
 * (with `stream: true` as server-sent events, token by token: openai-stream.server.ts).
 * Authenticated by API token (researcher role or above), or a researcher's session. Errors use
 * OpenAI's shape: {"error": {"message", "type", "code", "param"}}.
 * Unknown request fields (penalties, logit_bias, user …) are accepted and ignored, as vLLM does.
 *
 * Tools (decision 0019), in OpenAI's shapes so the official clients work unchanged:
 *  - `tools: [{"type": "function", …}]` are the client's functions: an answer that calls one ends
 *    with `message.tool_calls` (arguments a JSON string, an `id` each) and finish_reason
 *    "tool_calls"; the client runs them and sends the results back as `{"role": "tool", "tool_call_id"}`.
 *  - built-in tools (the calculator) run on the server, inside the answer: those the model's project
 *    declares, and any the request names the way OpenAI names hosted tools (`{"type": "calculator"}`),
 *    unless the client declares a function of the same name, which is then the client's. The
 *    message is the final answer; `choices[i].tandem.messages` holds the whole transcript.
 *  - `tool_choice`: "auto", "none" (no calls at all), "required", or a named function.
 */
import { randomUUID } from "node:crypto";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Logger } from "pino";
import { z } from "zod";
import type { Actor } from "../auth/actor.ts";
import type { Db } from "../db/database.server.ts";
import { AppError, toProblem } from "../lib/app-error.ts";
import { GenerationCancelled, type Inference } from "../rounds/inference.server.ts";
import { toolNameSchema, type ConversationMessage, type ToolName } from "../../trainer/contract/conversation.ts";
import { functionNameSchema, type GenerationChoice, type ToolChoice } from "../../trainer/contract/inference.ts";
import { checkAccess } from "./endpoint.server.ts";
import { requireProjectAccess, visibleProjects } from "../auth/project-access.server.ts";
import { projectTools } from "./model-tools.server.ts";
import { callId, ChatCompletionStream } from "./openai-stream.server.ts";

const modelName = (id: string) => `tandem-${id}`;
const modelIdOf = (name: string) => /^tandem-(\d{1,18})$/.exec(name)?.[1] ?? null;

/** Text, or OpenAI's content parts (text parts only). */
const text = z.union([z.string(), z.array(z.object({ type: z.literal("text"), text: z.string() })).transform((parts) => parts.map((p) => p.text).join(""))]);

const requestToolCall = z.object({
  id: z.string().min(1).max(64),
  type: z.literal("function"),
  function: z.object({ name: functionNameSchema, arguments: z.string().max(100_000) }),
});

const messageSchema = z.discriminatedUnion("role", [
  z.object({ role: z.enum(["system", "developer"]), content: text }),
  z.object({ role: z.literal("user"), content: text }),
  z.object({ role: z.literal("assistant"), content: text.nullish(), tool_calls: z.array(requestToolCall).min(1).max(8).optional() }),
  z.object({ role: z.literal("tool"), content: text, tool_call_id: z.string().min(1).max(64) }),
]);

const toolSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("function"),
    function: z.object({
      name: functionNameSchema,
      description: z.string().max(4000).optional(),
      parameters: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullish(),
    }),
  }),
  /** A built-in the server runs, named by its type as OpenAI's hosted tools are. */
  z.object({ type: toolNameSchema }),
]);

export const chatCompletionSchema = z
  .object({
    model: z.string().min(1),
    messages: z.array(messageSchema).min(1),
    tools: z.array(toolSchema).max(128).optional(),
    tool_choice: z.union([z.enum(["none", "auto", "required"]), z.object({ type: z.literal("function"), function: z.object({ name: functionNameSchema }) })]).optional(),
    max_tokens: z.number().int().positive().max(2048).optional(),
    max_completion_tokens: z.number().int().positive().max(2048).optional(),
    temperature: z.number().min(0).max(2).default(1),
    top_p: z.number().gt(0).max(1).default(1),
    n: z.number().int().min(1).max(8).default(1),
    seed: z.number().int().nonnegative().optional(),
    stream: z.boolean().default(false),
    stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  })
  .superRefine(checkToolPayload)
  .superRefine((body, ctx) => {
    // as OpenAI: options for a stream only come with a stream
    if (body.stream_options && !body.stream) ctx.addIssue({ code: "custom", path: ["stream_options"], message: "only allowed when stream is true" });
  });

type ChatCompletionRequest = z.output<typeof chatCompletionSchema>;
type RequestMessage = z.output<typeof messageSchema>;

/** What the field schemas cannot see: arguments that are JSON objects, results that answer a call, names declared once. */
function checkToolPayload(body: { messages: RequestMessage[]; tools?: z.output<typeof toolSchema>[] | undefined }, ctx: z.RefinementCtx): void {
  const names = (body.tools ?? []).map((t) => ("function" in t ? t.function.name : t.type));
  names.forEach((name, i) => {
    if (names.indexOf(name) !== i) ctx.addIssue({ code: "custom", path: ["tools", i], message: `${name} is declared twice` });
  });
  let open: Set<string> | null = null; // ids of the latest assistant message's calls, while tool results follow it
  body.messages.forEach((m, i) => {
    if (m.role === "assistant") {
      if (!m.content && !m.tool_calls) ctx.addIssue({ code: "custom", path: ["messages", i, "content"], message: "an assistant message needs content or tool_calls" });
      m.tool_calls?.forEach((call, j) => {
        if (argumentsOf(call.function.arguments) === null)
          ctx.addIssue({ code: "custom", path: ["messages", i, "tool_calls", j, "function", "arguments"], message: "must be a JSON object, sent as a string" });
      });
      open = new Set((m.tool_calls ?? []).map((c) => c.id));
    } else if (m.role === "tool") {
      if (!open?.has(m.tool_call_id)) ctx.addIssue({ code: "custom", path: ["messages", i, "tool_call_id"], message: "answers no tool call of the assistant message before it" });
    } else open = null;
  });
}

function argumentsOf(json: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(json);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The request's messages in the canonical shape the worker renders: arguments parsed, each tool result named after its call. */
function canonicalMessages(messages: RequestMessage[]): ConversationMessage[] {
  const callNames = new Map<string, string>();
  return messages.map((m): ConversationMessage => {
    switch (m.role) {
      case "system":
      case "developer":
        return { role: "system", content: m.content };
      case "user":
        return { role: "user", content: m.content };
      case "tool":
        return { role: "tool", content: m.content, tool_call_id: m.tool_call_id, name: callNames.get(m.tool_call_id) ?? "unknown" };
      case "assistant": {
        const calls = (m.tool_calls ?? []).map((c) => {
          callNames.set(c.id, c.function.name);
          return { id: c.id, type: "function" as const, function: { name: c.function.name, arguments: argumentsOf(c.function.arguments) ?? {} } };
        });
        return { role: "assistant", content: m.content ?? "", ...(calls.length > 0 ? { tool_calls: calls } : {}) };
      }
    }
  });
}

/**
 * Which calls run where: the built-ins of the model's project and those the request names run
 * here; the client's functions (a same-named built-in included) go back to the client.
 */
async function toolPlan(db: Db, modelId: string, body: ChatCompletionRequest): Promise<{ run: ToolName[]; client: string[]; toolChoice: ToolChoice }> {
  const client = (body.tools ?? []).flatMap((t) => ("function" in t ? [t.function.name] : []));
  const hosted = (body.tools ?? []).flatMap((t) => ("function" in t ? [] : [t.type]));
  const run = [...new Set([...(await projectTools(db, modelId)), ...hosted])].filter((name) => !client.includes(name));
  const choice = body.tool_choice ?? "auto";
  if (choice === "required" && run.length === 0 && client.length === 0)
    throw new AppError("validation_failed", "tool_choice is required, but this model has no tools: declare functions in tools.", [{ path: "tool_choice", message: "no tools to call" }]);
  if (typeof choice === "object" && !client.includes(choice.function.name) && !run.some((name) => name === choice.function.name))
    throw new AppError("validation_failed", `tool_choice names ${choice.function.name}, which is not among the tools.`, [{ path: "tool_choice.function.name", message: "names no declared or built-in tool" }]);
  return { run, client, toolChoice: typeof choice === "object" ? { name: choice.function.name } : choice };
}

type OpenAiToolCall = { id: string; type: "function"; function: { name: string; arguments: string } };

/** One choice as OpenAI's assistant message: the final answer, or the calls for the client with fresh ids. */
function openAiMessage(choice: GenerationChoice, client: string[]): { role: "assistant"; content: string | null; tool_calls?: OpenAiToolCall[] } {
  if (choice.finishReason !== "tool_calls") return { role: "assistant", content: choice.text };
  const last = choice.messages.at(-1);
  // only the client's own functions go back; a built-in called in the same turn did not run
  const calls = (last?.tool_calls ?? []).filter((c) => client.includes(c.function.name));
  return {
    role: "assistant",
    content: last?.content ? last.content : null,
    tool_calls: calls.map((c) => ({ id: callId(), type: "function", function: { name: c.function.name, arguments: JSON.stringify(c.function.arguments) } })),
  };
}

export function openAiRouter(deps: { db: Db; inference: Inference; log: Logger; actorOf: (res: Response) => Actor | null }): express.Router {
  const router = express.Router();
  router.use(express.json({ limit: "1mb", strict: true }));

  router.get("/models", async (_req, res, next) => {
    try {
      checkAccess("researcher", deps.actorOf(res));
      const actor = deps.actorOf(res)!;
      // A project's checkpoints are its data (decision 0031): base models and those of projects one may enter.
      const models = await deps.db
        .selectFrom("models")
        .leftJoin("projects", "projects.id", "models.project_id")
        .select(["models.id", "models.kind", "models.created_at"])
        .where("models.kind", "!=", "reward")
        .where("models.external_uri", "is", null)
        .where((eb) => eb.or([eb("models.project_id", "is", null), visibleProjects(eb, actor)]))
        .orderBy("models.id")
        .execute();
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
      // the model's project, when it has one, must be one the caller may enter as a researcher
      const owner = await deps.db.selectFrom("models").select("project_id").where("id", "=", modelId).executeTakeFirst();
      if (owner?.project_id) await requireProjectAccess(deps.db, deps.actorOf(res)!, owner.project_id, "researcher");
      const plan = await toolPlan(deps.db, modelId, body);
      const request = {
        messages: canonicalMessages(body.messages),
        maxNewTokens: body.max_completion_tokens ?? body.max_tokens ?? 64,
        temperature: body.temperature,
        topP: body.top_p,
        topK: 0,
        seed: body.seed ?? Math.floor(Math.random() * 2 ** 31),
        n: body.n,
        tools: { run: plan.run, client: plan.client },
        toolChoice: plan.toolChoice,
      };
      const id = `chatcmpl-${randomUUID()}`;
      const created = Math.floor(Date.now() / 1000);
      if (body.stream) {
        const stream = new ChatCompletionStream(res, { id, created, model: body.model, n: body.n, client: plan.client, includeUsage: body.stream_options?.include_usage === true });
        // a client that leaves stops the generation: the worker would otherwise sample for nobody
        const left = new AbortController();
        res.on("close", () => {
          if (!res.writableEnded) left.abort();
        });
        try {
          stream.finish(await deps.inference.generate(deps.db, modelId, request, { onStart: () => stream.start(), onDeltas: (d) => stream.deltas(d), signal: left.signal }));
        } catch (error) {
          if (error instanceof GenerationCancelled || left.signal.aborted) return;
          if (!stream.started) throw error;
          stream.fail(openAiError(error, req, deps.log).body);
        }
        return;
      }
      const result = await deps.inference.generate(deps.db, modelId, request);
      const completionTokens = result.choices.reduce((n, c) => n + c.tokens, 0);
      res.json({
        id, object: "chat.completion", created, model: body.model,
        choices: result.choices.map((choice, index) => ({
          index, message: openAiMessage(choice, plan.client), finish_reason: choice.finishReason,
          // Tandem's addition: the whole answer, with the calls run on the server and their results
          tandem: { messages: choice.messages, toolCalls: choice.toolCalls },
        })),
        usage: { prompt_tokens: result.promptTokens, completion_tokens: completionTokens, total_tokens: result.promptTokens + completionTokens },
      });
    } catch (error) {
      next(error);
    }
  });

  router.use((req, _res, next) => next(new AppError("not_found", `No endpoint ${req.method} /v1${req.path}.`)));
  // OpenAI's error shape, so OpenAI clients show the message.
  router.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { status, body } = openAiError(error, req, deps.log);
    res.status(status).json(body);
  });
  return router;
}

/** Any error as OpenAI's body ({"error": {message, type, code, param}}) and its HTTP status; unexpected ones are logged. */
function openAiError(error: unknown, req: Request, log: Logger): { status: number; body: { error: Record<string, unknown> } } {
  const type = (error as { type?: string }).type;
  const appError =
    error instanceof AppError
      ? error
      : type === "entity.parse.failed"
        ? new AppError("bad_request", "The request body is not valid JSON.")
        : type === "entity.too.large"
          ? new AppError("payload_too_large", "The request body is larger than 1 MB.")
          : new AppError("internal", "Something went wrong on our side.");
  if (appError.code === "internal") log.error({ err: error, path: req.path }, "openai-compatible endpoint failed");
  const problem = toProblem(appError);
  return {
    status: problem.status,
    body: {
      error: {
        message: problem.detail + (problem.errors ? ` (${problem.errors.map((e) => `${e.path}: ${e.message}`).join("; ")})` : ""),
        type: problem.code,
        code: problem.code,
        // OpenAI names the offending parameter here
        param: problem.errors?.[0]?.path ?? null,
      },
    },
  };
}
