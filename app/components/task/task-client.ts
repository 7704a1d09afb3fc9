/** Browser-side helpers shared by the task pages: API calls, drafts, keyboard. */

export type ApiProblem = { status: number; code: string; detail: string; errors?: Array<{ path: string; message: string }> };

export async function postJson<T>(url: string, body: unknown): Promise<{ ok: true; data: T } | { ok: false; problem: ApiProblem }> {
  let response: Response;
  try {
    response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  } catch {
    return { ok: false, problem: { status: 0, code: "network", detail: "The network failed. Your work is kept on this page; try again." } };
  }
  const text = await response.text();
  const parsed: unknown = text ? JSON.parse(text) : null;
  if (!response.ok) return { ok: false, problem: parsed as ApiProblem };
  return { ok: true, data: parsed as T };
}

/** Drafts live in localStorage per assignment, so a reload or a lost connection loses nothing. */
export function loadDraft<T>(assignmentId: string): T | null {
  try {
    const raw = window.localStorage.getItem(`tandem:draft:${assignmentId}`);
    return raw ? (JSON.parse(raw) as T) : null;
  } catch {
    return null;
  }
}

export function saveDraft(assignmentId: string, draft: unknown): void {
  try {
    window.localStorage.setItem(`tandem:draft:${assignmentId}`, JSON.stringify(draft));
  } catch {
    // A full or disabled storage must not break labeling.
  }
}

export function clearDraft(assignmentId: string): void {
  window.localStorage.removeItem(`tandem:draft:${assignmentId}`);
  window.localStorage.removeItem(`tandem:key:${assignmentId}`);
}

/** One idempotency key per assignment, kept across reloads: a resubmit after a lost reply records once. */
export function idempotencyKey(assignmentId: string): string {
  const storageKey = `tandem:key:${assignmentId}`;
  let key = window.localStorage.getItem(storageKey);
  if (!key) {
    key = crypto.randomUUID();
    window.localStorage.setItem(storageKey, key);
  }
  return key;
}

export function isTyping(target: EventTarget | null): boolean {
  const element = target as HTMLElement | null;
  return !!element && (element.tagName === "TEXTAREA" || element.tagName === "INPUT" || element.tagName === "SELECT" || element.isContentEditable);
}

/**
 * How the task page moves on: React Router's navigate, registered by the task route, so the next
 * task loads without a full page reload (only its data is fetched; the scripts, styles and socket
 * stay). Without one (a page that did not register it) the browser navigates the old way.
 */
let navigateTo: ((url: string) => void | Promise<void>) | null = null;
export function setTaskNavigator(navigate: ((url: string) => void | Promise<void>) | null): void {
  navigateTo = navigate;
}

/** After a submit or skip: the next task of the project, or the project page when none is left. */
export async function goToNextTask(projectId: string): Promise<void> {
  const next = await postJson<{ assignmentId: string } | null>(`/api/v1/projects/${projectId}/next-task`, undefined);
  const url = next.ok && next.data ? `/tasks/${next.data.assignmentId}` : `/projects/${projectId}?empty=1`;
  if (navigateTo) await navigateTo(url);
  else window.location.assign(url);
}

/**
 * Submits the task and, on success, clears its draft and opens the next task. Returns the
 * problem on failure; the page keeps everything the person entered.
 */
export async function submitAndContinue(
  view: { assignmentId: string; project: { id: string } },
  payload: unknown,
  timings: Record<string, unknown>,
): Promise<ApiProblem | null> {
  const result = await postJson(`/api/v1/assignments/${view.assignmentId}/submit`, { idempotencyKey: idempotencyKey(view.assignmentId), payload, timings });
  if (!result.ok) return result.problem;
  clearDraft(view.assignmentId);
  await goToNextTask(view.project.id);
  return null;
}
