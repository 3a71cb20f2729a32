# The students' set-up, shared by the repository's Makefile and the student bundle's
# (lab/student.mk, shipped as the bundle's Makefile): one recipe, so the bundle sets up exactly
# as the repository does.
#
#   make setup   create .venv/ with the pinned packages, register the kernel, install the
#                students' JupyterLab (Validate button only) and their nbgrader settings
#   make lab     set up (first time only) and open course/ in JupyterLab
#
# Any Python 3.11.x works (Debian 12's 3.11.2 included). `make lab PYTHON=/path/to/python3.11`
# picks one; otherwise python3.11 on PATH, then python3.
PYTHON ?= $(or $(shell command -v python3.11 2>/dev/null),python3)
VENV    := .venv
PY      := $(VENV)/bin/python
JUPYTER := $(VENV)/bin/jupyter
# The kernel every notebook names in its metadata (grader/settings.py pins the same name).
KERNEL  := transformer-course
STAMP   := $(VENV)/.installed
# Jupyter refuses to start as root without --allow-root; containers and CI run as root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

define NEED_PYTHON_311
This course needs Python 3.11 (any 3.11.x) with its venv module.
  Debian 12, Ubuntu 22.04:   sudo apt install python3.11 python3.11-venv
  Ubuntu 24.04 and later:    sudo add-apt-repository ppa:deadsnakes/ppa && sudo apt install python3.11 python3.11-venv
  macOS (Homebrew):          brew install python@3.11
  Windows:                   use WSL (Ubuntu), then the line above for your Ubuntu
  conda:                     conda create -n py311 python=3.11 && conda activate py311
then run it again, naming that Python if it is not python3.11 on your PATH:
  make lab PYTHON=/path/to/python3.11
endef
export NEED_PYTHON_311

.PHONY: setup lab

# The students' JupyterLab is nbgrader's prebuilt extension with only the Validate button. Its
# wheel switches on every nbgrader server extension; the instructor tools and the assignment list
# (which needs an exchange) are switched off below (the repository's `make instructor-lab` switches
# the instructor tools on for its own server only), and the students' nbgrader settings are copied
# to where every nbgrader app looks for them.

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml Makefile lab/course.mk lab/student_nbgrader_config.py
	@found=$$($(PYTHON) -c 'import sys; print("Python", sys.version.split()[0])' 2>/dev/null) || found="not found"; \
	if ! $(PYTHON) -c 'import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then \
		echo "Cannot set up with '$(PYTHON)' ($$found, or without its venv module)." >&2; \
		echo "$$NEED_PYTHON_311" >&2; exit 1; fi; \
	echo "Setting up the course with $$found in $(VENV)/ (first time only: a few minutes, about 1.5 GB)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Transformer course (Python 3.11)"
	$(JUPYTER) labextension enable --level=sys_prefix @jupyter/nbgrader
	$(JUPYTER) labextension disable --level=sys_prefix @jupyter/nbgrader:menu @jupyter/nbgrader:assignment-list \
		@jupyter/nbgrader:course-list @jupyter/nbgrader:formgrader @jupyter/nbgrader:create-assignment
	$(JUPYTER) server extension enable --sys-prefix nbgrader.server_extensions.validate_assignment
	$(JUPYTER) server extension disable --sys-prefix nbgrader.server_extensions.assignment_list \
		nbgrader.server_extensions.course_list nbgrader.server_extensions.formgrader
	cp lab/student_nbgrader_config.py $(VENV)/etc/jupyter/nbgrader_config.py
	touch $(STAMP)
	@echo "Set up. The course's kernel is 'Transformer course (Python 3.11)'."

lab: setup
	$(JUPYTER) lab --ServerApp.root_dir=course $(ALLOW_ROOT)
