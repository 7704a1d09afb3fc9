import { sql } from "kysely";
import { z } from "zod";
import { AppError } from "../lib/app-error.ts";
import { insertImportMarks } from "./wellbeing/sensitive.server.ts";
import { isPiiKind, redactRecord } from "./import/pii-redaction.ts";
import { recordAudit } from "../auth/audit.server.ts";
import type { Db } from "../db/database.server.ts";
import type { ImportRecord } from "./import/import-record.ts";
import { parseImportFile } from "./import/parse-import-file.ts";
import { planImport, scanRecord, type ImportPlanCounts, type PlannedRecord } from "./import/plan-import.ts";
import { signatureFromBase64, signatureToBase64 } from "./import/minhash.ts";
import { nearDuplicateThresholdProblem, type ProjectSettings } from "./project-settings.ts";
import type { Project } from "./projects.server.ts";
import { insertPrompts } from "./prompts.server.ts";
import { describeProblems, undeclaredToolProblems } from "./transcript.ts";

export const importRequestSchema = z.object({
  content: z.string().min(1, "The file is empty."),
  format: z.enum(["auto", "jsonl", "csv", "json"]).default("auto"),
  filename: z.string().max(200).optional(),
  /** false: only report what would happen (the preview). */
  commit: z.boolean().default(false),
  /** A file with invalid lines imports nothing unless this is set. */
  importValidLines: z.boolean().default(false),
  /** Near duplicates are left out unless this is set; exact duplicates always are. */
  includeNearDuplicates: z.boolean().default(false),
  /**
   * "qa": each record is a question with exactly one answer (completions[0]) for reviewers.
   * "compare": each record has exactly two completions from two different models (A/B tasks).
   */
  purpose: z.enum(["prompts", "qa", "compare"]).default("prompts"),
});
export type ImportRequest = z.infer<typeof importRequestSchema>;

const REPORT_ITEMS = 500;

export type ImportReport = {
  format: string;
  counts: ImportPlanCounts;
  issues: Array<{ line: number; reason: string }>;
  /** Every record that is not plainly new (duplicates, filter hits), first 500. */
  flagged: Array<{ line: number; status: string; duplicateOf: unknown; similarity: number | null; filterHits: string[]; preview: string }>;
  /** gold: how many of the ranking tasks are gold tasks; heldOut: prompts that joined the eval set (no task). */
  committed: { prompts: number; tasks: Record<string, number>; gold: number; heldOut: number } | null;
};

/** A planned import record as the prompt row to store, with its hash and near-duplicate signature. */
export function plannedPrompt(item: PlannedRecord<string>, status: "active" | "review", kind: "prompt" | "qa") {
  return {
    messages: item.record.messages,
    completions: item.record.completions,
    source: item.record.source,
    metadata: item.record.metadata,
    contentHash: item.contentHash,
    minhash: item.signature ? signatureToBase64(item.signature) : "",
    status,
    kind,
    ...(item.record.heldOut ? { heldOut: true } : {}),
  };
}

/**
 * Prompt import: parse and validate every line, find exact and near duplicates against the
 * file and the project, run the content filter, and — only when asked — store the result.
 * A rejected import writes nothing.
 */
export async function importPrompts(db: Db, actorId: string, project: Project, request: ImportRequest): Promise<ImportReport> {
  return importPromptRecords(db, actorId, project, parseImportFile(request.content, request.format, request.filename), request);
}

