"""MkDocs hook: the configuration reference, generated from conf/ at every build so that it cannot drift.

``reference/config.md`` holds the marker ``<!-- hhlif:config-reference -->``; this hook replaces it with one
section per root config and per config group: each option's leading comment, then a table of every key (dotted
path), its default as written in the YAML file, and the comment beside or above it.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

MARKER = "<!-- hhlif:config-reference -->"
ROOTS = {
    "train.yaml": "hhlif train",
    "simulate.yaml": "hhlif simulate",
    "flops.yaml": "hhlif flops",
    "bench.yaml": "hhlif bench",
    "evaluate.yaml": "hhlif evaluate RUN_DIR",
}
_BLOCK_SCALAR = re.compile(r"^[|>][+-]?\d*$")


def on_page_markdown(markdown, page, config, files):  # noqa: ARG001 (the MkDocs hook signature)
    if MARKER not in markdown:
        return markdown
    conf = Path(config["config_file_path"]).parent / "conf"
    return markdown.replace(MARKER, render(conf))


def split_comment(text: str) -> tuple[str, str]:
    """``value  # comment`` -> (value, comment); a ``#`` inside quotes or without a space before it is kept."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip(), text[i + 1 :].strip()
    return text.rstrip(), ""


def parse(text: str) -> tuple[list[str], list[tuple[str, str | list[str], str]]]:
    """A YAML file's leading comment and its rows (dotted key, default as written or a block list's items,
    comment)."""
    header: list[str] = []
    rows: list[tuple[str, str | list[str], str]] = []
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    seen_key = False
    lists: dict[str, int] = {}  # a list's dotted key -> its row
    block_indent = None  # inside a block scalar (``key: |``) deeper than this indent
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not stripped or indent > block_indent:
                continue
            block_indent = None
        if not stripped:
            pending = []
            continue
        if stripped.startswith("#"):
            comment = stripped.lstrip("#").strip()
            if not comment.startswith("@package"):
                (pending if seen_key else header).append(comment)
            continue
        seen_key = True
        body, comment = split_comment(stripped)
        comment = " ".join([*pending, comment]).strip()
        pending = []
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = ".".join(key for _, key in stack)
        if body.startswith("- ") or body == "-":  # a list item joins its list's row
            item = body[1:].strip()
            note = f"`{item}`: {comment}" if comment else ""
            if lists.get(parent) is not None:
                key, value, notes = rows[lists[parent]]
                rows[lists[parent]] = (key, [*value, item], "; ".join(filter(None, [notes, note])))
            else:
                lists[parent] = len(rows)
                rows.append((parent or "(list)", [item], note))
            continue
        key, _, value = body.partition(":")
        value = value.strip()
        path = f"{parent}.{key.strip()}" if parent else key.strip()
        stack.append((indent, key.strip()))
        if _BLOCK_SCALAR.match(value):
            block_indent, value = indent, "(text block)"
        if value or comment:
            rows.append((path, value, comment))
    return header, rows


def _cell(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text.replace('|', '&#124;')}`" if text else ""


def _default(value: str | list[str]) -> str:
    """A default as code; a block list's items each as code, so that a long list wraps between them."""
    return ", ".join(_code(item) for item in value) if isinstance(value, list) else _code(value)


def section(name: str, path: Path, level: str) -> list[str]:
    header, rows = parse(path.read_text(encoding="utf-8"))
    out = [f"{level} `{name}`", ""]
    if header:
        out += [_cell(" ".join(header)), ""]
    if rows:
        out += ["| key | default | what it means |", "|---|---|---|"]
        out += [f"| `{key}` | {_default(value)} | {_cell(comment)} |" for key, value, comment in rows]
        out.append("")
    return out


def render(conf: Path) -> str:
    out = ["## Root configs", ""]
    out.append("One per command; the groups below are chosen on its command line (`hhlif train neuron=lif`).")
    out.append("")
    for name, command in ROOTS.items():
        if (conf / name).exists():
            out += section(f"{name}: {command}", conf / name, "###")
    out += ["## Config groups", ""]
    groups = sorted({p.parent.relative_to(conf).as_posix() for p in conf.rglob("*.yaml") if p.parent != conf})
    for group in groups:
        options = sorted((conf / group).glob("*.yaml"))
        out += [f"### `{group}`", "", "Options: " + ", ".join(f"`{p.stem}`" for p in options) + ".", ""]
        for option in options:
            out += section(f"{group}={option.stem}", option, "####")
    return "\n".join(out)
