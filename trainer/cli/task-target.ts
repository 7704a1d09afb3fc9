// A task set as a data-mix search's target (decision 0054): prompts whose metadata holds a reference answer, and
// the checker that compares an answer with it. A base model is scored two ways on the same prompts:
//   - the checker on its greedy answer to each prompt (the prompt's text, then a newline; the answer is the text up
//     to the next newline): what the task asks, but 0 for every model too small to answer;
//   - the mean loss per token of the reference answer after the prompt (the "gold continuation" likelihood that
//     small-model evaluations use): which of two models that both fail is nearer to answering.
// A base model has no chat template: it reads the prompt as the plain text a corpus would hold.
import { type JobSpec } from "../contract/job.ts";
import { checkAnswer, referenceText, tallyChecks } from "../contract/checker.ts";
import { promptRecordSchema, readJsonl } from "../data/jsonl.ts";
import { generateAsync } from "../model/generate.ts";
import { type LanguageModel } from "../model/lm.ts";
import { type ChatFormat } from "../tokenizer/chat-format.ts";
import { type SftExample } from "../algorithms/sft-trainer.ts";
import { evalSftLoss } from "./eval-job.ts";
import { asMessages, check } from "./job-inputs.ts";

type Tasks = NonNullable<Extract<JobSpec, { kind: "mix-search" }>["tasks"]>;

export type TaskScore = { loss: number; tokens: number; checker: { passRate: number; correct: number; scored: number } };

/** The prompts as plain text (the last user message), each with its metadata and reference answer; tokenised once. */
export async function readTaskTarget(tasks: Tasks, format: ChatFormat, blockSize: number) {
  const records = check(tasks.prompts, readJsonl(tasks.prompts, promptRecordSchema));
  if (records.length === 0) throw new Error(`the task set ${tasks.name} has no prompts`);
  const items = [];
  for (const r of records) {
    const messages = asMessages(r.value.prompt);
    const text = messages.filter((m) => m.role === "user").at(-1)?.content ?? "";
    const metadata = r.value.metadata ?? {};
    const reference = referenceText(tasks.checker, metadata);
    // the server refuses a task set whose prompts lack the checker's field; a file made by hand is told the line
    if (reference === null) throw new Error(`${tasks.prompts} line ${r.line}: no usable metadata.${tasks.checker.field}, the reference answer the checker reads`);
    const context = await format.tokenizer.encode(`${typeof text === "string" ? text : ""}\n`);
    const answer = await format.tokenizer.encode(reference);
    // long prompts keep their end: the tokens nearest the answer matter most
    const keep = Math.max(1, blockSize - Math.max(answer.length, tasks.maxNewTokens));
    items.push({ metadata, prompt: context.slice(-keep), answer: answer.slice(0, blockSize - 1) });
  }
  return items;
}

/** One candidate's score on the task set: the reference answers' loss and the checker on its greedy answers. */
export async function scoreTasks(model: LanguageModel, items: Awaited<ReturnType<typeof readTaskTarget>>, tasks: Tasks, format: ChatFormat): Promise<TaskScore> {
  const examples: SftExample[] = items.map((it) => {
    const ids = [...it.prompt, ...it.answer].slice(-model.config.blockSize);
    return { ids, lossMask: ids.map((_, t) => (t >= ids.length - it.answer.length ? 1 : 0)) };
  });
  const scored = await evalSftLoss(model, examples, format.padId, 8);
  const checks = [];
  for (let i = 0; i < items.length; i += 8) {
    const part = items.slice(i, i + 8);
    const result = await generateAsync(model, part.map((it) => it.prompt), {
      maxNewTokens: tasks.maxNewTokens, temperature: 0, seed: i, stopTokens: format.stopTokens, padId: format.padId,
    });
    for (const [b, it] of part.entries()) {
      const text = await format.tokenizer.decode(result.completions[b] ?? [], true);
      checks.push(checkAnswer(tasks.checker, text.split("\n")[0] ?? "", it.metadata));
    }
  }
  const tally = tallyChecks(checks);
  return { loss: scored["eval_loss"]!, tokens: scored["eval_tokens"]!, checker: { passRate: tally.accuracy ?? 0, correct: tally.correct, scored: tally.scored } };
}
