import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new migration, never by editing this one.

/**
 * A reviewer can send a submission back from the data browser (decision 0047), not only from the
 * annotation review queue's samples: `annotation_reviews.mode` gains 'browser', so the review
 * export's provenance says the item was picked there, not sampled at random, by agreement or by
 * labeler.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table annotation_reviews drop constraint annotation_reviews_mode_check`.execute(db);
  await sql`alter table annotation_reviews add constraint annotation_reviews_mode_check check (mode in ('random', 'agreement', 'labeler', 'browser'))`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // The old rule has no word for it: a review picked in the browser reads as picked by hand, 'labeler'.
  await sql`update annotation_reviews set mode = 'labeler' where mode = 'browser'`.execute(db);
  await sql`alter table annotation_reviews drop constraint annotation_reviews_mode_check`.execute(db);
  await sql`alter table annotation_reviews add constraint annotation_reviews_mode_check check (mode in ('random', 'agreement', 'labeler'))`.execute(db);
}
