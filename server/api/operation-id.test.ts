import assert from "node:assert/strict";
import { test } from "node:test";
import { operationIdFor } from "./operation-id.ts";

test("operationIds read as method names: list/get/create/update/delete/post + the path's words", () => {
  assert.equal(operationIdFor("get", "/projects"), "listProjects");
  assert.equal(operationIdFor("post", "/projects"), "createProject");
  assert.equal(operationIdFor("get", "/projects/:id"), "getProject");
  assert.equal(operationIdFor("put", "/projects/:id"), "putProject");
  assert.equal(operationIdFor("patch", "/users/:id"), "updateUser");
  assert.equal(operationIdFor("delete", "/external-endpoints/:id"), "deleteExternalEndpoint");
  assert.equal(operationIdFor("get", "/projects/:id/quality"), "getProjectQuality");
  assert.equal(operationIdFor("post", "/projects/:id/qa-runs"), "createProjectQaRun");
  assert.equal(operationIdFor("post", "/rounds/:id/cancel"), "postRoundCancel");
  assert.equal(operationIdFor("get", "/trainer/jobs/:id/prompts.jsonl"), "getTrainerJobPromptsJsonl");
  assert.equal(operationIdFor("get", "/models/:id/files/:name"), "getModelFile");
  assert.equal(operationIdFor("get", "/projects/:id/counters"), "getProjectCounters", "a named exception");
});
