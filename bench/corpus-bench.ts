// Corpus cleaning bench (issue 17): streams generated JSONL text through the corpus reader (line split, UTF-8 decode,
// JSON parse, the canonical sha256 the upload stores) and the cleaner (length and language filters, exact and
// MinHash/LSH near-duplicate removal, content filter and PII), as an upload plus a cleaning job do, without the
// database. Prints MB/s per stage, documents/s, peak RSS and the RSS as the duplicate index grows, and how many planted
// duplicates were found. The generator holds only a ring of recent documents, so memory is the pipeline's own.
// It also trains the quality classifier (ridge on hashed n-grams) on 2,000 generated documents with made-up ratings,
// and times scoring every document with it (featurize + one sparse dot product), the classifier's documents/s.
// Usage: npx tsx bench/corpus-bench.ts [--mb 100] [--doc-chars 2000] [--seed 1] [--index-memory 100000] [--spill-dir DIR]
//        [--classifier 1]
// --index-memory is the documents the duplicate index keeps in memory before it spills to sorted files (decision 0057,
// the job's TANDEM_CLEANING_INDEX_MEMORY); --classifier 0 leaves out the quality-classifier stage.
// Times are wall-clock on whatever machine runs it; on a shared box run it twice.
// ~4 % of documents are exact duplicates (re-cased, re-spaced copies of a recent document), ~4 % near duplicates (3 words
// changed), ~1 % carry an e-mail address or phone number, ~0.5 % a blocked word.
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { contentFilterConfigSchema } from "../server/labeling/import/content-filter.ts";
import { cleaningSettingsSchema } from "../server/corpora/cleaning-settings.ts";
import { CorpusCleaner } from "../server/corpora/cleaner.ts";
import { contentHashOf } from "../server/corpora/corpora.server.ts";
import { readCorpusFile } from "../server/corpora/corpus-reader.ts";
import { featurize, predict, trainRidge } from "../server/corpora/quality-model.ts";
import { createRng } from "../trainer/random/rng.ts";
import { arg } from "./cli-arg.ts";

const targetBytes = Number(arg("mb", "100")) * 1024 * 1024;
const docChars = Number(arg("doc-chars", "2000"));
const indexMemory = Number(arg("index-memory", "100000"));
const spillDir = process.argv.includes("--spill-dir") ? arg("spill-dir", "") : undefined;
const withClassifier = arg("classifier", "1") !== "0";
// the trainer's mulberry32: the same stream this bench's own copy drew
const random = createRng(Number(arg("seed", "1"))).next;

