// One fused piece, N forward + backward passes at micro's shapes, for counting instructions under callgrind
// (decision trainer-019). The machine is shared, so CPU seconds of pieces this small are noise; the count of
// instructions is not. Run it twice, once per arm, and compare the totals (setup is identical in both):
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p npx tsx bench/fused-pieces.ts layernorm fused 20
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p npx tsx bench/fused-pieces.ts layernorm ops 20
// (the total is the "summary:" line of the file of the node process that ran the script.)
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../trainer/backend/select-backend.ts";
import { setFusedKernels } from "../trainer/backend/wasm-heap.ts";
import { attentionBias, layerNorm } from "../trainer/model/gpt.ts";
import { rmsNorm } from "../trainer/model/llama.ts";
import { maskedSoftmax } from "../trainer/model/fused-softmax.ts";

const [piece = "layernorm", arm = "fused", n = "20"] = process.argv.slice(2);
await initBackend({ prefer: "wasm", blas: "off" });
const [B, T, C, H] = [8, 128, 384, 6];
const x = tf.randomNormal([B, T, C], 0, 1, "float32", 1);
const g = tf.randomNormal([C], 1, 0.2, "float32", 2);
const b = tf.randomNormal([C], 0, 0.2, "float32", 3);
const dy = tf.randomNormal([B, T, C], 0, 1, "float32", 4);
const scores = tf.randomNormal([B, H, T, T], 0, 4, "float32", 5);
const dScores = tf.randomNormal([B, H, T, T], 0, 1, "float32", 6);
const bias = attentionBias(B, T, 0, undefined);
const group = piece === "softmax" ? "softmax" : "norm";
setFusedKernels(arm === "fused" ? [group] : false);
const run: Record<string, () => void> = {
  layernorm: () => tf.dispose(tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => layerNorm(a, c, d, 1e-5))([x, g, b], dy)),
  rmsnorm: () => tf.dispose(tf.grads((a: tf.Tensor, c: tf.Tensor) => rmsNorm(a, c, 1e-5))([x, g], dy)),
  softmax: () => tf.dispose(tf.grads((a: tf.Tensor) => maskedSoftmax(a, bias, 0.125))([scores], dScores)),
};
const fn = run[piece];
if (!fn) throw new Error(`piece: layernorm, rmsnorm or softmax, not ${piece}`);
for (let i = 0; i < Number(n); i++) fn();
console.log(`${piece} ${arm} ×${n} done`);
