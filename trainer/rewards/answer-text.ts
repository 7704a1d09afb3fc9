// The text a reward reads: the assistant's final answer. In a tool transcript that is what comes
// after the last tool result; without tools, the whole answer. For now the completion's tokens are
// cut at the end of the turn and decoded; the tool-calling conversation parser can replace this
// function (GroupRlDeps.answerText) without changing the trainers.

export type Decode = (ids: number[]) => string | Promise<string>;

/**
 * The tokens after the last inserted (policyMask 0) token, up to the first end token (exclusive),
 * decoded. `decode` should drop special tokens (role markers).
 */
export async function finalAnswerText(completion: number[], policyMask: number[], decode: Decode, endTokens: readonly number[]): Promise<string> {
  let start = 0;
  for (let i = completion.length - 1; i >= 0; i--) {
    if (!policyMask[i]) {
      start = i + 1;
      break;
    }
  }
  const end = new Set(endTokens);
  const tail: number[] = [];
  for (let i = start; i < completion.length; i++) {
    const token = completion[i] ?? -1;
    if (end.has(token)) break;
    tail.push(token);
  }
  return tail.length === 0 ? "" : decode(tail);
}

/**
 * The text the last tool call returned: the last run of inserted (policyMask 0) tokens, decoded
 * without special tokens and trimmed; null when the answer called no tool. The tool-calling
 * conversation parser can replace it (GroupRlDeps.toolResult), as it does answerText.
 */
export async function lastInsertedText(completion: number[], policyMask: number[], decode: Decode): Promise<string | null> {
  let end = -1;
  for (let i = completion.length - 1; i >= 0; i--) {
    if (!policyMask[i]) {
      end = i;
      break;
    }
  }
  if (end === -1) return null;
  let start = end;
  while (start > 0 && !policyMask[start - 1]) start--;
  return (await decode(completion.slice(start, end + 1))).trim();
}
