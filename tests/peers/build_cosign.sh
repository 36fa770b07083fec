#!/usr/bin/env bash
# Builds, once, the real cosign (github.com/sigstore/cosign/v2/cmd/cosign) from the Go module
# proxy: the peer that verifies the signatures and SLSA provenance attestations our signing core
# (pants_backend_ko/sign/) writes (tests/test_signing.py).
#
# Why: nothing on Debian/PyPI/npm ships cosign and the only network we have is the package
# registries, so the Go module proxy is the only route to the real one.
#
# Output (the only line on stdout): the path of the binary,
#   ${PANTS_KO_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pants-backend-ko/peers}/cosign-<version>/cosign
# Exits at once when the binary already exists. Progress goes to stderr.
#
# Environment:
#   PANTS_KO_COSIGN_VERSION  cosign v2 release to build (default below).
#   PANTS_KO_PEERS_CACHE     cache root (outside the repository).
#   GOPROXY, GOSUMDB, ...    taken from the environment / the user's go env.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/peers/peer_build.sh
source "$HERE/peer_build.sh"

VERSION="${PANTS_KO_COSIGN_VERSION:-2.6.1}"
MODULE="github.com/sigstore/cosign/v2"
peer_init build_cosign.sh "cosign-$VERSION"

have_binary() { [[ -x "$OUT/cosign" ]]; }
print_binary() { echo "$OUT/cosign"; }

peer_fast_path have_binary print_binary
[[ "$VERSION" =~ ^2\.[0-9]+\.[0-9]+$ ]] \
  || die "PANTS_KO_COSIGN_VERSION='$VERSION' is not a cosign v2 release like 2.6.1; set it to one without the leading v"
peer_require go flock
peer_lock have_binary print_binary 1800
peer_go_env
peer_workdir

log "building $MODULE/cmd/cosign@v$VERSION into $OUT (cold: ~4 min on 2 cores)"
# Build the released module as its own main module, so its go.mod/go.sum decide every dependency
# (every sum is in its go.sum: no checksum-database look-ups). Not `go install pkg@version`: that
# also asks the proxy for the module's version list, which some proxies refuse.
peer_module_download "$MODULE@v$VERSION" PANTS_KO_COSIGN_VERSION
peer_check_go_version "$MODULE_GOMOD" PANTS_KO_COSIGN_VERSION
cp -R "$MODULE_DIR" "$WORK/src" && chmod -R u+w "$WORK/src" || die "cannot copy $MODULE_DIR into $WORK/src"

STAGE="$WORK/cosign-$VERSION"
mkdir -p "$STAGE"
# The version stamp cosign's own Makefile sets (sigs.k8s.io/release-utils/version), so
# `cosign version` names the release that was built.
LDFLAGS="-s -w -X sigs.k8s.io/release-utils/version.gitVersion=v$VERSION -X sigs.k8s.io/release-utils/version.gitTreeState=clean"
(cd "$WORK/src" && go build -mod=mod -trimpath -ldflags="$LDFLAGS" -o "$STAGE/cosign" ./cmd/cosign) >&2 \
  || die "go build of $MODULE/cmd/cosign@v$VERSION failed (output above); check GOPROXY reachability or pick another PANTS_KO_COSIGN_VERSION"

"$STAGE/cosign" version >&2 || die "the built cosign does not run ($STAGE/cosign version failed)"
cp "$WORK/src/go.mod" "$WORK/src/go.sum" "$STAGE/"   # provenance: exactly what was built

peer_publish "$STAGE"
log "done in $(elapsed): $OUT/cosign"
print_binary
