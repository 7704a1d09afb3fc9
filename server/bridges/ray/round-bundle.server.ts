/**
 * A round as a self-contained bundle for teams whose models outgrow TensorFlow.js: the round's
 * frozen data in the formats OpenRLHF and TRL read (conversational JSONL in Hugging Face dataset
 * folders), one script per training step for each engine, a run.sh that runs them in order and
 * reports the result on one line, and a README. The same zip is what Tandem uploads to a Ray
 * cluster (decision 0017).
 */
import { createHash } from "node:crypto";
import { strToU8, zipSync, type Zippable } from "fflate";
import type { Db } from "../../db/database.server.ts";
import { AppError } from "../../lib/app-error.ts";
import { bytesOf, datasetOptionsSchema, writeDatasetFiles } from "../formats/dataset-files.server.ts";
import { snapshotParts, snapshotQuery, type DataSnapshot } from "../../rounds/rounds.server.ts";
import { datasetCard, readCard, type CardInfo } from "../formats/hf-layout.ts";
import type { RoundSpec } from "../../../trainer/contract/round.ts";
import { engineSteps, ENGINES, MAPPING_NOTES, UnsupportedStepError, type DatasetCounts, type Engine, type HandOff } from "./engine-steps.ts";

type BundleRound = { id: string; project_id: string; name: string; spec: RoundSpec; data_snapshot: DataSnapshot };

export type RoundBundle = {
  zip: Uint8Array;
  /** sha256 of the zip, hex: names the package on the cluster, so an unchanged bundle is uploaded once. */
  sha256: string;
  files: string[];
  counts: DatasetCounts;
  /** Engines whose scripts are in the bundle (an engine that cannot run the path is left out, with the reason). */
  engines: Engine[];
  skipped: Array<{ engine: Engine; reason: string }>;
};

export async function buildRoundBundle(db: Db, round: BundleRound, handOff: HandOff | null): Promise<RoundBundle> {
  // The data as Hugging Face dataset folders (card + data/train.jsonl, TRL conversational), as the hf export writes them.
  const files: Record<string, string | Uint8Array> = {};
  const counts: DatasetCounts = { sft: 0, preferences: 0, prompts: 0 };
  const parts = snapshotParts(round.data_snapshot, round.project_id);
  for (const dataset of ["sft", "preferences", "prompts"] as const) {
    // Prompts have no labels to select by round: every source project's prompts.
    const sources = dataset === "prompts" ? [...new Set(parts.map((p) => p.projectId))].map((projectId) => ({ projectId, round: undefined })) : parts;
    let card = "";
    const shards: Uint8Array[] = [];
    for (const [i, part] of sources.entries()) {
      const options = datasetOptionsSchema.parse({ ...snapshotQuery(round.data_snapshot, dataset, part.round), format: "conversational", data: "trl" });
      for (const file of await writeDatasetFiles(db, part.projectId, dataset, "hf", options, round.data_snapshot.until)) {
        const bytes = await bytesOf(file.chunks);
        if (file.path !== "README.md") shards.push(bytes);
        else if (i === 0) card = Buffer.from(bytes).toString("utf8");
      }
    }
    counts[dataset] = shards.reduce((n, s) => n + lineCount(s), 0);
    if (shards.length === 1) {
      files[`datasets/${dataset}/README.md`] = card;
      files[`datasets/${dataset}/data/train.jsonl`] = shards[0]!;
      continue;
    }
    // Several projects or rounds: one shard each, and a card that names them all and the total.
    const paths = shards.map((_, i) => `data/train-${String(i).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.jsonl`);
    shards.forEach((bytes, i) => (files[`datasets/${dataset}/${paths[i]}`] = bytes));
    const info = readCard(card).tandem as CardInfo;
    files[`datasets/${dataset}/README.md`] = datasetCard(
      { ...info, counts: { train: counts[dataset] }, filters: { ...info.filters, parts: sources.map((p) => (p.round ? `project ${p.projectId} round ${p.round}` : `project ${p.projectId}`)) } },
      paths.map((path) => ({ split: "train", path })),
    );
  }
  const engines: Engine[] = [];
  const skipped: RoundBundle["skipped"] = [];
  for (const engine of ENGINES) {
    try {
      for (const step of engineSteps(round.spec, engine, counts)) {
        files[`${engine}/${step.script}`] = step.body;
        Object.assign(files, step.files);
      }
      engines.push(engine);
    } catch (error) {
      if (!(error instanceof UnsupportedStepError)) throw error;
      skipped.push({ engine, reason: error.message });
    }
  }
  if (handOff && !engines.includes(handOff.engine)) {
    const reason = skipped.find((s) => s.engine === handOff.engine)?.reason ?? "";
    throw new AppError("validation_failed", "This round cannot run on that engine; nothing was submitted.", [{ path: "handOff.engine", message: reason }]);
  }
  files["run.sh"] = RUN_SH;
  files["tandem-round.json"] = JSON.stringify(
    { round: { id: round.id, project: round.project_id, name: round.name, path: round.spec.path }, spec: round.spec, dataSnapshot: round.data_snapshot, counts, engines, skipped, handOff },
    null,
    2,
  ) + "\n";
  files["README.md"] = readme(round, counts, engines, skipped);

  const zippable: Zippable = {};
  // Scripts are executable in the archive (unix mode in the external attributes), data is not.
  // A fixed mtime: the same round and data give the same zip, so a cluster keeps one package.
  for (const [name, content] of Object.entries(files)) {
    zippable[name] = [typeof content === "string" ? strToU8(content) : content, { os: 3, attrs: (name.endsWith(".sh") ? 0o755 : 0o644) << 16, mtime: new Date("2026-01-01T00:00:00Z") }];
  }
  const zip = zipSync(zippable, { level: 6 });
  return { zip, sha256: createHash("sha256").update(zip).digest("hex"), files: Object.keys(files).sort(), counts, engines, skipped };
}

