import { useCallback, useEffect, useState } from "react";
import { loadDraft, saveDraft } from "./task-client.ts";

/**
 * A task page's form state, restored from and saved to the browser on every change, so a
 * reload, an expired lease or a network error loses nothing the person entered.
 */
export function useDraft<T>(assignmentId: string, initial: T): [T, (change: (draft: T) => T) => void] {
  const [draft, setDraft] = useState<T>(initial);
  useEffect(() => {
    const saved = loadDraft<T>(assignmentId);
    if (saved) setDraft(saved);
  }, [assignmentId]);
  const update = useCallback(
    (change: (draft: T) => T) =>
      setDraft((current) => {
        const next = change(current);
        saveDraft(assignmentId, next);
        return next;
      }),
    [assignmentId],
  );
  return [draft, update];
}
