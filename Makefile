# portwarden — build, test and demo. Run as root on Debian for the lab.
GO        ?= go
BIN       := bin
LABDIR    ?= $(CURDIR)/.lab/demo
# chromium renders the report in a test; zsh and fish check completion.
# firewalld, ufw and dbus run only inside lab hosts (scripts/deps.sh
# installs them without starting or enabling anything here).
# iptables-persistent is not listed: Debian's ufw Breaks it, so the lab's
# boot loads /etc/iptables/rules.* itself (docs/lab.md).
# The Kerberos lab's KDC: only the libraries are installed; krb5kdc,
# kdb5_util and kadmin.local are unpacked by scripts/krb5kdc.sh into
# KRB5DIR, since the krb5-kdc package pulls in krb5-config, which writes
# this machine's /etc/krb5.conf (docs/lab.md).
DEPS      := openssh-server openssh-client nftables iptables iproute2 sudo util-linux dbus firewalld ufw chromium zsh fish \
             libkdb5-10 libkadm5srv-mit12 libgssrpc4 libverto-libev1
KRB5DIR   ?= $(or $(PORTWARDEN_KRB5_ROOT),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/portwarden/krb5kdc)
GOFLAGS   ?=
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all build cross deps test test-short lint staticcheck bench bench-go bench-ansible bench-parts demo demo-down clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/portwarden ./cmd/portwarden
	$(GO) build -o $(BIN)/portwarden-lab ./cmd/portwarden-lab

# cross builds the controller for every OS an admin may run it on (a Veeam
# backup server is usually Windows). The lab (cmd/portwarden-lab, lab/) is
# Linux-only and not part of it.
CROSS_TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
cross:
	@out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	for t in $(CROSS_TARGETS); do \
		echo "build $$t"; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build -o "$$out/portwarden-$${t%/*}-$${t#*/}" ./cmd/portwarden || exit 1; \
	done

# deps installs what the lab and the tests need on a fresh Debian machine.
deps:
	./scripts/deps.sh $(DEPS)
	./scripts/krb5kdc.sh "$(KRB5DIR)"
	$(GO) mod download

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# staticcheck is the deeper lint (unused code, suspicious constructs); it
# is fetched through the module proxy, so it is not part of make test.
staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

test: deps lint
	$(GO) test -count=1 -timeout 20m ./...

test-short: lint
	$(GO) test -short ./...

# bench runs the fleet benchmark (bench/fleet): a lab of each size in
# BENCH_SIZES, the floor (one SSH connection + true per host), converge,
# no-op and the controller's peak RSS; docs/benchmarks.md. It takes minutes
# (1,000 hosts: a quarter of an hour) and is not part of make test.
BENCH_SIZES ?= 50 200 1000
BENCH_FLAGS ?=
bench: deps build
	$(GO) run ./bench/fleet --portwarden $(BIN)/portwarden --sizes "$(BENCH_SIZES)" $(BENCH_FLAGS)

# bench-go runs the Go benchmarks of bench/ (rule computation, inventory
# loading, converge against small labs).
bench-go: deps
	$(GO) test -run '^$$' -bench . -benchmem ./bench/

# bench-ansible applies the same rules through Ansible (bench/ansible) on
# labs of ANSIBLE_SIZES hosts, and portwarden on labs of the same size.
ANSIBLE_SIZES ?= 20 50
ANSIBLE_DEPS  := ansible
bench-ansible: deps build
	./scripts/deps.sh $(ANSIBLE_DEPS)
	$(GO) run ./bench/ansible --portwarden $(BIN)/portwarden --sizes "$(ANSIBLE_SIZES)" $(BENCH_FLAGS)

# bench-parts splits a lab's machine CPU per host into the floor's parts
# and portwarden's runs (bench/parts) and prints the least a no-op plan
# and a commit-confirmed converge can cost against the floor.
PARTS_HOSTS ?= 100
bench-parts: deps build
	$(GO) run ./bench/parts --portwarden $(BIN)/portwarden --hosts $(PARTS_HOSTS) $(BENCH_FLAGS)

demo: deps build
	./scripts/demo.sh "$(LABDIR)"

demo-down:
	-$(BIN)/portwarden-lab down --dir "$(LABDIR)"

clean:
	rm -rf $(BIN) .lab
