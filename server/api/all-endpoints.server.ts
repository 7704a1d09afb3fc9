import type { AnyEndpoint } from "./endpoint.server.ts";
import { labelingEndpoints } from "./labeling-endpoints.server.ts";
import { v1Endpoints } from "./v1-endpoints.server.ts";
import { roundEndpoints, trainerEndpoints } from "./round-endpoints.server.ts";
import { auditEndpoints } from "../ops/audit-endpoints.server.ts";
import { formatEndpoints } from "../bridges/formats/format-endpoints.server.ts";
import { externalModelEndpoints } from "../bridges/external/external-endpoints-api.server.ts";
import { qaEndpoints } from "../bridges/qa/qa-endpoints.server.ts";
import { evalSetEndpoints } from "./eval-set-endpoints.server.ts";
import { qualityEndpoints } from "./quality-endpoints.server.ts";
import { overlapEndpoints } from "./overlap-endpoints.server.ts";
import { memberEndpoints } from "./member-endpoints.server.ts";
import { browserEndpoints } from "./browser-endpoints.server.ts";
import { corpusEndpoints } from "../corpora/corpus-endpoints.server.ts";
import { judgeEndpoints } from "./judge-endpoints.server.ts";
import { wellbeingEndpoints } from "./wellbeing-endpoints.server.ts";
import { piiEndpoints } from "./pii-endpoints.server.ts";
import { activeLearningEndpoints } from "./active-learning-endpoints.server.ts";
import { annotationReviewEndpoints } from "./annotation-review-endpoints.server.ts";
import { analyticsEndpoints } from "./analytics-endpoints.server.ts";

/** Every /api/v1 endpoint; the server mounts these and tests walk them. */
export const apiEndpoints: AnyEndpoint[] = [
  ...v1Endpoints, ...labelingEndpoints, ...roundEndpoints, ...trainerEndpoints, ...auditEndpoints, ...formatEndpoints, ...externalModelEndpoints, ...qaEndpoints,
  ...evalSetEndpoints, ...qualityEndpoints, ...overlapEndpoints, ...memberEndpoints, ...browserEndpoints,
  ...corpusEndpoints, ...judgeEndpoints, ...wellbeingEndpoints, ...piiEndpoints,
  ...activeLearningEndpoints, ...annotationReviewEndpoints, ...analyticsEndpoints,
];
