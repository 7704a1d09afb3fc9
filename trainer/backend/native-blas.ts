// The system's OpenBLAS (`cblas_sgemm`), called through koffi, an FFI whose compiled binary comes in
// its npm packages (@koromix/koffi-<platform>): nothing is built or downloaded at install.
//
// Why: tfjs-wasm's matmul is single-threaded and runs only plain 2-D products on XNNPACK; it reached
// 8–38 GFLOP/s on these machines against 80–190 for OpenBLAS (tfjs-notes.md), and matmul is about
// two thirds of a training step (issue 15). OpenBLAS is what PyTorch uses here (Debian
// `libopenblas0-pthread`). It is optional: when the library (or koffi's binary) is missing, fails to
// load, or gives a wrong product in the start-up self-check, the caller falls back to plain wasm
// and records why.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

export interface NativeBlas {
  /** The file that was loaded ("libopenblas.so.0"). */
  library: string;
  /** openblas_get_config(): version, build options and the core type it picked. */
  config: string;
  threads: number;
  /**
   * Row-major C (M, N) = op(A) · op(B), op(A) (M, K), op(B) (K, N); A, B and C are views (of the wasm
   * heap, say) passed to the library without a copy. lda/ldb are the row lengths of A and B as stored.
   */
  sgemm(transA: boolean, transB: boolean, M: number, N: number, K: number, a: Float32Array, b: Float32Array, c: Float32Array): void;
  /**
   * The same with the row lengths as stored given explicitly (cblas's lda, ldb, ldc): A, B and C may be blocks of
   * wider row-major matrices, such as one head's columns of attention's (B·T, 3C) qkv (decision trainer-025).
   * With beta (default 0), C = op(A)·op(B) + beta·C: the decode step adds a product onto a bias or the residual
   * stream already in C (decision trainer-028).
   */
  sgemmLd(transA: boolean, transB: boolean, M: number, N: number, K: number, a: Float32Array, lda: number, b: Float32Array, ldb: number, c: Float32Array, ldc: number, beta?: number): void;
  /**
   * cblas_sgemv, row-major: y = op(A)·x with A (M, N) as stored (lda N), so y has N entries when transposed, else M.
   * The bias-gradient sums use it transposed with x a column of ones (decision trainer-026): a GEMM with M = 1 packs
   * the whole input first and ran at 5 GFLOP/s.
   */
  sgemv(trans: boolean, M: number, N: number, a: Float32Array, x: Float32Array, y: Float32Array): void;
  /**
   * openblas_set_num_threads for the calls that follow: the decode step runs its (8, C) products on one thread and
   * then restores `threads` (decision trainer-028).
   */
  setThreads(n: number): void;
}

/** Library names tried in order when TANDEM_BLAS_LIB does not name one (Debian's alternatives link first). */
export const BLAS_CANDIDATES = ["libopenblas.so.0", "libopenblas.so"];

/** Threads for OpenBLAS: TANDEM_BLAS_THREADS, else one per core (as PyTorch's default). */
export function defaultBlasThreads(): number {
  const fromEnv = Number(process.env["TANDEM_BLAS_THREADS"]);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : availableParallelism();
}

/**
 * The OpenBLAS kernel family for this CPU from its flags: "SkylakeX" with AVX-512, "Haswell" with AVX2
 * and FMA, else null (OpenBLAS's own detection). Why: OpenBLAS 0.3.21 (Debian 12) picks its kernels
 * by CPU model, and a model it does not know gets the 2004 "Prescott" (SSE3) kernels. The Xeon VMs
 * this project runs on report such a model, and sgemm then ran at 18 GFLOP/s instead of 120–130
 * (docs/benchmarks.md, decision trainer-015). The flags say what the CPU can run, whatever its name.
 */
export function openblasCoreType(cpuinfo = readCpuinfo()): string | null {
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? "").trim().split(/\s+/));
  if (["avx512f", "avx512bw", "avx512dq", "avx512vl"].every((f) => flags.has(f))) return "SkylakeX";
  if (flags.has("avx2") && flags.has("fma")) return "Haswell";
  return null;
}

function readCpuinfo(): string {
  try {
    return readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return "";
  }
}

/**
 * Sets OPENBLAS_CORETYPE (read once, when the library loads) from the CPU's flags unless it is set
 * already, so this process and the processes it starts (the bench's PyTorch) use the same kernels.
 */
export function pinOpenblasCoreType(): void {
  if (process.env["OPENBLAS_CORETYPE"]) return;
  const core = openblasCoreType();
  if (core) process.env["OPENBLAS_CORETYPE"] = core; // Node's setenv: the library's getenv sees it
}

type Koffi = { load(path: string): { func(definition: string): (...args: unknown[]) => unknown } };

/** The product in plain JS, for the self-check: row-major, op() as in NativeBlas.sgemm. */
export function referenceSgemm(transA: boolean, transB: boolean, M: number, N: number, K: number, a: Float32Array, b: Float32Array): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (a[transA ? k * M + i : i * K + k] ?? 0) * (b[transB ? j * K + k : k * N + j] ?? 0);
      out[i * N + j] = s;
    }
  return out;
}

