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

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/peers/peer_build.sh
source "$HERE/peer_build.sh"

VERSION="${PANTS_KO_BAZEL_REMOTE_VERSION:-2.6.1}"
MODULE="github.com/buchgr/bazel-remote/v2"
peer_init build_bazel_remote.sh "bazel-remote-$VERSION"

have_binary() { [[ -x "$OUT/bazel-remote" ]]; }
print_binary() { echo "$OUT/bazel-remote"; }

peer_fast_path have_binary print_binary
[[ "$VERSION" =~ ^2\.[0-9]+\.[0-9]+$ ]] \
  || die "PANTS_KO_BAZEL_REMOTE_VERSION='$VERSION' is not a v2 release like 2.6.1; set it to a bazel-remote release without the leading v"
peer_begin_build have_binary print_binary 1800

log "building $MODULE@v$VERSION into $OUT (cold: ~1-2 min on 2 cores)"
STAGE="$WORK/bazel-remote-$VERSION"
peer_go_build_module "$MODULE@v$VERSION" PANTS_KO_BAZEL_REMOTE_VERSION . "$STAGE/bazel-remote" "-s -w"

"$STAGE/bazel-remote" --help >/dev/null 2>&1 \
  || die "the built bazel-remote does not run ($STAGE/bazel-remote --help failed)"

peer_publish "$STAGE"
log "done in $(elapsed): $OUT/bazel-remote"
print_binary
