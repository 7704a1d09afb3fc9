/**
 * What a model writes becomes people's data: completions to rank, held-out answers in a round's
 * report, chat replies. The server refuses C0 control characters (except tab, LF, CR), DEL and lone
 * surrogates (decision 0022: PostgreSQL cannot store NUL, and a control character is never text a
 * person meant). A byte-level model can emit any byte, and an under-trained one does; one such
 * answer used to make the whole job's upload fail with 422. So every decode hands back storable
 * text: each such character becomes U+FFFD, which the round's answer-health warnings count as
 * undecodable output (trainer/eval/answer-health.ts) instead of failing the round.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NOT_STORABLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\p{Cs}]/gu;

export const storableText = (text: string): string => text.replace(NOT_STORABLE, "\ufffd");
