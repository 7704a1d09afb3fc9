import { test } from "node:test";
import assert from "node:assert/strict";
import { CalculatorError, evaluateExpression } from "./calculator.ts";
import { DEFAULT_TOOL_LIMITS, runToolCall, ToolError, type ToolDefinition } from "./registry.ts";

const calc = (expression: string): string => evaluateExpression(expression);
const calcError = (expression: string): string => {
  try {
    return `no error: ${evaluateExpression(expression)}`;
  } catch (error) {
    assert.ok(error instanceof CalculatorError, `${expression}: ${String(error)}`);
    return error.message;
  }
};

test("calculator: precedence, associativity, unary minus, remainder and the aliases", () => {
  const cases: [string, string][] = [
    ["37*4", "148"],
    ["1 + 2 * 3", "7"],
    ["(1 + 2) * 3", "9"],
    ["2 ^ 3 ^ 2", "512"], // right-associative: 2^(3^2)
    ["2 ** 10", "1024"],
    ["-2^2", "-4"], // ^ binds tighter than a leading minus
    ["(-2)^2", "4"],
    ["2^-2", "0.25"],
    ["10 - 4 - 3", "3"], // left-associative
    ["100 / 10 / 5", "2"],
    ["7 % 3", "1"],
    ["-7 % 3", "-1"], // sign of the dividend
    ["7.5 % 2", "1.5"],
    ["3 × 4 ÷ 2 − 1", "5"],
    ["--3", "3"],
    ["+3", "3"],
    ["1,234,567 + 1", "1234568"],
    ["1e3 + .5", "1000.5"],
    ["2.5E-2", "0.025"],
    ["abs(-3.5)", "3.5"],
    ["sqrt(144)", "12"],
    ["sqrt(9/4)", "1.5"],
    ["0^0", "1"],
    ["(-1)^1001", "-1"],
    ["1^100000", "1"],
  ];
  for (const [expression, expected] of cases) assert.equal(calc(expression), expected, expression);
});

test("calculator: exact results — no float noise, integers past 2^53, rounding only where a decimal does not end", () => {
  assert.equal(calc("0.1 + 0.2"), "0.3");
  assert.equal(calc("0.3 - 0.1"), "0.2");
  assert.equal(calc("1.1 * 1.1"), "1.21");
  assert.equal(calc("9007199254740993 + 0"), "9007199254740993"); // 2^53 + 1: not representable as a double
  assert.equal(calc("2^64"), "18446744073709551616");
  assert.equal(calc("123456789 * 987654321 * 1000000007"), "121932631966163686788446883");
  assert.equal(calc("1/8"), "0.125");
  assert.equal(calc("1/3"), "0.333333333333");
  assert.equal(calc("2/3"), "0.666666666667");
  assert.equal(calc("-2/3"), "-0.666666666667");
  assert.equal(calc("10^20/3"), "3.33333333333e+19");
  assert.equal(calc("1/3 * 1e-7"), "3.33333333333e-8");
  assert.equal(calc("sqrt(2)"), "1.41421356237");
  assert.equal(calc("sqrt(2) * sqrt(2)"), "2");
  assert.equal(calc("0.999999999999 + 0.0000000000009"), "0.9999999999999"); // exact: it terminates
  assert.equal(calc("1/2^50"), "8.881784197e-16"); // terminates, but past 40 places: rounded
  assert.equal(calc("2/2"), "1");
  assert.equal(calc("0 * -5"), "0");
});

test("calculator: clear errors for parse errors, division by zero, oversized input and results", () => {
  assert.equal(calcError("1/0"), "division by zero");
  assert.equal(calcError("5 % 0"), "division by zero");
  assert.equal(calcError("0^-1"), "division by zero");
  assert.equal(calcError("1/(2-2)"), "division by zero");
  assert.equal(calcError(""), "empty expression");
  assert.equal(calcError("   "), "empty expression");
  assert.equal(calcError("1 +"), "unexpected end of expression");
  assert.equal(calcError("(1 + 2"), "missing ')'");
  assert.equal(calcError("1 + 2)"), "unexpected ')' at position 6");
  assert.equal(calcError("2 $ 3"), "unexpected '$' at position 3");
  assert.equal(calcError("1,23"), "unexpected ',' at position 2");
  assert.match(calcError("process.exit(1)"), /^unknown name 'process'/);
  assert.match(calcError("constructor"), /^unknown name/);
  assert.equal(calcError("sqrt 4"), "sqrt needs parentheses: sqrt(…)");
  assert.equal(calcError("sqrt(-4)"), "square root of a negative number");
  assert.equal(calcError("2^0.5"), "exponent must be a whole number");
  assert.equal(calcError("9^999999"), "number too large");
  assert.equal(calcError("10^99 * 10^99 * 10^99 * 10^99"), "number too large");
  assert.equal(calcError("10^120"), "result has more than 100 digits");
  assert.equal(calcError("1e999"), "number too large");
  assert.equal(calcError("1+".repeat(100) + "1"), "expression longer than 200 characters");
  assert.equal(calcError("(".repeat(40) + "1" + ")".repeat(40)), "nested deeper than 32 levels");
  assert.equal(calcError("-".repeat(40) + "1"), "nested deeper than 32 levels");
});

test("runner: results, error results for every failure, and the limits", async () => {
  assert.deepEqual(await runToolCall({ name: "calculator", arguments: { expression: "6*7" } }, ["calculator"]), { content: "42", error: false });
  assert.deepEqual(await runToolCall({ name: "calculator", arguments: { expression: "1/0" } }, ["calculator"]), { content: "error: division by zero", error: true });
  assert.deepEqual(await runToolCall({ name: "calculator", arguments: { expr: "1" } }, ["calculator"]), { content: 'error: calculator takes {"expression": "<arithmetic>"}', error: true });
  assert.deepEqual(await runToolCall({ name: "calculator", arguments: { expression: "1" } }, []), { content: 'error: unknown tool "calculator" (no tools are enabled)', error: true });
  assert.deepEqual(await runToolCall({ name: "search", arguments: {} }, ["calculator"]), { content: 'error: unknown tool "search" (available: calculator)', error: true });

  // tools other than the calculator: one that waits too long, one that talks too much, one that breaks
  let aborted = false;
  const slow: ToolDefinition = {
    name: "calculator", description: "", parameters: {},
    run: (_args, signal) => new Promise((resolve) => signal.addEventListener("abort", () => { aborted = true; resolve("too late"); })),
  };
  const chatty: ToolDefinition = { ...slow, run: () => "x".repeat(DEFAULT_TOOL_LIMITS.maxOutputChars + 1) };
  const broken: ToolDefinition = { ...slow, run: () => { throw new ToolError("service unavailable"); } };
  const limits = { ...DEFAULT_TOOL_LIMITS, timeoutMs: 30 };
  assert.deepEqual(await runToolCall({ name: "slow", arguments: {} }, ["slow"], limits, { slow }), { content: "error: timed out after 30 ms", error: true });
  assert.ok(aborted, "the tool is told to stop");
  assert.deepEqual(await runToolCall({ name: "chatty", arguments: {} }, ["chatty"], limits, { chatty }), { content: "error: output longer than 200 characters", error: true });
  assert.deepEqual(await runToolCall({ name: "broken", arguments: {} }, ["broken"], limits, { broken }), { content: "error: service unavailable", error: true });
});
