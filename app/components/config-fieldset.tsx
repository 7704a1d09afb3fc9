import type { ConfigField } from "../lib/config-fields.ts";

/** One group of generated hyperparameter inputs; a refused value comes back as typed, with its error. */
export function ConfigFieldset({ legend, fields, values, errors, open = false }: { legend: string; fields: ConfigField[]; values: Record<string, string>; errors: Record<string, string>; open?: boolean }) {
  const hasError = fields.some((f) => errors[f.name]);
  return (
    <details className="mb-4 rounded-md border border-slate-200 p-3 dark:border-slate-800" open={open || hasError}>
      <summary className="cursor-pointer text-sm font-medium">{legend}</summary>
      <fieldset className="mt-3 grid grid-cols-2 gap-x-3 sm:grid-cols-3">
        <legend className="sr-only">{legend}</legend>
        {fields.map((field) => {
          const id = `field-${field.name}`;
          const error = errors[field.name];
          const value = values[field.name] ?? field.defaultValue;
          const input =
            field.kind === "enum" ? (
              <select id={id} name={field.name} defaultValue={value} className={inputClass}>
                {field.options!.map((o) => (
                  <option key={o}>{o}</option>
                ))}
              </select>
            ) : field.kind === "boolean" ? (
              <input id={id} name={field.name} type="checkbox" defaultChecked={value === "true" || value === "on"} />
            ) : (
              <input
                id={id}
                name={field.name}
                inputMode="decimal"
                defaultValue={value}
                placeholder={field.blank ?? (field.nullable ? "off" : undefined)}
                aria-invalid={error ? true : undefined}
                aria-describedby={error ? `${id}-error` : undefined}
                className={inputClass}
              />
            );
          return (
            <div key={field.name} className="mb-3">
              <label htmlFor={id} className="mb-1 block text-xs font-medium">
                {field.label}
                {field.min !== undefined || field.max !== undefined ? (
                  <span className="ml-1 font-normal text-slate-600 dark:text-slate-400">
                    ({field.min ?? "…"}–{field.max ?? "…"})
                  </span>
                ) : null}
              </label>
              {input}
              {error ? (
                <p id={`${id}-error`} className="mt-1 text-xs text-red-700 dark:text-red-400">
                  {error}
                </p>
              ) : null}
            </div>
          );
        })}
      </fieldset>
    </details>
  );
}

const inputClass = "w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm text-slate-900 dark:border-slate-700 dark:bg-slate-950 dark:text-slate-100";
