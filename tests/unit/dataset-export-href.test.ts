import assert from "node:assert/strict";
import { test } from "node:test";
import { datasetExportHref } from "../../app/components/dataset-export.tsx";

test("the project page's dataset download links name the format in the path and the options in the query", () => {
  const base = "/api/v1/projects/7/exports";
  assert.equal(datasetExportHref("7", "trl", "sft", false), `${base}/trl/sft.jsonl?format=standard`);
  assert.equal(datasetExportHref("7", "openrlhf", "preferences", true, "chosenKey=good&rejectedKey=bad"), `${base}/openrlhf/preferences.jsonl?chosenKey=good&rejectedKey=bad&chatTemplate=true`);
  assert.equal(datasetExportHref("7", "openrlhf", "sft", true, "?chatTemplate=false"), `${base}/openrlhf/sft.jsonl?chatTemplate=false`);
  assert.equal(datasetExportHref("7", "verl", "prompts", true), `${base}/verl/prompts.parquet`);
  assert.equal(datasetExportHref("7", "hf", "prompts", true), `${base}/hf/prompts.zip?data=verl&format=conversational`);
  assert.equal(datasetExportHref("7", "hf", "unpaired", false, "round=3"), `${base}/hf/unpaired.zip?round=3&format=standard`);
});
