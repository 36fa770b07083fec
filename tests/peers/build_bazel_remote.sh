#!/usr/bin/env bash
# Builds, once, a real bazel-remote (github.com/buchgr/bazel-remote/v2) from the
# Go module proxy: the remote cache server that tests/test_remote_cache.py points
# Pants' REAPI remote cache at.
#
# Why: nothing on Debian/PyPI/npm ships a REAPI cache server and the only network
# we have is the package registries, so the Go module proxy is the only route to
# a real one (same reasoning as tests/peers/build_kube.sh).
#
# Output (the only line on stdout): the path of the binary,
#   ${PANTS_KO_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pants-backend-ko/peers}/bazel-remote-<version>/bazel-remote
# Exits at once when the binary already exists. Progress goes to stderr.
#
# Environment:
#   PANTS_KO_BAZEL_REMOTE_VERSION  bazel-remote release to build (default below).
#   PANTS_KO_PEERS_CACHE           cache root (outside the repository).
#   GOPROXY, GOSUMDB, ...          taken from the environment / the user's go env.
set -euo pipefail

VERSION="${PANTS_KO_BAZEL_REMOTE_VERSION:-2.6.1}"
CACHE_ROOT="${PANTS_KO_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pants-backend-ko/peers}"
OUT="$CACHE_ROOT/bazel-remote-$VERSION"
MODULE="github.com/buchgr/bazel-remote/v2"

log() { echo "build_bazel_remote.sh: $*" >&2; }
die() { echo "build_bazel_remote.sh: error: $*" >&2; exit 1; }

have_binary() { [[ -x "$OUT/bazel-remote" ]]; }

# Fast path: already built (no Go needed at all).
if have_binary; then
  echo "$OUT/bazel-remote"
  exit 0
fi

[[ "$VERSION" =~ ^2\.[0-9]+\.[0-9]+$ ]] \
  || die "PANTS_KO_BAZEL_REMOTE_VERSION='$VERSION' is not a v2 release like 2.6.1; set it to a bazel-remote release without the leading v"
command -v go >/dev/null 2>&1 \
  || die "'go' is not on PATH; install Go >= 1.22 and retry"
command -v flock >/dev/null 2>&1 \
  || die "'flock' (util-linux) is not on PATH; install util-linux and retry"

mkdir -p "$CACHE_ROOT" || die "cannot create cache folder $CACHE_ROOT; set PANTS_KO_PEERS_CACHE to a writable folder"

# Serialise concurrent builds: the second one waits, then takes the fast path.
# Bounded wait: a cold build takes a few minutes.
exec 9>"$CACHE_ROOT/bazel-remote-$VERSION.lock"
if ! flock -n 9; then
  log "another build of bazel-remote $VERSION is running; waiting for it (up to 30 min)"
  flock -w 1800 9 || die "timed out waiting for the lock $CACHE_ROOT/bazel-remote-$VERSION.lock; check for a stuck build"
fi
if have_binary; then
  echo "$OUT/bazel-remote"
  exit 0
fi

# Our own Go state under the cache folder (shared with build_kube.sh: the same
# module and build caches), so the build neither depends on nor pollutes the
# user's GOPATH/GOCACHE. GOPROXY/GOSUMDB stay as the user configured them.
export GOPATH="$CACHE_ROOT/go"
export GOMODCACHE="$GOPATH/pkg/mod"
export GOCACHE="$CACHE_ROOT/go-build"
export GOTOOLCHAIN=local           # never download a toolchain: fail clearly instead
export GOFLAGS="-buildvcs=false"   # ignore user GOFLAGS such as -mod=vendor
export CGO_ENABLED=0
export GOWORK=off

WORK="$(mktemp -d "$CACHE_ROOT/.bazel-remote-$VERSION.build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

START=$(date +%s)
elapsed() { echo "$(( $(date +%s) - START ))s"; }

log "building $MODULE@v$VERSION into $OUT (cold: ~1-2 min on 2 cores)"
STAGE="$WORK/bazel-remote-$VERSION"
mkdir -p "$STAGE"
# Build the released module as its own main module, so its go.mod/go.sum (and any
# replace directives) decide every dependency. Not `go install pkg@version`: that
# also asks the proxy for the module's version list (to report deprecation),
# which some Go module proxies refuse.
INFO_JSON="$WORK/module.json"
json_field() { sed -n "s/^[[:space:]]*\"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" "$INFO_JSON" | head -n1; }
if ! (cd "$WORK" && go mod download -json "$MODULE@v$VERSION") >"$INFO_JSON" 2>&1; then
  REASON="$(json_field Error | sed 's/\\[nt]/ /g')"
  die "cannot download $MODULE@v$VERSION from the Go module proxy (${REASON:-the go command gave no reason}); check GOPROXY and PANTS_KO_BAZEL_REMOTE_VERSION"
fi
SRC_DIR="$(json_field Dir)"
[[ -f "$SRC_DIR/go.mod" ]] || die "go mod download gave no source folder for $MODULE@v$VERSION (see $INFO_JSON)"
cp -R "$SRC_DIR" "$WORK/src" && chmod -R u+w "$WORK/src" || die "cannot copy $SRC_DIR into $WORK/src"
(cd "$WORK/src" && go build -trimpath -ldflags="-s -w" -o "$STAGE/bazel-remote" .) >&2 \
  || die "go build of $MODULE@v$VERSION failed (compiler output above); check GOPROXY reachability or pick another PANTS_KO_BAZEL_REMOTE_VERSION"
[[ -x "$STAGE/bazel-remote" ]] || die "go build produced no bazel-remote binary in $STAGE"

"$STAGE/bazel-remote" --help >/dev/null 2>&1 \
  || die "the built bazel-remote does not run ($STAGE/bazel-remote --help failed)"

# Atomic publish: a half-built directory is never visible under the final name.
rm -rf "$OUT"
mv -T "$STAGE" "$OUT" || die "cannot move the build into $OUT"
log "done in $(elapsed): $OUT/bazel-remote"
echo "$OUT/bazel-remote"
