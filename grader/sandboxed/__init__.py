"""Everything that runs INSIDE the grading sandbox, in one folder: the trust boundary in the layout.

    kernel_startup.py   the IPython start-up file of every grading kernel (memory cap, matplotlib)
    kernel_agent.py     the agent the grader installs in a kernel after the notebook ran
    warm_parent.py      the warm parent that forks kernels (forked kernels; grader/forked.py)
    codec.py            the wire codec both sides import: values <-> JSON, and the frame formats

The sandbox cannot see grader/ (grader/sandbox.py refuses to show it), so nothing here imports a
`grader` module or a package outside the standard library at the top, and each file gets in by
copy: the start-up file into the kernel's IPython profile (grader/workspace.py), the agent and the
codec as source (grader/boundary/remote.install_code), and this folder as a package named
`PACKAGE_INSIDE` for the warm parent (grader/forked.py). Files here import each other relatively
(`from .codec import ...`), which works under both names. The grader imports only codec.py and
the names below; tests import the rest to run it in-process.
"""

from pathlib import Path

FOLDER = Path(__file__).parent  # on the grader's side: the files copied in
PACKAGE_INSIDE = "_transformer_course_sandboxed"  # this folder's name as a package inside the sandbox
AGENT_NAME = PACKAGE_INSIDE + ".kernel_agent"  # the module the agent becomes in the kernel (sys.modules)
