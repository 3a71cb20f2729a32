"""Sphinx configuration of the self-study site; `site/build.py` (`make site`) runs Sphinx with it."""

project = "The Transformer, one component at a time"
author = "the course team"
copyright = "the course team"

extensions = ["myst_nb", "sphinx-mathjax-offline"]  # MathJax ships with the site: pages work offline

# Executed by MyST-NB in the course's kernel (the notebooks name it), cached by jupyter-cache.
# build.py points nb_execution_cache_path into the build folder.
nb_execution_mode = "cache"
nb_execution_timeout = 600  # per cell: the capstone's training cells run for a minute or more
nb_execution_raise_on_error = True  # a failing cell fails the build, it never ships as a traceback
nb_execution_show_tb = True
nb_merge_streams = True
nb_output_stderr = "remove"  # harmless library warnings are not course content

myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

exclude_patterns = ["_build", "jupyter_execute", ".jupyter_cache"]
# Furo: a sidebar of the lessons that stays while the page scrolls (a drawer behind the menu button
# on a phone), previous/next at the foot of every page, search; its fonts and scripts ship with the
# site, nothing is fetched from elsewhere.
html_theme = "furo"
html_title = project
html_static_path = ["static"]
html_css_files = ["course.css"]
html_theme_options = {
    "navigation_with_keys": True,  # the arrow keys go to the previous / next lesson
    "top_of_page_buttons": [],  # "view source" and "edit" lead to pages a self-learner has no use for
}
html_show_sourcelink = False
html_copy_source = False
html_favicon = "favicon.svg"  # without one, browsers ask for /favicon.ico and log a 404
