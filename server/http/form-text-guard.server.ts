/**
 * Page forms (urlencoded POSTs to React Router actions) with NUL, other control characters or
 * lone surrogates are refused with 400 naming the field, before an action can pass the text to
 * PostgreSQL (decision 0022). The JSON API checks its own input per endpoint (422).
 *
 * React Router reads the request body itself, from the Node request stream, so the guard reads
 * the body first and hands React Router a view of the same request whose stream replays it.
 */
import { Readable } from "node:stream";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { AppError } from "../lib/app-error.ts";
import { describeDisallowed } from "../lib/unsafe-text.ts";

const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
/** What createReadableStreamFromReadable (@react-router/node) uses of the request stream. */
const STREAM_MEMBERS = new Set<PropertyKey>(["on", "once", "off", "addListener", "removeListener", "removeAllListeners", "pause", "resume", "destroy", "read", "pipe", "readable", "readableHighWaterMark", "readableEnded", "destroyed", Symbol.asyncIterator]);

/** Wraps the page handler: checked forms reach it with their body replayed. */
export function guardFormText(pages: RequestHandler, limitBytes: number): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!BODY_METHODS.has(req.method) || !req.is("application/x-www-form-urlencoded")) return void pages(req, res, next);
    void readBody(req, limitBytes).then(
      (body) => {
        const params = new URLSearchParams(body.toString("utf8"));
        for (const [name, value] of params) {
          const problem = describeDisallowed(name) ?? describeDisallowed(value);
          if (problem) {
            return next(new AppError("bad_request", `The form field "${name}" contains ${problem}; remove it and send again.`, [{ path: name, message: `Contains ${problem}.` }]));
          }
        }
        pages(replaying(req, body), res, next);
      },
      (error: unknown) => next(error),
    );
  };
}

function readBody(req: Request, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        req.destroy();
        reject(new AppError("payload_too_large", "The form is too large."));
      } else chunks.push(chunk);
    });
    req.once("end", () => resolve(Buffer.concat(chunks)));
    req.once("error", reject);
  });
}

/** The same request (headers, URL, app, …) whose body stream replays `body`. */
function replaying(req: Request, body: Buffer): Request {
  const stream = Readable.from([body]);
  return new Proxy(req, {
    get(target, prop) {
      if (STREAM_MEMBERS.has(prop)) {
        const value = Reflect.get(stream, prop, stream) as unknown;
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(stream) : value;
      }
      // Not bound: `req.app` is itself a function with methods, and Express's methods work
      // through the proxy (their `this.headers` etc. read the request).
      return Reflect.get(target, prop, target) as unknown;
    },
  });
}
