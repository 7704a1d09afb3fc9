// One answer (one row) turned into the pieces a streaming client shows as they are sampled
// (decision 0052). Fed the completion's tokens in order — those the policy samples and those the
// sampler inserts (tool results, a forced call's start) — it reads them by the rules of
// parseCompletion (tokenizer/chat-template.ts), so its pieces add up to the parsed answer:
//   - assistant text, as it grows (TextStream: never half a character);
//   - each <|tool_call|>: its name once `{"name":"…","arguments":` is written, then the arguments'
//     JSON as it grows, the call's own closing brace held back (it is not part of the arguments);
//     a call written some other way goes out whole when it ends, as parseToolCallText reads it;
//   - each tool turn the sampler inserted: its result, whole, when it closes.
// An imported model answers in plain text: PlainAnswerStream decodes all of it as content.
import { type GenerationDelta } from "../contract/inference.ts";
import { type BpeTokenizer } from "../tokenizer/bpe-tokenizer.ts";
import { parseToolCallText } from "../tokenizer/chat-template.ts";
import { type TextTokenizer } from "../tokenizer/chat-format.ts";
import { TextStream } from "../tokenizer/text-stream.ts";

export interface AnswerStream {
  /** The row's new tokens; the pieces they complete. */
  push(tokens: readonly number[]): Promise<GenerationDelta[]>;
  /** Generation is over (the row stopped, or was cut at the token limit): what was held back. */
  end(): Promise<GenerationDelta[]>;
}

/** `{"name":"…","arguments":` as the template writes it (spaces allowed): the call's name is then known. */
const CALL_HEAD = /^\s*\{\s*"name"\s*:\s*("(?:[^"\\]|\\.){1,64}")\s*,\s*"arguments"\s*:\s*/;
/** What may still turn out to close the call rather than belong to its arguments. */
const CALL_TAIL = /\s*(?:\}\s*)?$/;

/** A JSON string literal's value; null if the policy wrote an invalid escape. */
function jsonString(literal: string): string | null {
  try {
    return JSON.parse(literal) as string;
  } catch {
    return null;
  }
}

/** One tool call's text as it grows: its name, then its arguments in pieces. */
class CallPieces {
  private argsFrom = -1; // where the arguments start in the call's text, once the head is read
  private sent = 0; // argument characters handed out

  constructor(
    private readonly choice: number,
    private readonly call: number,
  ) {}

  grown(text: string): GenerationDelta[] {
    const out: GenerationDelta[] = [];
    if (this.argsFrom < 0) {
      const head = CALL_HEAD.exec(text);
      const name = head ? jsonString(head[1] ?? "") : null;
      if (!head || name === null) return out; // not yet, or not the usual way: see `ended`
      this.argsFrom = head[0].length;
      out.push({ kind: "call", choice: this.choice, call: this.call, name });
    }
    const args = text.slice(this.argsFrom);
    return [...out, ...this.send(args.slice(0, args.length - (CALL_TAIL.exec(args)?.[0].length ?? 0)))];
  }

  ended(text: string): GenerationDelta[] {
    if (this.argsFrom >= 0) return this.send(text.slice(this.argsFrom).replace(/\s*\}\s*$/, ""));
    // never written the usual way: the call as the answer's transcript reads it
    const parsed = parseToolCallText(text);
    return [
      { kind: "call", choice: this.choice, call: this.call, name: parsed.function.name },
      { kind: "arguments", choice: this.choice, call: this.call, text: JSON.stringify(parsed.function.arguments) },
    ];
  }

  private send(args: string): GenerationDelta[] {
    if (args.length <= this.sent) return [];
    const text = args.slice(this.sent);
    this.sent = args.length;
    return [{ kind: "arguments", choice: this.choice, call: this.call, text }];
  }
}

/** An answer in Tandem's chat template: assistant turns, tool calls, inserted tool turns. */
export class TemplateAnswerStream implements AnswerStream {
  private turn: "assistant" | "tool" | "between" | "ended" = "assistant";
  private text: TextStream; // the open part: assistant content, a call's text, or a tool turn's result
  private call: CallPieces | null = null; // the call being written, if the open part is one
  private callText = "";
  private calls = 0; // calls written so far in the answer
  private turnFirstCall = 0; // the first call of the last assistant turn: results answer its calls in order
  private answered = 0;
  private readonly special: Set<number>;

  constructor(
    private readonly tokenizer: BpeTokenizer,
    private readonly choice: number,
  ) {
    this.text = this.fresh();
    this.special = new Set(Object.values(tokenizer.special));
  }

