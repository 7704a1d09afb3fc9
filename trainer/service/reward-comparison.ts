// The reward model's verdict on new vs previous policy: for every prompt both answered, one pair
// (chosen = the new policy's first sample, rejected = the previous policy's). The eval command's
// reward-model accuracy on these pairs (ties ½) is then the RM win rate of the new policy.
// A tool-using sample goes in as its whole transcript (calls and results), as the reward model
// reads them in training.
type SampleLine = { line: number; completion: string; messages?: Array<{ role: string; tool_calls?: unknown }> };

/** What the pair holds for a sample: the transcript when tools were used, else the answer text. */
const answerOf = (sample: SampleLine): unknown =>
  sample.messages?.some((m) => m.role === "tool" || m.tool_calls !== undefined) ? sample.messages : sample.completion;

export function rewardComparisonPairs(promptsJsonl: string, policySamplesJsonl: string, baselineSamplesJsonl: string): string {
  const prompts = promptsJsonl.split("\n").filter((l) => l.trim()).map((l) => (JSON.parse(l) as { prompt: unknown }).prompt);
  const firstByLine = (jsonl: string) => {
    const first = new Map<number, unknown>();
    for (const text of jsonl.split("\n")) {
      if (!text.trim()) continue;
      const sample = JSON.parse(text) as SampleLine;
      // An empty answer cannot be scored as an assistant turn; the next one of that prompt stands in.
      if (!first.has(sample.line) && sample.completion.trim() !== "") first.set(sample.line, answerOf(sample));
    }
    return first;
  };
  const policy = firstByLine(policySamplesJsonl);
  const baseline = firstByLine(baselineSamplesJsonl);
  const pairs: string[] = [];
  prompts.forEach((prompt, i) => {
    const chosen = policy.get(i + 1);
    const rejected = baseline.get(i + 1);
    if (chosen !== undefined && rejected !== undefined) pairs.push(JSON.stringify({ prompt, chosen, rejected }));
  });
  return pairs.length > 0 ? pairs.join("\n") + "\n" : "";
}
