/**
 * A completion with tool use (decision 0020): the assistant and tool messages after the prompt, in
 * the canonical conversation shape (trainer/contract/conversation.ts) —
 *   [{assistant, "", tool_calls: [calculator {expression}]}, {tool, "calculator", "148"}, {assistant, "The answer is 148."}]
 * A plain completion stays a string. This module is the one place that says what a well-formed
 * transcript is, how it is stored, and how it flattens to plain text for TRL's standard format.
 * Pure (zod and the contract), so the import, export, sampling and labeling code all share it.
 */
import { z } from "zod";
import { conversationMessageSchema, finalAnswer, type ConversationMessage, type ToolCall } from "../../trainer/contract/conversation.ts";

export type { ConversationMessage, ToolCall };

/** A completion: a plain answer, or a transcript with tool calls (assistant and tool messages). */
export type Answer = string | ConversationMessage[];

export const MAX_TRANSCRIPT_MESSAGES = 64;
export const MAX_TRANSCRIPT_CONTENT_CHARS = 32_000;
/** A tool call's arguments as JSON: a calculator expression is short; a cap keeps one odd call small. */
export const MAX_ARGUMENTS_JSON_CHARS = 8_000;

export const isTranscript = (answer: Answer): answer is ConversationMessage[] => Array.isArray(answer);

/** The assistant's final words: what a checker reads and `completions.text` holds. */
export function answerText(answer: Answer): string {
  return isTranscript(answer) ? finalAnswer(answer) : answer;
}

/** The answer as messages (a plain answer is one assistant message). */
export function answerMessages(answer: Answer): ConversationMessage[] {
  return isTranscript(answer) ? answer : [{ role: "assistant", content: answer }];
}

/** One plain assistant message is a plain answer; anything with tool use stays a transcript. */
export function compactAnswer(messages: readonly ConversationMessage[]): Answer {
  const [only] = messages;
  if (messages.length === 1 && only!.role === "assistant" && !only!.tool_calls && only!.name === undefined && only!.tool_call_id === undefined) return only!.content;
  return [...messages];
}

/** `completions.messages`: null for a plain answer, the transcript otherwise. */
export function storedMessages(answer: Answer): ConversationMessage[] | null {
  const compact = isTranscript(answer) ? compactAnswer(answer) : answer;
  return isTranscript(compact) ? compact : null;
}

/** A stored completion row back as an answer. */
export function answerOfRow(row: { text: string; messages: readonly ConversationMessage[] | null }): Answer {
  return row.messages && row.messages.length > 0 ? compactAnswer(row.messages) : row.text;
}

/** Two answers are the same when their flattened text is (ids aside). */
export const sameAnswer = (a: Answer, b: Answer): boolean => flattenAnswer(a) === flattenAnswer(b);

// --- well-formed transcripts ------------------------------------------------------------------

export type TranscriptProblem = { path: Array<string | number>; message: string };

/** zod's conversation shape plus the caps; the ordering rules are `transcriptProblems`. */
export const transcriptSchema = z
  .array(conversationMessageSchema, { error: "must be a list of { role, content } messages" })
  .min(1, { error: "has no messages" })
  .max(MAX_TRANSCRIPT_MESSAGES, { error: `has more than ${MAX_TRANSCRIPT_MESSAGES} messages` });

/**
 * What makes a list of messages a completion: assistant and tool messages only, starting with the
 * assistant; each tool call answered by one tool message, in order, right after the call (the
 * name, where given, the call's); only assistant messages with calls come before the end, and the
 * last is the assistant's final answer (no calls, not blank). `allowUnfinished` (a sampled
 * completion the sampler cut short) lifts the last rule: labelers still see and rank it.
 */
