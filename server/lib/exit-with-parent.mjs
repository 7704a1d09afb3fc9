/**
 * Preloaded (`node --import`) into the trainer and inference children: when the Tandem server
 * that spawned them dies without stopping them (kill -9, OOM), they are reparented and would run
 * on as orphans, holding a job lease and memory. The parent pid changing is the sign; the child
 * then ends itself with SIGTERM, as a normal stop would (decision 0023).
 */
const parent = process.ppid;
const timer = setInterval(() => {
  if (process.ppid !== parent) {
    clearInterval(timer);
    process.kill(process.pid, "SIGTERM");
    // A handler that ignores SIGTERM must not keep an orphan alive.
    setTimeout(() => process.exit(1), 10_000).unref();
  }
}, 1000);
timer.unref();
