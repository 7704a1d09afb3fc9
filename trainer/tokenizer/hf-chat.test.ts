import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hfChatFormat, tokenizerCoverageProblems, type ConversationMessage, type ToolSpec } from "./hf-chat.ts";
import { ChatTemplateError } from "./chat-template.ts";
import { loadChatFormat } from "./chat-format.ts";
import { fixtureTokenizerConfig, fixtureTokenizerJson, QWEN_TOOLS_TEMPLATE, SMOLLM2_TEMPLATE } from "../testing/hf-fixtures.ts";

const tokenizerJson = fixtureTokenizerJson();
const smol = hfChatFormat(tokenizerJson, { tokenizerConfig: fixtureTokenizerConfig(SMOLLM2_TEMPLATE), generationConfig: { eos_token_id: 2 } });
const qwen = hfChatFormat(tokenizerJson, { tokenizerConfig: fixtureTokenizerConfig(QWEN_TOOLS_TEMPLATE), generationConfig: { eos_token_id: [2, 0] } });

const conversation: ConversationMessage[] = [
  { role: "user", content: "the cat is in" },
  { role: "assistant", content: "here the answer" },
  { role: "user", content: "and?" },
  { role: "assistant", content: "then" },
];

const calc: ToolSpec = { type: "function", function: { name: "calc", description: "Evaluates arithmetic.", parameters: { type: "object", properties: { expr: { type: "string" } }, required: ["expr"] } } };
const toolConversation: ConversationMessage[] = [
  { role: "system", content: "Use tools — précis." },
  { role: "user", content: "What is 37 × 4?" },
  { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "calc", arguments: { expr: "37*4", nested: { ok: true, n: [1, 2] } } } }] },
  { role: "tool", name: "calc", content: "148" },
  { role: "assistant", content: "It is 148. 🙂" },
];

/** The trained spans of a rendered conversation, decoded. */
async function trainedText(format: typeof smol, ids: number[], mask: number[]): Promise<string[]> {
  const spans: number[][] = [];
  ids.forEach((id, i) => {
    if (!mask[i]) return;
    if (i === 0 || !mask[i - 1]) spans.push([]);
    spans.at(-1)?.push(id);
  });
  return Promise.all(spans.map((s) => format.tokenizer.decode(s)));
}

test("SmolLM2's template: the text transformers renders, ids without added specials, loss on each reply and its <|im_end|>", async () => {
  const text = smol.renderText(conversation, { addGenerationPrompt: false });
  assert.equal(
    text,
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n" +
      "<|im_start|>user\nthe cat is in<|im_end|>\n<|im_start|>assistant\nhere the answer<|im_end|>\n" +
      "<|im_start|>user\nand?<|im_end|>\n<|im_start|>assistant\nthen<|im_end|>\n",
  );
  const { ids, lossMask } = await smol.renderChat(conversation);
  assert.deepEqual(ids, await smol.tokenizer.encode(text));
  assert.equal(ids[0], 1); // <|im_start|> is one token
  assert.deepEqual(await trainedText(smol, ids, lossMask), ["here the answer<|im_end|>", "then<|im_end|>"]);
  assert.deepEqual([smol.padId, smol.stopTokens, smol.eosId], [0, [2], 2]);
  // the generation prompt opens an assistant turn; nothing is trained without an assistant turn
  const prompt = await smol.renderChat([{ role: "user", content: "hi" }], { addGenerationPrompt: true });
  assert.ok((await smol.tokenizer.decode(prompt.ids)).endsWith("<|im_start|>assistant\n"));
  assert.ok(prompt.lossMask.every((m) => m === 0));
});

test("tool calls and tool turns pass through to the template as transformers passes them; tool results are never trained", async () => {
  const text = qwen.renderText(toolConversation, { tools: [calc] });
  assert.ok(text.includes('<tools>\n{"type": "function", "function": {"name": "calc", "description": "Evaluates arithmetic."'), text);
  assert.ok(text.includes('<tool_call>\n{"name": "calc", "arguments": {"expr": "37*4", "nested": {"ok": true, "n": [1, 2]}}}\n</tool_call><|im_end|>'), text);
  assert.ok(text.includes("<|im_start|>user\n<tool_response>\n148\n</tool_response><|im_end|>"), text);
  const { ids, lossMask } = await qwen.renderChat(toolConversation, { tools: [calc] });
  assert.deepEqual(await trainedText(qwen, ids, lossMask), [
    '<tool_call>\n{"name": "calc", "arguments": {"expr": "37*4", "nested": {"ok": true, "n": [1, 2]}}}\n</tool_call><|im_end|>',
    "It is 148. 🙂<|im_end|>",
  ]);
  assert.deepEqual(qwen.stopTokens, [2, 0]); // generation_config's list, in order
});

test("prompt + completion: the prompt's ids come first; the completion ends on the template's end-of-turn token", async () => {
  const { prompt, full } = await smol.renderPromptCompletion([{ role: "user", content: "the cat" }], "is in");
  assert.deepEqual(full.ids.slice(0, prompt.length), prompt);
  assert.equal(await smol.tokenizer.decode(full.ids.slice(prompt.length)), "is in<|im_end|>");
  assert.equal(full.ids.at(-1), 2);
  assert.deepEqual(full.lossMask, [...prompt.map(() => 0), ...full.ids.slice(prompt.length).map(() => 1)]);
});

