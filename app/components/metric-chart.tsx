import { useEffect, useRef } from "react";
import "uplot/dist/uPlot.min.css";

export type ChartSeries = { label: string; points: Array<[number, number]> };

const colors = ["#1d4ed8", "#b91c1c", "#047857", "#7c3aed", "#b45309", "#0e7490"];

/**
 * A line chart (uPlot) of metric series over the round's training steps, or over days (`time`:
 * x values are Unix seconds; the analytics page). uPlot draws on a canvas in the browser only,
 * so it is loaded in an effect; the server renders the frame.
 */
export function MetricChart({ title, series, testId, time = false }: { title: string; series: ChartSeries[]; testId: string; time?: boolean }) {
  const xLabel = time ? "day" : "step";
  const box = useRef<HTMLDivElement>(null);
  const points = series.reduce((n, s) => n + s.points.length, 0);
  useEffect(() => {
    const element = box.current;
    if (!element || points === 0) return;
    let chart: { destroy: () => void } | null = null;
    let cancelled = false;
    void import("uplot").then(({ default: UPlot }) => {
      if (cancelled) return;
      // uPlot wants one shared x axis: the union of steps, with gaps where a series has no value.
      const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
      const ys = series.map((s) => {
        const byX = new Map(s.points);
        return xs.map((x) => byX.get(x) ?? null);
      });
      chart = new UPlot(
        {
          width: element.clientWidth || 480,
          height: 200,
          scales: { x: { time } },
          // Days are UTC calendar days (the analytics' buckets), whatever the viewer's time zone.
          ...(time ? { tzDate: (ts: number) => UPlot.tzDate(new Date(ts * 1000), "Etc/UTC") } : {}),
          axes: [{ label: xLabel }, {}],
          series: [{ label: xLabel }, ...series.map((s, i) => ({ label: s.label, stroke: colors[i % colors.length], width: 2, spanGaps: true }))],
        },
        [xs, ...ys],
        element,
      );
    });
    return () => {
      cancelled = true;
      chart?.destroy();
    };
  }, [series, points, time, xLabel]);
  return (
    <figure className="mb-4">
      <figcaption className="mb-1 text-sm font-medium">{title}</figcaption>
      <div ref={box} data-testid={testId} data-points={points} className="min-h-[200px] w-full overflow-hidden" role="img" aria-label={`${title}: ${series.map((s) => `${s.label} ${s.points.at(-1)?.[1]?.toPrecision(4) ?? "–"}`).join(", ")}`} />
    </figure>
  );
}
