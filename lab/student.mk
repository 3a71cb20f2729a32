# The Transformer course, as students get it (this file is the student bundle's Makefile).
#
#   make lab                 set up (first time only: .venv/ with Python 3.11) and open the course in JupyterLab
#   make check A=02_attention  check your notebook course/02_attention/02_attention.ipynb on every case
#                            the grader runs, on fresh inputs (python -m course_check)
#   make clean               remove .venv/ (your notebooks stay); the next `make lab` sets up again
#
# README.md explains the set-up, the notebooks, checking and submitting.
include lab/course.mk

.PHONY: check clean

check: setup
	@test -n "$(A)" || { echo "Name the notebook: make check A=02_attention (one of: $(notdir $(wildcard course/*)))" >&2; exit 2; }
	$(PY) -m course_check $(A) course/$(A)/$(A).ipynb

clean:
	rm -rf $(VENV)
