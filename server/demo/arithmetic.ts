/**
 * The demo domain: mental arithmetic, where a good answer calls a calculator with GSM8K's
 * annotation `<<37*4=148>>` and then states the result. Small models are bad at mental math and
 * do better with the tool, and a programmatic checker gives a ground-truth score next to the
 * human one. Deterministic: the same seed gives the same questions.
 */
export type ArithmeticItem = { question: string; expression: string; answer: number };

/** mulberry32: a tiny seeded generator, enough for reproducible demo data. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function arithmeticItems(count: number, seed = 1): ArithmeticItem[] {
  const random = seeded(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const items: ArithmeticItem[] = [];
  const seen = new Set<string>();
  while (items.length < count) {
    const kind = int(0, 2);
    const [a, b] = kind === 2 ? [int(12, 99), int(3, 9)] : [int(10, 999), int(10, 999)];
    const [symbol, operator, answer] = kind === 0 ? ["+", "+", a + b] : kind === 1 ? ["−", "-", Math.max(a, b) - Math.min(a, b)] : ["×", "*", a * b];
    const [x, y] = kind === 1 ? [Math.max(a, b), Math.min(a, b)] : [a, b];
    const question = `What is ${x} ${symbol} ${y}?`;
    if (seen.has(question)) continue;
    seen.add(question);
    items.push({ question, expression: `${x}${operator}${y}`, answer });
  }
  return items;
}

/** The answer the guidelines ask for: the calculator call, then the result in words. */
export const goodAnswer = (item: ArithmeticItem) => `<<${item.expression}=${item.answer}>> The answer is ${item.answer}.`;

/** Four answers of known quality, best first: tool + right, right without the tool, tool + slip, wrong. */
export function rankedAnswers(item: ArithmeticItem): string[] {
  const off = item.answer + (item.answer % 7 === 0 ? 10 : 1);
  return [goodAnswer(item), `The answer is ${item.answer}.`, `<<${item.expression}=${off}>> The answer is ${off}.`, `I think it is about ${Math.round(item.answer / 10) * 10}.`];
}

/**
 * The checker: 1 when the completion's stated result ("The answer is N", else its last number)
 * equals the reference answer, 0 otherwise; null when the prompt has no reference answer.
 */
export function checkAnswer(completion: string, reference: unknown): number | null {
  if (typeof reference !== "number" || !Number.isFinite(reference)) return null;
  const stated = /answer is\s*(-?\d+(?:\.\d+)?)/i.exec(completion)?.[1] ?? completion.match(/-?\d+(?:\.\d+)?/g)?.at(-1);
  return stated !== undefined && Number(stated) === reference ? 1 : 0;
}
