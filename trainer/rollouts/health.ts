// Health of sampled answers, the signs that a policy has drifted into broken output (issue 11:
// DPO at a high learning rate left 45 % of samples with U+FFFD), as training metrics. The signs
// themselves are defined once, in trainer/eval/answer-health.ts; names: contract/kl-guard.ts.
import { HEALTH_METRICS } from "../contract/kl-guard.ts";
import { endsInLoop } from "../eval/answer-health.ts";

export interface SampledAnswer {
  /** The whole completion decoded (special tokens dropped): U+FFFD marks bytes that are not UTF-8. */
  text: string;
  /** The final answer's text. */
  answer: string;
  /** The tokens the policy sampled, in order. */
  policyTokens: number[];
}

export function healthMetrics(samples: SampledAnswer[]): Record<string, number> {
  const n = Math.max(samples.length, 1);
  const share = (test: (s: SampledAnswer) => boolean): number => samples.filter(test).length / n;
  return {
    [HEALTH_METRICS.undecodable]: share((s) => s.text.includes("\uFFFD")),
    [HEALTH_METRICS.repeatLoop]: share((s) => endsInLoop(s.policyTokens)),
    [HEALTH_METRICS.empty]: share((s) => s.answer.trim() === ""),
    [HEALTH_METRICS.meanLength]: samples.reduce((a, s) => a + s.policyTokens.length, 0) / n,
  };
}
