// Batching prompt + completion token sequences (right padding) for the preference trainers.
// SFT has its own collate (sft-trainer.ts) because its masks come from the chat template.

export interface CompletionRow {
  prompt: number[];
  /** Completion tokens, ending with the end-of-turn token (the template's stop token). */
  completion: number[];
  /**
   * Per completion token, 1 where it is the policy's own (trained, summed into log-probs) and 0
   * where it is not: tool results and the markers around them (chat-template.ts). Default all 1.
   */
  completionMask?: number[];
}

export interface CompletionBatch {
  shape: [number, number];
  inputIds: Int32Array; // (B, T) prompt ++ completion, right-padded
  attentionMask: Int32Array; // (B, T) 1 on real tokens
  completionMask: Int32Array; // (B, T) 1 on the policy's completion tokens (0 on prompt, tool results, padding)
  /** Index of each row's last real token (where a reward model reads its score). */
  lastIndex: Int32Array; // (B)
}

export function collateCompletions(rows: CompletionRow[], padId: number, maxLength?: number): CompletionBatch {
  const B = rows.length;
  const lengths = rows.map((r, i) => {
    const n = r.prompt.length + r.completion.length;
    if (r.completion.length === 0) throw new Error(`row ${i}: empty completion`);
    if (r.completionMask && r.completionMask.length !== r.completion.length) throw new Error(`row ${i}: completion mask of ${r.completionMask.length} for ${r.completion.length} tokens`);
    if (maxLength !== undefined && n > maxLength) throw new Error(`row ${i}: ${n} tokens exceeds maxLength ${maxLength}`);
    return n;
  });
  const T = Math.max(...lengths);
  const inputIds = new Int32Array(B * T).fill(padId);
  const attentionMask = new Int32Array(B * T);
  const completionMask = new Int32Array(B * T);
  const lastIndex = new Int32Array(B);
  rows.forEach((r, b) => {
    [...r.prompt, ...r.completion].forEach((id, t) => {
      inputIds[b * T + t] = id;
      attentionMask[b * T + t] = 1;
      completionMask[b * T + t] = t >= r.prompt.length ? (r.completionMask?.[t - r.prompt.length] ?? 1) : 0;
    });
    lastIndex[b] = (lengths[b] ?? 1) - 1;
  });
  return { shape: [B, T], inputIds, attentionMask, completionMask, lastIndex };
}
