import { z } from "zod";
import { answerMessages, flattenAnswer } from "../../labeling/transcript.ts";
import {
  answerOf,
  asObject,
  booleanLabel,
  decoding,
  field,
  metadataOf,
  plainPrompt,
  promptOf,
  refuse,
  samePrompt,
  splitConversation,
  splitHistoryConversation,
  historyPromptOf,
  type Answer,
  type ConversationMessage,
  type Codec,
  type DatasetItem,
  type DatasetKind,
} from "./dataset-records.ts";
import { pair, withoutKeys } from "./trl-format.ts";

/**
 * OpenRLHF's JSONL datasets, keyed the way its CLI flags name them:
 *   sft          --input_key (prompt) and --output_key (answer); with an empty output key the
 *                input holds the whole conversation (--apply_chat_template without --output_key)
 *   preferences  --prompt_key, --chosen_key, --rejected_key; with an empty prompt key chosen and
 *                rejected are whole conversations (chat template) — plain strings need a prompt key
 *   unpaired     --input_key, --output_key, --label_key (KTO)
 *   prompts      --input_key (PPO/GRPO prompt sets), the prompt's metadata as further keys (--label_key picks one)
 * chatTemplate (--apply_chat_template): values are message lists; otherwise plain strings.
 */
const key = z.string().trim().max(64).regex(/^[\w.-]*$/, "letters, digits, _ . - only");
export const openRlhfOptionShape = {
  /** --apply_chat_template: message lists (true) or plain strings (false). */
  chatTemplate: z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean()).default(true),
  inputKey: key.min(1).default("input"),
  /** Empty: the input key holds the whole conversation (chat template only). */
  outputKey: key.default("output"),
  /** Empty: chosen and rejected hold whole conversations (chat template only). */
  promptKey: key.default("prompt"),
  chosenKey: key.min(1).default("chosen"),
  rejectedKey: key.min(1).default("rejected"),
  labelKey: key.min(1).default("label"),
};
export const openRlhfOptionsSchema = z
  .object(openRlhfOptionShape)
  .refine((o) => o.chatTemplate || o.promptKey !== "", { path: ["promptKey"], message: "plain-string preference data needs a prompt key (or chatTemplate=true)" })
  .refine((o) => o.chatTemplate || o.outputKey !== "", { path: ["outputKey"], message: "plain-string data needs an output key (or chatTemplate=true)" });
export type OpenRlhfOptions = z.infer<typeof openRlhfOptionsSchema>;

export function openRlhfCodec<K extends DatasetKind>(kind: K, options: OpenRlhfOptions): Codec<DatasetItem[K]> {
  return codecs[kind](options) as unknown as Codec<DatasetItem[K]>;
}

const promptOut = (prompt: ConversationMessage[], o: OpenRlhfOptions) => (o.chatTemplate ? prompt : plainPrompt(prompt));
/** With the chat template an answer is its messages (tool calls and results too), else plain text (flattened, decision 0020). */
const answerOut = (answer: Answer, o: OpenRlhfOptions) => (o.chatTemplate ? answerMessages(answer) : flattenAnswer(answer));
const assistant = answerMessages;

const codecs: { [K in DatasetKind]: (o: OpenRlhfOptions) => Codec<DatasetItem[K]> } = {
  sft: (o) => ({
    encode: (s) =>
      o.outputKey === "" ? { [o.inputKey]: [...s.prompt, ...assistant(s.completion)] } : { [o.inputKey]: promptOut(s.prompt, o), [o.outputKey]: answerOut(s.completion, o) },
    decode: (raw) =>
      decoding(() => {
        const r = asObject(raw);
        if (o.outputKey === "") return splitHistoryConversation(field(r, o.inputKey), o.inputKey);
        return { prompt: historyPromptOf(field(r, o.inputKey), o.inputKey), completion: answerOf(field(r, o.outputKey), o.outputKey) };
      }),
  }),
  preferences: (o) => ({
    encode: (p) =>
      o.promptKey === ""
        ? { [o.chosenKey]: [...p.prompt, ...assistant(p.chosen)], [o.rejectedKey]: [...p.prompt, ...assistant(p.rejected)] }
        : { [o.promptKey]: promptOut(p.prompt, o), [o.chosenKey]: answerOut(p.chosen, o), [o.rejectedKey]: answerOut(p.rejected, o) },
    decode: (raw) =>
      decoding(() => {
        const r = asObject(raw);
        if (o.promptKey === "") {
          const chosen = splitConversation(field(r, o.chosenKey), o.chosenKey);
          const rejected = splitConversation(field(r, o.rejectedKey), o.rejectedKey);
          if (!samePrompt(chosen.prompt, rejected.prompt)) refuse(`${o.chosenKey} and ${o.rejectedKey} must share every turn but the last`);
          return pair(chosen.prompt, chosen.completion, rejected.completion, 1, 1);
        }
        return pair(promptOf(field(r, o.promptKey), o.promptKey), answerOf(field(r, o.chosenKey), o.chosenKey), answerOf(field(r, o.rejectedKey), o.rejectedKey), 1, 1);
      }),
  }),
  unpaired: (o) => ({
    encode: (u) =>
      o.outputKey === ""
        ? { [o.inputKey]: [...u.prompt, ...assistant(u.completion)], [o.labelKey]: u.label }
        : { [o.inputKey]: promptOut(u.prompt, o), [o.outputKey]: answerOut(u.completion, o), [o.labelKey]: u.label },
    decode: (raw) =>
      decoding(() => {
        const r = asObject(raw);
        const label = booleanLabel(field(r, o.labelKey), o.labelKey);
        if (o.outputKey === "") return { ...splitConversation(field(r, o.inputKey), o.inputKey), label };
        return { prompt: promptOf(field(r, o.inputKey), o.inputKey), completion: answerOf(field(r, o.outputKey), o.outputKey), label };
      }),
  }),
  prompts: (o) => ({
    encode: (p) => ({ [o.inputKey]: promptOut(p.messages, o), ...withoutKeys(p.metadata, [o.inputKey]) }),
    decode: (raw) =>
      decoding(() => {
        const r = asObject(raw);
        return { messages: promptOf(field(r, o.inputKey), o.inputKey), metadata: metadataOf(withoutKeys(r, [o.inputKey])) };
      }),
  }),
};
