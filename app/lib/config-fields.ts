import { z } from "zod";

/**
 * Form fields generated from the trainer's zod config schemas, so the launch form offers
 * exactly the hyperparameters the trainer accepts, with the trainer's own defaults (taken from
 * parsing `{}`, which also picks up per-trainer overrides such as SFT's learning rate).
 */
export type ConfigField = {
  name: string; // dotted path, e.g. "dpo.optim.lr"
  label: string;
  kind: "number" | "integer" | "boolean" | "enum";
  nullable: boolean;
  defaultValue: string;
  /** What an empty field means where the schema has no default, e.g. "auto" (its `.meta({ blank })`). */
  blank?: string;
  options?: string[];
  min?: number;
  max?: number;
};

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  blank?: string;
  /** How zod writes a nullable number: `anyOf: [{type: "number", …}, {type: "null"}]`. */
  anyOf?: JsonSchema[];
};

export function configFields(schema: z.ZodType, prefix: string): ConfigField[] {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  return walk(json, schema.parse({}) as Record<string, unknown>, prefix);
}

function walk(json: JsonSchema, defaults: Record<string, unknown>, prefix: string): ConfigField[] {
  return Object.entries(json.properties ?? {}).flatMap(([key, written]) => {
    const name = `${prefix}.${key}`;
    // a nullable field is an anyOf of the value's schema and null: read the value's, and remember the null
    const members = written.anyOf ?? [];
    const orNull = members.some((m) => m.type === "null");
    const property: JsonSchema = { ...written, ...(members.find((m) => m.type !== "null") ?? {}) };
    const value = defaults[key];
    const types = [property.type ?? [], orNull ? ["null"] : []].flat();
    if (types.includes("object")) return walk(property, (value ?? {}) as Record<string, unknown>, name);
    const kind = property.enum ? "enum" : types.includes("boolean") ? "boolean" : types.includes("integer") ? "integer" : "number";
    const max = property.maximum !== undefined && property.maximum < Number.MAX_SAFE_INTEGER ? property.maximum : undefined;
    const min = property.minimum ?? property.exclusiveMinimum;
    return [
      {
        name,
        label: humanize(key),
        kind,
        nullable: types.includes("null"),
        defaultValue: value === null || value === undefined ? "" : String(value),
        ...(property.blank !== undefined ? { blank: property.blank } : {}),
        ...(property.enum ? { options: property.enum.map(String) } : {}),
        ...(min !== undefined ? { min } : {}),
        ...(max !== undefined ? { max } : {}),
      } satisfies ConfigField,
    ];
  });
}

const humanize = (key: string) => key.replace(/([a-z])([A-Z])/g, "$1 $2").replace(/^./, (c) => c.toUpperCase());

/**
 * The submitted values as the nested object the schema validates. A checkbox not submitted is false; other
 * fields not submitted are left out (the default applies); empty ones too, or null where the field allows it (an
 * emptied step KL target: no guard of the step's own, while a round-level KL target still applies); text that is not a number stays
 * text, so the schema refuses it with the field named instead of it turning into NaN.
 */
export function configFromForm(form: FormData, fields: ConfigField[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    const raw = form.get(field.name);
    let value: unknown;
    if (field.kind === "boolean") value = raw === "on" || raw === "true";
    else if (raw === null) continue; // not in the form (a fieldset the path does not show): the default applies
    else if (String(raw).trim() === "") {
      if (!field.nullable) continue;
      value = null;
    } else if (field.kind === "enum") value = String(raw);
    else value = Number.isFinite(Number(raw)) ? Number(raw) : String(raw);
    setPath(out, field.name.split("."), value);
  }
  return out;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  if (rest.length === 0) {
    target[head] = value;
    return;
  }
  const next = (target[head] ??= {}) as Record<string, unknown>;
  setPath(next, rest, value);
}
