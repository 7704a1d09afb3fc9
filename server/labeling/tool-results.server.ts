/**
 * SEAM for issue #11 (decision 0020): where the server fills in or verifies the results of the
 * tool calls a labeler wrote into a demonstration by running the built-in tool itself.
 *
 * Today the labeler writes both the call (e.g. the calculator's expression) and its result, and
 * this function keeps them as written. The tools (the calculator) live with the trainer's
 * generation code; at merge, `runTool` below is wired to that executor, and then:
 *   - a result the labeler left as written is replaced by the tool's own output when it differs
 *     (the demonstration then teaches what the tool really returns), and
 *   - a call the tool refuses (a parse error, division by zero) keeps the tool's error text as
 *     its result, exactly as sampling would record it.
 * Validation has already run (validatePayload): only declared tools reach here.
 */
import type { ProjectSettings } from "./project-settings.ts";
import type { ConversationMessage } from "./transcript.ts";

/** Runs one declared tool; null while no executor is wired (the labeler's result is kept). */
export type ToolRunner = (name: string, args: Record<string, unknown>) => Promise<string | null>;

const notWired: ToolRunner = async () => null;
let runTool: ToolRunner = notWired;

/** Wires the built-in tools' executor (the lead, at merge); tests may pass their own. */
export function setToolRunner(runner: ToolRunner | null): void {
  runTool = runner ?? notWired;
}

/** The demonstration with each tool result settled: the tool's output where a runner is wired, else as written. */
export async function settleToolResults(payload: Record<string, unknown>, settings: ProjectSettings): Promise<Record<string, unknown>> {
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
      const result = call ? await runTool(call.function.name, call.function.arguments) : null;
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
