# Every target depends on `setup`, which is idempotent: a stamp file records that it ran with these inputs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
export PYTHONUNBUFFERED := 1

.PHONY: setup test demo prove formalize train-iteration pool bench-lean bench-generate probe-models daemon-start daemon-stop daemon-status check-data trace-corpora clean

setup: $(STAMP)

$(STAMP): pyproject.toml lean_project/wasm.lock.json scripts/setup_lean.py scripts/setup_model.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	$(PY) scripts/setup_lean.py
	@# The OS sandbox around Lean (prover/lean/sandbox.py) uses bubblewrap where it exists; install it when we can.
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null 2>&1; } || \
	  echo "setup: bubblewrap not installed: Lean runs in the Node sandbox only (see README, What is isolated)"
	$(PY) scripts/setup_model.py
	touch $@

test: setup
	$(PY) -m pytest -q -rs --durations=10 tests

# The whole path in a few minutes from cold, to see that everything works: Lean starts, the bundled model
# and the fixed tactics search the `sorry`s of data/demo/Demo.lean (one definition, five theorems, one of
# them false), every proof is re-checked from its text by Lean's kernel, and the run writes its report and
# the file with the proofs filled in (shown as a diff at the end). Exit code 1 (some theorem not proved) is
# the expected outcome here; anything else fails the target.
DEMO_OUT ?= runs/demo
demo: setup
	rm -rf $(DEMO_OUT) && mkdir -p $(DEMO_OUT) && cp data/demo/Demo.lean $(DEMO_OUT)/Demo.lean
	$(PY) -m prover prove $(DEMO_OUT)/Demo.lean --out $(DEMO_OUT)/run --gen-opt dtype=bfloat16 \
	  --budget max_expansions=4,samples_per_expansion=4,wall_seconds=20; rc=$$?; test $$rc -le 1
	@echo; echo "What the prover filled in ($(DEMO_OUT)/Demo.proved.lean; report: $(DEMO_OUT)/run/report.md):"
	@diff -u $(DEMO_OUT)/Demo.lean $(DEMO_OUT)/Demo.proved.lean || true

# Best-first search over the bundled miniF2F-core valid split with the bundled model, the goal-shape moves of
# `structural` and the fixed tactics, closers tried first at each node (the model is asked only where none
# closes it), and the fixed-tactic baseline at the same budget in the same run. The budget finishes the 112
# problems within an hour on 2 CPU cores, Lean's start-up included. Rerunning resumes; PROVE_OUT=runs/other
# starts afresh. Measured: 67/112 against the hammer's 44/112 in 20.6 min (structural+fixed without the model:
# 68/112 in 9.7 min; PROVE_ARGS="--generator structural+fixed").
BENCH        ?= data/minif2f_core/valid.jsonl
PROVE_OUT    ?= runs/prove
PROVE_BUDGET ?= max_expansions=6,samples_per_expansion=4,wall_seconds=25,closers_first=1
PROVE_ARGS   ?= --generator hf+structural+fixed --gen-opt dtype=bfloat16
prove: setup
	@# exit code 1 means "some theorem is not proved", the expected end of a benchmark run; anything else fails
	$(PY) -m prover prove --bench $(BENCH) --out $(PROVE_OUT) --budget $(PROVE_BUDGET) --baseline --resume $(PROVE_ARGS); \
	  rc=$$?; test $$rc -le 1

# Natural language -> Lean 4 statements for the informal statements of the bundled valid split, so the run
# measures itself against the reference statements. Rerunning resumes; FORMALIZE_OUT=runs/other starts afresh;
# FORMALIZE_IN may be any JSONL, a text file (a problem per paragraph) or a problem in quotes.
FORMALIZE_IN   ?= data/minif2f_core/valid.jsonl
FORMALIZE_OUT  ?= runs/formalize
FORMALIZE_ARGS ?= --k 4 --repair-rounds 1 --gen-opt dtype=bfloat16
formalize: setup
	$(PY) -m autoform --input "$(FORMALIZE_IN)" --out $(FORMALIZE_OUT) --resume $(FORMALIZE_ARGS)

