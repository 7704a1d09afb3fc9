import ReactMarkdown from "react-markdown";

/**
 * Renders untrusted markdown (prompts, completions, guidelines). react-markdown builds React
 * elements instead of HTML strings, ignores raw HTML, and drops javascript: URLs, so
 * an XSS payload in the text stays inert.
 */
export function Markdown({ children }: { children: string }) {
  return (
    <div className="prose-tandem space-y-2 break-words [&_code]:rounded [&_code]:bg-slate-100 [&_code]:px-1 dark:[&_code]:bg-slate-800 [&_pre]:overflow-x-auto [&_a]:underline [&_ul]:list-disc [&_ul]:pl-5 [&_ol]:list-decimal [&_ol]:pl-5">
      <ReactMarkdown skipHtml>{children}</ReactMarkdown>
    </div>
  );
}
