// A Hugging Face model's own chat format: tokenizer.json through the `tokenizers` package and the
// Jinja chat template of tokenizer_config.json rendered by @huggingface/jinja (the renderer
// transformers.js uses; trim_blocks and lstrip_blocks as transformers' own Jinja environment), so a
// conversation becomes exactly the text `tokenizer.apply_chat_template` makes, then ids with
// add_special_tokens=False (the template writes BOS and role markers itself).
//
// Conversations are TRL's / transformers' shape: {role, content, tool_calls?: [{type: "function",
// function: {name, arguments: {...}}}], name?, tool_call_id?}; a `tools` list (JSON schemas) is
// passed to the template as transformers passes it.
//
// Assistant-only loss masks follow from the template itself: for the i-th assistant turn, the text
// rendered for messages[:i] with the generation prompt and for messages[:i+1] without it share a
// prefix; what the second adds (the reply and its end-of-turn marker, trailing whitespace left out)
// is trained. That needs a prefix-stable template (rendering later turns does not rewrite earlier
// ones), which is checked. Tool results, user and system turns are never trained.
import { Template } from "@huggingface/jinja";
import { createHash } from "node:crypto";
import { Tokenizer } from "tokenizers";
import { type HfExtras } from "../contract/checkpoint.ts";
import { eosIdsOf } from "../checkpoint/hf-folder.ts";
import { storableText } from "./storable-text.ts";
import { ChatTemplateError, type RenderedChat } from "./chat-template.ts";
import { type AnyMessage, type ChatFormat } from "./chat-format.ts";

export interface ToolCall {
  type?: "function";
  id?: string;
  function: { name: string; arguments: Record<string, unknown> | string };
}

export interface ConversationMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  tool_calls?: ToolCall[];
  /** The tool's name on a tool turn. */
  name?: string;
  tool_call_id?: string;
}

/** A tool as transformers takes it: {type: "function", function: {name, description, parameters}}. */
export type ToolSpec = Record<string, unknown>;

/** A special-token entry of tokenizer_config.json: a string or an AddedToken dict. */
function tokenString(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && typeof (value as { content?: unknown }).content === "string") return (value as { content: string }).content;
  return null;
}

/** The template text: a string, or transformers' list of named templates (the "default" one). */
export function chatTemplateOf(tokenizerConfig: Record<string, unknown> | null): string | null {
  const t = tokenizerConfig?.["chat_template"];
  if (typeof t === "string") return t;
  if (Array.isArray(t)) {
    const named = t as { name?: unknown; template?: unknown }[];
    const chosen = named.find((x) => x.name === "default") ?? named[0];
    return typeof chosen?.template === "string" ? chosen.template : null;
  }
  return null;
}

const INCOMPLETE = /Unexpected end of input|reading 'type'/;

/**
 * The 1-based template line an error comes from, when it can be told: for a syntax error, the first
 * line whose prefix fails for another reason than ending early; for raise_exception("…"), the line
 * holding that message.
 */
export function templateErrorLine(source: string, message: string, phase: "parse" | "render"): number | null {
  const lines = source.split("\n");
  if (phase === "parse") {
    for (let k = 1; k <= lines.length; k++) {
      try {
        new Template(lines.slice(0, k).join("\n"));
      } catch (error) {
        if (!INCOMPLETE.test(error instanceof Error ? error.message : String(error))) return k;
      }
    }
    return null;
  }
  const found = lines.findIndex((l) => message.length > 3 && l.includes(message));
  return found >= 0 ? found + 1 : null;
}

function templateError(source: string, error: unknown, phase: "parse" | "render"): ChatTemplateError {
  const message = error instanceof Error ? error.message : String(error);
  const line = templateErrorLine(source, message, phase);
  const where = line === null ? "chat template" : `chat template line ${line} (${(source.split("\n")[line - 1] ?? "").trim().slice(0, 80)})`;
  return new ChatTemplateError(`${where}: ${phase === "parse" ? "does not parse" : "fails to render"}: ${message}`);
}

