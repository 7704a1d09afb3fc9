import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";

/**
 * The TypeScript view of the migrated schema. tests/integration/schema.test.ts compares
 * `schemaColumns` below with information_schema, and the type-level check at the bottom
 * keeps `schemaColumns` and `Database` naming the same columns.
 */
export type UserRole = "labeler" | "reviewer" | "researcher" | "admin";
export type TokenRole = UserRole | "trainer";

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
// Postgres bigint arrives from `pg` as a string; ids are passed around as strings.
type Id = ColumnType<string, never, never>;

export interface UsersTable {
  id: Id;
  email: string;
  name: string;
  password_hash: string;
  role: UserRole;
  active: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  created_at: CreatedAt;
  expires_at: Timestamp;
  user_agent: string | null;
  ip: string | null;
}

export interface ApiTokensTable {
  id: Id;
  user_id: string;
  name: string;
  token_hash: string;
  token_prefix: string;
  role: TokenRole;
  created_at: CreatedAt;
  last_used_at: ColumnType<Date | null, never, Date | string>;
  revoked_at: ColumnType<Date | null, never, Date | string>;
}

export interface AuditLogTable {
  id: Id;
  actor_user_id: string | null;
  action: string;
  target: string | null;
  details: ColumnType<Record<string, unknown>, string | undefined, never>;
  created_at: CreatedAt;
}

export interface RateLimitsTable {
  key: string;
  points: Generated<number>;
  expire: string | null;
}

export interface SocketIoAttachmentsTable {
  id: Generated<string>;
  created_at: ColumnType<Date | null, never, never>;
  payload: Buffer | null;
}

export type ChatMessage = { role: "system" | "user" | "assistant"; content: string };
/** Structurally trainer/contract/conversation.ts's ConversationMessage (kept structural so the schema imports nothing). */
export type TranscriptMessage = {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  tool_calls?: Array<{ id?: string; type: "function"; function: { name: string; arguments: Record<string, unknown> } }>;
  name?: string;
  tool_call_id?: string;
};
export type TaskType = "demonstrate" | "rank" | "review" | "compare";
type Json<T> = ColumnType<T, string, string>;
/** Same shape as quality/ranking.ts's Ranking; kept structural so the schema imports nothing. */
export type GoldRanking = { tiers: string[][]; strengths?: number[] };

export interface ProjectsTable {
  id: Id;
  name: string;
  guidelines: Generated<string>;
  settings: Json<Record<string, unknown>>;
  export_salt: Generated<string>;
  created_by: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  /** open: every signed-in person; members: project_members only (decision 0031). */
  access: Generated<ProjectAccessMode>;
}

export type ProjectAccessMode = "open" | "members";
export type ProjectRole = "labeler" | "reviewer" | "researcher";

export interface ProjectMembersTable {
  project_id: string;
  user_id: string;
  role: ProjectRole;
  added_by: string | null;
  created_at: CreatedAt;
}

export interface PromptsTable {
  id: Id;
  project_id: string;
  messages: Json<ChatMessage[]>;
  content_hash: string;
  minhash: string;
  source: string | null;
  metadata: ColumnType<Record<string, unknown>, string | undefined, string>;
  status: "active" | "review" | "rejected";
  kind: ColumnType<"prompt" | "qa", "prompt" | "qa" | undefined, "prompt" | "qa">;
  author_user_id: string | null;
  created_at: CreatedAt;
  /** In the project's eval set: never trained on, never a labeling task; every round is scored on it. */
  held_out: ColumnType<boolean, boolean | undefined, boolean>;
  /** The conversation's text, generated from messages (trigram-indexed for the data browser). */
  search_text: ColumnType<string, never, never>;
  /** Left out of training (decision 0032): soft and reversible; null means in. */
  excluded_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  excluded_by: string | null;
  exclusion_reason: string | null;
  /** The quality scores labelers gave its completions: their sum (numeric, as a string) and count, kept by triggers on submissions (migration 0027, decision 0055). */
  quality_sum: ColumnType<string, never, never>;
  quality_count: ColumnType<number, never, never>;
}

export interface CompletionsTable {
  id: Id;
  prompt_id: string;
  model_name: string | null;
  text: string;
  decoding: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  /** The registered model that sampled it (null for imported completions). */
  model_id: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
  /** The transcript with tool calls and results (decision 0020); null for a plain completion, whose `text` is all of it. */
  messages: ColumnType<TranscriptMessage[] | null, string | null | undefined, string | null>;
}

