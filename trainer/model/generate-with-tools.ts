// Generation with tools: the policy answers, and when an assistant turn ends (<|end|>) after one or
// more tool calls, that row pauses, its calls run, and the tool turns plus the reopened assistant
// turn are fed back in before the row samples again (decision 0019; token layout in
// tokenizer/chat-template.ts). The same loop serves round sampling, RL rollouts, the playground
// and /v1/chat/completions.
//
// Per row, in order:
//   1. sample as generate() does (same seeds, same cache), until a turn ends on <|end|>;
//   2. a turn holding <|tool_call|> pauses: its calls are parsed from the turn's tokens;
//   3. each call runs (runToolCall: unknown tool, bad arguments, timeout and oversized output are
//      error results); calls past `limits.maxCalls` in this answer are answered with an error
//      instead of running; an invalid call is answered with how to write one;
//   4. the results are rendered as tool turns + <|assistant|> and queued: fed one per step through
//      the KV cache (policyMask 0, log-prob 0) while the other rows keep sampling;
//   5. a row whose results would not leave room for one more token stops there (cut at the limit).
// A caller that must not run a call here (an API client's own function) returns "stop" from
// onToolCalls: the row ends on its calls, finished.
import { type ToolCall } from "../contract/conversation.ts";
import { SPECIAL_TOKENS, type BpeTokenizer } from "../tokenizer/bpe-tokenizer.ts";
import { ChatTemplateError, INVALID_TOOL_CALL, parseCompletion, renderToolResults } from "../tokenizer/chat-template.ts";
import { DEFAULT_TOOL_LIMITS, runToolCall, type ToolDefinition, type ToolLimits } from "../tools/registry.ts";
import { advance, decodeSteps, type GenerateOptions, type GenerateResult, type OnStep, type ToolResume } from "./generate.ts";
import { type LanguageModel } from "./lm.ts";

export interface ToolGenerateOptions extends GenerateOptions {
  tokenizer: BpeTokenizer;
  /** Tools the policy may call (built-in names); a call to any other is answered with an error. */
  tools: readonly string[];
  limits?: Partial<ToolLimits>;
  /** Tool definitions by name; default the built-ins. */
  registry?: Readonly<Record<string, ToolDefinition>>;
  /**
   * Overrides step 3 for a paused turn: return the results' contents in call order, or "stop" to
   * end the row on these calls. `earlier` counts this row's calls before these.
   */
  onToolCalls?: (row: number, calls: ToolCall[], earlier: number) => Promise<string[] | "stop">;
  /** Streaming: called after every step, before that step's calls run (so a call is shown before its result). */
  onStep?: OnStep;
}

export interface ToolGenerateResult extends GenerateResult {
  /** Per row: the tool calls the policy made (run, refused past the limit, or handed to the caller). */
  toolCalls: number[];
}

const INVALID_CALL_RESULT = 'error: not a valid tool call; write {"name": "<tool>", "arguments": {…}} after <|tool_call|>';
const RESERVED_RESULT = "error: the tool's output holds reserved text";

export async function generateWithTools(model: LanguageModel, prompts: number[][], o: ToolGenerateOptions): Promise<ToolGenerateResult> {
  const { tokenizer } = o;
  const limits: ToolLimits = { ...DEFAULT_TOOL_LIMITS, ...o.limits };
  const endToken = tokenizer.special.endOfTurn;
  if (!(o.stopTokens ?? []).includes(endToken)) throw new Error("generation with tools needs the end-of-turn token among the stop tokens");
  const toolCalls = prompts.map(() => 0);

  // steps 2–3 for one paused row: parse its calls, run them (or let the caller decide), render the insertion
  const answer = async (row: number, turn: number[]): Promise<number[] | null> => {
    const calls = (await parseCompletion(tokenizer, turn))[0]?.tool_calls ?? [];
    const earlier = toolCalls[row] ?? 0;
    toolCalls[row] = earlier + calls.length;
    const contents = o.onToolCalls ? await o.onToolCalls(row, calls, earlier) : await answerToolCalls(calls, earlier, { tools: o.tools, limits, ...(o.registry ? { registry: o.registry } : {}) });
    if (contents === "stop") return null;
    try {
      return await renderToolResults(tokenizer, contents);
    } catch (error) {
      if (!(error instanceof ChatTemplateError)) throw error;
      return renderToolResults(tokenizer, contents.map((c) => (isRenderable(c) ? c : RESERVED_RESULT)));
    }
  };

  // step 1 and 4–5 are the decoding loop's; this drives it, answering each batch of pauses
  const steps = decodeSteps(model, prompts, o, { callToken: tokenizer.special.toolCall, endToken }, o.onStep !== undefined);
  try {
    let resume: ToolResume = [];
    for (;;) {
      const step = await advance(steps, resume); // every read of the logits awaited: it runs on webgpu too
      if (step.done) return { ...step.value, toolCalls };
      await o.onStep?.(step.value.completions);
      resume = await Promise.all(step.value.pauses.map((pause) => answer(pause.row, pause.turn)));
    }
  } finally {
    steps.return(undefined as never); // frees the KV cache if a tool driver failed mid-way
  }
}

/**
 * Step 3: the results of one turn's calls, in order — an invalid call is answered with how to write
 * one, a call past the limit with an error, every other call by runToolCall. `earlier` counts the
 * answer's calls before these.
 */
export async function answerToolCalls(
  calls: ToolCall[],
  earlier: number,
  o: { tools: readonly string[]; limits?: Partial<ToolLimits>; registry?: Readonly<Record<string, ToolDefinition>> },
): Promise<string[]> {
  const limits: ToolLimits = { ...DEFAULT_TOOL_LIMITS, ...o.limits };
  return Promise.all(
    calls.map(async (call, i) => {
      if (call.function.name === INVALID_TOOL_CALL) return INVALID_CALL_RESULT;
      if (earlier + i >= limits.maxCalls) return `error: tool call limit reached (${limits.maxCalls} per answer)`;
      return (await runToolCall({ name: call.function.name, arguments: call.function.arguments }, o.tools, limits, o.registry)).content;
    }),
  );
}

const isRenderable = (text: string): boolean => !Object.values(SPECIAL_TOKENS).some((s) => text.includes(s));
