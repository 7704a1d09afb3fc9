import assert from "node:assert/strict";
import type { HttpClient } from "./test-server.ts";

/** The assignment view a labeler's client sees (the fields tests read). */
export type TaskView = {
  assignmentId: string;
  taskId: string;
  taskType: string;
  messages: Array<{ role?: string; content: string }>;
  /** messages: the transcript with tool calls and results, null for a plain completion. */
  completions: Array<{ id: string; label: string; text: string; messages?: Array<{ role: string }> | null }>;
};

/** Claims the next task over the API, as a labeler's browser would, and opens it; null when the queue is empty. */
export async function takeTask(client: HttpClient, projectId: string): Promise<TaskView | null> {
  const claim = await client.json("POST", `/api/v1/projects/${projectId}/next-task`);
  assert.equal(claim.status, 200);
  const body = (await claim.json()) as { assignmentId: string } | null;
  if (!body) return null;
  return (await (await client.json("GET", `/api/v1/assignments/${body.assignmentId}`)).json()) as TaskView;
}
