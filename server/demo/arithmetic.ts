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

/** The expression as the question writes it ("37 × 4"): what a calculator call copies (it reads × and −). */
export const askedExpression = (item: ArithmeticItem): string => item.question.replace(/^What is /, "").replace(/\?$/, "");

type Message = { role: "assistant" | "tool"; content: string; name?: string; tool_calls?: Array<{ type: "function"; function: { name: string; arguments: Record<string, unknown> } }> };

/** A calculator call on `expression`, its result, and the stated answer: the transcript a good answer is. */
export function calculatorTranscript(expression: string, result: number): Message[] {
  return [
    { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "calculator", arguments: { expression } } }] },
    { role: "tool", name: "calculator", content: String(result) },
    { role: "assistant", content: `The answer is ${result}.` },
  ];
}

/** The answer the guidelines ask for: the calculator on the question's expression, then the result. */
export const goodAnswer = (item: ArithmeticItem): Message[] => calculatorTranscript(askedExpression(item), item.answer);

/** The same right result stated from memory, without the calculator. */
export const mentalAnswer = (item: ArithmeticItem): string => `The answer is ${item.answer}.`;

/** A calculator call with a slip in copying the expression (the last digit off by one), and its result stated. */
export function slipAnswer(item: ArithmeticItem): Message[] {
  const expression = askedExpression(item).replace(/(\d)$/, (d) => String((Number(d) + 1) % 10));
  const slipped = expression.replace("×", "*").replace("−", "-");
  const [x, op, y] = slipped.split(" ") as [string, string, string];
  const result = op === "+" ? Number(x) + Number(y) : op === "-" ? Number(x) - Number(y) : Number(x) * Number(y);
  return calculatorTranscript(expression, result);
}

/** Four answers of known quality, best first: tool + right, right without the tool, tool + slip, a guess. */
export function rankedAnswers(item: ArithmeticItem): Array<string | Message[]> {
  return [goodAnswer(item), mentalAnswer(item), slipAnswer(item), `I think it is about ${Math.round(item.answer / 10) * 10}.`];
}
