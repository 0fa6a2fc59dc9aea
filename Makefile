# gossipd: everyday tasks. Needs only the Rust toolchain (cargo, rustup) and make.

CARGO ?= cargo
CONFIG ?= config/gossipd.ini

.PHONY: all build run demo test lint fmt-check clippy doc toolchain bench plots fuzz sim clean

all: build

## build: optimised binaries in target/release (gossipd, gossip-cli)
build:
	$(CARGO) build --release

## run: build and start one node with the bundled config (Ctrl-C stops it)
run:
	$(CARGO) run --release --bin gossipd -- -c $(CONFIG)

## demo: five local nodes, one item announced at node 1 and received by nodes 2-5
demo:
	bash scripts/demo.sh

## test: formatting, lints, every test target and the doc tests (what CI runs)
test: lint
	$(CARGO) test --all-targets
	$(CARGO) test --doc

## lint: formatting check, clippy and rustdoc, warnings as errors
lint: fmt-check clippy doc

fmt-check: toolchain
	$(CARGO) fmt --all -- --check

clippy: toolchain
	$(CARGO) clippy --all-targets -- -D warnings

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

# rustfmt and clippy are rustup components; install them when missing.
toolchain:
	@if ! $(CARGO) fmt --version >/dev/null 2>&1 || ! $(CARGO) clippy --version >/dev/null 2>&1; then \
		echo "installing the rustfmt and clippy components"; \
		rustup component add rustfmt clippy; \
	fi

## bench: release build, then the floor and the six standard cluster runs (about 2-4 min);
##        prints the tables, writes target/bench/standard.json
bench:
	$(CARGO) build --release --bins
	target/release/gossip-bench standard

## sim: release build of the simulator, then its standard scenario: 10,000 nodes of degree 8
##      join, 100 shuffle rounds (timed), 50 % and 80 % fail at once; prints the tables
##      (several minutes; SIM_FLAGS adds options, e.g. SIM_FLAGS=--json)
SIM_FLAGS ?=
sim:
	$(CARGO) build --release --bin gossip-sim
	target/release/gossip-sim standard $(SIM_FLAGS)

## plots: PNGs in docs/bench/ from target/bench/standard.json (matplotlib in target/plot-venv)
PLOT_VENV ?= target/plot-venv
plots: $(PLOT_VENV)/.installed
	$(PLOT_VENV)/bin/python scripts/plot_bench.py target/bench/standard.json docs/bench/

# The stamp is written only after pip succeeded, so a failed install is retried.
$(PLOT_VENV)/.installed:
	python3 -m venv $(PLOT_VENV)
	$(PLOT_VENV)/bin/pip install --quiet matplotlib
	touch $@

## fuzz: run each fuzz target (fuzz/) for FUZZ_SECONDS (default 60); not part of `make test`.
##       cargo-fuzz is installed when missing; RUSTC_BOOTSTRAP=1 lets it use the stable
##       toolchain. New inputs go to fuzz/generated/<target>, crashes to fuzz/artifacts/<target>;
##       the committed seeds in fuzz/corpus/<target> are only read. FUZZ_TARGETS picks targets,
##       FUZZ_FLAGS adds cargo-fuzz options (e.g. --sanitizer none).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= api_decoder p2p_decoder core_messages
FUZZ_FLAGS ?=
fuzz:
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install --locked cargo-fuzz
	@for t in $(FUZZ_TARGETS); do \
		echo "== fuzzing $$t for $(FUZZ_SECONDS) s"; \
		mkdir -p fuzz/generated/$$t || exit 1; \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $(FUZZ_FLAGS) $$t fuzz/generated/$$t fuzz/corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

clean:
	$(CARGO) clean

## demo-netns: three hosts in three network namespaces (needs root and iproute2), configured
##             with config/three-hosts/; one item announced at host b arrives at a and c
.PHONY: demo-netns install
demo-netns:
	bash scripts/demo-netns.sh

## install: release build, then gossipd, gossip-cli (and gossip-share, if built) to $(BINDIR),
##          the systemd unit to $(UNITDIR), the default config to $(SYSCONFDIR)/gossipd/ (an
##          existing one is kept) and the docs and example configs to $(DOCDIR). DESTDIR is
##          prepended to every path (for packaging), e.g. make install DESTDIR=/tmp/pkg PREFIX=/usr
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= $(PREFIX)/etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR ?= $(PREFIX)/share/doc/gossipd
RELEASE ?= target/release
install: build
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(UNITDIR)" "$(DESTDIR)$(SYSCONFDIR)/gossipd" \
		"$(DESTDIR)$(DOCDIR)/three-hosts"
	install -m 0755 $(RELEASE)/gossipd $(RELEASE)/gossip-cli "$(DESTDIR)$(BINDIR)/"
	if [ -x $(RELEASE)/gossip-share ]; then \
		install -m 0755 $(RELEASE)/gossip-share "$(DESTDIR)$(BINDIR)/"; fi
	sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/usr/local/etc/|$(SYSCONFDIR)/|g' \
		-e 's|/usr/local/share/doc/gossipd/|$(DOCDIR)/|g' contrib/gossipd.service \
		> "$(DESTDIR)$(UNITDIR)/gossipd.service.tmp"
	chmod 0644 "$(DESTDIR)$(UNITDIR)/gossipd.service.tmp"
	mv "$(DESTDIR)$(UNITDIR)/gossipd.service.tmp" "$(DESTDIR)$(UNITDIR)/gossipd.service"
	@if [ -e "$(DESTDIR)$(SYSCONFDIR)/gossipd/gossipd.ini" ]; then \
		echo "keeping $(DESTDIR)$(SYSCONFDIR)/gossipd/gossipd.ini (the new default is in $(DOCDIR))"; \
	else \
		echo "install -m 0644 config/gossipd.ini $(DESTDIR)$(SYSCONFDIR)/gossipd/gossipd.ini"; \
		install -m 0644 config/gossipd.ini "$(DESTDIR)$(SYSCONFDIR)/gossipd/gossipd.ini"; \
	fi
	install -m 0644 README.md CHANGELOG.md config/gossipd.ini "$(DESTDIR)$(DOCDIR)/"
	install -m 0644 config/three-hosts/*.ini "$(DESTDIR)$(DOCDIR)/three-hosts/"

## bench-share: release build, then gossip-share's download benchmark: a 200 MB file on
##              loopback from 2 holders, from 1 holder, and over one plain TCP connection
##              (the floor); prints MB/s for each (about 30 s; see docs/SHARE.md)
.PHONY: bench-share
bench-share:
	$(CARGO) build --release --bin gossip-share
	target/release/gossip-share bench
