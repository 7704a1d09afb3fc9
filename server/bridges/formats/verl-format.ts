import { z } from "zod";
import { asObject, decoding, field, metadataOf, promptMessages, refuse, typeName, type Codec, type PromptItem } from "./dataset-records.ts";
import { withoutKeys } from "./trl-format.ts";

/**
 * veRL's RL prompt dataset (https://verl.readthedocs.io/en/latest/preparation/prepare_data.html):
 *   data_source   picks the reward function (the prompt's metadata.data_source, else the option)
 *   prompt        the chat messages
 *   ability       a category (metadata.ability, else the option)
 *   reward_model  { style: "rule", ground_truth } — the reference answer, metadata[answerKey]
 *   extra_info    { split, index, metadata } — metadata: the prompt's other metadata as JSON text
 * Import reads any extra_info: split and index are positions, `metadata` (JSON text) and every
 * other key go back into the prompt's metadata, so an export imports back to the same rows.
 */
export const verlOptionsSchema = z.object({
  dataSource: z.string().trim().min(1).max(200).default("tandem"),
  ability: z.string().trim().min(1).max(100).default("general"),
  answerKey: z.string().trim().min(1).max(64).default("answer"),
  split: z.string().trim().min(1).max(32).regex(/^[\w-]+$/).default("train"),
});
export type VerlOptions = z.infer<typeof verlOptionsSchema>;

export type VerlRow = {
  data_source: string;
  prompt: Array<{ role: string; content: string }>;
  ability: string;
  reward_model: { style: string; ground_truth: string };
  extra_info: { split: string; index: number; metadata: string };
};

const OWN = ["data_source", "ability"];

export function verlCodec(options: VerlOptions): Codec<PromptItem> & { encodeRow: (item: PromptItem, index: number) => VerlRow } {
  const encodeRow = (p: PromptItem, index: number): VerlRow => {
    const answer = p.metadata[options.answerKey];
    return {
      data_source: typeof p.metadata.data_source === "string" ? p.metadata.data_source : options.dataSource,
      prompt: p.messages,
      ability: typeof p.metadata.ability === "string" ? p.metadata.ability : options.ability,
      reward_model: { style: "rule", ground_truth: answer === undefined || answer === null ? "" : typeof answer === "string" ? answer : JSON.stringify(answer) },
      extra_info: { split: options.split, index, metadata: JSON.stringify(withoutKeys(p.metadata, [options.answerKey, ...OWN])) },
    };
  };
  return {
    encodeRow,
    encode: encodeRow,
    decode: (raw) =>
      decoding(() => {
        const r = asObject(raw);
        const messages = promptMessages(field(r, "prompt"), "prompt");
        const metadata: Record<string, unknown> = {};
        const extra = r.extra_info === undefined || r.extra_info === null ? {} : asObject(r.extra_info);
        for (const [k, v] of Object.entries(extra)) {
          if (k === "split" || k === "index") continue;
          if (k === "metadata" && typeof v === "string") {
            let parsed: unknown;
            try {
              parsed = JSON.parse(v);
            } catch {
              refuse("extra_info.metadata: is not valid JSON");
            }
            Object.assign(metadata, asObjectAt(parsed, "extra_info.metadata"));
          } else metadata[k] = typeof v === "bigint" ? Number(v) : v;
        }
        const reward = r.reward_model === undefined || r.reward_model === null ? {} : asObjectAt(r.reward_model, "reward_model");
        const truth = reward.ground_truth;
        if (truth !== undefined && truth !== null && truth !== "") {
          if (typeof truth !== "string" && typeof truth !== "number") refuse(`reward_model.ground_truth: expected a string, got ${typeName(truth)}`);
          metadata[options.answerKey] = String(truth);
        }
        for (const k of OWN) {
          if (r[k] === undefined || r[k] === null) continue;
          if (typeof r[k] !== "string") refuse(`${k}: expected a string, got ${typeName(r[k])}`);
          metadata[k] = r[k];
        }
        return { messages, metadata: metadataOf(metadata) };
      }),
  };
}

function asObjectAt(value: unknown, key: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) refuse(`${key}: expected an object, got ${typeName(value)}`);
  return value as Record<string, unknown>;
}