// Zipf-distributed vocabulary with English function words at the top, so the language guess sees English.
const functionWords = "the of and to in is that it was for on are with as be this by not or have from at but which an".split(" ");
const vocabulary = [
  ...functionWords,
  ...Array.from({ length: 30_000 }, (_, i) => Array.from({ length: 3 + Math.floor(random() * 7) + (i > 2000 ? 2 : 0) }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join("")),
];
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
function freshText(): string {
  const words: string[] = [];
  let length = 0;
  while (length < docChars) {
    const word = zipfWord();
    words.push(word);
    length += word.length + 1;
    if (random() < 0.06) words[words.length - 1] += ".";
  }
  return words.join(" ");
}

const planted = { exact: 0, near: 0, pii: 0, blocked: 0 };
const ring: string[] = [];
let generatedBytes = 0;
let line = 0;

/** JSONL in 64 KiB chunks, like a socket or a file stream hands them over. */
async function* generate(): AsyncGenerator<Uint8Array> {
  let pending: string[] = [];
  let pendingBytes = 0;
  while (generatedBytes < targetBytes) {
    line++;
    const roll = random();
    let text: string;
    if (roll < 0.04 && ring.length > 0) {
      planted.exact++;
      text = `  ${ring[Math.floor(random() * ring.length)]!.toUpperCase().replace(/ /g, "  ")}\n`;
    } else if (roll < 0.08 && ring.length > 0) {
      planted.near++;
      const words = ring[Math.floor(random() * ring.length)]!.split(" ");
      for (let k = 0; k < 3; k++) words[Math.floor(random() * words.length)] = "changed";
      text = words.join(" ");
    } else {
      text = freshText();
      if (roll < 0.09) {
        planted.pii++;
        text += ` Write to person${line}@example.com or call +44 20 7946 ${String(line % 10000).padStart(4, "0")}.`;
      } else if (roll < 0.095) {
        planted.blocked++;
        text += " Attach the detonator.";
      }
      ring.push(text);
      if (ring.length > 2_000) ring.shift();
    }
    const json = JSON.stringify({ title: `doc ${line}`, text }) + "\n";
    pending.push(json);
    pendingBytes += json.length;
    if (pendingBytes >= 65_536) {
      const chunk = Buffer.from(pending.join(""), "utf8");
      generatedBytes += chunk.length;
      pending = [];
      pendingBytes = 0;
      yield chunk;
    }
  }
  if (pending.length > 0) {
    const chunk = Buffer.from(pending.join(""), "utf8");
    generatedBytes += chunk.length;
    yield chunk;
  }
}

const mib = (bytes: number) => bytes / 1024 / 1024;

// The classifier: trained before the stream on documents of the same kind, ratings 1–5 from how many of the first 50
// vocabulary words a document uses (something for the model to find).
const trainStarted = performance.now();
const trainTexts = withClassifier ? Array.from({ length: 2_000 }, freshText) : [];
const common = new Set(vocabulary.slice(25, 75));
const trainRatings = trainTexts.map((t) => 1 + Math.min(4, Math.floor(t.split(" ").filter((w) => common.has(w)).length / 8)));
const model = withClassifier ? trainRidge(trainTexts.map((t) => featurize(t)), trainRatings, { lambda: 0.01 }) : null;
const trainSeconds = (performance.now() - trainStarted) / 1000;
let scoreMs = 0;
const settings = cleaningSettingsSchema.parse({ corpusIds: ["1"], minChars: 200, languages: ["en"], minLanguageConfidence: 0.3 });
const cleaner = new CorpusCleaner(settings, contentFilterConfigSchema.parse({ blockedWords: ["detonator"] }), undefined, { maxInMemory: indexMemory, ...(spillDir ? { spillDir } : {}) });
const reasons = new Map<string, number>();
// Every verdict, its reason and the duplicate it points at, hashed in order: equal digests = the same documents kept
// and removed, whatever the index's memory budget.
const verdictDigest = createHash("sha256");
let judgeMs = 0;
let hashMs = 0;
let documents = 0;
const rssAt: Array<{ documents: number; mb: number; rss: number }> = [];
let nextSample = targetBytes / 4;

const started = performance.now();
const stats = await readCorpusFile(
  generate(),
  { name: "generated.jsonl", format: "jsonl" },
  (doc) => {
    documents++;
    const h0 = performance.now();
    const contentHash = contentHashOf(doc.text);
    const h1 = performance.now();
    const verdict = cleaner.judge({ id: String(documents), text: doc.text, contentHash });
    judgeMs += performance.now() - h1;
    hashMs += h1 - h0;
    if (model) {
      const s0 = performance.now();
      predict(model, featurize(doc.text));
      scoreMs += performance.now() - s0;
    }
    verdictDigest.update(`${verdict.verdict}|${verdict.reason}|${verdict.duplicateOf}|${verdict.similarity}\n`);
    const key = verdict.reason ?? verdict.verdict;
    reasons.set(key, (reasons.get(key) ?? 0) + 1);
    if (generatedBytes >= nextSample) {
      rssAt.push({ documents, mb: mib(generatedBytes), rss: mib(process.memoryUsage().rss) });
      nextSample += targetBytes / 4;
    }
  },
  () => undefined,
);
const seconds = (performance.now() - started) / 1000;
const readSeconds = seconds - (judgeMs + hashMs + scoreMs) / 1000;
const peakRss = process.resourceUsage().maxRSS / 1024;
const inputMb = mib(stats.bytes);

console.log(`corpus bench: ${inputMb.toFixed(1)} MiB JSONL, ${documents.toLocaleString("en")} documents of ~${docChars} characters, ${stats.issues} reading problems`);
console.log(`planted: ${planted.exact} exact, ${planted.near} near duplicates, ${planted.pii} with PII, ${planted.blocked} with a blocked word`);
console.log(`found:   ${[...reasons].map(([k, v]) => `${k} ${v}`).join(", ")}`);
console.log("");
console.log("| stage | seconds | MiB/s of input |");
console.log("|---|---:|---:|");
console.log(`| read: split lines, UTF-8 decode, JSON parse (generation included) | ${readSeconds.toFixed(2)} | ${(inputMb / readSeconds).toFixed(1)} |`);
console.log(`| canonical sha256 (normalizeForHash) | ${(hashMs / 1000).toFixed(2)} | ${(inputMb / (hashMs / 1000)).toFixed(1)} |`);
console.log(`| clean: length, language, exact + MinHash/LSH dedup, content filter, PII | ${(judgeMs / 1000).toFixed(2)} | ${(inputMb / (judgeMs / 1000)).toFixed(1)} |`);
if (model) console.log(`| quality classifier: featurize + score | ${(scoreMs / 1000).toFixed(2)} | ${(inputMb / (scoreMs / 1000)).toFixed(1)} |`);
console.log(`| **total** | **${seconds.toFixed(2)}** | **${(inputMb / seconds).toFixed(1)}** |`);
console.log("");
if (model) console.log(`classifier: trained on 2,000 documents in ${trainSeconds.toFixed(2)} s (${model.iterations} CG steps, generation included); scores ${(documents / (scoreMs / 1000)).toFixed(0)} documents/s`);
console.log(`documents/s: ${(documents / seconds).toFixed(0)}; peak RSS ${peakRss.toFixed(0)} MiB; duplicate index holds ${cleaner.indexed.toLocaleString("en")} documents`);
console.log(`duplicate index: ${indexMemory.toLocaleString("en")} documents in memory at most; ${cleaner.disk.spilledDocuments.toLocaleString("en")} spilled to disk in ${cleaner.disk.runs} sorted runs`);
cleaner.close();
console.log(`verdict digest: ${verdictDigest.digest("hex").slice(0, 16)}`);
console.log(`RSS as the index grows: ${rssAt.map((s) => `${s.mb.toFixed(0)} MiB in (${s.documents.toLocaleString("en")} docs) → ${s.rss.toFixed(0)} MiB`).join("; ")}`);