/** The same import for records another reader parsed (the dataset formats of server/bridges/formats). */
export async function importPromptRecords(
  db: Db,
  actorId: string,
  project: Project,
  parsed: { records: ImportRecord[]; issues: Array<{ line: number; reason: string }>; format: string },
  request: Omit<ImportRequest, "content" | "format">,
): Promise<ImportReport> {
  const thresholdProblem = nearDuplicateThresholdProblem(project.settings.nearDuplicateThreshold);
  if (thresholdProblem) {
    // Settings saved before the threshold was checked on save: say so instead of a 500.
    throw new AppError("validation_failed", `This project's near-duplicate threshold (${project.settings.nearDuplicateThreshold}) cannot be used; change it in the project's settings.`, [
      { path: "settings.nearDuplicateThreshold", message: thresholdProblem },
    ]);
  }
  const existingRows = await db.selectFrom("prompts").select(["id", "content_hash", "minhash"]).where("project_id", "=", project.id).execute();
  // Q&A for review: one answer per question, or the line is refused like any invalid line.
  const issues = [...parsed.issues];
  const records = parsed.records.filter((record) => {
    const problem =
      purposeProblem(request.purpose, record.completions) ?? goldProblem(request.purpose, record, project) ?? toolProblem(record, project) ??
      (record.heldOut && request.purpose !== "prompts" ? `"split": "eval" puts a prompt in the eval set; this import is for ${request.purpose === "qa" ? "Q&A review" : "A/B comparisons"}` : null);
    if (problem) issues.push({ line: record.line, reason: problem });
    return problem === null;
  });
  issues.sort((a, b) => a.line - b.line);
  const plan = planImport<string>({
    records,
    issues,
    existing: {
      hashes: new Map(existingRows.map((r) => [r.content_hash, r.id])),
      signatures: existingRows.filter((r) => r.minhash).map((r) => ({ id: r.id, signature: signatureFromBase64(r.minhash) })),
    },
    nearDuplicateThreshold: project.settings.nearDuplicateThreshold,
    filter: project.settings.contentFilter,
  });
  const report: ImportReport = {
    format: parsed.format,
    counts: plan.counts,
    issues: plan.issues.slice(0, REPORT_ITEMS),
    flagged: plan.items.filter((i) => i.status !== "new").slice(0, REPORT_ITEMS).map(summarize),
    committed: null,
  };
  if (!request.commit) return report;

  if (plan.issues.length > 0 && !request.importValidLines) {
    throw new AppError(
      "validation_failed",
      `The file has ${plan.counts.invalidLines || plan.issues.length} invalid lines; nothing was imported. Fix them, or choose to import the valid lines only.`,
      plan.issues.slice(0, 50).map((issue) => ({ path: `line ${issue.line}`, message: issue.reason })),
    );
  }
  const keep = (item: PlannedRecord<string>) =>
    item.status === "new" || item.status === "filtered" || (request.includeNearDuplicates && item.status.startsWith("near_duplicate"));
  const originals: Array<ImportRecord | null> = [];
  const toStore = plan.items.filter(keep).map((planned) => {
    const { item, review, original } = applyPiiRedaction(planned, project.settings);
    originals.push(original);
    return {
      // Any filter hit goes to review (unless only PII that was masked), also on a near duplicate the researcher chose to keep.
      ...plannedPrompt(item, review || request.purpose === "qa" ? "review" : "active", request.purpose === "qa" ? "qa" : "prompt"),
      ...(item.record.gold ? { gold: item.record.gold } : {}),
      ...(request.purpose === "compare" ? { taskType: "compare" as const } : {}),
    };
  });
  try {
    const result = await db.transaction().execute(async (trx) => {
      const stored = await insertPrompts(trx, project.id, project.settings, toStore, null);
      // Sensitive marks from the records and the classifier's scores (decision 0036).
      await insertImportMarks(trx, stored.promptIds, toStore.map((p) => p.metadata), project.settings.wellbeing);
      // Unmasked originals, kept apart only when the project says so (decision 0037).
      const kept = stored.promptIds.flatMap((id, i) => (originals[i] ? [{ prompt_id: id, messages: JSON.stringify(originals[i].messages), completions: JSON.stringify(originals[i].completions) }] : []));
      if (kept.length > 0) await trx.insertInto("prompt_originals").values(kept).execute();
      await recordAudit(trx, {
        actorUserId: actorId,
        action: "prompts.import",
        target: `project:${project.id}`,
        details: { filename: request.filename ?? null, prompts: stored.promptIds.length, ...stored.tasks },
      });
      return stored;
    });
    report.committed = { prompts: result.promptIds.length, tasks: result.tasks, gold: toStore.filter((p) => p.gold).length, heldOut: toStore.filter((p) => p.heldOut).length };
    // After a bulk load the planner's row estimates are stale until autovacuum runs; queue and
    // export queries joined on these tables then pick nested loops over thousands of rows.
    if (result.promptIds.length >= 1000) await sql`analyze prompts, completions, tasks`.execute(db);
  } catch (error) {
    // The unique (project, content hash) index caught a prompt another import added meanwhile.
    if ((error as { code?: string }).code === "23505") throw new AppError("conflict", "Another import added some of these prompts meanwhile; nothing was imported. Preview again.");
    throw error;
  }
  return report;
}

