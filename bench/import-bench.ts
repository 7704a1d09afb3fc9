// Prompt import bench: parse a JSONL file of N synthetic prompts and plan the import (exact + near-duplicate detection,
// content filter), as the "preview before commit" step does. Prints seconds per stage, peak RSS, and how many of the
// planted duplicates were found.
// Usage: npx tsx bench/import-bench.ts [--n 100000] [--existing 0] [--threshold 0.8] [--seed 1]
// Stage times are wall-clock on whatever machine runs it; on a shared box run it twice.
// ~5 % of the records are exact duplicates (re-cased / re-spaced copies) and ~5 % near duplicates (1–2 words changed in a
// prompt of ≥ 30 words); ~1 % carry an e-mail address or phone number; 20 % have two completions.
import { performance } from "node:perf_hooks";
import { contentFilterConfigSchema } from "../server/labeling/import/content-filter.ts";
import { exactJaccard, shingleSet, textSignature } from "../server/labeling/import/minhash.ts";
import { contentHash } from "../server/labeling/import/normalize.ts";
import { parseImportFile } from "../server/labeling/import/parse-import-file.ts";
import { nearDuplicateText, planImport, scanRecord } from "../server/labeling/import/plan-import.ts";
import { createRng } from "../trainer/random/rng.ts";
import { arg } from "./cli-arg.ts";

const n = Number(arg("n", "100000"));
const existingCount = Number(arg("existing", "0"));
const threshold = Number(arg("threshold", "0.8"));
// the trainer's mulberry32: the same stream this bench's own copy drew
const random = createRng(Number(arg("seed", "1"))).next;
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

// Zipf-distributed vocabulary, like real text: a few very common words, a long tail.
const vocabulary = Array.from({ length: 20_000 }, (_, i) => {
  const length = 2 + Math.floor(random() * 8) + (i > 1000 ? 2 : 0);
  return Array.from({ length }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join("");
});
const cumulative: number[] = [];
let total = 0;
for (let rank = 1; rank <= vocabulary.length; rank++) cumulative.push((total += 1 / rank));
const zipfWord = (): string => {
  const target = random() * total;
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((cumulative[mid] ?? 0) < target) lo = mid + 1;
    else hi = mid;
  }
  return vocabulary[lo] ?? "word";
};
const sentence = (words: number): string => Array.from({ length: words }, zipfWord).join(" ");
const openers = ["Explain", "Write a short story about", "Summarize", "What is", "How do I", "Translate to French:", "Give three reasons why", "Compare"];

type Kind = "unique" | "exact" | "near";
type Row = { line: number; kind: Kind; of: number | null; json: string };
const rows: Row[] = [];
const texts: string[] = [];
/** A random earlier prompt of ≥ 30 words (near copies of very short prompts are not near at 0.8), or -1. */
const longEnoughText = (): number => {
  for (let tries = 0; tries < 20; tries++) {
    const j = Math.floor(random() * texts.length);
    if ((texts[j] ?? "").split(" ").length >= 30) return j;
  }
  return -1;
};
const generateStart = performance.now();
for (let i = 0; i < n; i++) {
  const roll = random();
  const source = texts.length === 0 ? -1 : roll < 0.05 ? Math.floor(random() * texts.length) : roll < 0.1 ? longEnoughText() : -1;
  let text: string;
  let kind: Kind = "unique";
  if (source >= 0 && roll < 0.05) {
    text = `  ${(texts[source] ?? "").toUpperCase()}\n`;
    kind = "exact";
  } else if (source >= 0) {
    const words = (texts[source] ?? "").split(" ");
    const changes = 1 + Math.floor(random() * 2);
    for (let c = 0; c < changes; c++) words[1 + Math.floor(random() * (words.length - 1))] = zipfWord();
    text = words.join(" ");
    kind = "near";
  } else {
    text = `${pick(openers)} ${sentence(10 + Math.floor(random() * 140))}?`;
    if (random() < 0.01) text += random() < 0.5 ? ` Contact me at user${i}@example.com.` : ` Call +1 555 ${String(100 + (i % 900))} ${String(1000 + (i % 9000))}.`;
  }
  texts.push(text);
  const record: Record<string, unknown> = { prompt: text, source: "bench" };
  if (random() < 0.2) record.completions = [sentence(40), sentence(60)];
  rows.push({ line: i + 1, kind, of: source >= 0 ? source : null, json: JSON.stringify(record) });
}
const file = rows.map((row) => row.json).join("\n");
const generateS = (performance.now() - generateStart) / 1000;

