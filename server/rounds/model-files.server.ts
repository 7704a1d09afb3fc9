/**
 * Where checkpoint files live on the server: TANDEM_DATA_DIR/models/<key>/ for registered
 * models, TANDEM_DATA_DIR/staging/job-<id>-<attempt>/ while a trainer uploads. A model is
 * registered by renaming its staging folder into place, so a model folder is never half full.
 */
import { createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { JOB_OUTPUT_FILES, RESUME_UPLOAD_FILES, type JobOutputFile, type ResumeFile } from "../../trainer/contract/round.ts";
import { AppError } from "../lib/app-error.ts";

export const modelsDir = (dataDir: string) => path.join(dataDir, "models");
export const modelDir = (dataDir: string, storageKey: string) => path.join(modelsDir(dataDir), storageKey);
export const stagingDir = (dataDir: string, jobId: string, attempt: number) => path.join(dataDir, "staging", `job-${jobId}-${attempt}`);
/** A running job's latest periodic checkpoint (`latest/`), and the attempt's upload in progress. */
export const resumeDir = (dataDir: string, jobId: string) => path.join(dataDir, "resume", `job-${jobId}`);
export const resumeIncomingDir = (dataDir: string, jobId: string, attempt: number) => path.join(resumeDir(dataDir, jobId), `incoming-${attempt}`);

export function outputFileName(name: string): JobOutputFile {
  if (!(JOB_OUTPUT_FILES as readonly string[]).includes(name)) {
    throw new AppError("bad_request", `Unknown file ${JSON.stringify(name)}; a job uploads ${JOB_OUTPUT_FILES.join(", ")}.`);
  }
  return name as JobOutputFile;
}

export function resumeFileName(name: string): ResumeFile {
  if (!(RESUME_UPLOAD_FILES as readonly string[]).includes(name)) {
    throw new AppError("bad_request", `Unknown checkpoint file ${JSON.stringify(name)}; a checkpoint is ${RESUME_UPLOAD_FILES.join(", ")}.`);
  }
  return name as ResumeFile;
}

/**
 * Streams an upload to disk under a temporary name; the real name appears only when it is whole.
 * Bytes are counted as they arrive, so a chunked upload (no Content-Length) is held to the limit too.
 */
export async function writeUpload(dir: string, name: JobOutputFile | ResumeFile, body: Readable, maxBytes: number): Promise<number> {
  await fs.mkdir(dir, { recursive: true });
  const target = path.join(dir, name);
  const temporary = `${target}.part`;
  let bytes = 0;
  try {
    await pipeline(
      body,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          bytes += chunk.length;
          if (bytes > maxBytes) throw new AppError("payload_too_large", `${name} is larger than the upload limit (TANDEM_MODEL_UPLOAD_LIMIT).`);
          yield chunk;
        }
      },
      createWriteStream(temporary),
    );
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
  await fs.rename(temporary, target);
  return bytes;
}

export async function readIfPresent(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

export async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}

/** The files of a registered model that may be downloaded (the optimizer state stays behind). */
export const MODEL_FILES = ["model.safetensors", "manifest.json", "tokenizer.json"] as const;
