import { demonstrationMessages } from "../../server/labeling/demonstration.ts";
import { CompletionTranscript } from "./completion-transcript.tsx";

type Completion = { id: string; label: string; text: string };

/**
 * A labeler's (or a reviewer's) answer as people read it (decision 0044): a ranking as its tiers, best first, each
 * completion by the letter the labeler saw it under (ties share a tier); a demonstration as its conversation, tool
 * calls and results rendered as the task pages render them. Text is escaped by React / the safe Markdown.
 */
export function AnnotationAnswer({ taskType, payload, completions, testId }: { taskType: string; payload: Record<string, unknown>; completions: Completion[]; testId?: string }) {
  if (taskType === "rank") {
    const ranking = payload.ranking as { tiers?: string[][]; notRankable?: boolean } | undefined;
    const byId = new Map(completions.map((c) => [c.id, c]));
    if (ranking?.notRankable) return <p data-testid={testId}>Marked as not rankable.</p>;
    return (
      <ol className="space-y-1" data-testid={testId} aria-label="Ranking, best first">
        {(ranking?.tiers ?? []).map((tier, i) => (
          <li key={i} className="flex gap-2 text-sm">
            <span className="font-semibold">{i + 1}.</span>
            <span>
              {tier.map((id) => `${byId.get(id)?.label ?? "?"} (${truncate(byId.get(id)?.text ?? id)})`).join(" = ")}
              {tier.length > 1 ? <span className="ml-1 italic">tie</span> : null}
            </span>
          </li>
        ))}
      </ol>
    );
  }
  return (
    <div data-testid={testId}>
      <CompletionTranscript text={String(payload.text ?? "")} messages={demonstrationMessages(payload)} />
    </div>
  );
}

const truncate = (text: string) => (text.length > 60 ? `${text.slice(0, 57)}…` : text);
