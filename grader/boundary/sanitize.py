"""Feedback pages carry nothing a submission could use against a reader, and nothing hidden.

Runs in `python -m grader feedback` before nbconvert writes the HTML:
- outputs that a browser would execute or render as markup are made inert: `text/html` goes
  through bleach (a maintained HTML sanitiser) with a small allow-list of harmless tags;
  JavaScript, SVG, LaTeX-in-HTML widgets and unknown types are dropped with a note; markdown
  outputs become plain text (nbconvert would render raw HTML inside markdown);
- every output and every page is size-capped (a 150 MB output line would otherwise make a
  150 MB page);
- the hidden part of each test cell is replaced by one comment line: the checks run in the
  grader, and the page shows what they found, not how they look.
"""

from __future__ import annotations

import re

import bleach
from nbgrader.preprocessors import NbGraderPreprocessor

MAX_OUTPUT_CHARS = 20_000  # per text output
MAX_OUTPUTS_PER_CELL = 50
MAX_CELL_CHARS = 200_000  # all outputs of one cell together
SAFE_TAGS = {"b", "i", "em", "strong", "code", "pre", "p", "br", "span", "div", "table", "thead", "tbody", "tr",
             "th", "td", "ul", "ol", "li", "h1", "h2", "h3", "h4", "sub", "sup"}
SAFE_ATTRIBUTES: dict[str, list[str]] = {}
KEEP_MIME = {"text/plain", "text/html", "image/png", "image/jpeg"}
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[ \t]*$", re.S | re.M)
HIDDEN_NOTE = "# (hidden tests: run by the grader; their verdict is shown below)"


def _cap(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{len(text) - limit:,} more characters not shown]"


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def clean_html(html: str) -> str:
    return bleach.clean(html, tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES, protocols=[], strip=True, strip_comments=True)


def sanitize_output(output: dict) -> dict | None:
    kind = output.get("output_type")
    if kind == "stream":
        output["text"] = _cap(_text(output.get("text", "")))
        return output
    if kind == "error":
        output["ename"] = _cap(str(output.get("ename", "")), 200)
        output["evalue"] = _cap(str(output.get("evalue", "")))
        output["traceback"] = [_cap(_text(line), 5000) for line in output.get("traceback", [])[:100]]
        return output
    if kind in ("display_data", "execute_result"):
        data = output.get("data", {})
        dropped = sorted(set(data) - KEEP_MIME)
        clean = {}
        if "text/plain" in data:
            clean["text/plain"] = _cap(_text(data["text/plain"]))
        if "text/markdown" in data and "text/plain" not in clean:
            clean["text/plain"] = _cap(_text(data["text/markdown"]))
        if "text/html" in data:
            clean["text/html"] = _cap(clean_html(_text(data["text/html"])))
        for mime in ("image/png", "image/jpeg"):
            if mime in data and len(_text(data[mime])) <= 4 * MAX_OUTPUT_CHARS * 10:
                clean[mime] = _text(data[mime]).replace("\n", "")
        if not clean:
            clean["text/plain"] = f"[output of type {', '.join(dropped) or 'unknown'} not shown]"
        output["data"] = clean
        output["metadata"] = {}
        return output
    return None  # unknown output types are not shown


class SanitizeFeedback(NbGraderPreprocessor):
    """Make every output inert and bounded, and hide the hidden tests' source (module docstring)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            cell.source = HIDDEN.sub(HIDDEN_NOTE, cell.source)
            kept, total = [], 0
            for output in cell.get("outputs", [])[:MAX_OUTPUTS_PER_CELL]:
                output = sanitize_output(output)
                if output is None:
                    continue
                total += len(str(output))
                if total > MAX_CELL_CHARS:
                    kept.append({"output_type": "stream", "name": "stdout", "text": "... [more output not shown]\n"})
                    break
                kept.append(output)
            cell.outputs = kept
        elif cell.cell_type == "markdown":  # a student may edit markdown: raw HTML in it would render
            cell.source = _cap(clean_html(cell.source), MAX_CELL_CHARS)
        return cell, resources
