/**
 * The task pages' form state (their drafts), and a sent-back redo's starting draft: what the
 * labeler submitted before, put back into the form they submitted it from (decision 0044: nothing
 * they typed is lost when a reviewer sends it back). Pure, so it is tested without a browser.
 */

/** One tool call a reply makes before its final words, and the result the labeler writes for it. */
export type ToolStep = { tool: string; input: string; result: string };
/** One more exchange after the reply: the user's next message and the assistant's answer to it. */
export type Exchange = { user: string; assistant: string; steps?: ToolStep[] };
/** The demonstration form. `turns` and `steps` are optional because older drafts have only `text`. */
export type DemonstrationDraft = { text: string; steps?: ToolStep[]; turns?: Exchange[] };

export type RankingDraft = {
  /** Rank slot per completion; a completion not in here is not ranked yet (ranking-slots.ts). */
  ranks: Record<string, number>;
  strengths: Record<number, number>;
  quality: Record<string, number>;
  flags: Record<string, string[]>;
  rationale: string;
  notRankable: boolean;
};

/** The one argument a labeler writes for a known tool; other tools take their arguments as a JSON object. */
export const argumentFields: Record<string, { key: string; label: string; placeholder: string }> = {
  calculator: { key: "expression", label: "Expression", placeholder: "e.g. 37 * 4" },
};

/** Nothing ranked: ranks pre-filled in the shown order anchor people to that order. */
export const emptyRankingDraft = (): RankingDraft => ({ ranks: {}, strengths: {}, quality: {}, flags: {}, rationale: "", notRankable: false });

type Message = { role?: unknown; content?: unknown; tool_calls?: unknown; toolTurns?: unknown };
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const asRecord = (value: unknown): Record<string, unknown> => (value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {});

/** A submitted ranking back in the form: each tier a rank (ties share one), its strengths, scores, flags and rationale. */
export function rankingDraftFrom(previous: Record<string, unknown>, shownIds: readonly string[]): RankingDraft {
  const draft = emptyRankingDraft();
  const ranking = asRecord(previous.ranking);
  const shown = new Set(shownIds);
  if (ranking.notRankable === true) draft.notRankable = true;
  else {
    asArray(ranking.tiers).forEach((tier, i) => {
      for (const id of asArray(tier)) if (typeof id === "string" && shown.has(id)) draft.ranks[id] = i + 1;
    });
    asArray(ranking.strengths).forEach((strength, i) => {
      if (typeof strength === "number") draft.strengths[i] = strength;
    });
  }
  for (const [id, score] of Object.entries(asRecord(previous.quality))) if (shown.has(id) && typeof score === "number") draft.quality[id] = score;
  for (const [id, flags] of Object.entries(asRecord(previous.flags))) {
    const ids = asArray(flags).filter((f): f is string => typeof f === "string");
    if (shown.has(id) && ids.length > 0) draft.flags[id] = ids;
  }
  if (typeof previous.rationale === "string") draft.rationale = previous.rationale;
  return draft;
}

/** A reply's tool turns (assistant call, tool result, …) back as the form's steps. */
function stepsOf(toolTurns: unknown): ToolStep[] {
  const steps: ToolStep[] = [];
  let answered = 0;
  for (const message of asArray(toolTurns) as Message[]) {
    if (message.role === "assistant") {
      for (const call of asArray(message.tool_calls)) {
        const fn = asRecord(asRecord(call).function);
        const tool = typeof fn.name === "string" ? fn.name : "";
        const args = asRecord(fn.arguments);
        const field = argumentFields[tool];
        steps.push({ tool, input: field ? String(args[field.key] ?? "") : JSON.stringify(args), result: "" });
      }
    } else if (message.role === "tool") {
      // Results answer the calls in order.
      if (answered < steps.length) steps[answered++]!.result = typeof message.content === "string" ? message.content : "";
    }
  }
  return steps;
}

/** A submitted demonstration back in the form: the reply, its tool calls, and every later exchange. */
export function demonstrationDraftFrom(previous: Record<string, unknown>): DemonstrationDraft {
  const turns: Exchange[] = [];
  const continuation = asArray(previous.continuation) as Message[];
  for (let i = 0; i + 1 < continuation.length; i += 2) {
    const user = continuation[i]!;
    const assistant = continuation[i + 1]!;
    const steps = stepsOf(assistant.toolTurns);
    turns.push({ user: String(user.content ?? ""), assistant: String(assistant.content ?? ""), ...(steps.length > 0 ? { steps } : {}) });
  }
  const steps = stepsOf(previous.toolTurns);
  return { text: typeof previous.text === "string" ? previous.text : "", ...(steps.length > 0 ? { steps } : {}), turns };
}
