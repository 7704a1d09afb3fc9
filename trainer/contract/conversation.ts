// The conversation shape Tandem stores, exports and trains on: TRL's (and transformers') chat
// format, which carries tool calls the way OpenAI's API does —
//   {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "calculator", "arguments": {"expression": "37*4"}}}]}
//   {"role": "tool", "name": "calculator", "content": "148"}
//   {"role": "assistant", "content": "The answer is 148."}
// A completion with tool use is the list of assistant and tool messages after the prompt; a plain
// completion is one assistant message. Zod only, so the web app can import it.
import { z } from "zod";

/** The tools Tandem can run while a policy answers. A project declares which of them its tasks use. */
export const TOOL_NAMES = ["calculator"] as const;
export type ToolName = (typeof TOOL_NAMES)[number];
export const toolNameSchema = z.enum(TOOL_NAMES);

export const toolCallSchema = z.strictObject({
  /** OpenAI's call id; optional in TRL data. */
  id: z.string().max(64).optional(),
  type: z.literal("function").default("function"),
  function: z.strictObject({
    name: z.string().min(1).max(64),
    /** An object, as transformers' chat templates expect (OpenAI sends a JSON string: parse it first). */
    arguments: z.record(z.string(), z.unknown()),
  }),
});
export type ToolCall = z.output<typeof toolCallSchema>;

export const conversationMessageSchema = z.strictObject({
  role: z.enum(["system", "user", "assistant", "tool"]),
  content: z.string(),
  /** Assistant only. */
  tool_calls: z.array(toolCallSchema).min(1).max(8).optional(),
  /** Tool only: which tool answered. */
  name: z.string().min(1).max(64).optional(),
  /** Tool only: the call it answers (OpenAI). */
  tool_call_id: z.string().max(64).optional(),
});
export type ConversationMessage = z.output<typeof conversationMessageSchema>;

/**
 * Why a list of messages is not a completion's turns in TRL's conversational form: assistant and tool messages
 * only, an assistant's first. Shared by the trainer's dataset reader and the scoring request.
 */
export function completionTurnProblems(turns: ReadonlyArray<{ role: string }>): Array<{ path: [number, "role"]; message: string }> {
  const problems: Array<{ path: [number, "role"]; message: string }> = [];
  if (turns[0]?.role !== "assistant") problems.push({ path: [0, "role"], message: "a completion starts with an assistant message" });
  turns.forEach((t, i) => {
    if (t.role !== "assistant" && t.role !== "tool") problems.push({ path: [i, "role"], message: "a completion holds assistant and tool messages only" });
  });
  return problems;
}

/** The assistant's final words: the content of the last assistant message (what a checker reads). */
export function finalAnswer(completion: readonly ConversationMessage[]): string {
  for (let i = completion.length - 1; i >= 0; i--) {
    const m = completion[i];
    if (m?.role === "assistant") return m.content;
  }
  return "";
}
