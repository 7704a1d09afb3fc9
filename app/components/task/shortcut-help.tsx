import { useEffect, useState, type ReactNode } from "react";
import { isTyping } from "./task-client.ts";

export type Shortcut = { keys: ReactNode; does: string };

/**
 * The keyboard-shortcut list every task page shows on `?` (Esc closes it). `?` typed into a
 * text field is text, not a command, so the key only works outside fields; the button works
 * everywhere.
 */
export function ShortcutHelp({ shortcuts }: { shortcuts: Shortcut[] }) {
  const [open, setOpen] = useState(false);
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") setOpen(false);
      else if (event.key === "?" && !isTyping(event.target)) setOpen((o) => !o);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  return (
    <>
      <button type="button" onClick={() => setOpen((o) => !o)} aria-expanded={open}
        className="text-sm text-slate-700 underline dark:text-slate-300">
        Keyboard shortcuts (<kbd>?</kbd>)
      </button>
      {open ? (
        <div role="dialog" aria-label="Keyboard shortcuts" className="rounded-md border border-slate-300 bg-white p-4 text-sm shadow dark:border-slate-700 dark:bg-slate-900">
          <h2 className="mb-2 font-semibold">Keyboard shortcuts</h2>
          <ul className="space-y-1">
            {shortcuts.map((shortcut, i) => (
              <li key={i}>
                {shortcut.keys}: {shortcut.does}
              </li>
            ))}
            <li>
              <kbd>?</kbd>: show or hide this list (outside a text field), <kbd>Esc</kbd>: close
            </li>
          </ul>
        </div>
      ) : null}
    </>
  );
}

export const submitShortcut: Shortcut = {
  keys: (
    <>
      <kbd>Ctrl</kbd>/<kbd>⌘</kbd>+<kbd>Enter</kbd>
    </>
  ),
  does: "submit",
};
