/**
 * Reads Q&A pairs out of what a model wrote. Models wrap JSON in ```json fences, add a sentence
 * before it, return {"pairs": [...]} instead of a bare array, or ignore the format and write
 * "Q: … A: …" blocks; all of these are read. Anything else is a per-chunk error the caller
 * records, never an exception.
 */

export type QaPair = { question: string; answer: string };
export type ParsedOutput = { ok: true; pairs: QaPair[]; format: "json" | "qa-blocks"; skipped: string[] } | { ok: false; error: string };

export const MAX_QUESTION_CHARS = 4_000;
export const MAX_ANSWER_CHARS = 32_000;

export function parseQaOutput(output: string, maxPairs: number): ParsedOutput {
  const text = output.trim();
  if (text === "") return { ok: false, error: "The model returned an empty answer." };

  const json = findJson(text);
  if (json !== undefined) {
    const items = pairItems(json);
    if (items === null) return { ok: false, error: 'The model returned JSON, but not a list of {"question", "answer"} objects.' };
    return finish(items, "json", maxPairs);
  }
  const blocks = qaBlocks(text);
  if (blocks.length > 0) return finish(blocks, "qa-blocks", maxPairs);
  return { ok: false, error: `The model's answer is neither a JSON list of pairs nor "Q: … A: …" blocks: ${preview(text)}` };
}

/** The first JSON value in the text: a fenced block, the whole text, or the outermost [...] / {...}. */
function findJson(text: string): unknown {
  const candidates: string[] = [];
  for (const fence of text.matchAll(/```[\w-]*[ \t]*\n([\s\S]*?)```/g)) candidates.push(fence[1]!.trim());
  candidates.push(text);
  for (const [open, close] of [["[", "]"], ["{", "}"]] as const) {
    const start = text.indexOf(open);
    const end = text.lastIndexOf(close);
    if (start !== -1 && end > start) candidates.push(text.slice(start, end + 1));
  }
  for (const candidate of candidates) {
    try {
      return JSON.parse(candidate) as unknown;
    } catch {
      // try the next candidate
    }
  }
  return undefined;
}

/** The list of pair-like items: an array, an object holding one array, or a single pair object. */
function pairItems(json: unknown): unknown[] | null {
  if (Array.isArray(json)) return json;
  if (json && typeof json === "object") {
    const record = json as Record<string, unknown>;
    if (fieldOf(record, QUESTION_KEYS) !== undefined) return [record];
    const arrays = Object.values(record).filter(Array.isArray);
    if (arrays.length === 1) return arrays[0]!;
  }
  return null;
}

const QUESTION_KEYS = ["question", "q", "prompt", "instruction"];
const ANSWER_KEYS = ["answer", "a", "response", "output"];

function fieldOf(record: Record<string, unknown>, keys: string[]): unknown {
  for (const [key, value] of Object.entries(record)) if (keys.includes(key.toLowerCase())) return value;
  return undefined;
}

function finish(items: unknown[], format: "json" | "qa-blocks", maxPairs: number): ParsedOutput {
  const pairs: QaPair[] = [];
  const skipped: string[] = [];
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const where = `pair ${i + 1}`;
    if (!item || typeof item !== "object" || Array.isArray(item)) return skipped.push(`${where}: not an object`);
    const question = fieldOf(item as Record<string, unknown>, QUESTION_KEYS);
    const answer = fieldOf(item as Record<string, unknown>, ANSWER_KEYS);
    if (typeof question !== "string" || question.trim() === "") return skipped.push(`${where}: no question`);
    if (typeof answer !== "string" || answer.trim() === "") return skipped.push(`${where}: no answer`);
    if (question.length > MAX_QUESTION_CHARS) return skipped.push(`${where}: the question is longer than ${MAX_QUESTION_CHARS} characters`);
    if (answer.length > MAX_ANSWER_CHARS) return skipped.push(`${where}: the answer is longer than ${MAX_ANSWER_CHARS} characters`);
    const key = question.trim().toLowerCase().replace(/\s+/g, " ");
    if (seen.has(key)) return skipped.push(`${where}: the same question again`);
    if (pairs.length >= maxPairs) return skipped.push(`${where}: more pairs than the ${maxPairs} asked for`);
    seen.add(key);
    pairs.push({ question: question.trim(), answer: answer.trim() });
  });
  if (pairs.length === 0) return { ok: false, error: `The model's answer holds no usable pair (${skipped.slice(0, 5).join("; ") || "the list is empty"}).` };
  return { ok: true, pairs, format, skipped };
}

const Q_LINE = /^\s*(?:[-*]\s*)?(?:\*\*)?(?:\d+[.)]\s*)?(?:Q|Question)\s*\d*\s*[:.)](?:\*\*)?\s*(.*)$/i;
const A_LINE = /^\s*(?:[-*]\s*)?(?:\*\*)?(?:A|Answer)\s*\d*\s*[:.)](?:\*\*)?\s*(.*)$/i;

/** "Q: … A: …" blocks; a question or answer may run over several lines. */
function qaBlocks(text: string): Array<{ question: string; answer: string }> {
  const pairs: Array<{ question: string; answer: string }> = [];
  let question: string[] | null = null;
  let answer: string[] | null = null;
  const flush = () => {
    if (question && answer) pairs.push({ question: question.join("\n").trim(), answer: answer.join("\n").trim() });
    question = null;
    answer = null;
  };
  for (const line of text.split(/\r?\n/)) {
    const q = Q_LINE.exec(line);
    if (q) {
      flush();
      question = [q[1]!];
      continue;
    }
    const a = question ? A_LINE.exec(line) : null;
    if (a && !answer) {
      answer = [a[1]!];
      continue;
    }
    if (answer) answer.push(line);
    else if (question) question.push(line);
  }
  flush();
  return pairs;
}

function preview(text: string): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > 120 ? `"${flat.slice(0, 120)}…"` : `"${flat}"`;
}
