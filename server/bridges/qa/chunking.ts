/**
 * Splits a document into chunks a generator can turn into Q&A pairs. Markdown splits at headings
 * first (a chunk never spans two sections, and carries its heading path), then at paragraphs;
 * plain text at paragraphs. Paragraphs are packed up to `maxChars`; a paragraph too long for
 * one chunk splits between sentences, a sentence too long between words, a word too long
 * anywhere. Pure and deterministic: the same text and budget always give the same chunks.
 */

export type DocumentFormat = "text" | "markdown";
export type Chunk = { index: number; heading: string | null; text: string };

export const DEFAULT_CHUNK_CHARS = 2_000;
export const MIN_CHUNK_CHARS = 200;
export const MAX_CHUNK_CHARS = 20_000;

type Section = { path: string[]; blocks: string[] };

export function chunkDocument(text: string, format: DocumentFormat, maxChars = DEFAULT_CHUNK_CHARS): Chunk[] {
  if (!Number.isInteger(maxChars) || maxChars < MIN_CHUNK_CHARS || maxChars > MAX_CHUNK_CHARS) {
    throw new RangeError(`maxChars must be an integer from ${MIN_CHUNK_CHARS} to ${MAX_CHUNK_CHARS}`);
  }
  const normalized = text.replace(/\r\n?/g, "\n");
  const sections = format === "markdown" ? markdownSections(normalized) : [{ path: [], blocks: paragraphs(normalized.split("\n")) }];
  const chunks: Chunk[] = [];
  for (const section of sections) {
    const heading = section.path.length > 0 ? section.path.join(" › ") : null;
    for (const packed of pack(section.blocks, maxChars)) chunks.push({ index: chunks.length, heading, text: packed });
  }
  return chunks;
}

/** Markdown sections by ATX headings (`#` … `######`), ignoring `#` lines inside fenced code. */
function markdownSections(text: string): Section[] {
  const sections: Section[] = [];
  const path: string[] = [];
  let lines: string[] = [];
  let fence: string | null = null;
  const flush = () => {
    const blocks = paragraphs(lines);
    if (blocks.length > 0) sections.push({ path: [...path], blocks });
    lines = [];
  };
  for (const line of text.split("\n")) {
    const fenceMatch = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fenceMatch) {
      const marker = fenceMatch[1]!;
      if (fence === null) fence = marker;
      else if (marker[0] === fence[0] && marker.length >= fence.length) fence = null;
      lines.push(line);
      continue;
    }
    const heading = fence === null ? /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line) : null;
    if (heading) {
      flush();
      const level = heading[1]!.length;
      path.length = Math.min(path.length, level - 1);
      while (path.length < level - 1) path.push("");
      path[level - 1] = heading[2]!.trim();
      // Skipped levels (# then ###) leave no empty names in the path.
      for (let i = path.length - 1; i >= 0; i--) if (path[i] === "") path.splice(i, 1);
      continue;
    }
    lines.push(line);
  }
  flush();
  return sections;
}

/** Blank-line separated paragraphs; a fenced code block stays one paragraph even with blank lines inside. */
function paragraphs(lines: string[]): string[] {
  const blocks: string[] = [];
  let current: string[] = [];
  let fence: string | null = null;
  const flush = () => {
    const block = current.join("\n").trim();
    if (block) blocks.push(block);
    current = [];
  };
  for (const line of lines) {
    const fenceMatch = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fenceMatch) {
      const marker = fenceMatch[1]!;
      if (fence === null) fence = marker;
      else if (marker[0] === fence[0] && marker.length >= fence.length) fence = null;
    }
    if (fence === null && line.trim() === "") flush();
    else current.push(line);
  }
  flush();
  return blocks;
}

/** Greedy packing of blocks into chunks of at most maxChars (blocks joined by a blank line). */
function pack(blocks: string[], maxChars: number): string[] {
  const out: string[] = [];
  let current = "";
  const add = (piece: string, separator: string) => {
    if (current && current.length + separator.length + piece.length > maxChars) {
      out.push(current);
      current = "";
    }
    current = current ? current + separator + piece : piece;
  };
  for (const block of blocks) {
    if (block.length <= maxChars) {
      add(block, "\n\n");
      continue;
    }
    // A long paragraph starts a chunk of its own and fills chunks sentence by sentence.
    if (current) out.push(current);
    current = "";
    for (const piece of splitLong(block, maxChars)) add(piece, " ");
    out.push(current);
    current = "";
  }
  if (current) out.push(current);
  return out;
}

/** Sentences (or, for run-on text, words) of at most maxChars each. */
function splitLong(block: string, maxChars: number): string[] {
  const pieces: string[] = [];
  for (const sentence of sentences(block)) {
    if (sentence.length <= maxChars) {
      pieces.push(sentence);
      continue;
    }
    let current = "";
    for (const word of sentence.split(/\s+/)) {
      for (let start = 0; start < word.length; start += maxChars) {
        const part = word.slice(start, start + maxChars);
        if (current && current.length + 1 + part.length > maxChars) {
          pieces.push(current);
          current = "";
        }
        current = current ? `${current} ${part}` : part;
      }
    }
    if (current) pieces.push(current);
  }
  return pieces;
}

/** Sentence ends: . ! ? … (and CJK 。！？), optionally followed by closing quotes or brackets, then whitespace. */
export function sentences(text: string): string[] {
  return text
    .split(/(?<=[.!?…。！？]["'”’)\]]*)\s+/u)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
