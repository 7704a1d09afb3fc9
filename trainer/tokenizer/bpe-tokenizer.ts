// Byte-level BPE tokenizer (GPT-2's scheme: Radford et al. 2019 §2.2; Sennrich et al. 2016 for BPE),
// trained with Hugging Face's `tokenizers` bindings and saved as a standard `tokenizer.json`.
//
// The Node bindings train with the model's default BpeTrainer and expose no vocabulary size or
// initial alphabet, so the trained file is rebuilt: ids 0..255 are the 256 byte symbols (every
// string stays encodable, even characters the corpus never had), then the learned merges in order
// up to the requested size, then the special tokens. Cutting a merge list keeps a valid BPE: every
// merge only uses the alphabet and earlier merges. See docs/decisions/trainer-003-tokenizer.md.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BPE, Tokenizer, byteLevelPreTokenizer, digitsPreTokenizer, sequencePreTokenizer } from "tokenizers";
import { storableText } from "./storable-text.ts";

/** Special tokens of the chat template. PAD is distinct from EOS (trl PR #5303; transformers #35352). */
export const SPECIAL_TOKENS = {
  pad: "<|pad|>",
  eos: "<|endoftext|>",
  system: "<|system|>",
  user: "<|user|>",
  assistant: "<|assistant|>",
  endOfTurn: "<|end|>",
  toolCall: "<|tool_call|>",
  toolResult: "<|tool_result|>",
} as const;

export type SpecialToken = keyof typeof SPECIAL_TOKENS;

export interface BpeTokenizer {
  encode(text: string): Promise<number[]>;
  decode(ids: number[], skipSpecialTokens?: boolean): Promise<string>;
  /** Id of each special token. */
  special: Record<SpecialToken, number>;
  vocabSize: number;
  /** sha256 of tokenizer.json: stored in checkpoints so a model is never paired with another tokenizer. */
  hash: string;
  json: string;
}

/** GPT-2's reversible byte → printable-unicode map (`bytes_to_unicode`), indexed by byte. */
export function byteSymbols(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const out: string[] = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + extra++);
  return out;
}

interface TokenizerJson {
  model: { vocab: Record<string, number>; merges: [string, string][] | string[] };
  [key: string]: unknown;
}

/**
 * Trains on text files and returns the tokenizer.json text with exactly `vocabSize` ids
 * (256 bytes + merges + special tokens).
 */
export function trainBpeTokenizerJson(files: string[], vocabSize: number): string {
  const specials = Object.values(SPECIAL_TOKENS);
  const mergeBudget = vocabSize - 256 - specials.length;
  if (mergeBudget < 0) throw new Error(`vocabSize must be at least ${256 + specials.length}`);

  // 1. learn merges with the library's BPE trainer: byte-level pre-tokenisation as GPT-2, after
  //    splitting numbers into single digits (as Llama): "374" is always 3, 7, 4, so a small model
  //    copies and compares numbers digit by digit instead of learning every merged number apart
  const trainer = new Tokenizer(BPE.empty());
  trainer.setPreTokenizer(sequencePreTokenizer([digitsPreTokenizer(true), byteLevelPreTokenizer(false, true)]));
  trainer.train(files);
  const dir = mkdtempSync(join(tmpdir(), "tandem-bpe-"));
  let trained: TokenizerJson;
  try {
    const path = join(dir, "tokenizer.json");
    trainer.save(path);
    trained = JSON.parse(readFileSync(path, "utf8")) as TokenizerJson;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // 2. vocabulary: all 256 byte symbols, then merges in learned order, cut to the budget
  const vocab: Record<string, number> = {};
  byteSymbols().forEach((s, i) => (vocab[s] = i));
  const merges: [string, string][] = [];
  for (const m of trained.model.merges) {
    if (merges.length >= mergeBudget) break;
    const [a, b] = typeof m === "string" ? (m.split(" ") as [string, string]) : m;
    if (vocab[a] === undefined || vocab[b] === undefined || vocab[a + b] !== undefined) continue;
    vocab[a + b] = Object.keys(vocab).length;
    merges.push([a, b]);
  }

  // 3. special tokens after the learned ones (as GPT-2's <|endoftext|> = 50256)
  let next = Object.keys(vocab).length;
  const addedTokens = specials.map((content) => ({
    id: next++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  }));

  const json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [{ type: "Digits", individual_digits: true }, { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true }],
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
  return JSON.stringify(json);
}

export function loadBpeTokenizer(json: string): BpeTokenizer {
  const tokenizer = Tokenizer.fromString(json);
  const special = {} as Record<SpecialToken, number>;
  for (const [key, content] of Object.entries(SPECIAL_TOKENS) as [SpecialToken, string][]) {
    const id = tokenizer.tokenToId(content);
    if (id === null || id === undefined) throw new Error(`tokenizer.json lacks special token ${content}`);
    special[key] = id;
  }
  return {
    encode: async (text) => (await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds(),
    decode: async (ids, skipSpecialTokens = false) => storableText(await tokenizer.decode(ids, skipSpecialTokens)),
    special,
    vocabSize: tokenizer.getVocabSize(true),
    hash: createHash("sha256").update(json).digest("hex"),
    json,
  };
}

export function saveTokenizerJson(tokenizer: BpeTokenizer, path: string): void {
  writeFileSync(path, tokenizer.json);
}

export function loadBpeTokenizerFile(path: string): BpeTokenizer {
  return loadBpeTokenizer(readFileSync(path, "utf8"));
}
