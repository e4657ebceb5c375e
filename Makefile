# Two commands on a fresh machine:
#   make lab    - JupyterLab on notebooks/ with the default board ready
#   make test   - the whole test suite (model, notebooks, widgets, browser)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: lab present test test-fast lint bench oracle clean exercises hub

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	# nbgrader comes only for tests/test_nbgrader.py: keep its menus out of the lab
	# (and its front end out of Voila, where it fails to load)
	$(VENV)/bin/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null
	for ext in formgrader validate_assignment assignment_list course_list; do \
	    $(VENV)/bin/jupyter server extension disable --sys-prefix \
	        nbgrader.server_extensions.$$ext >/dev/null 2>&1; \
	done
	touch $(STAMP)

# LAB_ARGS go to the command, e.g. make lab LAB_ARGS="--port 9000 --no-browser"
lab: $(STAMP)
	$(VENV)/bin/nommu-lab lab $(LAB_ARGS)

present: $(STAMP)
	$(VENV)/bin/nommu-lab present $(LAB_ARGS)

test: $(STAMP)
	bash scripts/ensure-system-packages
	bash scripts/run-tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not browser" tests

lint: $(STAMP)
	$(VENV)/bin/ruff check nommu_lab tests benchmarks

# exercises/ is generated: solutions/ with the solution blocks stripped (nbgrader's way)
exercises: $(STAMP)
	$(VENV)/bin/nommu-lab release

# JupyterHub for a class on this machine (docs/instructor-guide.md); HUB_AUTH=shared for a trial
hub: $(STAMP)
	bash scripts/ensure-system-packages
	NOMMU_LAB_HUB_AUTH=$${HUB_AUTH:-pam} $(VENV)/bin/jupyterhub -f deploy/jupyterhub_config.py

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

oracle: $(STAMP)
	bash oracle/run.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis test-artifacts
