# nbgrader settings of the students' JupyterLab; `make setup` copies this file to
# .venv/etc/jupyter/nbgrader_config.py, where every nbgrader app looks for it.
#
# The Validate button needs no settings: it runs the open notebook the way the grader does.
# Without any nbgrader_config.py, nbgrader logs "No nbgrader_config.py file found" at every
# action, so this file exists even though it sets nothing.
#
# A class that hands out and collects assignments through nbgrader's exchange sets it here, e.g.
#   c.CourseDirectory.course_id = "transformer-course"
#   c.Exchange.root = "/srv/nbgrader/exchange"
# and enables the assignment list (README, "For instructors and TAs").
c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)
