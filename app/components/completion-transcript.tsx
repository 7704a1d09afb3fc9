import type { ConversationMessage } from "../../trainer/contract/conversation.ts";
import { Markdown } from "./markdown.tsx";

type Message = Pick<ConversationMessage, "role" | "content" | "tool_calls" | "name">;
type Call = NonNullable<ConversationMessage["tool_calls"]>[number];

/** A call's arguments as people read them: the calculator's expression, else the arguments as JSON. */
export function describeArguments(call: Call): string {
  const args = call.function.arguments;
  const keys = Object.keys(args);
  if (keys.length === 1 && typeof args[keys[0]!] === "string") return args[keys[0]!] as string;
  return JSON.stringify(args);
}

const boxClass = "rounded-md border-l-4 px-3 py-2 text-sm";

function ToolCallBox({ call }: { call: Call }) {
  return (
    <div role="group" aria-label={`Tool call: ${call.function.name}`} data-testid="tool-call"
      className={`${boxClass} border-amber-600 bg-amber-50 dark:border-amber-400 dark:bg-amber-950/40`}>
      <p className="text-xs font-semibold uppercase tracking-wide">Tool call · {call.function.name}</p>
      <code className="block whitespace-pre-wrap break-words font-mono">{describeArguments(call)}</code>
    </div>
  );
}

function ToolResultBox({ content, call, name }: { content: string; call: Call | undefined; name: string }) {
  return (
    <div role="group" aria-label={`Tool result: ${name}`} data-testid="tool-result"
      className={`${boxClass} border-sky-700 bg-sky-50 dark:border-sky-400 dark:bg-sky-950/40`}>
      <p className="text-xs font-semibold uppercase tracking-wide">
        Tool result · {name}
        {call ? <span className="font-normal normal-case"> of {describeArguments(call)}</span> : null}
      </p>
      <pre className="whitespace-pre-wrap break-words font-mono">{content}</pre>
    </div>
  );
}

/**
 * A completion as a labeler sees it: plain text as markdown, or — when the model used tools — the
 * assistant's words, each tool call and each tool result in turn (decision 0020). Calls and
 * results are labelled groups with a visible "Tool call" / "Tool result" heading, so they stand
 * apart by text and border, not by colour alone (`steps`: the tool use of a reply whose final
 * words are shown elsewhere); every string is rendered as text (React escapes
 * it) and the assistant's words through the same safe Markdown as everywhere.
 */
export function CompletionTranscript({ text, messages, steps = false }: { text: string; messages?: readonly Message[] | null; steps?: boolean }) {
  if (!messages || messages.length === 0) return <Markdown>{text}</Markdown>;
  let calls: Call[] = [];
  let answered = 0;
  const parts = messages.map((m, i) => {
    if (m.role === "tool") {
      const call = calls[answered++];
      return <ToolResultBox key={i} content={m.content} call={call} name={m.name ?? call?.function.name ?? "tool"} />;
    }
    if (m.role === "assistant") {
      calls = m.tool_calls ?? [];
      answered = 0;
    }
    return (
      <div key={i} className="space-y-2">
        {m.content.trim() !== "" ? <Markdown>{m.content}</Markdown> : null}
        {(m.tool_calls ?? []).map((call, c) => (
          <ToolCallBox key={c} call={call} />
        ))}
      </div>
    );
  });
  const last = messages.at(-1)!;
  // `steps`: only the tool use before final words shown elsewhere, so no note that they are missing.
  const unfinished = !steps && (last.role !== "assistant" || last.tool_calls !== undefined);
  return (
    <div className="space-y-2" data-testid="transcript">
      {parts}
      {unfinished ? <p className="text-sm italic">(The answer stops here, without final words.)</p> : null}
    </div>
  );
}
