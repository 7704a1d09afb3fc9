import { useState } from "react";
import type { AssignmentView } from "../../../server/labeling/assignment-view.server.ts";
import { Button } from "../ui.tsx";
import { postJson, type ApiProblem } from "./task-client.ts";

/**
 * The model judge's suggestion, hidden until the labeler asks for it (decision 0035). The
 * ranking is fetched only on reveal, and the server records the reveal: the quality page compares
 * agreement with the judge between tasks where it could be revealed and tasks where it was withheld.
 */
export function JudgeSuggestion({ view }: { view: AssignmentView }) {
  const [tiers, setTiers] = useState<string[][] | null>(view.suggestion.revealed);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  if (view.suggestion.state === "none") return null;
  if (view.suggestion.state === "pending") {
    return <p className="text-sm text-slate-600 dark:text-slate-400" data-testid="suggestion-pending">The model judge has not answered for this task yet.</p>;
  }
  const reveal = async () => {
    const result = await postJson<{ tiers: string[][] }>(`/api/v1/assignments/${view.assignmentId}/suggestion`, {});
    if (result.ok) setTiers(result.data.tiers);
    else setProblem(result.problem);
  };
  return (
    <section aria-label="Model judge's suggestion" className="rounded-lg border border-dashed border-slate-300 p-3 text-sm dark:border-slate-700">
      {tiers ? (
        <p data-testid="suggestion">
          The model judge suggests: <strong>{tiers.map((tier) => tier.join(" = ")).join(" > ")}</strong>{" "}
          <span className="text-slate-600 dark:text-slate-400">(a model&apos;s opinion; rank by the guidelines)</span>
        </p>
      ) : (
        <Button type="button" variant="secondary" onClick={() => void reveal()}>Reveal the model judge&apos;s suggestion</Button>
      )}
      {problem ? <p role="alert" className="mt-2 text-red-700 dark:text-red-400">{problem.detail}</p> : null}
    </section>
  );
}
