// The text of a growing token sequence, handed out in pieces as tokens arrive (streamed answers,
// decision 0052). A byte-level tokenizer splits characters: "é" is two bytes, an emoji four, and
// each byte may be a token of its own. Decoding a prefix that ends inside a character gives U+FFFD
// for the unfinished bytes, so that U+FFFD is held back until a later token shows whether the
// character completes (it then decodes whole) or was really invalid (the U+FFFD stays).
//
// How much to hold back depends on the decoder. A byte-level one (GPT-2's, Tandem's: lossy UTF-8
// over all the bytes) gives one U+FFFD for an unfinished character and one per invalid sequence
// before it, so only the last U+FFFD can still change: an untrained model that writes invalid
// bytes for a thousand tokens still streams them. A byte-fallback one (SentencePiece) replaces a
// whole group of byte tokens with U+FFFD while any of it is unfinished, so there the whole trailing
// run of U+FFFD waits.
//
// Each step decodes the whole sequence with the model's own tokenizer rather than mapping tokens
// to bytes here: the pieces then add up to exactly what the non-streamed answer decodes to, for
// Tandem's byte-level BPE and for imported tokenizers (SentencePiece byte fallback, a leading
// space stripped) alike, storable-text replacements included. It costs one decode of the
// sequence per step — microseconds of native code per token next to a forward pass.

export type Decode = (ids: number[]) => Promise<string>;

/** "byte-level": lossy UTF-8 over the bytes; "any": make no assumption (byte fallback and others). */
export type DecoderKind = "byte-level" | "any";

/** Trailing U+FFFD that may still become a character, by decoder. */
const UNFINISHED: Record<DecoderKind, RegExp> = { "byte-level": /\uFFFD$/u, any: /\uFFFD+$/u };

export class TextStream {
  private readonly ids: number[] = [];
  private sent = "";

  constructor(
    private readonly decode: Decode,
    private readonly decoder: DecoderKind,
  ) {}

  /** Adds tokens; nothing is decoded until `settled` or `end`. */
  add(ids: readonly number[]): void {
    this.ids.push(...ids);
  }

  get size(): number {
    return this.ids.length;
  }

  /** The text handed out so far. */
  get text(): string {
    return this.sent;
  }

  /** New text that can no longer change: everything decoded, less an unfinished character at the end. */
  async settled(): Promise<string> {
    if (this.ids.length === 0) return "";
    return this.take((await this.decode(this.ids)).replace(UNFINISHED[this.decoder], ""));
  }

  /** The rest, once the sequence is complete: an unfinished character stays U+FFFD, as a whole decode gives it. */
  async end(): Promise<string> {
    if (this.ids.length === 0) return "";
    return this.take(await this.decode(this.ids));
  }

  private take(text: string): string {
    // Text already sent cannot be taken back. A byte-fallback decoder can still change it (a group
    // of byte tokens that ends well-formed and then goes on invalid); nothing more goes out then
    // until the text agrees again, rather than wrong text.
    if (!text.startsWith(this.sent)) return "";
    const piece = text.slice(this.sent.length);
    this.sent = text;
    return piece;
  }
}
