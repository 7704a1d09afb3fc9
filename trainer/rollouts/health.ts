// Health of sampled answers, the signs that a policy has drifted into broken output (issue 11:
// DPO at a high learning rate left 45 % of samples with U+FFFD). Names: contract/kl-guard.ts.
import { HEALTH_METRICS, REPEAT_LOOP } from "../contract/kl-guard.ts";

export interface SampledAnswer {
  /** The whole completion decoded (special tokens dropped): U+FFFD marks bytes that are not UTF-8. */
  text: string;
  /** The final answer's text. */
  answer: string;
  /** The tokens the policy sampled, in order. */
  policyTokens: number[];
}

/** True when some n-gram of tokens occurs at least `minCount` times (overlaps count). */
export function hasRepeatLoop(tokens: readonly number[], ngram: number = REPEAT_LOOP.ngram, minCount: number = REPEAT_LOOP.minCount): boolean {
  const counts = new Map<string, number>();
  for (let i = 0; i + ngram <= tokens.length; i++) {
    const key = tokens.slice(i, i + ngram).join(",");
    const c = (counts.get(key) ?? 0) + 1;
    if (c >= minCount) return true;
    counts.set(key, c);
  }
  return false;
}

export function healthMetrics(samples: SampledAnswer[]): Record<string, number> {
  const n = Math.max(samples.length, 1);
  const share = (test: (s: SampledAnswer) => boolean): number => samples.filter(test).length / n;
  return {
    [HEALTH_METRICS.undecodable]: share((s) => s.text.includes("\uFFFD")),
    [HEALTH_METRICS.repeatLoop]: share((s) => hasRepeatLoop(s.policyTokens)),
    [HEALTH_METRICS.empty]: share((s) => s.answer.trim() === ""),
    [HEALTH_METRICS.meanLength]: samples.reduce((a, s) => a + s.policyTokens.length, 0) / n,
  };
}