test("a template that fails names its line; a prefix-unstable one, a missing one and an unfit tokenizer are refused", async () => {
  const withTemplate = (template: string) => ({ tokenizerConfig: fixtureTokenizerConfig(template), generationConfig: { eos_token_id: 2 } });
  const broken = "{% for m in messages %}\n{{ '<|im_start|>' + m.role }}\n{{ m.content }\n{% endfor %}";
  assert.throws(() => hfChatFormat(tokenizerJson, withTemplate(broken)), (e: Error) => e instanceof ChatTemplateError && /chat template line 3 \(\{\{ m\.content \}\): does not parse/.test(e.message));
  const strict = "{% for m in messages %}\n{% if m.role == 'tool' %}\n{{ raise_exception('Tool turns are not supported by this template') }}\n{% endif %}{{ m.content }}{% endfor %}";
  const f = hfChatFormat(tokenizerJson, withTemplate(strict));
  await assert.rejects(f.renderChat(toolConversation), /chat template line 3 \(.*raise_exception.*\): fails to render: Tool turns are not supported by this template/);
  // earlier assistant turns rendered differently once later turns follow (a "last turn only" template)
  const unstable = "{% for m in messages %}{% if m.role == 'assistant' and not loop.last %}<|im_start|>assistant\n…<|im_end|>\n{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}{% endfor %}";
  await assert.rejects(hfChatFormat(tokenizerJson, withTemplate(unstable)).renderChat(conversation), /renders turn 2 differently once later turns follow/);
  const none = hfChatFormat(tokenizerJson, { tokenizerConfig: fixtureTokenizerConfig(null), generationConfig: null });
  await assert.rejects(none.renderChat(conversation), /this model has no chat template/);

  assert.deepEqual(tokenizerCoverageProblems(tokenizerJson, withTemplate(SMOLLM2_TEMPLATE)), []);
  const missing = tokenizerCoverageProblems(tokenizerJson, { tokenizerConfig: { ...fixtureTokenizerConfig(), eos_token: "<|eot_id|>" }, generationConfig: null });
  assert.ok(missing.some((p) => /names the special token "<\|eot_id\|>", which tokenizer.json lacks/.test(p)), missing.join("; "));
  assert.ok(missing.some((p) => /no end-of-sequence token/.test(p)), missing.join("; "));
  const llama3 = "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}";
  const unfit = tokenizerCoverageProblems(tokenizerJson, withTemplate(llama3));
  assert.ok(unfit.some((p) => /writes "<\|start_header_id\|>", which is not a token/.test(p)), unfit.join("; "));
});

test("loadChatFormat: a checkpoint with HF extras gets the model's own template, one without gets Tandem's", () => {
  assert.equal(loadChatFormat(tokenizerJson, { tokenizerConfig: fixtureTokenizerConfig(), generationConfig: null }).kind, "hf");
  assert.throws(() => loadChatFormat(tokenizerJson, null), /lacks special token <\|pad\|>/); // not a Tandem tokenizer
});

const PYTHON = "/usr/bin/python3";
const jinjaAvailable = existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import jinja2"], { stdio: "ignore" }).status === 0;

test(
  "rendering parity: Python Jinja2 configured as transformers' apply_chat_template gives the same text (bench/chat_template_parity.py)",
  { skip: jinjaAvailable ? false : `skipped: ${PYTHON} -c "import jinja2" fails (apt-get install python3-jinja2 to run it)` },
  () => {
    const specials = { bos_token: "<|im_start|>", eos_token: "<|im_end|>", pad_token: "<|endoftext|>", unk_token: "<|endoftext|>" };
    const cases = [
      { template: SMOLLM2_TEMPLATE, format: smol, messages: conversation, tools: null, add_generation_prompt: false },
      { template: SMOLLM2_TEMPLATE, format: smol, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "naïve — 你好" }] as ConversationMessage[], tools: null, add_generation_prompt: true },
      { template: QWEN_TOOLS_TEMPLATE, format: qwen, messages: toolConversation, tools: [calc], add_generation_prompt: false },
      { template: QWEN_TOOLS_TEMPLATE, format: qwen, messages: toolConversation.slice(1, 4), tools: null, add_generation_prompt: true },
    ];
    const dir = mkdtempSync(join(tmpdir(), "tandem-jinja-"));
    writeFileSync(join(dir, "cases.json"), JSON.stringify(cases.map(({ format: _f, ...c }) => ({ ...c, specials }))));
    const script = fileURLToPath(new URL("../../bench/chat_template_parity.py", import.meta.url));
    const r = spawnSync(PYTHON, [script, join(dir, "cases.json")], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const { rendered } = JSON.parse(r.stdout) as { rendered: string[] };
    cases.forEach((c, i) => {
      const ours = c.format.renderText(c.messages, { addGenerationPrompt: c.add_generation_prompt, ...(c.tools ? { tools: c.tools } : {}) });
      assert.equal(ours, rendered[i], `case ${i}`);
    });
  },
);
