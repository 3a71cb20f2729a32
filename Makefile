# On a fresh machine:
#   make lab        set up (first time only) and open the course in JupyterLab
#   make test-fast  set up (first time only) and run the unit tests (seconds each, no kernels)
#   make test       set up (first time only) and run every test, as CI does
# and, for self-learners and course staff:
#   make site            build the self-study site into site/_build/html (executions are cached)
#   make instructor-lab  JupyterLab on the grading workspace with nbgrader's formgrader
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
JUPYTER := $(VENV)/bin/jupyter
# The kernel every notebook names in its metadata (grader/settings.py pins the same name).
KERNEL := transformer-course
STAMP  := $(VENV)/.installed
# Jupyter refuses to start as root without --allow-root; containers and CI run as root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: setup lab instructor-lab site test test-fast clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml Makefile lab/student_nbgrader_config.py
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Transformer course (Python 3.11)"
	# Students' JupyterLab: nbgrader's prebuilt extension with only the Validate
	# button. Its wheel switches on every nbgrader server extension; the instructor tools and the
	# assignment list (which needs an exchange) are switched off here, and `make instructor-lab`
	# switches the instructor tools on for itself only.
	$(JUPYTER) labextension enable --level=sys_prefix @jupyter/nbgrader
	$(JUPYTER) labextension disable --level=sys_prefix @jupyter/nbgrader:menu @jupyter/nbgrader:assignment-list \
		@jupyter/nbgrader:course-list @jupyter/nbgrader:formgrader @jupyter/nbgrader:create-assignment
	$(JUPYTER) server extension enable --sys-prefix nbgrader.server_extensions.validate_assignment
	$(JUPYTER) server extension disable --sys-prefix nbgrader.server_extensions.assignment_list \
		nbgrader.server_extensions.course_list nbgrader.server_extensions.formgrader
	cp lab/student_nbgrader_config.py $(VENV)/etc/jupyter/nbgrader_config.py
	touch $(STAMP)

lab: setup
	$(JUPYTER) lab --ServerApp.root_dir=course $(ALLOW_ROOT)

instructor-lab: setup
	$(PY) lab/instructor.py $(if $(WORKSPACE),--workspace $(WORKSPACE)) $(ALLOW_ROOT)

site: setup
	$(PY) site/build.py

# Two processes (pytest-xdist): the kernel tests are independent; --dist loadfile keeps the
# tests of one file, which share its expensive module fixture (a graded batch), on one process.
test: setup
	$(PY) -m pytest -n 2 --dist loadfile

test-fast: setup
	$(PY) -m pytest tests/unit

clean:
	rm -rf $(VENV) workspace dist site/_build
