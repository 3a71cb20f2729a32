"""Fast unit tests of the grading limits (issue 9): sizes, failure reasons, duplicate grade ids."""

from __future__ import annotations

import nbformat
import pytest

from grader.intake import without_duplicate_ids
from grader.cli import main
from grader.runner import failure_reason
from grader.settings import GraderError, parse_size
from grader.workspace import KERNEL_STARTUP, kernel_environment


@pytest.mark.parametrize("text, size", [("4G", 4 * 2**30), ("4GiB", 4 * 2**30), ("3000M", 3000 * 2**20),
                                        ("512m", 512 * 2**20), ("1.5G", 3 * 2**29), ("0", 0), ("none", 0),
                                        ("123", 123)])
def test_parse_size(text, size):
    assert parse_size(text) == size


def test_parse_size_rejects_nonsense():
    with pytest.raises(GraderError, match="not a memory size"):
        parse_size("lots")


def test_kernel_environment_carries_the_memory_limit(tmp_path):
    env = kernel_environment(tmp_path, 2**30)
    assert env["GRADER_KERNEL_MEMORY_BYTES"] == str(2**30) and env["IPYTHONDIR"] == str(tmp_path)
    startup = KERNEL_STARTUP.read_text()
    assert "RLIMIT_AS" in startup and "GRADER_KERNEL_MEMORY_BYTES" in startup


def test_cell_timeout_reason_names_the_exception():
    log = "\n".join([
        "[ERROR] Traceback (most recent call last):",
        '      File "x.py", line 1, in f',
        "        raise CellTimeoutError.error_from_timeout_and_cell(",
        "    nbclient.exceptions.CellTimeoutError: A cell timed out while it was being executed, after 4 seconds.",
        "    The message was: Timeout waiting for IOPub output.",
        "    Here is a preview of the cell contents:",
        "    -------------------",
        "    while True: pass",
        "    -------------------",
        "[ERROR] There was an error processing assignment",
    ])
    reason = failure_reason(log, "")
    assert reason.startswith("a cell ran past the per-cell --timeout and did not stop when interrupted")
    assert "CellTimeoutError: A cell timed out" in reason


def _cell(grade_id, source):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": True, "grade": False, "locked": False,
                                 "schema_version": 3}
    return cell


def test_duplicate_grade_ids_keep_the_last():
    nb = nbformat.v4.new_notebook(cells=[_cell("square", "first"), _cell("other", "x"), _cell("square", "second")])
    out = nbformat.reads(without_duplicate_ids(nbformat.writes(nb).encode()).decode(), as_version=4)
    assert [c.source for c in out.cells] == ["first", "x", "second"]
    assert [c.metadata.get("nbgrader", {}).get("grade_id") for c in out.cells] == [None, "other", "square"]
    clean = nbformat.writes(nbformat.v4.new_notebook(cells=[_cell("a", "1")])).encode()
    assert without_duplicate_ids(clean) is clean


def test_cli_rejects_a_notebook_limit_below_the_cell_limit(tmp_path, capsys):
    assert main(["autograde", str(tmp_path), "--workspace", str(tmp_path / "ws"), "--timeout", "30",
                 "--notebook-timeout", "10"]) == 1
    assert "--notebook-timeout (10 s) must be longer" in capsys.readouterr().err


def test_help_documents_the_limits(capsys):
    with pytest.raises(SystemExit):
        main(["autograde", "--help"])
    text = capsys.readouterr().out
    for words in ["--notebook-timeout", "--memory-limit", "RLIMIT_AS", "ceil(S/N) x notebook-timeout", "1000 lines"]:
        assert words in text
