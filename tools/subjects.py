"""What each delegation subject refuses, generated from the installed libraries: CONTRIBUTING.md's table.

    .venv/bin/python -m tools.subjects          # print the table
    .venv/bin/python -m tools.subjects --write  # replace the table in CONTRIBUTING.md

A subject (`course_check.reading.SUBJECTS`) is a name pattern: any part of a dotted path but its
root that matches it is the subject's operation, however the path is reached. This lists, for
each subject, the names in torch's namespaces (and the `torch.ops.aten` operators) that the
pattern matches today, so a reader sees what "every entry point" means, and
`tests/unit/test_subjects_table.py` notices when a torch upgrade changes it.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- subjects table: python -m tools.subjects --write -->", "<!-- end of subjects table -->"
NAMESPACES = ("torch", "torch.nn", "torch.nn.functional", "torch.special", "torch.linalg", "torch.Tensor",
              "torch.autograd", "torch.func", "torch._C", "torch._C._nn", "torch._C._VariableFunctions",
              "torch._C._special", "torch.ops.aten")
SHOWN = 12  # names listed per namespace (then how many there are)


def _names(namespace: str) -> list[str]:
    import importlib

    import torch

    if namespace == "torch.ops.aten":
        return sorted({n.split("::", 1)[1].split(".")[0] for n in torch._C._dispatch_get_all_op_names()
                       if n.startswith("aten::")})
    if namespace == "torch.Tensor":
        return sorted(dir(torch.Tensor))
    obj = importlib.import_module(namespace) if not namespace.startswith("torch._C.") else None
    if obj is None:
        obj = torch._C
        for part in namespace.split(".")[2:]:
            obj = getattr(obj, part)
    return sorted(dir(obj))


def matches() -> dict[str, dict[str, list[str]]]:
    """subject -> namespace -> the names its pattern matches there."""
    from course_check.reading import SUBJECTS

    found: dict[str, dict[str, list[str]]] = {}
    names = {namespace: _names(namespace) for namespace in NAMESPACES}
    for subject, pattern in SUBJECTS.items():
        if not pattern:
            continue
        regex = re.compile(pattern, re.I)
        found[subject] = {ns: hits for ns in NAMESPACES if (hits := [n for n in names[ns] if regex.search(n)])}
    return found


def table() -> str:
    import torch
    from course_check.reading import SUBJECTS

    version = torch.__version__.split("+")[0]
    rows = [f"| subject | pattern | names it matches (torch {version}) |", "|---|---|---|"]
    for subject, by_namespace in matches().items():
        listed = "; ".join(f"`{ns}`: " + ", ".join(hits[:SHOWN]) + (f", ... ({len(hits)} in all)" if len(hits) > SHOWN else "")
                           for ns, hits in by_namespace.items())
        rows.append(f"| `{subject}` | `{SUBJECTS[subject].replace('|', '&#124;')}` | {listed} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the table in CONTRIBUTING.md")
    args = parser.parse_args()
    text = table()
    if not args.write:
        print(text)
        return
    path = ROOT / "CONTRIBUTING.md"
    source = path.read_text()
    start, end = source.index(BEGIN) + len(BEGIN), source.index(END)
    path.write_text(source[:start] + "\n" + text + "\n" + source[end:])


if __name__ == "__main__":
    main()
