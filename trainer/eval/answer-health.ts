// Signs that a policy is breaking down rather than learning, read off its sampled answers: the
// failure modes an over-aggressive preference step produces on small models (issue #11 measured
// DPO at lr 1e-4 leaving U+FFFD in 45 % of answers). The round report turns them into warnings.
//
//  - undecodable: the text holds U+FFFD — a byte-level BPE model emitted bytes that are not UTF-8;
//  - loop: the answer ends in one short token pattern repeated (period ≤ 6 tokens, ≥ 3 times,
//    ≥ 12 tokens in all) — the "the the the" of a collapsed distribution;
//  - empty: no visible text at all;
//  - unfinished: no stop token before the length limit;
//  - brokenCall: a tool call that is not a readable call (cut off inside its JSON, an unknown shape):
//    what a preference step that pushes probability onto the end-of-call token does to a tool user
//    (the ninth loop bench: DPO broke 21 of 96 held-out calls, round 0 none).

export interface AnswerHealth {
  undecodable: boolean;
  loop: boolean;
  empty: boolean;
  unfinished: boolean;
  brokenCall: boolean;
}

/** The longest run of the final `period` tokens repeated back to back at the end of `tokens`, in repeats. */
function trailingRepeats(tokens: readonly number[], period: number): number {
  if (tokens.length < period) return 0;
  const n = tokens.length;
  let repeats = 1;
  for (let start = n - 2 * period; start >= 0; start -= period) {
    for (let j = 0; j < period; j++) if (tokens[start + j] !== tokens[n - period + j]) return repeats;
    repeats++;
  }
  return repeats;
}

/** True when the answer ends in a short pattern repeated at least 3 times over at least 12 tokens. */
export function endsInLoop(tokens: readonly number[]): boolean {
  for (let period = 1; period <= 6; period++) {
    const repeats = trailingRepeats(tokens, period);
    if (repeats >= 3 && repeats * period >= 12) return true;
  }
  return false;
}

/** `tokens` are the answer's own tokens, without the stop token; `brokenCall`: its transcript holds an unreadable tool call. */
export function answerHealth(text: string, tokens: readonly number[], finished: boolean, brokenCall = false): AnswerHealth {
  return { undecodable: text.includes("\uFFFD"), loop: endsInLoop(tokens), empty: text.trim() === "", unfinished: !finished, brokenCall };
}

export interface HealthShares {
  /** Share of answers with U+FFFD. */
  undecodableShare: number;
  loopShare: number;
  emptyShare: number;
  unfinishedShare: number;
  /** Share of answers with a tool call that could not be read as one. */
  brokenCallShare: number;
}

export function healthShares(all: readonly AnswerHealth[]): HealthShares {
  const share = (key: keyof AnswerHealth) => (all.length === 0 ? 0 : all.filter((h) => h[key]).length / all.length);
  return { undecodableShare: share("undecodable"), loopShare: share("loop"), emptyShare: share("empty"), unfinishedShare: share("unfinished"), brokenCallShare: share("brokenCall") };
}
