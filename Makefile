# Two commands on a fresh machine:
#   make lab   set up (first time only) and open the course in JupyterLab
#   make test  set up (first time only) and run every test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
JUPYTER := $(VENV)/bin/jupyter
# The kernel every notebook names in its metadata (grader/config.py pins the same name).
KERNEL := transformer-course
STAMP  := $(VENV)/.installed

.PHONY: setup lab test clean

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

test: setup
	$(PY) -m pytest

clean:
	rm -rf $(VENV) workspace dist