/** What a record needs for the chosen purpose; null when it has it. */
function purposeProblem(purpose: ImportRequest["purpose"], completions: Array<{ model: string | null }>): string | null {
  // One completion is neither a ranking (which needs two) nor a demonstration (which has none):
  // turning it into a demonstration silently dropped the completion the researcher sent.
  if (purpose === "prompts" && completions.length === 1) {
    return `a ranking task needs at least two completions (found 1); leave "completions" out for a demonstration task, or import it as Q&A for review`;
  }
  if (purpose === "qa" && completions.length !== 1) {
    return `a Q&A for review needs exactly one answer in "completions" (found ${completions.length})`;
  }
  if (purpose === "compare") {
    if (completions.length !== 2) return `an A/B comparison needs exactly two completions (found ${completions.length})`;
    const [a, b] = completions;
    if (!a!.model || !b!.model || a!.model === b!.model) return "an A/B comparison needs the two completions' models, and they must differ";
  }
  return null;
}

/**
 * A gold answer needs a ranking task that shows every completion it ranks, and must reach
 * labelers as it is: a held-back prompt becomes a plain task once a reviewer releases it.
 */
function goldProblem(purpose: ImportRequest["purpose"], record: ImportRecord, project: Project): string | null {
  if (!record.gold) return null;
  if (purpose !== "prompts") return `"gold" belongs to ranking tasks; this import is for ${purpose === "qa" ? "Q&A review" : "A/B comparisons"}`;
  if (record.completions.length > project.settings.k) {
    return `a gold task shows all its completions, and this project shows K = ${project.settings.k} (found ${record.completions.length})`;
  }
  const hits = scanRecord(record, project.settings.contentFilter);
  if (hits.length > 0) return `a gold task goes straight to labelers, but the content filter would hold it for review (${hits.map((h) => `${h.kind} in ${h.field}`).join(", ")})`;
  return null;
}

/** A completion that calls a tool the project does not declare (settings.tools) is refused, naming the call. */
function toolProblem(record: ImportRecord, project: Project): string | null {
  const problems = record.completions.flatMap((c, index) => (c.messages ? [describeProblems(undeclaredToolProblems(c.messages, project.settings.tools), `completions[${index}]`)] : []));
  const found = problems.filter((p) => p !== "");
  return found.length > 0 ? found.join("; ") : null;
}

function summarize(item: PlannedRecord<string>): ImportReport["flagged"][number] {
  const lastUser = [...item.record.messages].reverse().find((m) => m.role === "user")?.content ?? "";
  return {
    line: item.line,
    status: item.status,
    duplicateOf: item.duplicateOf,
    similarity: item.similarity,
    filterHits: item.filterHits.map((hit) => `${hit.kind} in ${hit.field}`),
    preview: lastUser.slice(0, 160),
  };
}

/**
 * What the project's PII setting does to one planned record (decision 0037). "review" (the
 * default) leaves it as it was: any hit goes to review. "mask" replaces PII with typed
 * placeholders and lets the prompt go to labelers — unless other filter hits remain, or the
 * masking left a user turn with nothing but placeholders, which go to review. "both" masks and
 * sends to review. `original` is the unmasked record when the project keeps originals.
 */
export function applyPiiRedaction(item: PlannedRecord<string>, settings: ProjectSettings): { item: PlannedRecord<string>; review: boolean; original: ImportRecord | null } {
  const { mode, keepOriginal } = settings.piiRedaction;
  const pii = item.filterHits.some((h) => isPiiKind(h.kind));
  if (mode === "review" || !pii) return { item, review: item.filterHits.length > 0, original: null };
  const redacted = redactRecord(item.record, settings.contentFilter);
  const otherHits = item.filterHits.some((h) => !isPiiKind(h.kind));
  return {
    item: { ...item, record: redacted.record },
    review: mode === "both" || otherHits || redacted.emptied,
    original: keepOriginal && redacted.masked > 0 ? item.record : null,
  };
}