export interface TasksTable {
  id: Id;
  project_id: string;
  prompt_id: string;
  type: TaskType;
  state: ColumnType<"open" | "complete" | "cancelled", "open" | "complete" | "cancelled" | undefined, "open" | "complete" | "cancelled">;
  overlap_target: number;
  completion_ids: ColumnType<string[], string | undefined, string>;
  author_user_id: string | null;
  /** The round whose policy sampled this task's completions. */
  round_id: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
  /** A gold task's known answer (a Ranking of completion ids); null for ordinary tasks. */
  gold: ColumnType<GoldRanking | null, string | null | undefined, string | null>;
  /** The anchoring audit's arm, drawn at the first claim when the project offers judge suggestions (decision 0035). */
  suggestion_arm: ColumnType<SuggestionArm | null, SuggestionArm | null | undefined, SuggestionArm | null>;
  /** A redo of a sent-back submission (decision 0044): only its labeler gets it, never the queue. */
  redo_of: ColumnType<string | null, string | null | undefined, string | null>;
  /** When the task left 'open' (complete or cancelled); kept by a trigger (migration 0021, decision 0046). */
  closed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /**
   * The item's pooled pairwise agreement (rank and A/B tasks; null below two rankings or with no pair both ordered),
   * kept by triggers on submissions (migration 0027, decision 0055); never written by the app.
   */
  agreement: ColumnType<number | null, never, never>;
  /** Every flag id labelers gave in its submissions, sorted; kept by the same triggers. */
  flag_ids: ColumnType<string[], never, never>;
}

export type SuggestionArm = "shown" | "withheld";

export interface AssignmentsTable {
  id: Id;
  task_id: string;
  user_id: string;
  state: "active" | "submitted" | "skipped" | "expired";
  lease_expires_at: Timestamp;
  shown_order: ColumnType<string[], string | undefined, string>;
  skip_reason: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  /** When this labeler first revealed the judge's suggestion; null if they never did. */
  suggestion_revealed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** Which queue rule served this claim (decision 0048); null before that was recorded. */
  served_by: ColumnType<ServedBy | null, ServedBy | null | undefined, ServedBy | null>;
}

/** uncertainty: the smallest-margin rule (decision 0048); disagreement: two successive rounds' reward models disagree most (0053). */
export type ServedBy = "uncertainty" | "disagreement" | "random" | "fifo";

export interface SubmissionsTable {
  id: Id;
  assignment_id: string;
  task_id: string;
  user_id: string;
  payload: Json<Record<string, unknown>>;
  timings: ColumnType<Record<string, unknown>, string | undefined, string>;
  idempotency_key: string;
  created_at: CreatedAt;
}

export type RoundState = "queued" | "running" | "sampling" | "done" | "failed" | "cancelled";
export type JobState = "queued" | "running" | "done" | "failed" | "cancelled";
export type JobKind = "sft" | "reward" | "dpo" | "ppo" | "grpo" | "rloo" | "kto" | "evaluate" | "sample" | "pretrain" | "midtrain" | "mix-search";
export type ModelKind = "base" | "sft" | "reward" | "policy";
type Updated = ColumnType<Date, Date | string | undefined, Date | string>;

