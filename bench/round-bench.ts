// Round bench: one full demo round on this CPU, through the real server and trainer service, with the split per step.
//   A: SFT → DPO → sample N prompts × K = 4, a nano policy from scratch;   B: SFT → reward model → PPO → sample.
// Side by side for each step: the wall time the round spent on it (job queued → registered) and the trainer's own
// time inside it (its first to last event), so the ratio shows what the orchestration costs (HTTP, uploads, claims).
// Usage: npm run bench:round [-- --sft-steps 200 --dpo-steps 60 --reward-steps 60 --ppo-rollouts 8 --prompts 64]
// (tsx tests/support/with-postgres.ts tsx bench/round-bench.ts; needs `npm run build` for the server's pages).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { seedDemoProject, DEMO_SIZES } from "../server/demo/demo-project.server.ts";
import { getProject } from "../server/labeling/projects.server.ts";
import { launchRound } from "../server/rounds/rounds.server.ts";
import { startTestServer, type TestServer } from "../tests/support/test-server.ts";
import { runTrainerService } from "../tests/support/trainer-service.ts";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const SFT_STEPS = arg("sft-steps", 200);
const DPO_STEPS = arg("dpo-steps", 60);
const REWARD_STEPS = arg("reward-steps", 60);
const PPO_ROLLOUTS = arg("ppo-rollouts", 8);
const PROMPTS = arg("prompts", 64);

async function serveUntilIdle(server: TestServer, token: string): Promise<void> {
  const { code, output } = await runTrainerService(server.url, token, { timeoutMs: 3_600_000 });
  if (code !== 0) throw new Error(`the trainer service exited with ${code}:\n${output}`);
}

async function report(server: TestServer, roundId: string, label: string): Promise<void> {
  const round = await server.db.selectFrom("rounds").select(["state", "error", "created_at", "finished_at", "report"]).where("id", "=", roundId).executeTakeFirstOrThrow();
  if (round.state !== "done") throw new Error(`${label}: round ${round.state}: ${round.error}`);
  const jobs = await server.db.selectFrom("jobs").select(["id", "kind", "created_at", "finished_at"]).where("round_id", "=", roundId).orderBy("id").execute();
  console.log(`\n${label}`);
  console.log("step      wall s   trainer s   trainer/wall");
  let trainerSum = 0;
  for (const job of jobs) {
    const events = await server.db.selectFrom("job_events").select("payload").where("job_id", "=", job.id).orderBy("id").execute();
    const times = events.map((e) => Date.parse(String(e.payload["time"]))).filter(Number.isFinite);
    const wall = (job.finished_at!.getTime() - job.created_at.getTime()) / 1000;
    const trainer = times.length >= 2 ? (times.at(-1)! - times[0]!) / 1000 : NaN;
    trainerSum += trainer;
    console.log(`${job.kind.padEnd(8)} ${wall.toFixed(1).padStart(7)} ${trainer.toFixed(1).padStart(11)} ${(trainer / wall).toFixed(2).padStart(14)}`);
  }
  const total = (round.finished_at!.getTime() - round.created_at.getTime()) / 1000;
  console.log(`${"round".padEnd(8)} ${total.toFixed(1).padStart(7)} ${trainerSum.toFixed(1).padStart(11)} ${(trainerSum / total).toFixed(2).padStart(14)}`);
  const samples = (round.report as { samples?: { completions: number; checker: { policy: { scored: number; correct: number } } } }).samples;
  if (samples) console.log(`sampled ${samples.completions} completions; checker: ${samples.checker.policy.correct}/${samples.checker.policy.scored} right`);
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tandem-round-bench-"));
const server = await startTestServer({ TANDEM_DATA_DIR: dataDir });
try {
  console.log(`round bench: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), nano preset from scratch, SFT ${SFT_STEPS} steps, next batch ${PROMPTS} prompts × K = 4`);
  const admin = await server.db.selectFrom("users").select("id").where("role", "=", "admin").executeTakeFirstOrThrow();
  const { projectId } = await seedDemoProject(server.db, admin.id, 60, { ...DEMO_SIZES, pool: 2 * PROMPTS + 40 }, { launchFirstRound: false });
  const project = await getProject(server.db, projectId);
  const common = {
    base: { init: { preset: "nano" }, vocabSize: 512 },
    sft: { steps: SFT_STEPS, batchSize: 8, optim: { lr: 1e-3, minLr: 1e-4, warmupSteps: 10, totalSteps: SFT_STEPS } },
    next: { prompts: PROMPTS, maxNewTokens: 32, temperature: 0.9 },
  };
  const token = await server.newToken("trainer");
  const a = await launchRound(server.db, admin.id, project, { ...common, name: "bench A", path: "sft-dpo", dpo: { steps: DPO_STEPS, batchSize: 8, optim: { lr: 1e-4, warmupSteps: 5, totalSteps: DPO_STEPS } } }, 60);
  await serveUntilIdle(server, token);
  await report(server, a.id, `A: SFT → DPO → sample (${DPO_STEPS} DPO steps)`);
  const b = await launchRound(
    server.db, admin.id, project,
    { ...common, name: "bench B", path: "sft-reward-ppo", reward: { steps: REWARD_STEPS, batchSize: 8 }, ppo: { rollouts: PPO_ROLLOUTS, rolloutBatchSize: 8, miniBatchSize: 8, responseLength: 24 } },
    60,
  );
  await serveUntilIdle(server, token);
  await report(server, b.id, `B: SFT → reward model → PPO → sample (${REWARD_STEPS} RM steps, ${PPO_ROLLOUTS} rollouts of 8)`);
} finally {
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
