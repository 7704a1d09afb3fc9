// A toy task with a verifiable answer, for learning tests of the RL trainers: the prompt is two
// digits, the answer is the second one (its metadata says which), read by the numeric checker. The
// vocabulary is 8 tokens, so a random policy is right about one time in eight, and the exact share
// of right answers under the policy (temperature 1) is a sum of probabilities: no sampling noise.
import * as tf from "@tensorflow/tfjs-core";
import { resolveGptConfig, type GptConfig } from "../contract/gpt-config.ts";
import { lmForward, type LanguageModel } from "../model/lm.ts";
import { type RlPrompt } from "../algorithms/grpo-trainer.ts";
import { type RolloutFn } from "../rollouts/rollout.ts";

export const TOY = { pad: 0, end: 1, digits: 5, vocabSize: 8 } as const;
const CHARS = ["", "", "0", "1", "2", "3", "4", "="];

/** Token of digit d. */
export const digitToken = (d: number): number => 2 + d;

/** Token ids → text, special tokens dropped. */
export const toyDecode = (ids: number[]): string => ids.map((i) => CHARS[i] ?? "").join("");

export const toyModelConfig: GptConfig = resolveGptConfig({ vocabSize: TOY.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16 });

/** Every prompt [a, b] with its reference answer b. */
export function toyPrompts(): RlPrompt[] {
  const out: RlPrompt[] = [];
  for (let a = 0; a < TOY.digits; a++) for (let b = 0; b < TOY.digits; b++) out.push({ ids: [digitToken(a), digitToken(b)], metadata: { answer: b } });
  return out;
}

/** Mean over all prompts of π(right first token | prompt): the expected share of right one-token answers. */
export function toyAccuracy(model: LanguageModel, prompts: RlPrompt[] = toyPrompts()): number {
  return tf.tidy(() => {
    const L = prompts[0]?.ids.length ?? 0;
    const ids = tf.tensor2d(prompts.map((p) => p.ids), [prompts.length, L], "int32");
    const logits = lmForward(model, ids).logits as tf.Tensor3D; // (N, L, V)
    const probs = tf.softmax(tf.squeeze(tf.slice(logits, [0, L - 1, 0], [prompts.length, 1, TOY.vocabSize]), [1])).arraySync() as number[][];
    return prompts.reduce((s, p, i) => s + (probs[i]?.[digitToken(Number(p.metadata["answer"]))] ?? 0), 0) / prompts.length;
  });
}

/** The prompt [2, b], whose answer is b. */
export const toyPrompt = (b: number): RlPrompt => ({ ids: [digitToken(2), digitToken(b)], metadata: { answer: b } });

/**
 * A scripted sampler for the dynamic-sampling tests (the rollout is an injected dependency): a prompt whose answer is 0
 * is answered right by every row (its group scores all alike: no signal); any other prompt right on even rows (row
 * index within the call) and wrong on odd ones. Two-token answers: the digit, then the end token.
 */
export const alikeOnZero: RolloutFn = (_model, prompts) => {
  const completions = prompts.map((p, i) => {
    const b = (p[1] ?? 0) - digitToken(0);
    return [digitToken(b === 0 || i % 2 === 0 ? b : (b + 1) % TOY.digits), TOY.end];
  });
  return { completions, finished: prompts.map(() => true), logprobs: completions.map((c) => c.map(() => 0)), policyMask: completions.map((c) => c.map(() => 1)) };
};