export function transcriptProblems(messages: readonly ConversationMessage[], options: { allowUnfinished?: boolean } = {}): TranscriptProblem[] {
  const problems: TranscriptProblem[] = [];
  const add = (path: Array<string | number>, message: string) => problems.push({ path, message });
  let open: ToolCall[] = [];
  let answered = 0;
  messages.forEach((m, i) => {
    if (m.content.length > MAX_TRANSCRIPT_CONTENT_CHARS) add([i, "content"], `is longer than ${MAX_TRANSCRIPT_CONTENT_CHARS.toLocaleString("en")} characters`);
    if (m.role === "system" || m.role === "user") {
      add([i, "role"], `a completion holds assistant and tool messages; a "${m.role}" turn belongs in the prompt`);
      return;
    }
    if (m.role === "tool") {
      if (m.tool_calls) add([i, "tool_calls"], "only an assistant message makes tool calls");
      const call = open[answered];
      if (!call) {
        add([i], open.length === 0 ? "a tool result must follow the assistant's tool call" : `more tool results than the ${open.length} call(s) before them`);
        return;
      }
      if (m.name !== undefined && m.name !== call.function.name) add([i, "name"], `answers the call to "${call.function.name}", not "${m.name}"`);
      if (m.tool_call_id !== undefined && call.id !== undefined && m.tool_call_id !== call.id) add([i, "tool_call_id"], `answers call "${call.id}", not "${m.tool_call_id}"`);
      answered++;
      return;
    }
    // assistant
    if (m.name !== undefined || m.tool_call_id !== undefined) add([i], "name and tool_call_id belong to tool messages");
    if (answered < open.length) add([i], `the tool call${open.length > 1 ? "s" : ""} before it ${open.length - answered > 1 ? "have" : "has"} no result: give each call its tool message`);
    const last = i === messages.length - 1;
    if (m.tool_calls) {
      m.tool_calls.forEach((call, c) => {
        if (JSON.stringify(call.function.arguments).length > MAX_ARGUMENTS_JSON_CHARS) {
          add([i, "tool_calls", c, "function", "arguments"], `is larger than ${MAX_ARGUMENTS_JSON_CHARS.toLocaleString("en")} characters of JSON`);
        }
      });
      if (last && !options.allowUnfinished) add([i], "ends with a tool call: the completion must end with the assistant's final answer");
    } else if (!last) {
      add([i], "only the last assistant message is without tool calls (the final answer); join the words before a call into the call's message");
    } else if (m.content.trim() === "" && !options.allowUnfinished) {
      add([i, "content"], "the final answer is empty or whitespace-only");
    }
    open = m.tool_calls ?? [];
    answered = 0;
  });
  const first = messages[0];
  if (first && first.role !== "assistant") add([0, "role"], "a completion starts with the assistant");
  const last = messages.at(-1);
  if (last?.role === "tool" && !options.allowUnfinished) add([messages.length - 1], "ends with a tool result: the completion must end with the assistant's final answer");
  return dedupe(problems);
}

