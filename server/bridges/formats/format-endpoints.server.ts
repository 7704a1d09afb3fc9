import { z } from "zod";
import { endpoint, type AnyEndpoint } from "../../api/endpoint.server.ts";
import { recordAudit } from "../../auth/audit.server.ts";
import { publishCounters } from "../../labeling/live-counters.server.ts";
import { getProject } from "../../labeling/projects.server.ts";
import { parseSize } from "../../lib/size.ts";
import { datasetKinds } from "./dataset-records.ts";
import { datasetOptionsSchema, datasetZip, fileFormats, writeDatasetFiles, type DatasetOptions, type FileFormat } from "./dataset-files.server.ts";
import { datasetImportQuerySchema, importDataset, readUpload } from "./import-dataset.server.ts";

const id = z.string().regex(/^\d{1,18}$/, "must be a numeric id");
const dataset = z.enum(datasetKinds);

async function exportFiles(ctx: Parameters<AnyEndpoint["handler"]>[0]["ctx"], projectId: string, kind: z.infer<typeof dataset>, format: FileFormat, query: DatasetOptions) {
  await getProject(ctx.db, projectId);
  const files = await writeDatasetFiles(ctx.db, projectId, kind, format, query);
  await recordAudit(ctx.db, { actor: ctx.actor, action: "export.dataset", target: `project:${projectId}`, details: { ...query, dataset: kind, fileFormat: format } });
  return files;
}

/** Dataset formats in and out (decision 0013): TRL, OpenRLHF, veRL Parquet and the Hugging Face layout. */
export const formatEndpoints: AnyEndpoint[] = [
  endpoint({
    method: "get",
    path: "/projects/:id/exports/:format/:dataset.jsonl",
    summary:
      "A dataset (preferences, sft, unpaired, prompts) as TRL JSONL (format=conversational|standard) or OpenRLHF JSONL (inputKey, outputKey, promptKey, chosenKey, rejectedKey, labelKey, chatTemplate), streamed; takes the export filters",
    access: ["researcher", "trainer"],
    params: z.object({ id, format: z.enum(["trl", "openrlhf"]), dataset }),
    query: datasetOptionsSchema,
    response: z.any(),
    stream: { contentType: "application/x-ndjson; charset=utf-8", filename: (p: { id: string; format: string; dataset: string }) => `project-${p.id}-${p.dataset}-${p.format}.jsonl` },
    handler: async ({ ctx, params, query }) => (await exportFiles(ctx, params.id, params.dataset, params.format, query))[0]!.chunks,
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/exports/verl/prompts.parquet",
    summary: "The prompts with their reference answers as veRL Parquet (data_source, prompt, ability, reward_model, extra_info), streamed in row groups",
    access: ["researcher", "trainer"],
    params: z.object({ id }),
    query: datasetOptionsSchema,
    response: z.any(),
    stream: { contentType: "application/vnd.apache.parquet", filename: (p: { id: string }) => `project-${p.id}-prompts-verl.parquet` },
    handler: async ({ ctx, params, query }) => (await exportFiles(ctx, params.id, "prompts", "verl", query))[0]!.chunks,
  }),
  endpoint({
    method: "get",
    path: "/projects/:id/exports/hf/:dataset.zip",
    summary: `A dataset in the Hugging Face datasets layout, zipped: README.md (dataset card: project, round, filters, counts) and data/train.jsonl or .parquet (data=trl|openrlhf|verl); at most 200,000 records`,
    access: ["researcher", "trainer"],
    params: z.object({ id, dataset }),
    query: datasetOptionsSchema,
    response: z.any(),
    stream: { contentType: "application/zip", filename: (p: { id: string; dataset: string }) => `project-${p.id}-${p.dataset}-hf.zip` },
    handler: async ({ ctx, params, query }) => {
      const files = await exportFiles(ctx, params.id, params.dataset, "hf", query);
      const zip = await datasetZip(files, `project-${params.id}-${params.dataset}`);
      return (async function* () {
        yield zip;
      })();
    },
  }),
  endpoint({
    method: "post",
    path: "/projects/:id/imports/:format",
    summary:
      "Import a dataset file (the request body, application/octet-stream): TRL or OpenRLHF JSONL/Parquet, veRL Parquet, or a Hugging Face dataset .zip. A preview report, or with commit=true the import; a file with invalid records imports nothing unless importValidLines=true",
    access: "researcher",
    params: z.object({ id, format: z.enum(fileFormats) }),
    query: datasetImportQuerySchema,
    body: z.any(),
    upload: true,
    response: z.record(z.string(), z.unknown()),
    handler: async ({ ctx, params, query, actor, request }) => {
      const project = await getProject(ctx.db, params.id);
      const bytes = await readUpload(request!, parseSize(ctx.config.TANDEM_IMPORT_LIMIT), ctx.config.TANDEM_IMPORT_LIMIT);
      const report = await importDataset(ctx.db, actor!.user.id, project, params.format, bytes, query);
      if (report.committed) void publishCounters(ctx, project.id);
      return report;
    },
  }),
];
