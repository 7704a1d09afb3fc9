/**
 * What a model judge is asked and how its answers become a ranking (decision 0035). Pure, so the
 * strict parsing and the order-swapping are unit-tested without a model.
 *
 * Position bias: a judge that prefers whatever it reads first would, asked once, pass that bias
 * on to the labelers it anchors. So every question is asked in both orders — pairwise: (x, y) and
 * (y, x) for every pair; K-way: the list forwards and reversed — and the answers are combined
 * with Copeland's rule: a pair the two orders disagree on is a tie in the judge's ranking.
 */
import { copeland } from "../quality/consensus.ts";
import { pairwiseAgreement } from "../quality/kendall.ts";
import type { Ranking } from "../quality/ranking.ts";
import type { ChatMessage } from "../../db/schema.ts";

export type JudgeMode = "pairwise" | "kway";

/** One question: the completions in the order the judge reads them (A, B, …). */
export type JudgeQuestion = { order: string[] };

/** A question with the judge's parsed answer. `first`: did the first-read completion win (null: a tie at the top)? */
export type JudgeAnswer = { order: string[]; answer: string; ranking: Ranking; first: boolean | null };

export type JudgeDetail = {
  mode: JudgeMode;
  answers: JudgeAnswer[];
  /** Pairs ordered the same way in both presentation orders, of the pairs both ordered. */
  consistency: { agreed: number; compared: number };
};

export class UnparseableAnswer extends Error {}

export const letter = (index: number) => String.fromCharCode(65 + index);

export function judgeQuestions(mode: JudgeMode, completionIds: readonly string[]): JudgeQuestion[] {
  if (mode === "kway" || completionIds.length === 2) return [{ order: [...completionIds] }, { order: [...completionIds].reverse() }];
  const out: JudgeQuestion[] = [];
  for (let i = 0; i < completionIds.length; i++) {
    for (let j = i + 1; j < completionIds.length; j++) out.push({ order: [completionIds[i]!, completionIds[j]!] }, { order: [completionIds[j]!, completionIds[i]!] });
  }
  return out;
}

/** The judging prompt with the conversation and the lettered answers filled in, as one user message. */
export function renderJudgePrompt(template: string, conversation: readonly ChatMessage[], answers: readonly string[]): ChatMessage[] {
  const convo = conversation.map((m) => `${m.role.toUpperCase()}: ${m.content}`).join("\n\n");
  const lettered = answers.map((text, i) => `[Answer ${letter(i)}]\n${text}\n[End of answer ${letter(i)}]`).join("\n\n");
  // One pass over the template, so text inside the conversation that looks like a placeholder stays text.
  const content = template.replace(/\{\{(conversation|answers)\}\}/g, (_, name: string) => (name === "conversation" ? convo : lettered));
  return [{ role: "user", content }];
}

/**
 * Strict: the whole reply (trimmed, one trailing full stop allowed) must be the answer.
 * Pairwise: A, B or TIE (any case). K-way: every letter once, joined by > or =.
 * Anything else — an explanation, a letter not shown, a letter twice — is unparseable.
 */
export function parseJudgeAnswer(reply: string, order: readonly string[]): { answer: string; ranking: Ranking } {
  const text = reply.trim().replace(/\.$/, "").trim();
  const labels = order.map((_, i) => letter(i));
  if (order.length === 2 && /^(a|b|tie)$/i.test(text)) {
    const answer = text.toUpperCase();
    const ranking: Ranking = answer === "TIE" ? { tiers: [[...order]] } : answer === "A" ? { tiers: [[order[0]!], [order[1]!]] } : { tiers: [[order[1]!], [order[0]!]] };
    return { answer, ranking };
  }
  if (!/^[A-Za-z](\s*[>=]\s*[A-Za-z])*$/.test(text)) throw new UnparseableAnswer(`not an answer of the asked form: ${JSON.stringify(reply.slice(0, 200))}`);
  const tiers = text
    .toUpperCase()
    .split(">")
    .map((tier) => tier.split("=").map((l) => l.trim()));
  const used = tiers.flat();
  const unknown = used.filter((l) => !labels.includes(l));
  if (unknown.length > 0) throw new UnparseableAnswer(`names answers that were not shown: ${unknown.join(", ")}`);
  if (new Set(used).size !== used.length) throw new UnparseableAnswer("names an answer twice");
  if (used.length !== labels.length) throw new UnparseableAnswer(`leaves out ${labels.filter((l) => !used.includes(l)).join(", ")}`);
  return { answer: tiers.map((t) => t.join(" = ")).join(" > "), ranking: { tiers: tiers.map((t) => t.map((l) => order[labels.indexOf(l)]!)) } };
}

/** Did the first-read completion come out alone on top (true), below the top (false), or tied at the top (null)? */
export function firstWon(order: readonly string[], ranking: Ranking): boolean | null {
  const top = ranking.tiers[0] ?? [];
  if (!top.includes(order[0]!)) return false;
  return top.length === 1 ? true : null;
}

/** The judge's ranking of the task's completions from all its answers, with the details kept for the audit. */
export function combineAnswers(mode: JudgeMode, answers: JudgeAnswer[]): { ranking: Ranking; detail: JudgeDetail } {
  const ranking = copeland(answers.map((a) => a.ranking));
  // The two orders of the same question sit next to each other (judgeQuestions).
  let agreed = 0;
  let compared = 0;
  for (let i = 0; i + 1 < answers.length; i += 2) {
    const result = pairwiseAgreement(answers[i]!.ranking, answers[i + 1]!.ranking);
    const tiedBoth = answers[i]!.ranking.tiers.length === 1 && answers[i + 1]!.ranking.tiers.length === 1;
    agreed += result.agreed + (tiedBoth && answers[i]!.order.length === 2 ? 1 : 0);
    compared += result.compared + (tiedBoth && answers[i]!.order.length === 2 ? 1 : 0);
  }
  return { ranking, detail: { mode, answers, consistency: { agreed, compared } } };
}
