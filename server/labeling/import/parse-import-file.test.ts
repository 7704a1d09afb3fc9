import assert from "node:assert/strict";
import { test } from "node:test";
import { detectImportFormat, parseImportFile } from "./parse-import-file.ts";

const lines = (result: { records: { line: number }[] }) => result.records.map((record) => record.line);
const issueLines = (result: { issues: { line: number }[] }) => result.issues.map((issue) => issue.line);

test("JSONL: records keep their line numbers; blank lines are skipped but counted", () => {
  const content = ['{"prompt":"one"}', "", "   ", '{"messages":[{"role":"user","content":"two"}]}', '{"prompt":"three","completions":["a","b"],"model":"m"}'].join("\n");
  const result = parseImportFile(content, "jsonl");
  assert.equal(result.format, "jsonl");
  assert.deepEqual(lines(result), [1, 4, 5]);
  assert.deepEqual(result.issues, []);
  assert.deepEqual(result.records[2]?.completions, [
    { text: "a", model: "m" },
    { text: "b", model: "m" },
  ]);
});

test("JSONL: malformed JSON is reported at its exact line with the parser's reason, good lines still come back", () => {
  const content = ['{"prompt":"ok"}', '{"prompt": "missing brace"', '{"prompt":"ok again"}', "not json", '{"prompt":"trailing",}'].join("\n");
  const result = parseImportFile(content, "jsonl");
  assert.deepEqual(lines(result), [1, 3]);
  assert.deepEqual(issueLines(result), [2, 4, 5]);
  for (const issue of result.issues) assert.match(issue.reason, /^invalid JSON: .+/);
  assert.match(result.issues[1]?.reason ?? "", /not valid JSON|Unexpected token/);
});

test("JSONL: validation problems carry their line", () => {
  const content = ['{"prompt":"ok"}', '{"promt":"typo"}', '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}', "[1,2]"].join("\n");
  const result = parseImportFile(content, "jsonl");
  assert.deepEqual(result.issues.map((issue) => [issue.line, issue.reason.slice(0, 20)]), [
    [2, 'unknown key "promt" '],
    [3, "messages: the last t"],
    [4, "expected a JSON obje"],
  ]);
});

test("JSONL: a UTF-8 BOM and CRLF line endings are handled", () => {
  const result = parseImportFile('\uFEFF{"prompt":"first"}\r\n{"prompt":"second\\r\\nline"}\r\n\r\n{"bad"\r\n', "auto", "data.jsonl");
  assert.equal(result.format, "jsonl");
  assert.deepEqual(result.records.map((record) => record.messages[0]?.content), ["first", "second\r\nline"]);
  assert.deepEqual(issueLines(result), [4]);
});

test("JSON: an array or { prompts: [...] }, numbered by array position", () => {
  const array = parseImportFile('[\n  {"prompt":"a"},\n  {"prompt":""},\n  {"prompt":"c"}\n]', "json");
  assert.deepEqual(lines(array), [1, 3]);
  assert.deepEqual(array.issues, [{ line: 2, reason: "prompt: is empty or whitespace-only" }]);
  const wrapped = parseImportFile('{"prompts":[{"prompt":"a"},{"prompt":"b"}]}', "json");
  assert.deepEqual(lines(wrapped), [1, 2]);
  assert.deepEqual(wrapped.issues, []);
});

test("JSON: a syntax error is reported at the line holding the bad position; a wrong shape is a file-level issue", () => {
  const broken = parseImportFile('[\n  {"prompt":"a"},\n  {"prompt":"b",}\n]', "json");
  assert.deepEqual(broken.records, []);
  assert.equal(broken.issues.length, 1);
  assert.equal(broken.issues[0]?.line, 3);
  assert.match(broken.issues[0]?.reason ?? "", /^invalid JSON: /);
  const wrongShape = parseImportFile('{"items":[]}', "json");
  assert.deepEqual(issueLines(wrongShape), [0]);
  assert.match(wrongShape.issues[0]?.reason ?? "", /array of records/);
  const extraKey = parseImportFile('{"prompts":[{"prompt":"a"}],"version":2}', "json");
  assert.deepEqual(lines(extraKey), [1]);
  assert.match(extraKey.issues[0]?.reason ?? "", /unknown top-level key "version"/);
});

test("CSV: header required, prompt + optional columns, completions in column order, empty optional cells ignored", () => {
  const content = "prompt,system,source,model,completion_2,completion_1\nWhat is 2+2?,Be terse.,mathset,m1,second,first\nHi,,,,,\n";
  const result = parseImportFile(content, "csv");
  assert.deepEqual(result.issues, []);
  assert.deepEqual(result.records, [
    {
      line: 2,
      messages: [
        { role: "system", content: "Be terse." },
        { role: "user", content: "What is 2+2?" },
      ],
      // completion_1 before completion_2, whatever the column order in the file
      completions: [
        { text: "first", model: "m1" },
        { text: "second", model: "m1" },
      ],
      source: "mathset",
      metadata: {},
    },
    { line: 3, messages: [{ role: "user", content: "Hi" }], completions: [], source: null, metadata: {} },
  ]);
});

