/**
 * An OpenAPI operationId for every endpoint, so generated clients get method names
 * (`listProjects`, `getProjectQuality`, `postRoundCancel`) instead of `path_get_123`.
 * Derived from the method and path, except the few in `named` below where the rule reads badly.
 * The rules (decision 0025):
 *  - path words in camel case; parameters dropped; a collection followed by its id is singular
 *    (/projects/:id/quality → Project Quality);
 *  - GET: "list" when the path ends in a plural collection, else "get";
 *    POST: "create" (and the collection singular) when it ends in a plural collection, else
 *    "post" (an action: postRoundCancel); PUT: "put"; PATCH: "update"; DELETE: "delete".
 */
const named: Record<string, string> = {
  "GET /projects/:id/counters": "getProjectCounters", // a summary, not a list
  "POST /projects/:id/imports/:format": "createProjectDatasetImport", // beside createProjectImport (prompt files)
  "GET /projects/:id/exports/:format/:dataset.jsonl": "getProjectDatasetExportJsonl",
  "GET /projects/:id/exports/hf/:dataset.zip": "getProjectDatasetExportHfZip",
  "GET /projects/:id/exports/verl/prompts.parquet": "getProjectDatasetExportVerlParquet",
};

export function operationIdFor(method: string, path: string): string {
  const given = named[`${method.toUpperCase()} ${path}`];
  if (given) return given;
  const segments = path.split("/").filter(Boolean);
  const words: string[] = [];
  segments.forEach((segment, index) => {
    const parts = segment
      .replace(/:\w+/g, " ")
      .split(/[^A-Za-z0-9]+/)
      .filter(Boolean);
    if (parts.length === 0) return;
    if (segments[index + 1]?.startsWith(":")) parts[parts.length - 1] = singular(parts[parts.length - 1]!);
    words.push(...parts);
  });
  const last = segments[segments.length - 1] ?? "";
  const endsInCollection = /^[a-z-]+s$/.test(last);
  let verb: string;
  switch (method.toLowerCase()) {
    case "get":
      verb = endsInCollection ? "list" : "get";
      break;
    case "post":
      verb = endsInCollection ? "create" : "post";
      if (endsInCollection) words[words.length - 1] = singular(words[words.length - 1]!);
      break;
    case "patch":
      verb = "update";
      break;
    default:
      verb = method.toLowerCase();
  }
  return verb + words.map((word) => word[0]!.toUpperCase() + word.slice(1)).join("");
}

function singular(word: string): string {
  if (/ies$/.test(word)) return word.slice(0, -3) + "y";
  if (/(ss|us)$/.test(word)) return word;
  return word.replace(/s$/, "");
}
