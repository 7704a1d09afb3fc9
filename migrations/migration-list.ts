import type { Migration } from "kysely/migration";
import * as m0001 from "./0001-users-sessions-tokens.ts";
import * as m0002 from "./0002-projects-prompts-tasks.ts";
import * as m0003 from "./0003-rounds-jobs-models.ts";
import * as m0004 from "./0004-gold-tasks.ts";
import * as m0005 from "./0005-external-endpoints.ts";
import * as m0006 from "./0006-documents.ts";
import * as m0007 from "./0007-ray-handoffs.ts";
import * as m0008 from "./0008-operations-indexes.ts";
import * as m0009 from "./0009-eval-sets-and-rl-jobs.ts";
import * as m0010 from "./0010-completion-transcripts.ts";
import * as m0011 from "./0011-project-members.ts";
import * as m0012 from "./0012-data-browser.ts";
import * as m0014 from "./0014-judge-suggestions.ts";
import * as m0015 from "./0015-labeler-wellbeing.ts";
import * as m0016 from "./0016-pii-originals.ts";
import * as m0017 from "./0017-corpora.ts";
import * as m0018 from "./0018-corpus-review-and-ratings.ts";
import * as m0019 from "./0019-quality-classifiers.ts";
import * as m0020 from "./0020-annotation-reviews.ts";
import * as m0021 from "./0021-progress-analytics.ts";
import * as m0022 from "./0022-reward-scores-and-served-by.ts";
import * as m0024 from "./0024-data-mixes-and-base-rounds.ts";
import * as m0025 from "./0025-browser-reviews.ts";
import * as m0026 from "./0026-reward-model-disagreement.ts";
import * as m0027 from "./0027-browser-at-a-million.ts";
import * as m0028 from "./0028-browser-sorts.ts";

/** Every migration, in the order it runs. Append only; never reorder or edit a landed one. */
export const migrations: Record<string, Migration> = {
  "0001-users-sessions-tokens": m0001,
  "0002-projects-prompts-tasks": m0002,
  "0003-rounds-jobs-models": m0003,
  "0004-gold-tasks": m0004,
  "0005-external-endpoints": m0005,
  "0006-documents": m0006,
  "0007-ray-handoffs": m0007,
  "0008-operations-indexes": m0008,
  "0009-eval-sets-and-rl-jobs": m0009,
  "0010-completion-transcripts": m0010,
  "0011-project-members": m0011,
  "0012-data-browser": m0012,
  "0014-judge-suggestions": m0014,
  "0015-labeler-wellbeing": m0015,
  "0016-pii-originals": m0016,
  "0017-corpora": m0017,
  "0018-corpus-review-and-ratings": m0018,
  "0019-quality-classifiers": m0019,
  "0020-annotation-reviews": m0020,
  "0021-progress-analytics": m0021,
  "0022-reward-scores-and-served-by": m0022,
  "0024-data-mixes-and-base-rounds": m0024,
  "0025-browser-reviews": m0025,
  "0026-reward-model-disagreement": m0026,
  "0027-browser-at-a-million": m0027,
  "0028-browser-sorts": m0028,
};
