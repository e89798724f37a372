"""A griffe extension for the API reference: hhlif's docstrings are written in Sphinx's reST style (``.. math::``
blocks, :class:`~hhlif.errors.ShapeError` roles, ````code````); mkdocstrings renders Markdown. Before rendering,
this turns a math block into a fenced ``tex`` block (shown as written: the site loads no math renderer, so that
it works offline), a role into inline code (dropping the ``~`` that shortens a dotted path), and reST's double
backquotes into Markdown's single ones."""

from __future__ import annotations

import re
import textwrap

from griffe import Extension

_MATH = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*\n(?P<body>(?:(?P=indent)[ \t]+\S.*\n?|[ \t]*\n)+)", re.M)
_ROLE = re.compile(r":(?:class|meth|func|mod|data|attr|exc|obj|math):`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def markdown(text: str) -> str:
    def math(match: re.Match) -> str:
        body = textwrap.dedent(match["body"]).strip("\n")
        return f"```tex\n{body}\n```\n\n"

    text = _LITERAL.sub(r"`\1`", _ROLE.sub(r"`\1`", text))
    return _MATH.sub(math, text)


class SphinxToMarkdown(Extension):
    def on_object(self, *, obj, **kwargs) -> None:  # noqa: ARG002 (griffe's extension signature)
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