const lineCount = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8").split("\n").filter((l) => l !== "").length;

function readme(round: BundleRound, counts: DatasetCounts, engines: Engine[], skipped: RoundBundle["skipped"]): string {
  return `# Tandem round ${round.id}: ${round.name}

Path: \`${round.spec.path}\` · data snapshot sha256 \`${round.data_snapshot.hash}\` (submissions up to ${round.data_snapshot.until}).

| dataset | rows | folder |
|---|---|---|
| SFT (\`messages\`) | ${counts.sft} | datasets/sft |
| preferences (\`prompt\`/\`chosen\`/\`rejected\`) | ${counts.preferences} | datasets/preferences |
| PPO prompts (\`prompt\`, plus reference answers where prompts have them) | ${counts.prompts} | datasets/prompts |

Each folder is a Hugging Face dataset (a card in README.md, the rows in data/train.jsonl): \`load_dataset("datasets/sft")\`.

## Run it

\`\`\`bash
TANDEM_ENGINE=${engines[0] ?? "openrlhf"} TANDEM_BASE_MODEL=Qwen/Qwen2.5-0.5B-Instruct TANDEM_OUTPUT_DIR=/shared/tandem/round-${round.id} bash run.sh
\`\`\`

- \`TANDEM_ENGINE\`: ${engines.map((e) => `\`${e}\``).join(" or ") || "none fits this path"}.${skipped.map((s) => ` \`${s.engine}\` is left out: ${s.reason}`).join("")}
- \`TANDEM_BASE_MODEL\`: a Hugging Face model id or a path every node can read.
- \`TANDEM_OUTPUT_DIR\`: where each step writes its Hugging Face checkpoint (\`01-sft\`, \`02-dpo\`, …); use storage every node shares.
- \`TANDEM_DRY_RUN=1\` prints the commands instead of running them.

Each step is a script under \`<engine>/\`; \`run.sh\` runs them in order, stops at the first failure and, when all
succeed, prints one line \`TANDEM_RESULT {json}\` naming the final checkpoint. Tandem reads that line from the job's
logs when it submitted the bundle to Ray itself (\`POST /api/jobs/\`), and registers the checkpoint in its model registry.

By hand on a Ray cluster:

\`\`\`bash
ray job submit --address http://HEAD:8265 --working-dir . \\
  --runtime-env-json '{"env_vars": {"TANDEM_ENGINE": "openrlhf", "TANDEM_BASE_MODEL": "…", "TANDEM_OUTPUT_DIR": "…"}}' -- bash run.sh
\`\`\`

## How Tandem's settings map

${MAPPING_NOTES.map((n) => `- ${n}`).join("\n")}

The round's full spec and data snapshot are in \`tandem-round.json\`.
`;
}

/**
 * The entrypoint. Plain bash, so it runs wherever the engine does; the result line is built with
 * printf only (no python needed to report).
 */
const RUN_SH = `#!/usr/bin/env bash
# Generated by Tandem: runs the round's steps with the chosen engine, then prints TANDEM_RESULT.
set -euo pipefail
cd "$(dirname "$0")"
: "\${TANDEM_ENGINE:=openrlhf}"
: "\${TANDEM_BASE_MODEL:?set TANDEM_BASE_MODEL to a Hugging Face model id or a path on the cluster}"
: "\${TANDEM_OUTPUT_DIR:=./tandem-output}"
export TANDEM_ENGINE TANDEM_BASE_MODEL TANDEM_OUTPUT_DIR
if [ ! -d "$TANDEM_ENGINE" ]; then
  echo "run.sh: this bundle has no scripts for engine '$TANDEM_ENGINE' (see README.md)" >&2
  exit 2
fi
mkdir -p "$TANDEM_OUTPUT_DIR"
last=""
for step in "$TANDEM_ENGINE"/[0-9]*.sh; do
  name="$(basename "$step" .sh)"
  echo "TANDEM_STEP start $name"
  if [ "\${TANDEM_DRY_RUN:-0}" = "1" ]; then
    sed -n '4,$p' "$step"
    mkdir -p "$TANDEM_OUTPUT_DIR/$name"
  else
    bash "$step"
  fi
  echo "TANDEM_STEP done $name"
  case "$name" in *-reward) ;; *) last="$name" ;; esac
done
printf 'TANDEM_RESULT {"engine":"%s","checkpoint":"%s","steps":"%s","dryRun":%s}\\n' \\
  "$TANDEM_ENGINE" "$TANDEM_OUTPUT_DIR/$last" "$(ls "$TANDEM_ENGINE" | tr '\\n' ' ' | sed 's/ $//')" \\
  "$([ "\${TANDEM_DRY_RUN:-0}" = "1" ] && echo true || echo false)"
`;
