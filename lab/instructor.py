"""JupyterLab for course staff: nbgrader's formgrader on this course's grading workspace.

`make instructor-lab` runs this file (`python lab/instructor.py [--workspace DIR] [JUPYTER LAB OPTIONS]`).
It prepares the workspace as `python -m grader autograde` does (grader/workspace.py: `source` is a
link to solutions/, the gradebook is `gradebook.db`), writes two things into it

    nbgrader_config.py      the grader's own nbgrader settings (grader.runner.nbgrader_config), so
                            formgrader reads and writes the gradebook and folders the command line uses,
                            and an exchange folder `exchange/` for its release/collect buttons;
    jupyter-instructor/     a Jupyter config folder put first on JUPYTER_CONFIG_PATH for this server
                            only: it switches on the instructor tools (Formgrader, Course List, Create
                            Assignment, the Nbgrader menu) that the students' set-up (Makefile `setup`)
                            leaves off;
    jupyter-instructor/data/nbconvert/templates/base/mathjax.html.j2
                            put first on JUPYTER_PATH for this server: formgrader's pages typeset
                            equations with the environment's own MathJax 3 (sphinx-mathjax-offline,
                            copied to feedback/_static/mathjax/ and served by Jupyter's /files/), with
                            the few MathJax 2 calls formgrader's script makes answered by a shim,
                            instead of loading MathJax 2 from a CDN (offline: raw equations and
                            "MathJax is not defined");
    exchange/<course>/outbound/<A>/
                            a copy of course/<A>/ for every assignment `python -m grader release`
                            wrote, so formgrader lists them as released rather than "draft";

and starts JupyterLab in the workspace. Student names come from the gradebook: `python -m grader
autograde ... --roster students.csv` fills them in (formgrader shows "None, None" without). Grading itself stays on the command line
(`python -m grader autograde`), which confines and times each kernel; formgrader is for looking at
the gradebook, submissions and feedback, and for manual grading.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import sys
from pathlib import Path

from grader.feedback import install_mathjax
from grader.intake import find_assignments
from grader.settings import COURSE_DIR, SOLUTIONS_DIR
from grader.workspace import Workspace

COURSE_ID = "transformer-course"
INSTRUCTOR_LAB_PLUGINS = [
    "@jupyter/nbgrader:menu",
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:create-assignment",
]
INSTRUCTOR_SERVER_EXTENSIONS = [
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
]

NBGRADER_CONFIG = '''\
# Written by lab/instructor.py for `make instructor-lab`; rewritten at every start.
# Formgrader works on this workspace with the settings of `python -m grader` (grader/runner.py).
from grader.runner import nbgrader_config
from grader.workspace import Workspace

_workspace = Workspace.at({root!r})
c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)
c.merge(nbgrader_config(_workspace.root, _workspace.db_url))
c.CourseDirectory.course_id = {course_id!r}
# nbgrader's exchange (release/collect buttons) in the workspace instead of /usr/local/share/nbgrader.
c.Exchange.root = {exchange!r}
'''


# nbconvert's `mathjax` macro, which formgrader's templates call without a URL (so always the CDN).
# base_url ("<server base>/formgrader") is set by formgrader's header, which comes first.
MATHJAX_MACRO = r"""{%- macro mathjax(url=None) -%}
<!-- MathJax 3 from this environment (lab/instructor.py), not from a CDN -->
<script>
window.MathJax = {
  tex: {inlineMath: [["$", "$"], ["\\(", "\\)"]], displayMath: [["$$", "$$"], ["\\[", "\\]"]],
        processEscapes: true, processEnvironments: true, autoload: {}},
  loader: {load: ["ui/safe"]},
  svg: {fontCache: "global"}
};
(function () {
  var root = (typeof base_url === "string" ? base_url.replace(/\/formgrader$/, "") : "");
  document.write('<script src="' + root + '/files/feedback/_static/mathjax/tex-svg.js"><\/script>');
})();
</script>
<script>
// formgrader's own script speaks MathJax 2 (MathJax.Hub): answer what it asks with MathJax 3.
(function () {
  // Without MathJax (its file not found) formgrader still works: it hears "End" at once.
  // A listener that comes after MathJax has finished hears "End" at once, too.
  var loaded = window.MathJax && MathJax.startup, done = !loaded, listeners = [];
  if (!loaded) { window.MathJax = {}; }
  function end(f) { setTimeout(function () { f("End"); }); }
  MathJax.Hub = {
    Startup: {signal: {Interest: function (f) { if (done) { end(f); } else { listeners.push(f); } }}},
    Queue: function () { return MathJax.typesetPromise ? MathJax.typesetPromise() : null; },
    Config: function () {}
  };
  if (loaded) { MathJax.startup.promise.then(function () { done = true; listeners.forEach(end); }); }
})();
</script>
{%- endmacro %}
"""


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def prepare(workspace: Workspace) -> Path:
    """Set the workspace up for formgrader; returns the Jupyter config folder of the instructor lab."""
    workspace.prepare(SOLUTIONS_DIR)
    exchange = workspace.root / "exchange"
    exchange.mkdir(exist_ok=True)
    (workspace.root / "nbgrader_config.py").write_text(
        NBGRADER_CONFIG.format(root=str(workspace.root), course_id=COURSE_ID, exchange=str(exchange))
    )
    config_dir = workspace.root / "jupyter-instructor"
    macro = config_dir / "data" / "nbconvert" / "templates" / "base" / "mathjax.html.j2"
    macro.parent.mkdir(parents=True, exist_ok=True)
    macro.write_text(MATHJAX_MACRO)
    install_mathjax(workspace.step("feedback"))
    publish_released(exchange / COURSE_ID / "outbound")
    write_json(config_dir / "labconfig" / "page_config.json",
               {"disabledExtensions": {plugin: False for plugin in INSTRUCTOR_LAB_PLUGINS}})
    write_json(config_dir / "jupyter_server_config.json",
               {"ServerApp": {"jpserver_extensions": {name: True for name in INSTRUCTOR_SERVER_EXTENSIONS}}})
    return config_dir


def publish_released(outbound: Path, course_dir: Path = COURSE_DIR) -> list[str]:
    """Copy every released assignment (course/<A>/, written by `python -m grader release`) into the
    exchange's outbound folder, as `nbgrader release_assignment` would; return their names."""
    released = find_assignments(course_dir) if course_dir.is_dir() else []
    for assignment in released:
        source, target = course_dir / assignment, outbound / assignment
        if target.is_dir() and not filecmp.dircmp(source, target).diff_files and \
                sorted(p.name for p in source.iterdir()) == sorted(p.name for p in target.iterdir()):
            continue
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
    return released


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", help="the grading workspace (default: workspace/ in the repository)")
    args, lab_options = parser.parse_known_args(argv)
    workspace = Workspace.at(args.workspace)
    config_dir = prepare(workspace)
    env = dict(os.environ)
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(filter(None, [str(config_dir), env.get("JUPYTER_CONFIG_PATH")]))
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(config_dir / "data"), env.get("JUPYTER_PATH")]))
    # formgrader's gradebook code starts this environment's `alembic` command when it creates a
    # gradebook: find it even when the environment is not activated.
    env["PATH"] = os.pathsep.join(filter(None, [str(Path(sys.executable).parent), env.get("PATH")]))
    jupyter = Path(sys.executable).with_name("jupyter")
    os.chdir(workspace.root)  # formgrader also reads nbgrader_config.py from the working directory
    command = [str(jupyter), "lab", f"--ServerApp.root_dir={workspace.root}", *lab_options]
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main()
