/**
 * The results of the tool calls a labeler writes into a demonstration are the built-in tool's own
 * output (issue #11, decisions 0019 and 0020): the server runs the tool exactly as sampling would,
 * so a demonstration teaches what the tool really returns. A result typed differently is replaced;
 * a call the tool refuses (a parse error, division by zero) keeps the tool's error text, as sampling
 * records it. Validation has already run (validatePayload): only declared tools reach here.
 *
 * The built-in tools are pure TypeScript (trainer/tools, no TensorFlow.js): the one place web code
 * reaches past trainer/contract, so that labelers and the sampler can never disagree on a result.
 */
import type { ProjectSettings } from "./project-settings.ts";
import type { ConversationMessage } from "./transcript.ts";
import { runToolCall } from "../../trainer/tools/registry.ts";

/** Runs one declared tool; null keeps the labeler's result as written. */
export type ToolRunner = (name: string, args: Record<string, unknown>, enabled: readonly string[]) => Promise<string | null>;

const builtinRunner: ToolRunner = async (name, args, enabled) => (await runToolCall({ name, arguments: args }, enabled)).content;

/** The demonstration with each tool result settled: the tool's own output (the runner may keep one as written by answering null). */
export async function settleToolResults(payload: Record<string, unknown>, settings: ProjectSettings, runTool: ToolRunner = builtinRunner): Promise<Record<string, unknown>> {
  if (settings.tools.length === 0) return payload;
  const settle = async (turns: ConversationMessage[] | undefined): Promise<ConversationMessage[] | undefined> => {
    if (!turns) return turns;
    const out: ConversationMessage[] = [];
    let calls: NonNullable<ConversationMessage["tool_calls"]> = [];
    let answered = 0;
    for (const turn of turns) {
      if (turn.role === "assistant") {
        calls = turn.tool_calls ?? [];
        answered = 0;
        out.push(turn);
        continue;
      }
      const call = calls[answered++];
      const result = call ? await runTool(call.function.name, call.function.arguments, settings.tools) : null;
      out.push(result === null ? turn : { ...turn, content: result });
    }
    return out;
  };
  const continuation = payload.continuation as Array<Record<string, unknown>> | undefined;
  return {
    ...payload,
    ...(payload.toolTurns ? { toolTurns: await settle(payload.toolTurns as ConversationMessage[]) } : {}),
    ...(continuation
      ? { continuation: await Promise.all(continuation.map(async (t) => (t.toolTurns ? { ...t, toolTurns: await settle(t.toolTurns as ConversationMessage[]) } : t))) }
      : {}),
  };
}
