# envstack: `make synth STACK=dev` and `make test` set everything up on a fresh machine.
STACK ?= dev
BENCH_STACKS ?= prod
UV_VERSION := 0.13.9
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
# A pinned uv in .tools/ (bootstrapped with the machine's python3); Pulumi's `toolchain: uv` uses the same .venv.
UV := .tools/bin/uv
VENV_STAMP := .venv/.synced

.PHONY: state-snapshot setup synth cost prices test lint lint-workflows typecheck unit clean bench policy-config partitions docs

setup: $(VENV_STAMP)

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Which dependency groups beside the runtime: all of them here (tests, linters, emulators); a deploy job asks for
# UV_GROUPS="--group ops" (boto3 for preflight and promote) and gets no test, lint or emulator package.
UV_GROUPS ?= --all-groups

# --compile-bytecode: the SDKs' ~8000 modules compiled once here; these machines set PYTHONDONTWRITEBYTECODE, so
# without it every `envstack synth` recompiles what it imports (twice the time).
$(VENV_STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen $(UV_GROUPS) --compile-bytecode
	@touch $@

synth: $(VENV_STAMP)
	$(UV) run --frozen --no-sync envstack synth $(STACK) --json out/$(STACK).json

# validate and synth times next to the import floor, and the test suite's time as `make unit` runs it (figures
# only: nothing fails on them).
bench: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python scripts/benchmark.py $(BENCH_STACKS) --pytest

cost: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python scripts/cost_report.py

# Regions and partitions the program validates against (envstack/program/aws_partitions.json), from botocore.
partitions: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python -m envstack.tools.partitions

# Each environment's pack thresholds (policies/<env>.json) from its profile's guardrails; tests fail when stale.
policy-config: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python -m envstack.tools.policy_config

# docs/configuration.md and docs/policies.md: their generated sections, from the models, profiles and the pack
# (tests/test_docs.py fails while they are stale).
docs: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python -m envstack.tools.reference

# envstack/tools/prices.yaml regenerated from AWS's public Price List offer files: needs the network (maintainers
# run it; CI never does), or OFFERS=DIR, a local copy of the Price List host's paths (docs/cost.md).
prices: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python scripts/update_prices.py $(if $(OFFERS),--offers $(OFFERS))

# state-snapshots/<stack>.json: each committed stack's stateful resources and the inputs that would replace them,
# which `make test` holds the program to (envstack/tools/state_snapshot.py). Rewrite them on purpose, with the alias
# or CHANGELOG upgrade note the change needs: `make state-snapshot` (every stack) or STACKS="prod staging".
STACKS ?=
state-snapshot: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python -m envstack.tools.state_snapshot --update $(STACKS)

lint: $(VENV_STAMP)
	$(UV) run --frozen --no-sync ruff check .
	$(UV) run --frozen --no-sync lint-imports --no-cache

# GitHub Actions workflows, offline: actionlint, again on a copy with SHA pins read as their tags (actionlint knows
# popular actions' inputs by tag only), and GitHub's JSON schemas.
lint-workflows: $(VENV_STAMP)
	$(UV) run --frozen --no-sync actionlint
	$(UV) run --frozen --no-sync python scripts/actionlint_tags.py
	$(UV) run --frozen --no-sync check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(UV) run --frozen --no-sync check-jsonschema --builtin-schema vendor.github-actions .github/actions/*/action.yml

typecheck: $(VENV_STAMP)
	$(UV) run --frozen --no-sync mypy

# pytest on every core (pytest-xdist, tests handed out as workers free up; each worker keeps its own session cache
# of syntheses). A single file while iterating: .venv/bin/pytest tests/test_x.py (one process, no workers).
PYTEST_ARGS ?= -n auto --dist worksteal

unit: $(VENV_STAMP)
	$(UV) run --frozen --no-sync pytest $(PYTEST_ARGS)

test: lint lint-workflows typecheck unit

clean:
	rm -rf .venv .tools out .pytest_cache .mypy_cache .ruff_cache
