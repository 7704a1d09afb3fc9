/**
 * The results of rounds that train on corpora (decisions 0050, 0051): the mix search's table of candidates with the
 * chosen mix, held-out loss per set before and after a pretrain or midtrain step, and the corpus snapshot (cleaning
 * job, classifier, documents per part). Plain tables with captions and header cells, so a screen reader reads them.
 */
import { Link } from "react-router";
import { Card } from "./ui.tsx";

type Part = { name: string; role: string; weight?: number; documents: number };
export type CorpusSnapshotView = {
  cleaningJobId: string;
  classifier: { id: string; threshold: number } | null;
  mix: { mixId: string | null };
  replay: { share: number; from: string } | null;
  parts: Part[];
  hash: string;
};
export type MixSearchView = {
  sources: Array<{ corpusId: string; name: string }>;
  target: string;
  /** "checker": a task set (decision 0054), the pass rate first; absent on searches saved before it ("loss"). */
  scoring?: "loss" | "checker";
  candidates: Array<{
    index: number; weights: number[]; loss: number; trainLoss: number | null; tokens: number; chosen: boolean;
    checker?: { passRate: number; correct: number; scored: number };
  }>;
  best: number;
  mixId: string;
};
export type LmEvalView = Array<{ name: string; tokens: number; lossBefore: number; lossAfter: number }>;

const pct = (x: number) => `${(100 * x).toFixed(0)} %`;
const setLabel: Record<string, string> = { mix: "Held-out documents of the mix", domain: "New domain (held out)", replay: "Original mix (held out): forgetting shows here" };

export function CorpusSnapshotCard({ snapshot, projectId }: { snapshot: CorpusSnapshotView; projectId: string }) {
  return (
    <Card title="Corpus snapshot">
      <p className="mb-2 text-sm">
        Kept documents of{" "}
        <Link className="underline" to={`/projects/${projectId}/corpora`}>
          cleaning job #{snapshot.cleaningJobId}
        </Link>
        {snapshot.classifier ? `, quality classifier #${snapshot.classifier.id} at ≥ ${snapshot.classifier.threshold.toFixed(2)}` : ""}
        {snapshot.mix.mixId ? `, saved mix #${snapshot.mix.mixId}` : ""}
        {snapshot.replay ? `; replay ${pct(snapshot.replay.share)} of the original mix (${snapshot.replay.from === "base" ? "the base model's own" : "as named"})` : ""}.
      </p>
      <table className="w-full text-left text-sm" data-testid="corpus-parts">
        <caption className="sr-only">Documents per part of the round&apos;s data</caption>
        <thead>
          <tr>
            <th scope="col">Part</th>
            <th scope="col">Use</th>
            <th scope="col">Weight</th>
            <th scope="col">Documents</th>
          </tr>
        </thead>
        <tbody>
          {snapshot.parts.map((p) => (
            <tr key={`${p.role}-${p.name}`}>
              <td>{p.name}</td>
              <td>{p.role === "eval" ? "held out" : p.role}</td>
              <td>{p.weight !== undefined ? pct(p.weight) : "–"}</td>
              <td>{p.documents}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="mt-2 truncate font-mono text-xs" title={snapshot.hash}>
        sha256 {snapshot.hash.slice(0, 16)}…
      </p>
    </Card>
  );
}

export function MixSearchCard({ search }: { search: MixSearchView }) {
  const chosen = search.candidates[search.best];
  const tasks = search.scoring === "checker";
  return (
    <Card title="Data-mix search">
      {chosen ? (
        <p className="mb-3 text-sm" data-testid="chosen-mix">
          Chosen mix: {search.sources.map((s, i) => `${s.name} ${pct(chosen.weights[i] ?? 0)}`).join(", ")} —{" "}
          {tasks
            ? `the best checker pass rate on ${search.target} (${pct(chosen.checker?.passRate ?? 0)}), then the lowest loss on its reference answers (${chosen.loss.toFixed(3)} nats per token).`
            : `the lowest loss on ${search.target} (${chosen.loss.toFixed(3)} nats per token).`}{" "}
          Saved as mix #{search.mixId}: a pretrain round can train on it.
        </p>
      ) : null}
      <table className="w-full text-left text-sm" data-testid="mix-search-table">
        <caption className="sr-only">Held-out loss on the target for each candidate mixture</caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            {search.sources.map((s) => (
              <th key={s.corpusId} scope="col">
                {s.name}
              </th>
            ))}
            {tasks ? <th scope="col">Checker pass rate</th> : null}
            <th scope="col">{tasks ? "Loss on reference answers" : "Target loss"}</th>
            <th scope="col">Train loss</th>
            <th scope="col">Tokens</th>
          </tr>
        </thead>
        <tbody>
          {search.candidates.map((c) => (
            <tr key={c.index} className={c.chosen ? "font-semibold" : undefined} aria-current={c.chosen ? "true" : undefined}>
              <th scope="row">
                {c.index + 1}
                {c.chosen ? <span className="sr-only"> (chosen)</span> : null}
                {c.chosen ? " ✓" : ""}
              </th>
              {c.weights.map((w, i) => (
                <td key={i}>{pct(w)}</td>
              ))}
              {tasks ? <td>{c.checker ? `${pct(c.checker.passRate)} (${c.checker.correct}/${c.checker.scored})` : "–"}</td> : null}
              <td>{c.loss.toFixed(3)}</td>
              <td>{c.trainLoss !== null ? c.trainLoss.toFixed(3) : "–"}</td>
              <td>{c.tokens}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}

export function LmEvalCard({ sets }: { sets: LmEvalView }) {
  return (
    <Card title="Held-out loss">
      <table className="w-full text-left text-sm" data-testid="lm-eval">
        <caption className="sr-only">Mean loss per token on held-out text, before and after this round</caption>
        <thead>
          <tr>
            <th scope="col">Held-out set</th>
            <th scope="col">Before</th>
            <th scope="col">After</th>
            <th scope="col">Change</th>
          </tr>
        </thead>
        <tbody>
          {sets.map((s) => (
            <tr key={s.name}>
              <th scope="row" className="font-normal">
                {setLabel[s.name] ?? s.name}
              </th>
              <td>{s.lossBefore.toFixed(3)}</td>
              <td>{s.lossAfter.toFixed(3)}</td>
              <td>{(s.lossAfter - s.lossBefore >= 0 ? "+" : "") + (s.lossAfter - s.lossBefore).toFixed(3)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="mt-2 text-sm">Mean loss per token (nats); lower is better. A rise on the original mix after midtraining is forgetting.</p>
    </Card>
  );
}