// Existing project prompts, as the caller would load them from Postgres; one in ten is also in the file.
const inProject = new Set<number>();
const existingTexts = Array.from({ length: existingCount }, (_, k) => {
  if (k % 10 !== 0) return `${pick(openers)} ${sentence(10 + Math.floor(random() * 140))}?`;
  const index = Math.floor(random() * texts.length);
  // the copied row and the rows it was copied from are legitimately duplicates of a project prompt
  for (let at: number | null = index; at !== null && !inProject.has(at); at = rows[at]?.of ?? null) inProject.add(at);
  return texts[index] ?? "";
});
const existingStart = performance.now();
const existing = {
  hashes: new Set(existingTexts.map((text) => contentHash([{ role: "user", content: text }]))),
  signatures: existingTexts.map((text, id) => ({ id, signature: textSignature(text) })),
};
const existingS = (performance.now() - existingStart) / 1000;

const rssBeforeMiB = process.memoryUsage().rss / 1024 / 1024;
const filter = contentFilterConfigSchema.parse({ blockedWords: ["forbiddenword", "another banned phrase"] });

const parseStart = performance.now();
const parsed = parseImportFile(file, "jsonl", "bench.jsonl");
const parseS = (performance.now() - parseStart) / 1000;

const planStart = performance.now();
const plan = planImport({ records: parsed.records, issues: parsed.issues, existing, nearDuplicateThreshold: threshold, filter });
const planS = (performance.now() - planStart) / 1000;
const peakRssMiB = process.resourceUsage().maxRSS / 1024;

// Where planImport spends its time, stage by stage (re-done outside it, so not part of the total).
const timeIt = (work: () => void): number => {
  const start = performance.now();
  work();
  return (performance.now() - start) / 1000;
};
const hashS = timeIt(() => parsed.records.forEach((record) => contentHash(record.messages)));
const signatureS = timeIt(() => parsed.records.forEach((record) => textSignature(nearDuplicateText(record.messages))));
const scanS = timeIt(() => parsed.records.forEach((record) => scanRecord(record, filter)));

// Recall of the planted duplicates (a planted near copy may legitimately land under the threshold, or be an exact one).
let exactFound = 0;
let exactPlanted = 0;
let nearFound = 0;
let nearPlanted = 0;
let nearAbove = 0;
let nearAboveFound = 0;
let uniqueFlagged = 0;
plan.items.forEach((item, index) => {
  const row = rows[index];
  if (!row) return;
  if (row.kind === "exact") {
    exactPlanted++;
    if (item.status === "exact_duplicate_in_file" || item.status === "exact_duplicate_in_project") exactFound++;
  } else if (row.kind === "near") {
    nearPlanted++;
    const flagged = item.status !== "new" && item.status !== "filtered";
    if (flagged) nearFound++;
    // the planted copy's true similarity to its source decides whether it should have been flagged
    if (row.of !== null && exactJaccard(shingleSet(texts[row.of] ?? ""), shingleSet(texts[index] ?? "")) >= threshold) {
      nearAbove++;
      if (flagged) nearAboveFound++;
    }
  } else if (item.status !== "new" && item.status !== "filtered" && !inProject.has(index)) uniqueFlagged++;
});

const fileMiB = Buffer.byteLength(file) / 1024 / 1024;
console.log(`import bench: ${n.toLocaleString("en")} prompts (${fileMiB.toFixed(1)} MiB JSONL), ${existingCount.toLocaleString("en")} existing, threshold ${threshold}, node ${process.version}`);
console.table([
  { stage: "generate (not counted)", seconds: generateS.toFixed(2) },
  ...(existingCount > 0 ? [{ stage: "existing signatures (setup, not counted)", seconds: existingS.toFixed(2) }] : []),
  { stage: "parse JSONL + validate", seconds: parseS.toFixed(2) },
  { stage: "planImport (hash + MinHash/LSH + filter)", seconds: planS.toFixed(2) },
  { stage: "TOTAL parse + plan", seconds: (parseS + planS).toFixed(2) },
  { stage: "  of which: sha256 hashes", seconds: hashS.toFixed(2) },
  { stage: "  of which: MinHash signatures", seconds: signatureS.toFixed(2) },
  { stage: "  of which: content filter", seconds: scanS.toFixed(2) },
]);
console.log(`peak RSS: ${peakRssMiB.toFixed(0)} MiB (after parse + plan); RSS before parsing, holding the generated data and file: ${rssBeforeMiB.toFixed(0)} MiB`);
console.log("counts:", plan.counts);
console.log(
  `planted exact duplicates found: ${exactFound}/${exactPlanted}; planted near duplicates flagged: ${nearFound}/${nearPlanted} ` +
    `(${nearAboveFound}/${nearAbove} of those with exact Jaccard ≥ ${threshold}); unique prompts flagged as duplicates: ${uniqueFlagged}` +
    (existingCount > 0 ? ` (not counting the ${inProject.size} copied into the project or their sources)` : ""),
);
