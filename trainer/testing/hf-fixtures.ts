// Hugging Face model folders for tests, in the exact layout of real ones (nothing can be downloaded
// here): a byte-level BPE tokenizer.json with ChatML markers as added tokens (SmolLM2 numbers them
// 0–2 the same way), tokenizer_config.json with a chat template, generation_config.json, and a
// Llama-family model with random weights written by exportHfLlama.
import { mkdirSync } from "node:fs";
import * as tf from "@tensorflow/tfjs-core";
import { resolveLlamaConfig, type LlamaConfig, type LlamaConfigInput } from "../contract/llama-config.ts";
import { exportHfLlama } from "../checkpoint/hf-llama.ts";
import { byteSymbols } from "../tokenizer/bpe-tokenizer.ts";
import { disposeLlama, initLlama } from "../model/llama.ts";
import { createRng, normalArray } from "../random/rng.ts";

/** SmolLM2-Instruct's template as published (ChatML with a default system prompt). */
export const SMOLLM2_TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/** A Qwen2.5-style template: tools in the system turn, <tool_call> JSON in assistant turns, tool results as user turns. */
export const QWEN_TOOLS_TEMPLATE = `{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags.<|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
`;

export const FIXTURE_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>"];

/** A byte-level BPE tokenizer.json: special tokens 0–4, the 256 byte symbols, a few merges. */
export function fixtureTokenizerJson(): string {
  const vocab: Record<string, number> = {};
  FIXTURE_SPECIALS.forEach((s, i) => (vocab[s] = i));
  for (const s of byteSymbols()) vocab[s] = Object.keys(vocab).length;
  const merges: [string, string][] = [["h", "e"], ["Ġ", "t"], ["Ġt", "he"], ["i", "n"], ["a", "n"], ["Ġ", "a"], ["e", "r"], ["Ċ", "Ċ"], ["o", "u"], ["Ġ", "is"], ["i", "s"]];
  for (const [a, b] of merges) if (vocab[a + b] === undefined) vocab[a + b] = Object.keys(vocab).length;
  return JSON.stringify({
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: FIXTURE_SPECIALS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: id < 3 })),
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  });
}

/** Vocabulary size of fixtureTokenizerJson (special tokens, bytes, merges). */
export const FIXTURE_VOCAB = Object.keys((JSON.parse(fixtureTokenizerJson()) as { model: { vocab: object } }).model.vocab).length;

export function fixtureTokenizerConfig(template: string | null = SMOLLM2_TEMPLATE): Record<string, unknown> {
  return {
    bos_token: "<|im_start|>",
    eos_token: "<|im_end|>",
    pad_token: "<|endoftext|>",
    unk_token: "<|endoftext|>",
    additional_special_tokens: ["<|im_start|>", "<|im_end|>"],
    model_max_length: 2048,
    tokenizer_class: "GPT2Tokenizer",
    ...(template !== null ? { chat_template: template } : {}),
  };
}

/**
 * A complete HF folder: a small Llama-family model (random weights at a scale that makes sampling
 * varied) with the fixture tokenizer. Returns its config.
 */
export function writeFixtureHfModel(dir: string, options: { config?: Partial<LlamaConfigInput & LlamaConfig>; template?: string | null; seed?: number } = {}): LlamaConfig {
  mkdirSync(dir, { recursive: true });
  const config = resolveLlamaConfig({
    architecture: "llama", vocabSize: FIXTURE_VOCAB, blockSize: 256, nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 32, intermediateSize: 64, rmsNormEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true,
    ...options.config,
  } as LlamaConfigInput);
  const model = initLlama(config, options.seed ?? 0);
  const rng = createRng((options.seed ?? 0) + 1);
  for (const [name, v] of model.params) if (!name.endsWith("norm.weight")) tf.tidy(() => v.assign(tf.tensor(normalArray(rng, v.size, 0.1), v.shape, "float32")));
  exportHfLlama(dir, model, {
    ids: { bos: 1, eos: 2, pad: 0 },
    tokenizer: { tokenizerJson: fixtureTokenizerJson(), tokenizerConfig: fixtureTokenizerConfig(options.template === undefined ? SMOLLM2_TEMPLATE : options.template), generationConfig: { bos_token_id: 1, eos_token_id: 2, pad_token_id: 0 } },
  });
  disposeLlama(model);
  return config;
}
