const styles: Record<string, string> = {
  queued: "bg-slate-200 text-slate-900 dark:bg-slate-700 dark:text-slate-100",
  running: "bg-blue-100 text-blue-900 dark:bg-blue-900 dark:text-blue-100",
  sampling: "bg-blue-100 text-blue-900 dark:bg-blue-900 dark:text-blue-100",
  done: "bg-green-100 text-green-900 dark:bg-green-900 dark:text-green-100",
  failed: "bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100",
  cancelled: "bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100",
};

/**
 * `testId` tells the round page's badge ("round-state") from the rounds list's: right after a launch the
 * URL is the new round's while the list is still on screen, and a test waiting for "done" must not read
 * an older round's badge there.
 */
export function RoundStateBadge({ state, testId = "round-state" }: { state: string; testId?: string }) {
  return (
    <span data-testid={testId} data-state={state} className={`rounded px-2 py-0.5 text-xs font-semibold ${styles[state] ?? styles["queued"]}`}>
      {state}
    </span>
  );
}
