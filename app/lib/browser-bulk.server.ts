import { data, type AppLoadContext } from "react-router";
import { exclusionSchema, promptFilterSchema, setExclusion, type PromptSelection } from "../../server/labeling/browser.server.ts";
import { exportSelection, selectionExportSchema } from "../../server/labeling/browser-export.server.ts";
import { moveToReview, reviewMoveSchema } from "../../server/labeling/prompt-review.server.ts";
import { AppError } from "../../server/lib/app-error.ts";
import { bulkKinds, type BulkKind, type PendingBulk } from "../components/browser-bulk.tsx";

/**
 * The prompt listing's bulk actions from its forms (decisions 0032, 0047): the same server
 * functions as the API, in two steps — count (nothing changes), then apply at that count.
 */
export type BulkResult = { error: string | null; pending: PendingBulk | null; done: string | null };

type Parsed = { kind: BulkKind; selection: PromptSelection; confirm: number | undefined; reason: string; echo: Omit<PendingBulk, "count"> };

/** The form's selection (the checked prompts, or the filter it was counted with) and action. */
function parseForm(form: FormData): Parsed | string {
  const kind = String(form.get("bulk") ?? "exclude");
  if (!(kind in bulkKinds)) return "bulk: choose one of the actions.";
  const scope = form.get("scope") === "filter" ? "filter" : "selected";
  const promptIds = form.getAll("promptIds").map(String);
  const filterJson = String(form.get("filter") ?? "{}");
  let selection: PromptSelection;
  if (scope === "filter") {
    let raw: unknown;
    try {
      raw = JSON.parse(filterJson);
    } catch {
      raw = null;
    }
    const filter = promptFilterSchema.safeParse(raw);
    if (!filter.success) return "The filter is not valid; search again.";
    selection = { filter: filter.data };
  } else {
    if (promptIds.length === 0) return "Select at least one prompt, or choose every prompt this filter finds.";
    selection = { promptIds };
  }
  const confirm = form.get("confirm") === null ? undefined : Number(form.get("confirm"));
  const reason = String(form.get("reason") ?? "").trim();
  const echo = { kind: kind as BulkKind, reason, scope, promptIds: scope === "filter" ? [] : promptIds, filter: filterJson, dataset: String(form.get("dataset") ?? ""), format: String(form.get("format") ?? "") } as const;
  return { kind: kind as BulkKind, selection, confirm, reason, echo };
}

const refused = (error: unknown) => {
  if (!(error instanceof AppError) || !["validation_failed", "conflict"].includes(error.code)) throw error;
  const detail = error.fieldErrors.map((e) => `${e.path}: ${e.message}`).join("; ");
  return data<BulkResult>({ error: detail ? `${error.message} ${detail}` : error.message, pending: null, done: null }, { status: error.status });
};

const prompts = (n: number) => `${n} ${n === 1 ? "prompt" : "prompts"}`;

/** Exclusion, review moves, and an export's count (its download is the export route's). */
export async function runBulk(context: AppLoadContext, projectId: string, form: FormData) {
  const parsed = parseForm(form);
  if (typeof parsed === "string") return data<BulkResult>({ error: parsed, pending: null, done: null }, { status: 422 });
  const { kind, selection, confirm, reason, echo } = parsed;
  try {
    let result: { count: number; applied: boolean };
    if (kind === "export") {
      const input = selectionExportSchema.safeParse({ ...selection, dataset: echo.dataset, format: echo.format });
      if (!input.success) throw AppError.fromZod(input.error, "The export is not valid.");
      result = { count: (await exportSelection(context.db, null, projectId, input.data)).count, applied: false };
    } else if (kind === "exclude" || kind === "include") {
      // Through the API's schema: the reason an exclusion needs, ids that are ids, at most BULK_MAX_IDS, a numeric confirm.
      const input = exclusionSchema.safeParse({ exclude: kind === "exclude", ...(reason ? { reason } : {}), ...selection, confirm });
      if (!input.success) throw AppError.fromZod(input.error, "Nothing was changed.");
      result = await setExclusion(context.db, context.actor!, projectId, input.data);
    } else {
      const input = reviewMoveSchema.safeParse({ toReview: kind === "review", ...(reason ? { reason } : {}), ...selection, confirm });
      if (!input.success) throw AppError.fromZod(input.error, "Nothing was changed.");
      result = await moveToReview(context.db, context.actor!, projectId, input.data);
    }
    if (!result.applied) return { error: null, pending: { ...echo, count: result.count }, done: null } satisfies BulkResult;
    const done = {
      exclude: `${prompts(result.count)} left out of training.`,
      include: `${prompts(result.count)} taken back into training.`,
      review: `${prompts(result.count)} moved to review.`,
      release: `${prompts(result.count)} taken out of review.`,
      export: "",
    }[kind];
    return { error: null, pending: null, done } satisfies BulkResult;
  } catch (error) {
    return refused(error);
  }
}

/** The confirmed export, as a file download (the confirm form submits as a document, so the browser saves it). */
export async function downloadSelection(context: AppLoadContext, projectId: string, form: FormData): Promise<Response> {
  const parsed = parseForm(form);
  const input = typeof parsed === "string" ? null : selectionExportSchema.safeParse({ ...parsed.selection, dataset: parsed.echo.dataset, format: parsed.echo.format, confirm: parsed.confirm });
  if (typeof parsed === "string" || !input?.success) {
    const why = typeof parsed === "string" ? parsed : input!.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    return new Response(`The export was refused: ${why}\nGo back to the data browser and count again.`, { status: 422, headers: { "content-type": "text/plain; charset=utf-8" } });
  }
  try {
    const { download } = await exportSelection(context.db, context.actor!, projectId, input.data);
    const encoder = new TextEncoder();
    const chunks = download!.chunks[Symbol.asyncIterator]();
    // Pulled as the browser reads: memory stays flat, as in the API's streamed exports.
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(typeof next.value === "string" ? encoder.encode(next.value) : next.value);
      },
      async cancel() {
        await chunks.return?.();
      },
    });
    return new Response(body, { headers: { "content-type": download!.contentType, "content-disposition": `attachment; filename="${download!.filename}"` } });
  } catch (error) {
    if (!(error instanceof AppError) || !["validation_failed", "conflict", "bad_request"].includes(error.code)) throw error;
    return new Response(`The export was refused: ${error.message}\nGo back to the data browser and count again.`, { status: error.status, headers: { "content-type": "text/plain; charset=utf-8" } });
  }
}
