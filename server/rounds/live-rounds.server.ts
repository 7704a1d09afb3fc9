import type { TandemContext } from "../../app/context.ts";
import type { RoundEventPayload } from "../../app/lib/socket-events.ts";

type Ctx = Pick<TandemContext, "db" | "io" | "log">;

/** Tells everyone watching a round (room round:<id>) its new state; a failure is only logged. */
export async function publishRoundState(ctx: Ctx, roundId: string): Promise<void> {
  try {
    const round = await ctx.db.selectFrom("rounds").select(["state", "current_step", "error"]).where("id", "=", roundId).executeTakeFirst();
    if (!round) return;
    ctx.io.to(`round:${roundId}`).emit("round:state", { roundId, state: round.state, currentStep: round.current_step, error: round.error });
  } catch (error) {
    ctx.log.warn({ err: error, roundId }, "could not publish round state");
  }
}

/** Streams freshly stored trainer events (metrics, progress) to the round's watchers. */
export function publishRoundEvents(ctx: Ctx, roundId: string, events: RoundEventPayload[]): void {
  ctx.io.to(`round:${roundId}`).emit("round:events", { roundId, events });
}
