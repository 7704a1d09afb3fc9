#!/usr/bin/python3
"""Renders chat templates the way transformers' `apply_chat_template(tokenize=False)` does, with
Python's Jinja2, for comparison with Tandem's @huggingface/jinja rendering (trainer/tokenizer/hf-chat.ts).

The environment is transformers' `_compile_jinja_template` (utils/chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]),
a `tojson` filter that is json.dumps with ensure_ascii=False, and the `raise_exception` and
`strftime_now` globals; the context is messages, tools, add_generation_prompt and the special
tokens map (bos_token, eos_token, pad_token, unk_token).

Usage: /usr/bin/python3 bench/chat_template_parity.py <cases.json>
cases.json: [{"template": "...", "messages": [...], "tools": [...] | null, "add_generation_prompt": bool, "specials": {...}}]
Prints one JSON line: {"rendered": ["...", ...]}.
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def compile_template(source):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    rendered = []
    for case in cases:
        template = compile_template(case["template"])
        context = {"messages": case["messages"], "add_generation_prompt": case["add_generation_prompt"], **case.get("specials", {})}
        if case.get("tools") is not None:
            context["tools"] = case["tools"]
        rendered.append(template.render(**context))
    print(json.dumps({"rendered": rendered, "jinja2": jinja2.__version__}, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