test("CSV: quoted cells with commas, quotes and newlines; rows reported at the line where they start", () => {
  const content = 'prompt,completion\r\n"Hello, world","He said ""hi"""\r\n"line one\r\nline two",x\r\n"",y\r\n';
  const result = parseImportFile(content, "auto", "upload.csv");
  assert.equal(result.format, "csv");
  assert.deepEqual(result.records.map((record) => [record.line, record.messages[0]?.content, record.completions[0]?.text]), [
    [2, "Hello, world", 'He said "hi"'],
    [3, "line one\r\nline two", "x"],
  ]);
  // the empty prompt starts on file line 5, after the two-line cell
  assert.deepEqual(result.issues, [{ line: 5, reason: "prompt: is empty or whitespace-only" }]);
});

test("CSV: BOM, blank rows skipped, too many cells, unclosed quote keeps earlier rows", () => {
  const content = '\uFEFFprompt,source\na,s\n\n,\nb,s,extra\n"c,s\nd,s\n';
  const result = parseImportFile(content, "csv");
  assert.deepEqual(lines(result), [2]);
  assert.deepEqual(issueLines(result), [5, 6]);
  assert.match(result.issues[0]?.reason ?? "", /3 cells but the header has 2 columns/);
  assert.match(result.issues[1]?.reason ?? "", /CSV syntax error.*Quote Not Closed/);
});

test("CSV: unknown columns are reported once, on the header line, with their names", () => {
  const result = parseImportFile("prompt,promt_id,Category\na,1,x\nb,2,y\n", "csv");
  assert.deepEqual(lines(result), [2, 3]);
  assert.equal(result.issues.length, 1);
  assert.equal(result.issues[0]?.line, 1);
  assert.match(result.issues[0]?.reason ?? "", /unknown columns "promt_id", "category"/);
});

test("CSV: a header without prompt or messages, and duplicate columns, import nothing", () => {
  const noPrompt = parseImportFile("question,answer\na,b\n", "csv");
  assert.deepEqual(noPrompt.records, []);
  assert.ok(noPrompt.issues.some((issue) => /needs a "prompt" column/.test(issue.reason)));
  const duplicate = parseImportFile("prompt,prompt\na,b\n", "csv");
  assert.deepEqual(duplicate.records, []);
  assert.match(duplicate.issues[0]?.reason ?? "", /duplicate column "prompt"/);
});

test("CSV: a messages column holds JSON; invalid JSON and assistant-last conversations are reported per row", () => {
  const good = JSON.stringify([{ role: "user", content: "hi, there" }]).replace(/"/g, '""');
  const assistantLast = JSON.stringify([
    { role: "user", content: "q" },
    { role: "assistant", content: "a" },
  ]).replace(/"/g, '""');
  const content = `messages,completion_1\n"${good}",answer\n"[not json",x\n"${assistantLast}",y\n`;
  const result = parseImportFile(content, "csv");
  assert.deepEqual(lines(result), [2]);
  assert.deepEqual(result.records[0]?.messages, [{ role: "user", content: "hi, there" }]);
  assert.deepEqual(issueLines(result), [3, 4]);
  assert.match(result.issues[0]?.reason ?? "", /^messages: invalid JSON/);
  assert.match(result.issues[1]?.reason ?? "", /last turn is "assistant"/);
});

test("CSV: too many completions and semicolon-delimited files", () => {
  const tooMany = parseImportFile("prompt,completion,completion_1,completion_2,completion_3,completion_4,completion_5,completion_6,completion_7,completion_8,completion_9\nq,0,1,2,3,4,5,6,7,8,9\n", "csv");
  assert.deepEqual(tooMany.records, []);
  assert.match(tooMany.issues[0]?.reason ?? "", /more than 9 completions/);
  const semicolons = parseImportFile("prompt;source\nHello, world;web\n", "csv");
  assert.deepEqual(semicolons.records.map((record) => [record.messages[0]?.content, record.source]), [["Hello, world", "web"]]);
});

test("auto: extension first, then the first non-space character", () => {
  assert.equal(detectImportFormat("{}", "x.CSV"), "csv");
  assert.equal(detectImportFormat("prompt\n", "x.ndjson"), "jsonl");
  assert.equal(detectImportFormat("  [", undefined), "json");
  assert.equal(detectImportFormat('{"prompt":"a"}\n{"prompt":"b"}', "paste"), "jsonl");
  assert.equal(detectImportFormat('{"prompt":"a"}', undefined), "jsonl");
  assert.equal(detectImportFormat('{\n "prompts": [\n {"prompt":"a"}\n ]\n}', undefined), "json");
  assert.equal(detectImportFormat("\uFEFFprompt,source\n", undefined), "csv");
  assert.equal(parseImportFile('\uFEFF[{"prompt":"a"}]', "auto").records.length, 1);
});

test("an empty file is an issue, not a silent success", () => {
  for (const format of ["jsonl", "json", "csv"] as const) {
    const result = parseImportFile(format === "json" ? "[]" : "", format);
    assert.deepEqual(result.records, []);
    assert.equal(result.issues.length, 1, format);
  }
});