function commonPrefixLength(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Messages as the template sees them: Tandem's legacy `toolCall` text is appended to the content. */
function forTemplate(messages: AnyMessage[]): ConversationMessage[] {
  return messages.map((m) => {
    if ("toolCall" in m && m.toolCall !== undefined) {
      const { toolCall, ...rest } = m;
      return { ...rest, content: `${rest.content}${toolCall}` };
    }
    return m as ConversationMessage;
  });
}

/** Token strings the template's text relies on that must be single tokens: `<|…|>` markers and <s>/</s>. */
const MARKER = /<\|[^|<>\s]{1,60}\|>|<\/?s>/g;

/**
 * Problems that make a tokenizer unfit for its template, found at import rather than at training
 * time: a special token of tokenizer_config.json that tokenizer.json lacks, a marker the rendered
 * template writes that is not one token, no EOS to stop on.
 */
export function tokenizerCoverageProblems(tokenizerJson: string, hf: HfExtras): string[] {
  const tokenizer = Tokenizer.fromString(tokenizerJson);
  const tc = hf.tokenizerConfig ?? {};
  const problems: string[] = [];
  const declared = new Set<string>();
  for (const key of ["bos_token", "eos_token", "pad_token", "unk_token"]) {
    const s = tokenString(tc[key]);
    if (s) declared.add(s);
  }
  for (const extra of Array.isArray(tc["additional_special_tokens"]) ? (tc["additional_special_tokens"] as unknown[]) : []) {
    const s = tokenString(extra);
    if (s) declared.add(s);
  }
  const decoder = tc["added_tokens_decoder"];
  if (decoder && typeof decoder === "object") for (const entry of Object.values(decoder)) { const s = tokenString(entry); if (s) declared.add(s); }
  for (const s of declared) if (tokenizer.tokenToId(s) === null) problems.push(`tokenizer_config.json names the special token ${JSON.stringify(s)}, which tokenizer.json lacks`);
  const source = chatTemplateOf(hf.tokenizerConfig);
  if (source !== null) {
    let rendered = "";
    try {
      const format = hfChatFormat(tokenizerJson, hf);
      rendered = format.renderText(
        [{ role: "system", content: "s" }, { role: "user", content: "u" }, { role: "assistant", content: "a" }, { role: "user", content: "v" }],
        { addGenerationPrompt: true },
      );
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
    const markers = new Set([...rendered.matchAll(MARKER)].map((m) => m[0]));
    for (const m of markers) if (tokenizer.tokenToId(m) === null) problems.push(`the chat template writes ${JSON.stringify(m)}, which is not a token of tokenizer.json`);
  }
  const stops = stopTokensOf(tokenizer, hf);
  if (stops.length === 0) problems.push("no end-of-sequence token: neither tokenizer_config.json's eos_token nor generation_config.json's eos_token_id names one");
  return problems;
}

function stopTokensOf(tokenizer: Tokenizer, hf: HfExtras): number[] {
  const stops = eosIdsOf(hf.generationConfig);
  const eos = tokenString(hf.tokenizerConfig?.["eos_token"]);
  const eosId = eos === null ? null : tokenizer.tokenToId(eos);
  if (eosId !== null && !stops.includes(eosId)) stops.push(eosId);
  return stops;
}

export interface HfChatFormat extends ChatFormat {
  /** The template's text for these messages (apply_chat_template(tokenize=False)). */
  renderText(messages: AnyMessage[], options?: { addGenerationPrompt?: boolean; tools?: ToolSpec[] }): string;
}

export function hfChatFormat(tokenizerJson: string, hf: HfExtras): HfChatFormat {
  const tokenizer = Tokenizer.fromString(tokenizerJson);
  const tc = hf.tokenizerConfig ?? {};
  const source = chatTemplateOf(hf.tokenizerConfig);
  let template: Template | null = null;
  if (source !== null) {
    try {
      template = new Template(source);
    } catch (error) {
      throw templateError(source, error, "parse");
    }
  }
  // special tokens as transformers passes them to the template (its special_tokens_map)
  const specials: Record<string, string> = {};
  for (const key of ["bos_token", "eos_token", "pad_token", "unk_token"]) {
    const s = tokenString(tc[key]);
    if (s !== null) specials[key] = s;
  }
  const stopTokens = stopTokensOf(tokenizer, hf);
  const idOf = (s: string | undefined): number | null => (s === undefined ? null : tokenizer.tokenToId(s));
  const pad = idOf(specials["pad_token"]);
  const generationPad = hf.generationConfig?.["pad_token_id"];
  const padId = pad ?? (Number.isInteger(generationPad) ? (generationPad as number) : (stopTokens[0] ?? 0));
  const encode = async (text: string): Promise<number[]> => (text.length === 0 ? [] : (await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds());

  const renderText = (messages: AnyMessage[], options: { addGenerationPrompt?: boolean; tools?: ToolSpec[] } = {}): string => {
    if (!template || source === null) throw new ChatTemplateError("this model has no chat template (tokenizer_config.json chat_template, or chat_template.jinja)");
    try {
      return template.render({
        messages: forTemplate(messages),
        add_generation_prompt: options.addGenerationPrompt ?? false,
        ...(options.tools ? { tools: options.tools } : {}),
        ...specials,
      });
    } catch (error) {
      throw templateError(source, error, "render");
    }
  };

  /** The generation prompt of an empty conversation (a default system prompt, say), "" if the template needs a message. */
  const emptyPrompt = (tools: { tools?: ToolSpec[] }): string => {
    try {
      return renderText([], { addGenerationPrompt: true, ...tools });
    } catch {
      return "";
    }
  };

  const format: HfChatFormat = {
    kind: "hf",
    tokenizer: {
      encode,
      decode: async (ids, skipSpecialTokens = false) => storableText(await tokenizer.decode(ids, skipSpecialTokens)),
      vocabSize: tokenizer.getVocabSize(true),
      hash: createHash("sha256").update(tokenizerJson).digest("hex"),
      json: tokenizerJson,
    },
    padId,
    stopTokens,
    eosId: stopTokens[0] ?? padId,
    hf,
    renderText,

    async renderChat(messages, options = {}) {
      const full = renderText(messages, options);
      const ids = await encode(full);
      const lossMask = ids.map(() => 0);
      const tools = options.tools ? { tools: options.tools } : {};
      for (let i = 0; i < messages.length; i++) {
        if (messages[i]?.role !== "assistant") continue;
        // what the i-th assistant turn adds to the prompt that precedes it
        const before = i > 0 ? renderText(messages.slice(0, i), { addGenerationPrompt: true, ...tools }) : emptyPrompt(tools);
        const upTo = renderText(messages.slice(0, i + 1), { addGenerationPrompt: false, ...tools });
        if (!full.startsWith(upTo))
          throw new ChatTemplateError(`the chat template renders turn ${i + 1} differently once later turns follow; assistant-only loss masks need a prefix-stable template`);
        const start = commonPrefixLength(before, upTo);
        const end = upTo.trimEnd().length;
        const [from, to] = [(await encode(full.slice(0, start))).length, (await encode(full.slice(0, end))).length];
        for (let t = from; t < Math.min(to, ids.length); t++) lossMask[t] = 1;
      }
      return { ids, lossMask } satisfies RenderedChat;
    },

    async renderPromptCompletion(prompt, completion) {
      if (typeof completion !== "string") {
        // a tool transcript: the whole conversation with the template's assistant-only mask (tool
        // results 0), whose prompt part must be the prompt as sampling renders it
        const promptIds = (await this.renderChat(prompt, { addGenerationPrompt: true })).ids;
        const full = await this.renderChat([...prompt, ...completion]);
        if (promptIds.some((id, i) => full.ids[i] !== id)) {
          throw new Error("this model's chat template does not render the prompt as the start of the conversation with its tool calls; give plain-text completions");
        }
        return { prompt: promptIds, full: { ids: full.ids, lossMask: full.lossMask.map((m, i) => (i < promptIds.length ? 0 : m)) } };
      }
      const promptText = renderText(prompt, { addGenerationPrompt: true });
      const fullText = renderText([...prompt, { role: "assistant", content: completion }], { addGenerationPrompt: false });
      // the completion as the template closes it (its end-of-turn marker included), tokenized on
      // its own after the prompt's ids: the sequence sampling produces (TRL's DPO does the same)
      const completionText = fullText.slice(commonPrefixLength(promptText, fullText)).trimEnd();
      const promptIds = await encode(promptText);
      const completionIds = await encode(completionText);
      return {
        prompt: promptIds,
        full: { ids: [...promptIds, ...completionIds], lossMask: [...promptIds.map(() => 0), ...completionIds.map(() => 1)] },
      };
    },
  };
  return format;
}