/** Small products in all four transpose combinations, checked against referenceSgemm. Returns why it failed, or null. */
function selfCheck(blas: NativeBlas): string | null {
  const [M, N, K] = [7, 5, 3];
  let seed = 1;
  const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1);
  for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    // every operand inside a larger array at an offset, as tensors on the wasm heap are
    const a = rand(M * K + 3).subarray(3);
    const b = rand(K * N + 5).subarray(5);
    const heap = new Float32Array(M * N + 16).fill(Number.NaN);
    const c = heap.subarray(8, 8 + M * N);
    blas.sgemm(ta, tb, M, N, K, a, b, c);
    const want = referenceSgemm(ta, tb, M, N, K, a, b);
    const worst = want.reduce((m, x, i) => Math.max(m, Math.abs(x - (c[i] ?? Number.NaN))), 0);
    if (!(worst <= 1e-5)) return `self-check failed: cblas_sgemm(transA ${ta}, transB ${tb}) differs from the reference by ${worst}`;
    if (!Number.isNaN(heap[7]) || !Number.isNaN(heap[8 + M * N])) return "self-check failed: cblas_sgemm wrote outside its output";
  }
  for (const trans of [false, true]) {
    // y = op(A)·x as the product of A (M, K) and x as a (len, 1) matrix
    const a = rand(M * K + 3).subarray(3);
    const x = rand((trans ? M : K) + 2).subarray(2);
    const rows = trans ? K : M;
    const heap = new Float32Array(rows + 16).fill(Number.NaN);
    const y = heap.subarray(8, 8 + rows);
    blas.sgemv(trans, M, K, a, x, y);
    const want = referenceSgemm(trans, false, rows, 1, trans ? M : K, a, x);
    const worst = want.reduce((m, v, i) => Math.max(m, Math.abs(v - (y[i] ?? Number.NaN))), 0);
    if (!(worst <= 1e-5)) return `self-check failed: cblas_sgemv(trans ${trans}) differs from the reference by ${worst}`;
    if (!Number.isNaN(heap[7]) || !Number.isNaN(heap[8 + rows])) return "self-check failed: cblas_sgemv wrote outside its output";
  }
  return null;
}

/**
 * Loads OpenBLAS through koffi, sets its thread count and self-checks it. Returns the library, or
 * the reason it cannot be used (never throws).
 */
export async function loadNativeBlas(options: { library?: string; threads?: number } = {}): Promise<NativeBlas | { reason: string }> {
  let koffi: Koffi;
  try {
    const mod = (await import("koffi")) as { default?: Koffi } & Koffi;
    koffi = mod.default ?? mod;
  } catch (error) {
    return { reason: `koffi could not be loaded: ${firstLine(error)}` };
  }
  const candidates = options.library ? [options.library] : process.env["TANDEM_BLAS_LIB"] ? [process.env["TANDEM_BLAS_LIB"]] : BLAS_CANDIDATES;
  const failures: string[] = [];
  pinOpenblasCoreType();
  for (const library of candidates) {
    try {
      const lib = koffi.load(library);
      const sgemm = lib.func(
        "void cblas_sgemm(int order, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)",
      );
      const sgemv = lib.func(
        "void cblas_sgemv(int order, int trans, int M, int N, float alpha, const float *A, int lda, const float *X, int incX, float beta, float *Y, int incY)",
      );
      const getConfig = lib.func("const char *openblas_get_config()");
      const setThreads = lib.func("void openblas_set_num_threads(int n)");
      const getThreads = lib.func("int openblas_get_num_threads()");
      setThreads(options.threads ?? defaultBlasThreads());
      const blas: NativeBlas = {
        library,
        config: String(getConfig()),
        threads: Number(getThreads()),
        sgemm: (transA, transB, M, N, K, a, b, c) =>
          void sgemm(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, M, N, K, 1, a, transA ? M : K, b, transB ? K : N, 0, c, N),
        sgemmLd: (transA, transB, M, N, K, a, lda, b, ldb, c, ldc, beta = 0) =>
          void sgemm(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, M, N, K, 1, a, lda, b, ldb, beta, c, ldc),
        sgemv: (trans, M, N, a, x, y) => void sgemv(ROW_MAJOR, trans ? TRANS : NO_TRANS, M, N, 1, a, N, x, 1, 0, y, 1),
        setThreads: (n) => void setThreads(n),
      };
      const failed = selfCheck(blas);
      if (failed) {
        failures.push(`${library}: ${failed}`);
        continue;
      }
      return blas;
    } catch (error) {
      failures.push(`${library}: ${firstLine(error)}`);
    }
  }
  return { reason: `no usable OpenBLAS (install the Debian package libopenblas0-pthread): ${failures.join("; ")}` };
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] ?? message;
}