# One round of expert iteration (prove the pool, collect verified proofs, learn, evaluate) into iterations/NNN/;
# rerunning resumes an unfinished round, else starts the next. One Lean server serves the whole round. The default
# generator learns without gradients: the memory (seeded with the traced corpora, `memory=traced`) takes the
# round's verified (state, tactic) pairs, then the goal-shape moves and the fixed tactics; a generator with `hf`
# (TRAIN_GENERATOR=hf+structural+fixed) also fine-tunes the model with ZeRO-3 (NPROC=2: 2 processes; bf16
# generation as in `make prove`; 3 epochs at lr 5e-5). The pool (`make pool`: the shipped pool plus the traced
# corpora's standalone theorems) is searched with a larger budget than the benchmark, which gets PROVE_BUDGET so
# its figures compare with `make prove`'s; a round is accepted on more proved, then fewer mean expansions, then
# less mean wall time to proof (report.md says which decided).
POOL            ?= data/train_pool/pool_plus.jsonl
ITER_DIR        ?= iterations
NPROC           ?= 1
TRAIN_GENERATOR ?= memory+structural+fixed
# TRAIN_BUDGET: twice the benchmark's expansions, 40 s; measured: the 126-row shipped pool in 26 min (49 proved).
TRAIN_BUDGET    ?= max_expansions=12,samples_per_expansion=4,wall_seconds=40,closers_first=1
EVAL_BUDGET     ?= $(PROVE_BUDGET)
TRAIN_ARGS      ?= --gen-opt memory=traced --gen-opt dtype=bfloat16 --train-arg "--epochs 3 --lr 5e-5"
train-iteration: setup
	$(PY) -m prover.train --pool $(POOL) --bench $(BENCH) --dir $(ITER_DIR) --generator $(TRAIN_GENERATOR) \
	  --budget $(TRAIN_BUDGET) --eval-budget $(EVAL_BUDGET) --nproc $(NPROC) $(TRAIN_ARGS)

# The training pool of `make train-iteration`: data/train_pool/train_pool.jsonl plus every traced theorem
# (data/traced/) whose corpus proof was sound and whose statement elaborates alone in core Lean with autoImplicit
# false, minus valid-split problems (by name, contest problem, statement) and miniF2F-named rows, deduplicated by
# statement; one Lean server. Writes POOL_OUT and POOL_OUT's .summary.json (counts per corpus, refusals by reason).
POOL_OUT ?= data/train_pool/pool_plus.jsonl
pool: setup
	$(PY) scripts/build_pool.py --out $(POOL_OUT)

# LoRA warm start of the default model (prover/train/warm_start.py) on the traced corpora (data/traced/) and the
# verified proofs of every expert-iteration round (iterations/*/data/proofs.jsonl), in the prompt format the `hf`
# generator uses; at most WARM_STEPS steps or WARM_MINUTES minutes. Writes WARM_OUT/{adapter_config.json,
# adapter_model.safetensors,manifest.json}; use it with `--gen-opt adapter=WARM_OUT`.
.PHONY: warm-start
WARM_OUT     ?= runs/warm-start
WARM_STEPS   ?= 300
WARM_MINUTES ?= 60
WARM_ARGS    ?=
warm-start: setup
	$(PY) -m prover.train.warm_start --out $(WARM_OUT) --max-steps $(WARM_STEPS) --max-minutes $(WARM_MINUTES) $(WARM_ARGS)

# Every statement of the bundled valid split elaborates (with the prelude).
check-data: setup
	$(PY) scripts/check_statements.py data/minif2f_core/valid.jsonl

# Trace the core-only corpora of ../shared/corpora (tactics, states before/after, premises of every sound proof)
# into data/traced/<corpus>/ with their provenance and licences, and print counts per corpus. Untrusted: refused
# commands are skipped and counted. TRACE_ARGS="--only fp-lean --dataset" traces one corpus, also as a dataset.
TRACE_ARGS ?=
trace-corpora: setup
	$(PY) scripts/trace_corpora.py --out data/traced $(TRACE_ARGS)

# Lean server figures (start-up, spare swap, RSS, calls/s, memory over BENCH_LEAN_ARGS="--requests N", daemon).
BENCH_LEAN_ARGS ?=
bench-lean: setup
	$(PY) scripts/bench_lean.py $(BENCH_LEAN_ARGS)

bench-generate: setup
	$(PY) scripts/bench_generate.py

# The probe that picks the default model: per bundled model, the share of sampled tactics Lean accepts and
# closes on the valid split's root goals, tokens/s and memory (one Lean server; measured 37 s per goal for the
# 0.5B and 21 s for SmolLM2 at 4 samples on the busy 2-core machine, so about 30 min at the default 30 goals).
# Table in runs/probe/probe.md, every tactic in runs/probe/probe.jsonl.
PROBE_MODELS ?= --model SmolLM2-135M-Instruct --model Qwen2.5-Coder-0.5B-Instruct
PROBE_ARGS   ?= --goals 30 --samples 4
probe-models: setup
	$(PY) scripts/setup_model.py --model SmolLM2-135M-Instruct --model Qwen2.5-Coder-0.5B-Instruct
	$(PY) scripts/probe_models.py $(PROBE_MODELS) $(PROBE_ARGS)

daemon-start: setup
	$(PY) -m prover.lean.daemon start --prelude data/minif2f_core/prelude.lean

daemon-stop:
	$(PY) -m prover.lean.daemon stop

daemon-status:
	$(PY) -m prover.lean.daemon status

clean:
	rm -rf $(VENV) .cache .pytest_cache
