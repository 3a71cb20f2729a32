# On a fresh machine:
#   make lab        set up (first time only) and open the course in JupyterLab
#   make test-fast  set up (first time only) and run the unit tests (seconds each, no kernels)
#   make test       set up (first time only) and run every test, as CI does
# and, for self-learners and course staff:
#   make site            build the self-study site into site/_build/html (executions are cached)
#   make instructor-lab  JupyterLab on the grading workspace with nbgrader's formgrader
# Set-up and `make lab`, shared with the student bundle: lab/course.mk.
include lab/course.mk

.PHONY: instructor-lab site test test-fast clean

instructor-lab: setup
	$(PY) lab/instructor.py $(if $(WORKSPACE),--workspace $(WORKSPACE)) $(ALLOW_ROOT)

site: setup
	$(PY) site/build.py

# Two processes (pytest-xdist): the kernel tests are independent; --dist loadfile keeps the
# tests of one file, which share its expensive module fixture (a graded batch), on one process;
# --no-loadscope-reorder hands out the files in the order tests/conftest.py gives them, the
# longest first (LONGEST_FIRST), so that no long file starts last and runs alone.
test: setup
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

test-fast: setup
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder tests/unit

clean:
	rm -rf $(VENV) workspace dist site/_build
