#!/usr/bin/env bash
# Prepares what this machine lacks, then runs every check and test of herd.
#
#   ./scripts/test.sh            everything (what CI runs)
#   FUZZTIME=60s ./scripts/test.sh   fuzz longer than the default 10s per target
#
# Under CI=true a dependency that cannot be prepared fails the run; nothing
# is ever skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

say "Go"
command -v go >/dev/null || die "Go is not installed (need 1.26 or newer)"
go version
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
[ "$go_minor" -ge 26 ] || die "Go 1.26 or newer is needed, found $(go env GOVERSION)"

# install PACKAGE...: Debian's packages, as root or with sudo.
install() {
	echo "missing: installing Debian's $*"
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || die "cannot install $* without root: apt-get install -y $*"
		sudo=sudo
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 \
		|| { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } \
		|| die "could not install $*"
}

say "Chromium (for the browser tests)"
if [ -z "${HERD_CHROMIUM:-}" ] && ! command -v chromium >/dev/null; then
	install chromium
fi
"${HERD_CHROMIUM:-chromium}" --version

say "curl (OpenSSL: reads TLS streams on the connection engine, hub's TestTLS_curl)"
command -v curl >/dev/null || install curl
curl --version | sed -n 1p

say "Node.js (for Mercure's conformance suite, run with Playwright from npm)"
command -v npm >/dev/null || install nodejs npm
node --version

say "Django (for the Django example): Debian's python3-django"
/usr/bin/python3 -c 'import django' 2>/dev/null || install python3-django
/usr/bin/python3 -c 'import django; print("Django", django.get_version())'

say "Reverse proxies (nginx, HAProxy, Caddy, for the proxy tests)"
command -v nginx >/dev/null || install nginx-light
command -v haproxy >/dev/null || install haproxy
command -v caddy >/dev/null || install caddy
# The tests run their own, on free ports: a system daemon is left alone.
# sed, not head: head exits after one line and, under pipefail, the
# writer's SIGPIPE (exit 141) would fail the whole run.
nginx -v 2>&1; haproxy -v | sed -n 1p; caddy version

say "Podman and runc (for the container test), systemd-analyze (for the unit)"
command -v podman >/dev/null && command -v runc >/dev/null || install podman runc
podman --version
command -v systemd-analyze >/dev/null || install systemd
systemd-analyze --version | sed -n 1p

say "Brokers (Redis and NATS with JetStream, for the cluster tests)"
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install -y redis-server)"
command -v nats-server >/dev/null || die "nats-server is not installed (apt-get install -y nats-server)"
if ! listening 6379; then
	echo "Redis is not running: starting it on 127.0.0.1:6379"
	redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
		--dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/herd-test-redis.log"
fi
if ! listening 4222; then
	echo "NATS is not running: starting it with JetStream on 127.0.0.1:4222"
	mkdir -p "${TMPDIR:-/tmp}/herd-test-nats"
	nohup nats-server -a 127.0.0.1 -p 4222 -js -sd "${TMPDIR:-/tmp}/herd-test-nats" \
		>"${TMPDIR:-/tmp}/herd-test-nats.log" 2>&1 &
fi
for port in 6379 4222; do
	for _ in $(seq 50); do listening "$port" && break; sleep 0.1; done
	listening "$port" || die "nothing listens on 127.0.0.1:$port after starting it"
done
echo "Redis on 127.0.0.1:6379, NATS on 127.0.0.1:4222"

# The modules: herd, and the sse library, a module of its own so that
# depending on it brings nothing else.
modules=". sse"

say "Formatting, vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
[ -z "$unformatted" ] || die "gofmt would change: $unformatted"
for m in $modules; do
	go -C "$m" vet -tags integration ./...
	go -C "$m" run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags integration ./...
done

say "Every platform: vet and build (linux, darwin, windows, freebsd)"
for target in linux/arm64 darwin/arm64 darwin/amd64 windows/amd64 freebsd/amd64; do
	echo "$target"
	for m in $modules; do
		GOOS=${target%/*} GOARCH=${target#*/} go -C "$m" vet -tags integration ./...
	done
	GOOS=${target%/*} GOARCH=${target#*/} go build -o /dev/null ./cmd/herd
done

# Unit tests alone (go test ./... ./sse/...) need nothing but Go and take under a
# minute; the integration tag adds those that need brokers, Chromium,
# proxies, podman or the network: end to end, against the real things.
say "Tests, with the integration tests (race detector on)"
for m in $modules; do
	go -C "$m" test -race -tags integration -timeout 30m ./...
done

say "Deployment files: the Kubernetes manifest against the API's own types"
# Its own module, outside the workspace (go.work) on purpose: its
# dependencies must not move herd's.
GOWORK=off go -C deploy/kubernetes/check vet ./...
GOWORK=off go -C deploy/kubernetes/check test -count=1 ./...

say "Fuzzing (${FUZZTIME:-10s} per target)"
# inputs DIR: how many inputs a fuzz target's corpus directory holds (0 if
# there is none yet).
inputs() { { ls -A "$1" 2>/dev/null || true; } | wc -l; }
for target in sse:FuzzReader sse:FuzzRoundTrip hub:FuzzPublish hub:FuzzSubscribe hub:FuzzQuery internal/mercure:FuzzPublish internal/jwt:FuzzVerify bolt:FuzzDamaged bolt:FuzzCodec; do
	pkg=${target%%:*}
	case $pkg in
	sse*) dir=sse pkg=./${pkg#sse} ;;
	*) dir=. pkg=./$pkg ;;
	esac
	fuzz=(go -C "$dir" test -run '^$' -fuzz "^${target#*:}\$" -fuzztime "${FUZZTIME:-10s}" -fuzzminimizetime 500x "$pkg")
	corpus="$dir/$pkg/testdata/fuzz/${target#*:}"
	before=$(inputs "$corpus")
	out=$(mktemp)
	if ! "${fuzz[@]}" 2>&1 | tee "$out"; then
		# Go's fuzzing coordinator can fail a target with a bare "context
		# deadline exceeded" as -fuzztime ends, having found nothing (a race
		# between its deadline and its workers' context). Only that, with
		# no failing input written, earns one more run; anything else fails.
		after=$(inputs "$corpus")
		if [ "$after" -eq "$before" ] && grep -qx '    context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
			echo "test.sh: ${target}: Go's fuzzing deadline race, no input found: running it again"
			"${fuzz[@]}"
		else
			rm -f "$out"
			die "fuzzing ${target} failed"
		fi
	fi
	rm -f "$out"
done

say "All checks passed"
