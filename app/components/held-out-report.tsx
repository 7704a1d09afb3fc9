import type { HeldOutReport, RoundWarning } from "../../server/rounds/round-warnings.ts";
import { Card } from "./ui.tsx";

const pct = (x: number | null | undefined) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(0)} %`);

/** What went wrong in a round, in words a researcher acts on (round-warnings.ts). */
export function RoundWarnings({ warnings }: { warnings: RoundWarning[] }) {
  if (warnings.length === 0) return null;
  return (
    <section aria-label="Warnings" data-testid="round-warnings" className="mb-4 rounded border border-amber-500 bg-amber-50 p-3 text-sm text-amber-950 dark:bg-amber-950 dark:text-amber-50">
      <h2 className="mb-1 font-semibold">This round needs a look</h2>
      <ul className="list-disc space-y-1 pl-5">
        {warnings.map((w, i) => (
          <li key={`${w.code}-${i}`} data-code={w.code}>
            {w.message}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The policy on the project's held-out eval set, next to the policy the round started from. */
export function HeldOutCard({ heldOut }: { heldOut: HeldOutReport }) {
  const { checker, reward, meanLength, health } = heldOut;
  const rows: Array<[string, string, string]> = [
    ...(checker ? ([["Checker: share right", pct(checker.new), pct(checker.previous)]] as Array<[string, string, string]>) : []),
    ...(reward ? ([["Reward model score", reward.new.toFixed(3), reward.previous?.toFixed(3) ?? "–"]] as Array<[string, string, string]>) : []),
    // with tools only; reports stored before the share was kept have none
    ...(heldOut.toolUse ? ([["Answers that call a tool", pct(heldOut.toolUse.new), pct(heldOut.toolUse.previous)]] as Array<[string, string, string]>) : []),
    ["Mean answer length (tokens)", meanLength.new.toFixed(1), meanLength.previous?.toFixed(1) ?? "–"],
    ["Undecodable (U+FFFD)", pct(health.new.undecodableShare), pct(health.previous?.undecodableShare)],
    ["Repeated-token loops", pct(health.new.loopShare), pct(health.previous?.loopShare)],
    ["Empty answers", pct(health.new.emptyShare), pct(health.previous?.emptyShare)],
    // reports stored before the share existed have none
    ...(health.new.brokenCallShare !== undefined ? ([["Broken tool calls", pct(health.new.brokenCallShare), pct(health.previous?.brokenCallShare)]] as Array<[string, string, string]>) : []),
  ];
  return (
    <Card title="Held-out evaluation">
      <div data-testid="held-out">
        <p className="text-sm">
          {heldOut.samples} held-out prompts, answered by both policies with the same decoding and seeds.
          {heldOut.kl !== null ? ` KL to the reference: ${heldOut.kl.toFixed(2)}${heldOut.klStderr !== null ? ` ± ${heldOut.klStderr.toFixed(2)}` : ""} nats per answer.` : ""}
          {heldOut.origin ? (
            <span data-testid="kl-from-origin">
              {` KL from ${heldOut.origin.name} (model ${heldOut.origin.modelId}), where this chain of rounds started: `}
              {heldOut.klFromOrigin != null ? `${heldOut.klFromOrigin.toFixed(2)}${heldOut.klFromOriginStderr != null ? ` ± ${heldOut.klFromOriginStderr.toFixed(2)}` : ""} nats per answer.` : "not measured."}
            </span>
          ) : null}
          {heldOut.rmAccuracy !== null ? ` The round's reward model orders ${pct(heldOut.rmAccuracy)} of ${heldOut.rmPairs ?? 0} held-out preference pairs as the labelers did.` : ""}
          {heldOut.rmAccuracy !== null && heldOut.rmLabelerAgreement ? (
            <span data-testid="rm-labeler-agreement">
              {` On the same items the labelers agree with each other on ${pct(heldOut.rmLabelerAgreement.rate)} of the pairs two of them both ordered (${heldOut.rmLabelerAgreement.compared} comparisons), the human figure to read the reward model's against.`}
            </span>
          ) : null}
          {checker?.gained != null && checker.lost != null ? ` Prompt by prompt: ${checker.gained} right now that were wrong, ${checker.lost} wrong now that were right.` : ""}
          {checker && Object.keys(checker.reasons).length > 0 ? ` Unscored or unreadable: ${Object.entries(checker.reasons).map(([k, v]) => `${k.replace(/_/g, " ")} ${v}`).join(", ")}.` : ""}
        </p>
        <table className="mt-2 text-sm">
          <thead>
            <tr>
              <th scope="col" className="pr-4 text-left">
                Measure
              </th>
              <th scope="col" className="pr-4 text-right">
                New policy
              </th>
              <th scope="col" className="text-right">
                Before the round
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map(([label, now, before]) => (
              <tr key={label}>
                <th scope="row" className="pr-4 text-left font-normal">
                  {label}
                </th>
                <td className="pr-4 text-right tabular-nums">{now}</td>
                <td className="text-right tabular-nums">{before}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {heldOut.examples.length > 0 ? (
          <details className="mt-3 text-sm">
            <summary>Answers to read ({heldOut.examples.length})</summary>
            <ul className="mt-2 space-y-2">
              {heldOut.examples.map((e, i) => (
                <li key={i}>
                  <div className="font-medium">{e.prompt}</div>
                  <div>
                    New{e.new.correct === null ? "" : e.new.correct ? " (right)" : " (wrong)"}: <span className="whitespace-pre-wrap">{e.new.answer}</span>
                  </div>
                  {e.previous ? (
                    <div>
                      Before{e.previous.correct === null ? "" : e.previous.correct ? " (right)" : " (wrong)"}: <span className="whitespace-pre-wrap">{e.previous.answer}</span>
                    </div>
                  ) : null}
                </li>
              ))}
            </ul>
          </details>
        ) : null}
      </div>
    </Card>
  );
}
