# On a fresh machine:
#   make lab        set up (first time only) and open the course in JupyterLab
#   make test-fast  set up (first time only) and run the unit tests (seconds each, no kernels)
#   make test       set up (first time only) and run every test, as CI does
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
JUPYTER := $(VENV)/bin/jupyter
# The kernel every notebook names in its metadata (grader/settings.py pins the same name).
KERNEL := transformer-course
STAMP  := $(VENV)/.installed

.PHONY: setup lab test test-fast clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Transformer course (Python 3.11)"
	# nbgrader's JupyterLab extension ships prebuilt; students need the Validate button and the assignment list.
	$(JUPYTER) labextension enable --level=sys_prefix @jupyter/nbgrader
	$(JUPYTER) server extension enable --sys-prefix nbgrader.server_extensions.validate_assignment
	$(JUPYTER) server extension enable --sys-prefix nbgrader.server_extensions.assignment_list
	touch $(STAMP)

lab: setup
	$(JUPYTER) lab --notebook-dir=course

# Two processes (pytest-xdist): the kernel tests are independent; --dist loadfile keeps the
# tests of one file, which share its expensive module fixture (a graded batch), on one process.
test: setup
	$(PY) -m pytest -n 2 --dist loadfile

test-fast: setup
	$(PY) -m pytest tests/unit

clean:
	rm -rf $(VENV) workspace dist
