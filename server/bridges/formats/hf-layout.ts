import { strFromU8, strToU8, unzipSync, zipSync } from "fflate";

/**
 * The Hugging Face datasets layout: a folder with the data files under data/ and a dataset card
 * (README.md) whose YAML front matter names them (`configs` / `data_files`, what
 * `load_dataset(folder)` reads). Tandem adds a `tandem` entry to the front matter: project,
 * round, filters, counts, and the format and options of the data files, so the folder imports
 * back without asking. The entry is written as JSON, which is valid YAML (a flow mapping).
 */
export type CardInfo = {
  project: { id: string; name: string };
  dataset: string;
  /** The format of the data files: trl, openrlhf or verl. */
  format: string;
  options: Record<string, unknown>;
  round: { id: string; name: string } | null;
  filters: Record<string, unknown>;
  counts: Record<string, number>;
  exportedAt: string;
};

export function datasetCard(info: CardInfo, files: Array<{ split: string; path: string }>): string {
  const yaml = [
    "---",
    "configs:",
    "- config_name: default",
    "  data_files:",
    ...files.flatMap((f) => [`  - split: ${f.split}`, `    path: ${f.path}`]),
    "tags:",
    "- tandem",
    `- ${info.format}`,
    `tandem: ${JSON.stringify(info)}`,
    "---",
  ].join("\n");
  const total = Object.values(info.counts).reduce((a, b) => a + b, 0);
  const filters = Object.entries(info.filters).filter(([, v]) => v !== undefined);
  const body = [
    `# ${info.project.name}: ${info.dataset}`,
    "",
    `Exported from Tandem project ${info.project.id} ("${info.project.name}")${info.round ? `, round ${info.round.id} ("${info.round.name}")` : ""} on ${info.exportedAt}.`,
    "",
    `- Dataset: **${info.dataset}**, ${total} records (${Object.entries(info.counts).map(([s, n]) => `${s}: ${n}`).join(", ")})`,
    `- Format: **${info.format}**${Object.keys(info.options).length ? ` (${Object.entries(info.options).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")})` : ""}`,
    `- Filters: ${filters.length ? filters.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ") : "none"}`,
    "",
    "Load it with `datasets.load_dataset(\"path/to/this/folder\")`, or import the zip into another Tandem project.",
    "",
  ].join("\n");
  return `${yaml}\n\n${body}`;
}

/** The card's front matter: the data file paths it names and Tandem's entry, when present. */
export function readCard(markdown: string): { paths: string[]; tandem: Partial<CardInfo> | null } {
  const match = markdown.match(/^---\r?\n([\s\S]*?)\r?\n---/);
  if (!match) return { paths: [], tandem: null };
  const front = match[1]!;
  const paths = [...front.matchAll(/^\s*-?\s*path:\s*["']?([^"'\n]+?)["']?\s*$/gm)].map((m) => m[1]!);
  const line = front.match(/^tandem:\s*(\{.*\})\s*$/m);
  let tandem: Partial<CardInfo> | null = null;
  if (line) {
    try {
      tandem = JSON.parse(line[1]!) as Partial<CardInfo>;
    } catch {
      tandem = null;
    }
  }
  return { paths, tandem };
}

export function zipFiles(files: Array<{ path: string; bytes: Uint8Array | string }>, folder: string): Uint8Array {
  return zipSync(Object.fromEntries(files.map((f) => [`${folder}/${f.path}`, typeof f.bytes === "string" ? strToU8(f.bytes) : f.bytes])), { level: 6 });
}

const DATA_FILE = /\.(jsonl|ndjson|json|parquet)$/i;
/** Zips bigger than this once unpacked are refused (a zip bomb would otherwise fill memory). */
export const MAX_UNZIPPED_BYTES = 512 * 1024 * 1024;

/**
 * A dataset folder from a zip: its card and data files. The folder may be the zip's root or one
 * directory inside it (what zipping a folder gives). Data files: those the card names, else every
 * .jsonl / .json / .parquet file under data/.
 */
export function unzipDataset(zip: Uint8Array): { card: ReturnType<typeof readCard> | null; files: Array<{ path: string; bytes: Uint8Array }> } {
  let total = 0;
  const entries = unzipSync(zip, {
    filter: (file) => {
      total += file.originalSize;
      if (total > MAX_UNZIPPED_BYTES) throw new Error(`the zip unpacks to more than ${MAX_UNZIPPED_BYTES / 1024 / 1024} MB`);
      return !file.name.endsWith("/");
    },
  });
  const names = Object.keys(entries);
  const readme = names.filter((n) => /(^|\/)README\.md$/i.test(n)).sort((a, b) => a.length - b.length)[0];
  const root = readme ? readme.slice(0, readme.length - "README.md".length) : (names.find((n) => /(^|\/)data\//.test(n))?.replace(/data\/.*$/, "") ?? "");
  const card = readme ? readCard(strFromU8(entries[readme]!)) : null;
  // The Hub's cards often name shards with a glob (data/train-*): a pattern names every file it matches.
  const named = (card?.paths ?? []).flatMap((p) => {
    const path = root + p.replace(/^\.\//, "");
    if (!path.includes("*")) return [path];
    const pattern = new RegExp(`^${path.split("**").map((part) => part.split("*").map(escapeRegExp).join("[^/]*")).join(".*")}$`);
    return names.filter((n) => pattern.test(n)).sort();
  });
  const wanted = card && card.paths.length > 0 ? [...new Set(named)] : names.filter((n) => n.startsWith(root + "data/") && DATA_FILE.test(n)).sort();
  if (card && card.paths.length > 0 && wanted.length === 0) throw new Error(`no file in the zip matches the card's data_files (${card.paths.join(", ")})`);
  const files = wanted.filter((n) => entries[n] !== undefined).map((n) => ({ path: n.slice(root.length), bytes: entries[n]! }));
  const missing = wanted.filter((n) => entries[n] === undefined);
  if (missing.length > 0) throw new Error(`the card names ${missing.map((m) => m.slice(root.length)).join(", ")}, which the zip does not hold`);
  return { card, files };
}

const escapeRegExp = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
