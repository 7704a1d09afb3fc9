import type { TandemContext } from "../../app/context.ts";
import { queueCounters } from "./projects.server.ts";

/** Pushes fresh queue counters to everyone watching the project; a failure is only logged. */
export async function publishCounters(ctx: Pick<TandemContext, "db" | "io" | "log">, projectId: string): Promise<void> {
  try {
    ctx.io.to(`project:${projectId}`).emit("queue:counters", { projectId, counters: await queueCounters(ctx.db, projectId) });
  } catch (error) {
    ctx.log.warn({ err: error, projectId }, "could not publish queue counters");
  }
}
