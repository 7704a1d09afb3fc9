// The tools a policy may call while it answers, and the one runner every caller shares (round
// sampling, RL rollouts, the playground and /v1/chat/completions; decision 0019).
//
// A call never throws out of the runner: an unknown tool, bad arguments, a failure, a timeout or
// an oversized output becomes an error tool result (`error: …`) that the policy reads like any
// other result, and generation goes on.
import { type ToolName, TOOL_NAMES } from "../contract/conversation.ts";
import { CalculatorError, evaluateExpression } from "./calculator.ts";

export interface ToolDefinition {
  name: ToolName;
  /** What the tool does, for OpenAI's `tools` list and the playground. */
  description: string;
  /** JSON Schema of the arguments object (OpenAI's function `parameters`). */
  parameters: Record<string, unknown>;
  /** One call. Throw ToolError (or any Error) for a failure the policy should read. */
  run(args: Record<string, unknown>, signal: AbortSignal): string | Promise<string>;
}

/** A failure whose message is meant for the policy as it is. */
export class ToolError extends Error {}

export const calculatorTool: ToolDefinition = {
  name: "calculator",
  description: "Evaluates an arithmetic expression exactly: numbers, + - * / % ^, parentheses, sqrt() and abs().",
  parameters: {
    type: "object",
    properties: { expression: { type: "string", description: "for example (37 + 5) * 4 / 3" } },
    required: ["expression"],
    additionalProperties: false,
  },
  run(args) {
    const expression = args["expression"];
    const extra = Object.keys(args).filter((k) => k !== "expression");
    if (typeof expression !== "string" || extra.length > 0) throw new ToolError('calculator takes {"expression": "<arithmetic>"}');
    try {
      return evaluateExpression(expression);
    } catch (error) {
      if (error instanceof CalculatorError) throw new ToolError(error.message);
      throw error;
    }
  },
};

/** Every built-in tool by name. */
export const BUILTIN_TOOLS: Record<ToolName, ToolDefinition> = { calculator: calculatorTool };

export interface ToolLimits {
  /** Calls one answer may make; later calls get an error result instead of running. */
  maxCalls: number;
  /** Per call. */
  timeoutMs: number;
  /** Characters of one result; a longer one is an error (a cut-off number would be wrong, not short). */
  maxOutputChars: number;
}

export const DEFAULT_TOOL_LIMITS: ToolLimits = { maxCalls: 4, timeoutMs: 2000, maxOutputChars: 200 };

export interface ToolCallRequest {
  name: string;
  arguments: Record<string, unknown>;
}

export interface ToolCallResult {
  /** The tool message's content: the result, or `error: <reason>`. */
  content: string;
  error: boolean;
}

const failed = (reason: string): ToolCallResult => ({ content: `error: ${reason}`, error: true });

/**
 * Runs one call of an enabled tool within the limits. `tools` maps names to definitions (the
 * built-ins by default; tests and future tools add their own).
 */
export async function runToolCall(
  call: ToolCallRequest,
  enabled: readonly string[],
  limits: ToolLimits = DEFAULT_TOOL_LIMITS,
  tools: Readonly<Record<string, ToolDefinition>> = BUILTIN_TOOLS,
): Promise<ToolCallResult> {
  const tool = enabled.includes(call.name) ? tools[call.name] : undefined;
  if (!tool) return failed(`unknown tool "${call.name.slice(0, 64)}"${enabled.length > 0 ? ` (available: ${enabled.join(", ")})` : " (no tools are enabled)"}`);
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new ToolError(`timed out after ${limits.timeoutMs} ms`));
    }, limits.timeoutMs);
  });
  try {
    // A synchronous tool (the calculator) finishes before the timer can fire: its own input limits
    // bound its work. The timeout is for tools that wait (a program, a request).
    const output = await Promise.race([Promise.resolve().then(() => tool.run(call.arguments, controller.signal)), timeout]);
    if (typeof output !== "string") return failed("the tool returned no text");
    if (output.length > limits.maxOutputChars) return failed(`output longer than ${limits.maxOutputChars} characters`);
    return { content: output, error: false };
  } catch (error) {
    return failed(error instanceof Error ? error.message : String(error));
  } finally {
    clearTimeout(timer);
  }
}

/** OpenAI's `tools` entry for a built-in: what the playground and the API show a client. */
export function openAiToolSpec(name: ToolName): { type: "function"; function: { name: string; description: string; parameters: Record<string, unknown> } } {
  const tool = BUILTIN_TOOLS[name];
  return { type: "function", function: { name: tool.name, description: tool.description, parameters: tool.parameters } };
}

export const isBuiltinTool = (name: string): name is ToolName => (TOOL_NAMES as readonly string[]).includes(name);
