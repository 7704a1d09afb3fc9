import { useState } from "react";
import { Form } from "react-router";
import { AnnotationAnswer } from "./annotation-answer.tsx";
import { browserInputClass } from "./browser-tabs.tsx";
import { Button, Card } from "./ui.tsx";

type Submission = {
  id: string;
  task_id: string;
  user_id: string;
  name: string;
  email: string;
  payload: Record<string, unknown>;
  shown_order: string[];
  created_at: Date | string;
  review: string | null;
  review_comment: string | null;
};
type Task = { id: string; type: string; gold: boolean; redo_of?: string | null };

const reviewNames: Record<string, string> = { open: "in review", accept: "accepted", override: "overridden", send_back: "sent back" };

/**
 * The item page's submissions, each as people read it, with its review state; a reviewer sends a
 * labeler's ranking or demonstration back from here with a comment (decision 0047: the annotation
 * review's own send-back, so the labeler's redo starts from what they submitted).
 */
export function PromptSubmissions({
  submissions, tasks, completions, userId, sentBack,
}: {
  submissions: Submission[];
  tasks: Task[];
  completions: Array<{ id: string; text: string }>;
  userId: string;
  /** The submission just sent back (the action's answer), so its form closes. */
  sentBack: string | null;
}) {
  const taskOf = new Map(tasks.map((t) => [t.id, t]));
  const textOf = new Map(completions.map((c) => [c.id, c.text]));
  if (submissions.length === 0) return null;
  return (
    <Card title="Submissions">
      <ul className="space-y-4" data-testid="prompt-submissions">
        {submissions.map((s) => {
          const task = taskOf.get(s.task_id);
          const labeled = s.shown_order.map((id, i) => ({ id, label: String.fromCharCode(65 + i), text: textOf.get(id) ?? "" }));
          const canSendBack = task !== undefined && (task.type === "rank" || task.type === "demonstrate") && !task.gold && s.user_id !== userId && (s.review === null || s.review === "open");
          return (
            <li key={s.id} className="border-t border-slate-200 pt-2 dark:border-slate-800" data-testid={`submission-${s.id}`}>
              <p className="text-sm">
                <strong>{s.name}</strong> ({s.email}) · {task?.type ?? "task"} {s.task_id} · {new Date(s.created_at).toLocaleString()}
                {s.review ? ` · ${reviewNames[s.review] ?? s.review}${s.review_comment ? `: ${s.review_comment}` : ""}` : ""}
              </p>
              {task && (task.type === "rank" || task.type === "demonstrate") ? (
                <div className="mt-1"><AnnotationAnswer taskType={task.type} payload={s.payload} completions={labeled} /></div>
              ) : (
                <code className="break-all text-sm">{JSON.stringify(s.payload).slice(0, 300)}</code>
              )}
              {canSendBack && sentBack !== s.id ? <SendBack submissionId={s.id} labeler={s.name} /> : null}
            </li>
          );
        })}
      </ul>
    </Card>
  );
}

function SendBack({ submissionId, labeler }: { submissionId: string; labeler: string }) {
  const [open, setOpen] = useState(false);
  if (!open) {
    return <Button type="button" variant="secondary" className="mt-2" onClick={() => setOpen(true)}>Send back to {labeler}…</Button>;
  }
  return (
    <Form method="post" className="mt-2 space-y-2">
      <input type="hidden" name="intent" value="send_back" />
      <input type="hidden" name="submissionId" value={submissionId} />
      <label htmlFor={`send-back-${submissionId}`} className="block text-sm font-medium">What should {labeler} change? (they see this with the task)</label>
      <textarea id={`send-back-${submissionId}`} name="comment" rows={3} className={`w-full ${browserInputClass}`} />
      <Button type="submit" variant="danger">Send back</Button>
    </Form>
  );
}
