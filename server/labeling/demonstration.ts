/**
 * A demonstration as stored (the submission payload) and as a conversation (what the SFT export
 * writes). The payload keeps today's fields — `text` is the reply's final words, `continuation`
 * the turns after it — and a reply that used tools carries its calls and their results in
 * `toolTurns` (assistant messages with tool_calls, each followed by its tool messages), before
 * the final words (decision 0020).
 *   { text, toolTurns?, continuation?: [{ role: "user", content }, { role: "assistant", content, toolTurns? }, …] }
 */
import { answerMessages, answerText, isTranscript, type Answer, type ConversationMessage } from "./transcript.ts";

export type DemonstrationTurn = { role: "user"; content: string } | { role: "assistant"; content: string; toolTurns?: ConversationMessage[] };
export type Demonstration = { text: string; toolTurns?: ConversationMessage[]; continuation?: DemonstrationTurn[] };

/** One assistant reply as messages: its tool calls and results, then its final words. */
export const replyMessages = (text: string, toolTurns?: readonly ConversationMessage[]): ConversationMessage[] => [...(toolTurns ?? []), { role: "assistant", content: text }];

/** The demonstration after the prompt, as conversation messages. */
export function demonstrationMessages(payload: Record<string, unknown>): ConversationMessage[] {
  const demonstration = payload as Partial<Demonstration>;
  const out = replyMessages(String(demonstration.text ?? ""), demonstration.toolTurns);
  for (const turn of demonstration.continuation ?? []) {
    out.push(...(turn.role === "assistant" ? replyMessages(turn.content, turn.toolTurns) : [{ role: "user" as const, content: turn.content }]));
  }
  return out;
}

/** An answer as a reply of the payload: its final words and the tool turns before them. */
export function replyOf(answer: Answer): { text: string; toolTurns?: ConversationMessage[] } {
  if (!isTranscript(answer)) return { text: answer };
  return { text: answerText(answer), toolTurns: answer.slice(0, -1) };
}

const usesTools = (m: ConversationMessage) => m.role === "tool" || m.tool_calls !== undefined;

/**
 * A conversation (prompt, then answer) as a stored demonstration. When the turns before the final
 * answer used tools, the stored prompt is the turns before the first assistant reply and the rest
 * becomes the reply and its continuation, so the prompt stays plain chat turns and the export
 * writes the same conversation back.
 */
export function demonstrationOf(prompt: readonly ConversationMessage[], answer: Answer): { prompt: ConversationMessage[]; payload: Demonstration } {
  if (!prompt.some(usesTools)) return { prompt: [...prompt], payload: replyOf(answer) };
  const first = prompt.findIndex((m) => m.role === "assistant");
  const rest = [...prompt.slice(first), ...answerMessages(answer)];
  const turns: DemonstrationTurn[] = [];
  let run: ConversationMessage[] = [];
  const closeRun = () => {
    if (run.length === 0) return;
    const final = run.at(-1)!;
    turns.push({ role: "assistant", content: final.content, ...(run.length > 1 ? { toolTurns: run.slice(0, -1) } : {}) });
    run = [];
  };
  for (const m of rest) {
    if (m.role === "assistant" || m.role === "tool") run.push(m);
    else {
      closeRun();
      turns.push({ role: "user", content: m.content });
    }
  }
  closeRun();
  const [reply, ...continuation] = turns as [Extract<DemonstrationTurn, { role: "assistant" }>, ...DemonstrationTurn[]];
  return {
    prompt: prompt.slice(0, first),
    payload: { text: reply.content, ...(reply.toolTurns ? { toolTurns: reply.toolTurns } : {}), ...(continuation.length > 0 ? { continuation } : {}) },
  };
}