function dedupe(problems: TranscriptProblem[]): TranscriptProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path.join(".")}:${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Calls to tools the project does not declare (a project turns tools on in its settings). */
export function undeclaredToolProblems(messages: readonly ConversationMessage[], declared: readonly string[]): TranscriptProblem[] {
  const problems: TranscriptProblem[] = [];
  const known = declared.length > 0 ? `it declares ${declared.map((t) => `"${t}"`).join(", ")}` : "it declares no tools; turn them on in the project settings";
  messages.forEach((m, i) =>
    (m.tool_calls ?? []).forEach((call, c) => {
      if (!declared.includes(call.function.name)) problems.push({ path: [i, "tool_calls", c, "function", "name"], message: `"${call.function.name}" is not a tool this project declares (${known})` });
    }),
  );
  return problems;
}

/** `key[2].tool_calls[0].function.name: message` */
export function describeProblems(problems: readonly TranscriptProblem[], key = ""): string {
  return problems
    .map((p) => {
      const path = p.path.map((part) => (typeof part === "number" ? `[${part}]` : `.${part}`)).join("");
      const where = (key + path).replace(/^\./, "");
      return where ? `${where}: ${p.message}` : p.message;
    })
    .join("; ");
}

// --- TRL's standard format: a transcript as plain text ----------------------------------------
//
// The standard format holds plain strings, so a transcript is flattened the way Hermes-style chat
// templates (Qwen2.5, NousResearch) write tool use in text: the assistant's words as they are,
// each call as a <tool_call> block of JSON {"name", "arguments"}, each result as a
// <tool_response> block, one newline between parts:
//   <tool_call>
//   {"name":"calculator","arguments":{"expression":"37*4"}}
//   </tool_call>
//   <tool_response>
//   148
//   </tool_response>
//   The answer is 148.
// parseFlattened reads it back (call ids aside), so a standard export imports as it was written.

const CALL_OPEN = "<tool_call>\n";
const CALL_CLOSE = "\n</tool_call>";
const RESULT_OPEN = "<tool_response>\n";
const RESULT_CLOSE = "\n</tool_response>";
const BLOCK = /<tool_call>\n([\s\S]*?)\n<\/tool_call>|<tool_response>\n([\s\S]*?)\n<\/tool_response>/g;

/** The answer as plain text: a plain answer as it is, a transcript as text with tool blocks. */
export function flattenAnswer(answer: Answer): string {
  if (!isTranscript(answer)) return answer;
  const parts: string[] = [];
  for (const m of answer) {
    if (m.role === "tool") {
      parts.push(RESULT_OPEN + m.content + RESULT_CLOSE);
      continue;
    }
    if (m.content !== "" || !m.tool_calls) parts.push(m.content);
    for (const call of m.tool_calls ?? []) parts.push(CALL_OPEN + JSON.stringify({ name: call.function.name, arguments: call.function.arguments }) + CALL_CLOSE);
  }
  return parts.join("\n");
}

const flattenedCallSchema = z.strictObject({ name: z.string().min(1).max(64), arguments: z.record(z.string(), z.unknown()) });

/**
 * Plain text back as an answer: text without tool blocks is returned as it is; text with them
 * becomes the transcript (check it with transcriptProblems). A malformed call block is an error.
 */
export function parseFlattened(text: string): { ok: true; answer: Answer } | { ok: false; reason: string } {
  const matches = [...text.matchAll(BLOCK)];
  if (matches.length === 0) return { ok: true, answer: text };
  const messages: ConversationMessage[] = [];
  let calls: ToolCall[] = [];
  let results = 0;
  let at = 0;
  const pushText = (raw: string, leading: boolean, trailing: boolean) => {
    // Strip exactly the joining newlines flattenAnswer put between parts.
    let segment = raw;
    if (leading && segment.startsWith("\n")) segment = segment.slice(1);
    if (trailing && segment.endsWith("\n")) segment = segment.slice(0, -1);
    if (segment === "") return;
    messages.push({ role: "assistant", content: segment });
    calls = [];
    results = 0;
  };
  for (const [index, match] of matches.entries()) {
    pushText(text.slice(at, match.index), index > 0, true);
    at = match.index + match[0].length;
    if (match[1] !== undefined) {
      let parsed: z.ZodSafeParseResult<z.infer<typeof flattenedCallSchema>>;
      try {
        parsed = flattenedCallSchema.safeParse(JSON.parse(match[1]));
      } catch {
        return { ok: false, reason: `tool call ${index + 1}: the <tool_call> block is not JSON` };
      }
      if (!parsed.success) return { ok: false, reason: `tool call ${index + 1}: a <tool_call> block holds {"name", "arguments": {...}}` };
      const call: ToolCall = { type: "function", function: { name: parsed.data.name, arguments: parsed.data.arguments } };
      const last = messages.at(-1);
      // A call right after the assistant's words (or its earlier calls) belongs to that message.
      if (last?.role === "assistant" && results === 0) {
        last.tool_calls = [...(last.tool_calls ?? []), call];
      } else {
        messages.push({ role: "assistant", content: "", tool_calls: [call] });
        results = 0;
      }
      calls = messages.at(-1)!.tool_calls!;
    } else {
      const call = calls[results];
      messages.push({ role: "tool", ...(call ? { name: call.function.name } : {}), content: match[2]! });
      results++;
    }
  }
  pushText(text.slice(at), true, false);
  return { ok: true, answer: compactAnswer(messages) };
}

/**
 * A conversation that ends with the assistant's answer, split into the prompt and that answer:
 * every assistant and tool message after the last user turn when one of them uses tools, else
 * just the last message (plain conversations split as they did before tool use).
 */
export function splitAnswer(messages: readonly ConversationMessage[]): { prompt: ConversationMessage[]; answer: Answer } {
  let start = messages.length - 1;
  while (start > 0 && (messages[start - 1]!.role === "assistant" || messages[start - 1]!.role === "tool")) start--;
  if (!messages.slice(start).some((m) => m.role === "tool" || m.tool_calls !== undefined)) start = messages.length - 1;
  return { prompt: messages.slice(0, start), answer: compactAnswer(messages.slice(start)) };
}

/**
 * The answer with its final words replaced (a reviewer's correction): a transcript keeps its tool
 * calls and results, since the reviewer corrects the words, not what the tools returned.
 */
export function withFinalWords(answer: Answer, text: string): Answer {
  if (!isTranscript(answer) || answer.at(-1)?.role !== "assistant" || answer.at(-1)?.tool_calls) return text;
  return [...answer.slice(0, -1), { role: "assistant", content: text }];
}