export interface RoundsTable {
  id: Id;
  project_id: string;
  name: string;
  spec: Json<Record<string, unknown>>;
  steps: Json<JobKind[]>;
  current_step: ColumnType<number, number | undefined, number>;
  state: ColumnType<RoundState, RoundState | undefined, RoundState>;
  error: string | null;
  data_snapshot: Json<Record<string, unknown>>;
  report: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  created_by: string | null;
  created_at: CreatedAt;
  updated_at: Updated;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface ModelsTable {
  id: Id;
  project_id: string | null;
  round_id: string | null;
  parent_id: string | null;
  name: string;
  kind: ModelKind;
  storage_key: string;
  config: Json<Record<string, unknown>>;
  metrics: ColumnType<Record<string, unknown>, string | undefined, string>;
  data_snapshot: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  /** Where a checkpoint trained outside Tandem lives (a Ray round's output); null for Tandem's own files. */
  external_uri: string | null;
  created_at: CreatedAt;
}

export type RaySubmissionStatus = "submitting" | "PENDING" | "RUNNING" | "STOPPED" | "SUCCEEDED" | "FAILED";

export interface RaySubmissionsTable {
  id: Id;
  round_id: string;
  attempt: number;
  submission_id: string;
  dashboard_url: string;
  settings: Json<Record<string, unknown>>;
  status: ColumnType<RaySubmissionStatus, RaySubmissionStatus | undefined, RaySubmissionStatus>;
  message: string | null;
  logs_tail: ColumnType<string, string | undefined, string>;
  package_uri: string | null;
  result: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  last_error: string | null;
  stop_requested: ColumnType<boolean, boolean | undefined, boolean>;
  poll_lease_until: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: CreatedAt;
  updated_at: Updated;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface JobsTable {
  id: Id;
  round_id: string;
  step_index: number;
  kind: JobKind;
  spec: Json<Record<string, unknown>>;
  state: ColumnType<JobState, JobState | undefined, JobState>;
  attempts: ColumnType<number, number | undefined, number>;
  lease_token_id: string | null;
  lease_expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  worker: string | null;
  error: string | null;
  created_at: CreatedAt;
  updated_at: Updated;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface JobEventsTable {
  id: Id;
  job_id: string;
  round_id: string;
  attempt: number;
  type: string;
  payload: Json<Record<string, unknown>>;
  created_at: CreatedAt;
}

export type GenerationRunState = "queued" | "running" | "done" | "failed" | "cancelled";

export interface ExternalEndpointsTable {
  id: Id;
  project_id: string;
  name: string;
  base_url: string;
  model: string;
  /** AES-256-GCM ciphertext (bridges/external/secret-box.server.ts); never sent to a client. */
  api_key_encrypted: string | null;
  api_key_hint: string | null;
  decoding: ColumnType<Record<string, unknown>, string | undefined, string>;
  stream: ColumnType<boolean, boolean | undefined, boolean>;
  timeout_ms: ColumnType<number, number | undefined, number>;
  max_retries: ColumnType<number, number | undefined, number>;
  requests_per_minute: number | null;
  created_by: string | null;
  created_at: CreatedAt;
  updated_at: Updated;
}

export interface GenerationRunsTable {
  id: Id;
  project_id: string;
  kind: "rank" | "compare";
  spec: Json<Record<string, unknown>>;
  state: ColumnType<GenerationRunState, GenerationRunState | undefined, GenerationRunState>;
  progress: ColumnType<Record<string, unknown>, string | undefined, string>;
  error: string | null;
  lease_owner: string | null;
  lease_expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_by: string | null;
  created_at: CreatedAt;
  updated_at: Updated;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface GenerationErrorsTable {
  id: Id;
  run_id: string;
  prompt_id: string | null;
  source: string;
  kind: string;
  status: number | null;
  attempts: number;
  message: string;
  created_at: CreatedAt;
}

export type ChunkStatus = "pending" | "generating" | "done" | "failed";
export type QaRunState = "running" | "done" | "cancelled" | "failed" | "interrupted";

export interface DocumentsTable {
  id: Id;
  project_id: string;
  name: string;
  format: "text" | "markdown";
  file_name: string;
  line: number | null;
  content: string;
  sha256: string;
  metadata: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_by: string | null;
  created_at: CreatedAt;
}

export interface DocumentChunksTable {
  id: Id;
  document_id: string;
  project_id: string;
  index: number;
  heading: string | null;
  text: string;
  status: ColumnType<ChunkStatus, ChunkStatus | undefined, ChunkStatus>;
  error: ColumnType<string | null, string | null | undefined, string | null>;
  generated: ColumnType<number, number | undefined, number>;
  run_id: ColumnType<string | null, string | null | undefined, string | null>;
  updated_at: Updated;
}

export interface QaRunsTable {
  id: Id;
  project_id: string;
  generator: Json<Record<string, unknown>>;
  template: string;
  pairs_per_chunk: number;
  decoding: ColumnType<Record<string, unknown>, string | undefined, string>;
  state: ColumnType<QaRunState, QaRunState | undefined, QaRunState>;
  total_chunks: number;
  done_chunks: ColumnType<number, number | undefined, number>;
  failed_chunks: ColumnType<number, number | undefined, number>;
  pairs_created: ColumnType<number, number | undefined, number>;
  duplicates_skipped: ColumnType<number, number | undefined, number>;
  error: ColumnType<string | null, string | null | undefined, string | null>;
  created_by: string | null;
  created_at: CreatedAt;
  heartbeat_at: Updated;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface QaTemplatesTable {
  project_id: string;
  template: string;
  pairs_per_chunk: number;
  updated_by: string | null;
  updated_at: Updated;
}

export type CleaningJobState = "queued" | "running" | "done" | "failed" | "cancelled";
export type CleaningVerdict = "kept" | "dropped" | "flagged";

export interface CorporaTable {
  id: Id;
  project_id: string;
  name: string;
  license: string;
  provenance: ColumnType<string, string | undefined, string>;
  origin: "upload" | "path";
  path: string | null;
  document_count: ColumnType<number, number | undefined, number>;
  /** bigint: arrives from `pg` as a string. */
  byte_count: ColumnType<string, string | number | undefined, string | number>;
  issue_count: ColumnType<number, number | undefined, number>;
  created_by: string | null;
  created_at: CreatedAt;
  updated_at: Updated;
}

export interface CorpusDocumentsTable {
  id: Id;
  corpus_id: string;
  file_name: string;
  line: number;
  title: string | null;
  text: string;
  chars: number;
  content_hash: string;
  metadata: ColumnType<Record<string, unknown>, string | undefined, string>;
}

export interface CorpusIssuesTable {
  id: Id;
  corpus_id: string;
  file_name: string;
  line: number;
  message: string;
  created_at: CreatedAt;
}

export interface CleaningJobsTable {
  id: Id;
  project_id: string;
  settings: Json<Record<string, unknown>>;
  state: ColumnType<CleaningJobState, CleaningJobState | undefined, CleaningJobState>;
  progress: ColumnType<Record<string, unknown>, string | undefined, string>;
  cursor: ColumnType<{ corpus: number; afterId: string }, string | undefined, string>;
  lease_owner: string | null;
  lease_expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  error: string | null;
  created_by: string | null;
  created_at: CreatedAt;
  updated_at: Updated;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface CleaningVerdictsTable {
  job_id: string;
  document_id: string;
  verdict: CleaningVerdict;
  reason: string | null;
  duplicate_of: string | null;
  similarity: number | null;
  language: string | null;
  language_confidence: number | null;
  hits: ColumnType<Array<Record<string, unknown>>, string | undefined, string>;
  redacted_text: string | null;
  minhash: string | null;
}

export interface RoundCorporaTable {
  round_id: string;
  corpus_id: string;
}

export interface CorpusReviewsTable {
  id: Id;
  project_id: string;
  job_id: string;
  document_id: string;
  reason: string;
  state: ColumnType<"open" | "decided", "open" | "decided" | undefined, "open" | "decided">;
  assigned_to: ColumnType<string | null, string | null | undefined, string | null>;
  lease_expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  decision: ColumnType<"keep" | "drop" | "redact" | null, "keep" | "drop" | "redact" | null | undefined, "keep" | "drop" | "redact" | null>;
  category: ColumnType<string | null, string | null | undefined, string | null>;
  note: ColumnType<string, string | undefined, string>;
  redacted_text: ColumnType<string | null, string | null | undefined, string | null>;
  reviewed_by: ColumnType<string | null, string | null | undefined, string | null>;
  decided_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: CreatedAt;
}

export interface CorpusRatingTasksTable {
  id: Id;
  project_id: string;
  job_id: string;
  document_id: string;
  overlap_target: number;
  state: ColumnType<"open" | "complete", "open" | "complete" | undefined, "open" | "complete">;
  created_at: CreatedAt;
}

export interface CorpusRatingsTable {
  id: Id;
  task_id: string;
  user_id: string;
  state: ColumnType<"active" | "submitted", "active" | "submitted" | undefined, "active" | "submitted">;
  lease_expires_at: Timestamp;
  score: ColumnType<number | null, number | null | undefined, number | null>;
  created_at: CreatedAt;
  submitted_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface QualityClassifiersTable {
  id: Id;
  project_id: string;
  job_id: string;
  settings: Json<Record<string, unknown>>;
  weights: Buffer;
  bias: number;
  metrics: Json<Record<string, unknown>>;
  threshold: ColumnType<number | null, number | null | undefined, number | null>;
  created_by: string | null;
  created_at: CreatedAt;
}

export interface QualityScoresTable {
  classifier_id: string;
  document_id: string;
  score: number;
  words: number;
}

export interface DataMixesTable {
  id: Id;
  project_id: string;
  name: string;
  cleaning_job_id: string;
  classifier_id: string | null;
  sources: Json<Array<{ corpusId: string; weight: number }>>;
  round_id: string | null;
  results: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  created_by: string | null;
  created_at: CreatedAt;
}

export type JudgeFailure = "timeout" | "unparseable" | "error";

export interface JudgeSuggestionsTable {
  id: Id;
  task_id: string;
  project_id: string;
  judge: string;
  state: ColumnType<"running" | "done" | "failed", "running" | "done" | "failed" | undefined, "running" | "done" | "failed">;
  ranking: ColumnType<GoldRanking | null, string | null | undefined, string | null>;
  detail: ColumnType<Record<string, unknown>, string | undefined, string>;
  failure: JudgeFailure | null;
  message: string | null;
  lease_owner: string | null;
  lease_expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: CreatedAt;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

/** A reward model's scores of one task's completions (decision 0048), computed in the background. */
export interface RewardScoresTable {
  id: Id;
  task_id: string;
  model_id: string;
  project_id: string;
  state: ColumnType<"running" | "done" | "failed", "running" | "done" | "failed" | undefined, "running" | "done" | "failed">;
  /** One score per completion, in the task's completion_ids order; null until done. */
  scores: ColumnType<number[] | null, string | null | undefined, string | null>;
  /** Top score minus the runner-up: small = the model is unsure. */
  margin: number | null;
  /** The model the disagreement below was measured against (the previous round's), decision 0053. */
  compared_model_id: string | null;
  /** Mean |σ(sᵢ − sⱼ) − σ(s'ᵢ − s'ⱼ)| over completion pairs against compared_model_id's scores: large = the rounds disagree. */
  disagreement: number | null;
  message: string | null;
  lease_owner: string | null;
  lease_expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: CreatedAt;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface SensitiveMarksTable {
  id: Id;
  prompt_id: string;
  category: string;
  source: "import" | "classifier" | "flag";
  score: number | null;
  marked_by: string | null;
  created_at: CreatedAt;
}

export interface ContentRevealsTable {
  id: Id;
  assignment_id: string;
  user_id: string;
  created_at: CreatedAt;
}

export interface LabelerOptOutsTable {
  user_id: string;
  category: string;
  created_at: CreatedAt;
}

export interface PromptOriginalsTable {
  prompt_id: string;
  messages: Json<ChatMessage[]>;
  completions: Json<Array<Record<string, unknown>>>;
  created_at: CreatedAt;
}

/** How a review came to be: sampled by the annotation review queue, or picked in the data browser (decision 0047). */
export type AnnotationReviewMode = "random" | "agreement" | "labeler" | "browser";
export type AnnotationDecision = "accept" | "override" | "send_back";

/** A reviewer's look at one labeler submission (decision 0044). */
export interface AnnotationReviewsTable {
  id: Id;
  project_id: string;
  submission_id: string;
  state: ColumnType<"open" | "decided", "open" | "decided" | undefined, "open" | "decided">;
  reviewer_id: string | null;
  lease_expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  mode: AnnotationReviewMode;
  agreement: number | null;
  decision: ColumnType<AnnotationDecision | null, AnnotationDecision | null | undefined, AnnotationDecision | null>;
  comment: ColumnType<string, string | undefined, string>;
  override_payload: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  redo_task_id: ColumnType<string | null, string | null | undefined, string | null>;
  decided_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: CreatedAt;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  audit_log: AuditLogTable;
  rate_limits: RateLimitsTable;
  socket_io_attachments: SocketIoAttachmentsTable;
  projects: ProjectsTable;
  project_members: ProjectMembersTable;
  prompts: PromptsTable;
  completions: CompletionsTable;
  tasks: TasksTable;
  assignments: AssignmentsTable;
  submissions: SubmissionsTable;
  rounds: RoundsTable;
  models: ModelsTable;
  jobs: JobsTable;
  job_events: JobEventsTable;
  ray_submissions: RaySubmissionsTable;
  external_endpoints: ExternalEndpointsTable;
  generation_runs: GenerationRunsTable;
  generation_errors: GenerationErrorsTable;
  documents: DocumentsTable;
  document_chunks: DocumentChunksTable;
  qa_runs: QaRunsTable;
  qa_templates: QaTemplatesTable;
  corpora: CorporaTable;
  corpus_documents: CorpusDocumentsTable;
  corpus_issues: CorpusIssuesTable;
  cleaning_jobs: CleaningJobsTable;
  cleaning_verdicts: CleaningVerdictsTable;
  round_corpora: RoundCorporaTable;
  corpus_reviews: CorpusReviewsTable;
  corpus_rating_tasks: CorpusRatingTasksTable;
  corpus_ratings: CorpusRatingsTable;
  quality_classifiers: QualityClassifiersTable;
  quality_scores: QualityScoresTable;
  data_mixes: DataMixesTable;
  judge_suggestions: JudgeSuggestionsTable;
  sensitive_marks: SensitiveMarksTable;
  content_reveals: ContentRevealsTable;
  labeler_opt_outs: LabelerOptOutsTable;
  prompt_originals: PromptOriginalsTable;
  reward_scores: RewardScoresTable;
  annotation_reviews: AnnotationReviewsTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type ApiToken = Selectable<ApiTokensTable>;

/** Column name → Postgres data_type as information_schema.columns reports it. */
export const schemaColumns = {
  users: {
    id: "bigint", email: "text", name: "text", password_hash: "text", role: "text", active: "boolean",
    created_at: "timestamp with time zone", updated_at: "timestamp with time zone",
  },
  sessions: {
    id: "text", user_id: "bigint", created_at: "timestamp with time zone", expires_at: "timestamp with time zone",
    user_agent: "text", ip: "text",
  },
  api_tokens: {
    id: "bigint", user_id: "bigint", name: "text", token_hash: "text", token_prefix: "text", role: "text",
    created_at: "timestamp with time zone", last_used_at: "timestamp with time zone", revoked_at: "timestamp with time zone",
  },
  audit_log: {
    id: "bigint", actor_user_id: "bigint", action: "text", target: "text", details: "jsonb",
    created_at: "timestamp with time zone",
  },
  rate_limits: { key: "character varying", points: "integer", expire: "bigint" },
  socket_io_attachments: { id: "bigint", created_at: "timestamp with time zone", payload: "bytea" },
  projects: { id: "bigint", name: "text", guidelines: "text", settings: "jsonb", export_salt: "text", created_by: "bigint", created_at: "timestamp with time zone", updated_at: "timestamp with time zone", access: "text" },
  project_members: { project_id: "bigint", user_id: "bigint", role: "text", added_by: "bigint", created_at: "timestamp with time zone" },
  prompts: {
    id: "bigint", project_id: "bigint", messages: "jsonb", content_hash: "text", minhash: "text", source: "text", metadata: "jsonb",
    status: "text", kind: "text", author_user_id: "bigint", created_at: "timestamp with time zone", held_out: "boolean",
    search_text: "text", excluded_at: "timestamp with time zone", excluded_by: "bigint", exclusion_reason: "text", quality_sum: "numeric", quality_count: "integer",
  },
  completions: { id: "bigint", prompt_id: "bigint", model_name: "text", text: "text", decoding: "jsonb", model_id: "bigint", created_at: "timestamp with time zone", messages: "jsonb" },
  tasks: {
    id: "bigint", project_id: "bigint", prompt_id: "bigint", type: "text", state: "text", overlap_target: "integer",
    completion_ids: "jsonb", author_user_id: "bigint", round_id: "bigint", created_at: "timestamp with time zone", gold: "jsonb",
    suggestion_arm: "text", redo_of: "bigint", closed_at: "timestamp with time zone", agreement: "double precision", flag_ids: "ARRAY",
  },
  assignments: {
    id: "bigint", task_id: "bigint", user_id: "bigint", state: "text", lease_expires_at: "timestamp with time zone", shown_order: "jsonb",
    skip_reason: "text", created_at: "timestamp with time zone", updated_at: "timestamp with time zone",
    suggestion_revealed_at: "timestamp with time zone", served_by: "text",
  },
  submissions: {
    id: "bigint", assignment_id: "bigint", task_id: "bigint", user_id: "bigint", payload: "jsonb", timings: "jsonb",
    idempotency_key: "text", created_at: "timestamp with time zone",
  },
  rounds: {
    id: "bigint", project_id: "bigint", name: "text", spec: "jsonb", steps: "jsonb", current_step: "integer", state: "text", error: "text",
    data_snapshot: "jsonb", report: "jsonb", created_by: "bigint", created_at: "timestamp with time zone", updated_at: "timestamp with time zone",
    finished_at: "timestamp with time zone",
  },
  models: {
    id: "bigint", project_id: "bigint", round_id: "bigint", parent_id: "bigint", name: "text", kind: "text", storage_key: "text", config: "jsonb",
    metrics: "jsonb", data_snapshot: "jsonb", external_uri: "text", created_at: "timestamp with time zone",
  },
  jobs: {
    id: "bigint", round_id: "bigint", step_index: "integer", kind: "text", spec: "jsonb", state: "text", attempts: "integer", lease_token_id: "bigint",
    lease_expires_at: "timestamp with time zone", worker: "text", error: "text", created_at: "timestamp with time zone",
    updated_at: "timestamp with time zone", finished_at: "timestamp with time zone",
  },
  job_events: { id: "bigint", job_id: "bigint", round_id: "bigint", attempt: "integer", type: "text", payload: "jsonb", created_at: "timestamp with time zone" },
  ray_submissions: {
    id: "bigint", round_id: "bigint", attempt: "integer", submission_id: "text", dashboard_url: "text", settings: "jsonb", status: "text",
    message: "text", logs_tail: "text", package_uri: "text", result: "jsonb", last_error: "text", stop_requested: "boolean",
    poll_lease_until: "timestamp with time zone", created_at: "timestamp with time zone", updated_at: "timestamp with time zone",
    finished_at: "timestamp with time zone",
  },
  external_endpoints: {
    id: "bigint", project_id: "bigint", name: "text", base_url: "text", model: "text", api_key_encrypted: "text", api_key_hint: "text", decoding: "jsonb",
    stream: "boolean", timeout_ms: "integer", max_retries: "integer", requests_per_minute: "integer", created_by: "bigint",
    created_at: "timestamp with time zone", updated_at: "timestamp with time zone",
  },
  generation_runs: {
    id: "bigint", project_id: "bigint", kind: "text", spec: "jsonb", state: "text", progress: "jsonb", error: "text", lease_owner: "text",
    lease_expires_at: "timestamp with time zone", created_by: "bigint", created_at: "timestamp with time zone", updated_at: "timestamp with time zone",
    finished_at: "timestamp with time zone",
  },
  generation_errors: {
    id: "bigint", run_id: "bigint", prompt_id: "bigint", source: "text", kind: "text", status: "integer", attempts: "integer", message: "text",
    created_at: "timestamp with time zone",
  },
  documents: {
    id: "bigint", project_id: "bigint", name: "text", format: "text", file_name: "text", line: "integer", content: "text", sha256: "text",
    metadata: "jsonb", created_by: "bigint", created_at: "timestamp with time zone",
  },
  document_chunks: {
    id: "bigint", document_id: "bigint", project_id: "bigint", index: "integer", heading: "text", text: "text", status: "text", error: "text",
    generated: "integer", run_id: "bigint", updated_at: "timestamp with time zone",
  },
  qa_runs: {
    id: "bigint", project_id: "bigint", generator: "jsonb", template: "text", pairs_per_chunk: "integer", decoding: "jsonb", state: "text",
    total_chunks: "integer", done_chunks: "integer", failed_chunks: "integer", pairs_created: "integer", duplicates_skipped: "integer", error: "text",
    created_by: "bigint", created_at: "timestamp with time zone", heartbeat_at: "timestamp with time zone", finished_at: "timestamp with time zone",
  },
  qa_templates: { project_id: "bigint", template: "text", pairs_per_chunk: "integer", updated_by: "bigint", updated_at: "timestamp with time zone" },
  corpora: {
    id: "bigint", project_id: "bigint", name: "text", license: "text", provenance: "text", origin: "text", path: "text", document_count: "integer",
    byte_count: "bigint", issue_count: "integer", created_by: "bigint", created_at: "timestamp with time zone", updated_at: "timestamp with time zone",
  },
  corpus_documents: {
    id: "bigint", corpus_id: "bigint", file_name: "text", line: "integer", title: "text", text: "text", chars: "integer", content_hash: "text", metadata: "jsonb",
  },
  corpus_issues: { id: "bigint", corpus_id: "bigint", file_name: "text", line: "integer", message: "text", created_at: "timestamp with time zone" },
  cleaning_jobs: {
    id: "bigint", project_id: "bigint", settings: "jsonb", state: "text", progress: "jsonb", cursor: "jsonb", lease_owner: "text",
    lease_expires_at: "timestamp with time zone", error: "text", created_by: "bigint", created_at: "timestamp with time zone",
    updated_at: "timestamp with time zone", finished_at: "timestamp with time zone",
  },
  cleaning_verdicts: {
    job_id: "bigint", document_id: "bigint", verdict: "text", reason: "text", duplicate_of: "bigint", similarity: "real", language: "text",
    language_confidence: "real", hits: "jsonb", redacted_text: "text", minhash: "text",
  },
  round_corpora: { round_id: "bigint", corpus_id: "bigint" },
  corpus_reviews: {
    id: "bigint", project_id: "bigint", job_id: "bigint", document_id: "bigint", reason: "text", state: "text", assigned_to: "bigint",
    lease_expires_at: "timestamp with time zone", decision: "text", category: "text", note: "text", redacted_text: "text", reviewed_by: "bigint",
    decided_at: "timestamp with time zone", created_at: "timestamp with time zone",
  },
  corpus_rating_tasks: { id: "bigint", project_id: "bigint", job_id: "bigint", document_id: "bigint", overlap_target: "integer", state: "text", created_at: "timestamp with time zone" },
  corpus_ratings: {
    id: "bigint", task_id: "bigint", user_id: "bigint", state: "text", lease_expires_at: "timestamp with time zone", score: "integer",
    created_at: "timestamp with time zone", submitted_at: "timestamp with time zone",
  },
  quality_classifiers: {
    id: "bigint", project_id: "bigint", job_id: "bigint", settings: "jsonb", weights: "bytea", bias: "double precision", metrics: "jsonb", threshold: "double precision",
    created_by: "bigint", created_at: "timestamp with time zone",
  },
  quality_scores: { classifier_id: "bigint", document_id: "bigint", score: "double precision", words: "integer" },
  data_mixes: {
    id: "bigint", project_id: "bigint", name: "text", cleaning_job_id: "bigint", classifier_id: "bigint", sources: "jsonb", round_id: "bigint", results: "jsonb",
    created_by: "bigint", created_at: "timestamp with time zone",
  },
  judge_suggestions: {
    id: "bigint", task_id: "bigint", project_id: "bigint", judge: "text", state: "text", ranking: "jsonb", detail: "jsonb", failure: "text",
    message: "text", lease_owner: "text", lease_expires_at: "timestamp with time zone", created_at: "timestamp with time zone",
    finished_at: "timestamp with time zone",
  },
  sensitive_marks: { id: "bigint", prompt_id: "bigint", category: "text", source: "text", score: "double precision", marked_by: "bigint", created_at: "timestamp with time zone" },
  content_reveals: { id: "bigint", assignment_id: "bigint", user_id: "bigint", created_at: "timestamp with time zone" },
  labeler_opt_outs: { user_id: "bigint", category: "text", created_at: "timestamp with time zone" },
  prompt_originals: { prompt_id: "bigint", messages: "jsonb", completions: "jsonb", created_at: "timestamp with time zone" },
  reward_scores: {
    id: "bigint", task_id: "bigint", model_id: "bigint", project_id: "bigint", state: "text", scores: "jsonb", margin: "double precision",
    compared_model_id: "bigint", disagreement: "double precision",
    message: "text", lease_owner: "text", lease_expires_at: "timestamp with time zone", created_at: "timestamp with time zone",
    finished_at: "timestamp with time zone",
  },
  annotation_reviews: {
    id: "bigint", project_id: "bigint", submission_id: "bigint", state: "text", reviewer_id: "bigint", lease_expires_at: "timestamp with time zone",
    mode: "text", agreement: "double precision", decision: "text", comment: "text", override_payload: "jsonb", redo_task_id: "bigint",
    decided_at: "timestamp with time zone", created_at: "timestamp with time zone",
  },
} as const;

// Compile-time: every table and column of Database is in schemaColumns, and nothing else is.
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
type ColumnsMatch = { [T in keyof Database]: SameKeys<Database[T], (typeof schemaColumns)[T]> };
const _tablesMatch: SameKeys<Database, typeof schemaColumns> = true;
const _columnsMatch: ColumnsMatch = { users: true, sessions: true, api_tokens: true, audit_log: true, rate_limits: true,
  socket_io_attachments: true, projects: true, project_members: true, prompts: true, completions: true, tasks: true, assignments: true, submissions: true,
  rounds: true, models: true, jobs: true, job_events: true, ray_submissions: true, external_endpoints: true, generation_runs: true,
  generation_errors: true, documents: true, document_chunks: true, qa_runs: true, qa_templates: true,
  corpora: true, corpus_documents: true, corpus_issues: true, cleaning_jobs: true, cleaning_verdicts: true, round_corpora: true,
  corpus_reviews: true, corpus_rating_tasks: true, corpus_ratings: true,
  quality_classifiers: true, quality_scores: true, data_mixes: true,
  judge_suggestions: true, sensitive_marks: true, content_reveals: true, labeler_opt_outs: true, prompt_originals: true,
  reward_scores: true, annotation_reviews: true };
void _tablesMatch;
void _columnsMatch;
