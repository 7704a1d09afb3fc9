import type { Server } from "socket.io";
import type { Logger } from "pino";
import type { Actor } from "../server/auth/actor.ts";
import type { LoginLimiter } from "../server/auth/login.server.ts";
import type { Config } from "../server/config.server.ts";
import type { Db } from "../server/db/database.server.ts";
import type { Inference } from "../server/rounds/inference.server.ts";
import type { ExternalModels } from "../server/bridges/external/external-models.server.ts";
import type { CleaningRunner } from "../server/corpora/cleaning-runner.server.ts";
import type { ClientToServerEvents, ServerToClientEvents, SocketData } from "./lib/socket-events.ts";

export type TandemIo = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

/** What Express hands every loader and action (see server/http/create-app.server.ts). */
export type TandemContext = {
  actor: Actor | null;
  db: Db;
  io: TandemIo;
  log: Logger;
  config: Config;
  loginLimiter: LoginLimiter;
  /** Generation with registered policies (playground, /v1/chat/completions). */
  inference: Inference;
  /** External OpenAI-compatible endpoints: the key box and the generation-run runner. */
  external: ExternalModels;
  /** Runs corpus-cleaning jobs in the background (kick after queueing, abort after cancelling). */
  cleaning: CleaningRunner;
  clientIp: string;
  secureCookies: boolean;
};

declare module "react-router" {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface AppLoadContext extends TandemContext {}
}
