import compression from "compression";
import zlib from "node:zlib";
import type { RequestHandler } from "express";

/**
 * What is worth compressing: pages, scripts, styles and JSON (the ranking page's JavaScript
 * is about 550 KB raw). Left alone on purpose: event streams (text/event-stream, and the
 * OpenAI-style chat stream) which must reach the client as they are written; downloads
 * (JSONL/Parquet/zip exports, model files) which are streamed with back-pressure, may be
 * fetched by range, and are largely incompressible or consumed by scripts.
 */
const COMPRESSIBLE = /^(text\/html|text\/css|text\/javascript|application\/javascript|application\/json|application\/problem\+json|application\/manifest\+json|image\/svg\+xml)\b/i;

/**
 * gzip or brotli, whichever the client prefers (`compression` negotiates Accept-Encoding and
 * prefers br on a tie). Brotli quality 5: on our biggest chunk (215 KB) it takes about what
 * gzip -6 takes (16 ms) and is 5 % smaller, where the package's default 4 is no smaller than
 * gzip and 8+ costs 6–60× the time (decision 0026).
 * Responses under 1 KB go out as they are: the headers would cost more than they save.
 */
export function compressResponses(): RequestHandler {
  return compression({
    threshold: 1024,
    brotli: { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } },
    filter: (_req, res) => COMPRESSIBLE.test(String(res.getHeader("Content-Type") ?? "")),
  });
}
