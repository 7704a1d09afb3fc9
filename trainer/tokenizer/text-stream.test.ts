import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBpeTokenizer, trainBpeTokenizerJson, type BpeTokenizer } from "./bpe-tokenizer.ts";
import { TextStream, type DecoderKind } from "./text-stream.ts";
import { createRng } from "../random/rng.ts";

let dir = "";
let tok: BpeTokenizer;

before(() => {
  // an ASCII corpus: every non-ASCII character is made of byte tokens (ids 0..255 are the bytes)
  dir = mkdtempSync(join(tmpdir(), "tandem-text-stream-"));
  writeFileSync(join(dir, "corpus.txt"), Array.from({ length: 50 }, () => "the answer is plain text").join("\n"));
  tok = loadBpeTokenizer(trainBpeTokenizerJson([join(dir, "corpus.txt")], 300));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (text: string): number[] => [...Buffer.from(text, "utf8")];

/** Feeds the tokens in the given groups; returns what each group released, then what end() released. */
async function stream(groups: number[][], decoder: DecoderKind = "byte-level"): Promise<{ pieces: string[]; rest: string }> {
  const s = new TextStream((ids) => tok.decode(ids, true), decoder);
  const pieces: string[] = [];
  for (const g of groups) {
    s.add(g);
    pieces.push(await s.settled());
  }
  return { pieces, rest: await s.end() };
}

test("a character split across byte tokens comes out whole once its last byte arrives, never as U+FFFD", async () => {
  const text = "é€😀中a";
  const ids = bytes(text);
  assert.equal(await tok.decode(ids, true), text, "the byte tokens decode to the text");
  const { pieces, rest } = await stream(ids.map((id) => [id]));
  // é = 2 bytes, € = 3, 😀 = 4, 中 = 3, a = 1: each piece appears on the token that completes it
  const expected = ["", "é", "", "", "€", "", "", "", "😀", "", "", "中", "a"];
  assert.deepEqual(pieces, expected);
  assert.equal(rest, "");
  assert.ok(pieces.every((p) => !p.includes("\ufffd")));
});

test("merged tokens that end inside a character hold back only that character", async () => {
  const ids = [...(await tok.encode("the answer")), ...bytes("€").slice(0, 2)];
  const { pieces, rest } = await stream([ids, bytes("€").slice(2)]);
  assert.deepEqual(pieces, ["the answer", "€"]);
  assert.equal(rest, "");
});

test("invalid bytes stay U+FFFD as a whole decode gives them, going out as soon as they cannot become a character", async () => {
  // stray continuation bytes, then a character cut off by the end of the answer
  const ids = [...bytes("a"), 0x80, 0x80, 0x80, ...bytes("b"), ...bytes("€").slice(0, 2)];
  const { pieces, rest } = await stream(ids.map((id) => [id]));
  assert.deepEqual(pieces, ["a", "", "\ufffd", "\ufffd", "\ufffdb", "", ""]);
  assert.equal(rest, "\ufffd");
  assert.equal(pieces.join("") + rest, await tok.decode(ids, true));
  // making no assumption about the decoder, the whole run waits for text
  assert.deepEqual((await stream(ids.map((id) => [id]), "any")).pieces, ["a", "", "", "", "\ufffd\ufffd\ufffdb", "", ""]);
});

test("any bytes in any grouping: what has gone out is always the start of the whole decode, and adds up to it", async () => {
  const rng = createRng(7);
  const alphabet = [...bytes("aé€😀中 "), 0x80, 0xc3, 0xe2, 0xf0, 0xff];
  for (let trial = 0; trial < 200; trial++) {
    const ids = Array.from({ length: 1 + Math.floor(rng.next() * 24) }, () => alphabet[Math.floor(rng.next() * alphabet.length)] as number);
    const groups: number[][] = [];
    for (let i = 0; i < ids.length; ) {
      const size = 1 + Math.floor(rng.next() * 3);
      groups.push(ids.slice(i, i + size));
      i += size;
    }
    const whole = await tok.decode(ids, true);
    for (const decoder of ["byte-level", "any"] as const) {
      const { pieces, rest } = await stream(groups, decoder);
      pieces.forEach((_, i) => assert.ok(whole.startsWith(pieces.slice(0, i + 1).join("")), JSON.stringify({ ids, decoder, pieces })));
      assert.equal(pieces.join("") + rest, whole, JSON.stringify({ ids, decoder }));
    }
  }
});

test("special tokens are skipped as in the whole decode, and control bytes become storable U+FFFD", async () => {
  const ids = [...bytes("hi"), tok.special.endOfTurn, 0x01, ...bytes("x")];
  const { pieces, rest } = await stream(ids.map((id) => [id]));
  assert.equal(pieces.join("") + rest, "hi\ufffdx");
});
