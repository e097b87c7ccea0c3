# Entry points; the logic lives in scripts/ (scripts/lib.sh holds the cmake invocations).
LIB := . scripts/lib.sh &&
MAKEFLAGS += --no-print-directory

.PHONY: generate new-service build images bundle up down reset test check lint asan tsan clean format fuzz load load-start load-stop bench chaos doctor lab-check class-render
.DEFAULT_GOAL := build

build:
	@bash -c '$(LIB) ms_build "$$MS_BUILD_DIR"'

# Rewrites every file that repeats a service's facts from services/*/service.json (the
# generated files say so in their first line; tests/deploy/generate.test.sh fails on drift).
generate:
	@node tools/generate/generate.mjs

# A new service on the common library, its test and its API document (docs/adding-a-service.md):
# make new-service NAME=wishlist [UPSTREAM=product]; then make generate && make build.
new-service:
	@node tools/generate/new-service.mjs "$(NAME)" $(UPSTREAM)

# Every image of the shop (MS_REGISTRY prefix, MS_TAG; MS_PUSH=1 pushes; MS_PLATFORMS=linux/amd64,linux/arm64
# cross-compiles a multi-arch image with buildx or podman),
# and one archive of them with PostgreSQL, Redis, nginx, Prometheus and Grafana for a USB stick.
images:
	@bash scripts/images.sh build

bundle:
	@bash scripts/images.sh bundle $(BUNDLE)

up:
	@bash scripts/up.sh

down:
	@bash scripts/down.sh

# Back to a known state, whichever way the shop runs (bin/lab reset): faults cleared, the canary
# at 10 %, breakers closed, the data seeded again.
reset:
	@bin/lab reset

# What this machine lacks for one way of running the shop (WAY=native|compose|kubernetes|all).
doctor:
	@bash scripts/doctor.sh $(WAY)

# The local chaos experiments on a stack of their own (chaos/README.md); CHAOS_ARGS=--short for
# the CI-sized run, CHAOS_ARGS=--use-running against `make up`'s stack.
chaos:
	@bash chaos/local/run.sh $(CHAOS_ARGS)

test:
	@bash scripts/test.sh

# The fast inner loop: lint, build, unit, integration and fuzz-replay tests (no sanitizers).
check:
	@bash scripts/test.sh --check

# Every promise of lab 7 on the KIND cluster of scripts/lab/kind-up.sh, one PASS/FAIL line each
# (LAB_CHECK_ARGS=--plan lists them; --only ID,... checks some). ATTENDEES=1-30: a class on one
# cluster, each attendee's namespace in turn, then a grid of promise x attendee (OUT: the class
# rendered by class-render, default ./class).
lab-check:
	@node scripts/lab/check.mjs $(if $(or $(ATTENDEES),$(ATTENDEE)),--attendees $(or $(ATTENDEES),$(ATTENDEE)) --class-dir $(or $(OUT),class)) $(LAB_CHECK_ARGS)

# The Kubernetes material for a class on one cluster (docs/instructor/class-on-one-cluster.md):
# OUT/attendee-N/ per attendee of ATTENDEES (namespace shop-N, node port 30080+N), OUT/shared/ once;
# CLASS_LISTEN=<the instructor's LAN address> when attendees reach the cluster from their laptops.
# ATTENDEE=7 renders one attendee. Without either, today's material (namespace ecommerce) in OUT/default/.
class-render:
	@node scripts/class/class.mjs render $(if $(or $(ATTENDEES),$(ATTENDEE)),--attendees $(or $(ATTENDEES),$(ATTENDEE))) --out $(or $(OUT),class) $(if $(CLASS_LISTEN),--listen $(CLASS_LISTEN))

lint:
	@bash scripts/lint.sh

tsan:
	@bash -c '$(LIB) ms_build_tsan'

asan:
	@bash -c '$(LIB) ms_build_asan'

fuzz:
	@bash scripts/fuzz.sh

# A wrk scenario against the running shop (make up): LOAD_SCENARIO, LOAD_CONNECTIONS, LOAD_RATE,
# LOAD_DURATION, LOAD_TARGET, ... (see load-test/run.sh).
load:
	@bash load-test/run.sh

# A gentle load in the background of make up's shop, supervised like the services, until
# load-stop or make down: LOAD_RATE (5 requests/s), LOAD_CONNECTIONS, LOAD_SCENARIO.
load-start:
	@bash load-test/background.sh start

load-stop:
	@bash load-test/background.sh stop

# The benchmark table: its own stack on free ports, ceilings, endpoints, RSS, time to ready; then
# checkouts with 1 % of the stores' answers lost (bench/lost-answers.sh, BENCH_NO_BUILD=1 there).
bench:
	@bash scripts/install-deps.sh bench
	@bash bench/run.sh && BENCH_NO_BUILD=1 bash bench/lost-answers.sh

clean:
	rm -rf build build-asan build-tsan

format:
	@bash -c '$(LIB) ms_c_files | (cd "$$MS_ROOT" && xargs -r clang-format -i)'
