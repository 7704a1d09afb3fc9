// Activation recomputation ("gradient checkpointing", Chen et al. 2016, "Training Deep Nets with
// Sublinear Memory Cost"): a transformer block keeps only its input for the backward pass and runs
// its forward again there, instead of keeping every intermediate (q, k, v, attention probabilities,
// the 4C-wide MLP activations …) of every block from the forward pass to the end of the backward.
// Peak activation memory drops from L blocks' worth to one block's worth plus L block inputs, for
// about one extra forward pass of compute (≈ +30 % per step). Off by default, as in transformers
// (`gradient_checkpointing`).
//
// Mechanics in tfjs 4.22 (engine.js): a tf.customGrad op runs its forward inside a tidy with the
// tape off, so the block's intermediates are freed as soon as its output exists. Its gradient
// function re-runs the block under tf.grads with respect to the saved input and the block's
// trainable weights. tf.grads inside a gradient function is nested taping, which tfjs does not
// support: the inner call replaces engine.state.activeTape and sets it to null when it ends, and the
// outer backward pass then fails when it cleans up its tape. So the outer tape is put back after
// the inner call (see `withOwnTape`).
import * as tf from "@tensorflow/tfjs-core";

let recomputeDefault = false;

/** Process-wide default for forwards that do not say (a job's `recompute` setting). */
export function setRecompute(on: boolean): void {
  recomputeDefault = on;
}

/** Whether a forward recomputes its blocks: its own option, else the process default. */
export function recomputeWanted(option: boolean | undefined): boolean {
  return option ?? recomputeDefault;
}

/** The weights whose gradients a recomputed block must return: trainable ones (frozen LoRA bases are not). */
export function trainableOf(tensors: (tf.Tensor | undefined)[]): tf.Tensor[] {
  return tensors.filter((t): t is tf.Tensor => t !== undefined && (t as tf.Variable).trainable !== false);
}

type EngineWithTape = { state: { activeTape: unknown } };

/** Runs `fn` (which calls tf.grads) and restores the enclosing backward pass's tape afterwards. */
function withOwnTape<T>(fn: () => T): T {
  const engine = tf.engine() as unknown as EngineWithTape;
  const outer = engine.state.activeTape;
  try {
    return fn();
  } finally {
    engine.state.activeTape = outer;
  }
}

export interface RecomputedBlock {
  /**
   * The block: x (B, T, C) → (B, T, C). `consts` are tensors made outside the block that it reads
   * (attention bias, rotary tables): they are saved for the backward pass, because the forward
   * pass's tidy frees them before it runs. Weights are read through closures; the ones listed in
   * `weights` get gradients.
   */
  fn: (x: tf.Tensor3D, consts: tf.Tensor[]) => tf.Tensor3D;
  consts: tf.Tensor[];
  /** Trainable tensors the block reads (variables; see trainableOf). Their gradients are returned. */
  weights: tf.Tensor[];
  /**
   * Called at forward time; returns what to do before the recomputation so that it replays the same
   * random draws (LoRA dropout's mask counter), and returns how to restore the state afterwards.
   */
  replay?: () => () => () => void;
}

/** y = block(x) whose backward pass recomputes the block's forward instead of keeping its intermediates. */
export function recomputed(x: tf.Tensor3D, block: RecomputedBlock): tf.Tensor3D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const input = args[0] as tf.Tensor3D;
    save([input, ...block.consts]); // cloned and kept by the engine until the backward pass ends
    const replay = block.replay?.();
    return {
      value: block.fn(input, block.consts), // the engine runs this in a tidy with the tape off
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedX, ...savedConsts] = saved as [tf.Tensor3D, ...tf.Tensor[]];
        const restore = replay?.();
        try {
          // the weights are the same tensor objects the closures read, so the inner tape sees them
          return withOwnTape(() => tf.grads((xs: tf.Tensor) => block.fn(xs as tf.Tensor3D, savedConsts))([savedX, ...block.weights], dy));
        } finally {
          restore?.();
        }
      },
    };
  }) as (...inputs: tf.Tensor[]) => tf.Tensor3D;
  return op(x, ...block.weights);
}