  async push(tokens: readonly number[]): Promise<GenerationDelta[]> {
    const sp = this.tokenizer.special;
    const out: GenerationDelta[] = [];
    for (const t of tokens) {
      if (this.turn === "ended") break;
      if (t === sp.eos) {
        out.push(...(await this.closeTurn()));
        this.turn = "ended";
      } else if (this.turn === "between") {
        // only the sampler's insertions come here: a tool turn, then the reopened assistant turn
        if (t === sp.toolResult) this.open("tool");
        else if (t === sp.assistant) this.open("assistant");
      } else if (t === sp.endOfTurn) {
        out.push(...(await this.closeTurn()));
        this.turn = "between";
      } else if (t === sp.toolCall && this.turn === "assistant") {
        out.push(...(await this.closePart()));
        this.call = new CallPieces(this.choice, this.calls++);
        this.callText = "";
      } else if (!this.special.has(t)) {
        this.text.add([t]);
        if (this.turn === "assistant") out.push(...(await this.grown()));
      }
    }
    return out;
  }

  async end(): Promise<GenerationDelta[]> {
    // a tool turn is inserted whole or not at all, so only an assistant turn can be cut off
    const out = this.turn === "assistant" ? await this.closeTurn() : [];
    this.turn = "ended";
    return out;
  }

  private fresh(): TextStream {
    return new TextStream((ids) => this.tokenizer.decode(ids, true), "byte-level");
  }

  private open(turn: "assistant" | "tool"): void {
    this.turn = turn;
    this.text = this.fresh();
    if (turn === "assistant") {
      this.turnFirstCall = this.calls;
      this.answered = 0;
    }
  }

  /** New settled text of the assistant's content or of the call being written. */
  private async grown(): Promise<GenerationDelta[]> {
    const piece = await this.text.settled();
    if (!piece) return [];
    if (!this.call) return [{ kind: "content", choice: this.choice, text: piece }];
    this.callText += piece;
    return this.call.grown(this.callText);
  }

  /** The content, or the call, being written is complete: the rest of it. */
  private async closePart(): Promise<GenerationDelta[]> {
    const rest = await this.text.end();
    this.text = this.fresh();
    if (!this.call) return rest ? [{ kind: "content", choice: this.choice, text: rest }] : [];
    this.callText += rest;
    const out = this.call.ended(this.callText);
    this.call = null;
    return out;
  }

  private async closeTurn(): Promise<GenerationDelta[]> {
    if (this.turn === "assistant") return this.closePart();
    if (this.turn !== "tool") return [];
    const text = await this.text.end();
    return [{ kind: "result", choice: this.choice, call: this.turnFirstCall + this.answered++, text }];
  }
}

/** An imported model's answer: plain text (its tool calls are not read), decoded as the whole answer is. */
export class PlainAnswerStream implements AnswerStream {
  private readonly text: TextStream;

  constructor(
    tokenizer: TextTokenizer,
    private readonly choice: number,
  ) {
    // an imported tokenizer may use byte fallback (SentencePiece): hold back as it needs
    this.text = new TextStream((ids) => tokenizer.decode(ids, true), "any");
  }

  async push(tokens: readonly number[]): Promise<GenerationDelta[]> {
    this.text.add(tokens);
    return this.content(await this.text.settled());
  }

  async end(): Promise<GenerationDelta[]> {
    return this.content(await this.text.end());
  }

  private content(text: string): GenerationDelta[] {
    return text ? [{ kind: "content", choice: this.choice, text }] : [];
  }
}

/** Thrown from a step when the request's client has left: generation stops there. */
export class Cancelled extends Error {
  constructor(readonly tokens: number) {
    super("cancelled");
  }
}

/**
 * The generation hook that streams every row: after each step, the rows' new tokens become pieces
 * sent on one line. `stopped` is asked at each step; the await on the event loop before it lets
 * the worker read a cancel line while a long answer is being sampled.
 */
export function streamRows(streams: AnswerStream[], send: (deltas: GenerationDelta[]) => void, stopped: () => boolean) {
  const seen = streams.map(() => 0);
  return {
    onStep: async (completions: readonly (readonly number[])[]): Promise<void> => {
      const fresh = streams.map((s, b) => {
        const row = completions[b] ?? [];
        const tokens = row.slice(seen[b]);
        seen[b] = row.length;
        return s.push(tokens);
      });
      const deltas = (await Promise.all(fresh)).flat();
      if (deltas.length > 0) send(deltas);
      await new Promise((resolve) => setImmediate(resolve));
      if (stopped()) throw new Cancelled(seen.reduce((a, b) => a + b, 0));
    },
    end: async (): Promise<void> => {
      const deltas = (await Promise.all(streams.map((s) => s.end()))).flat();
      if (deltas.length > 0) send(deltas);
    },
  };
}
