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
peer_begin_build have_binary print_binary 1800

log "building $MODULE/cmd/cosign@v$VERSION into $OUT (cold: ~4 min on 2 cores)"
STAGE="$WORK/cosign-$VERSION"
# The version stamp cosign's own Makefile sets (sigs.k8s.io/release-utils/version), so
# `cosign version` names the release that was built.
LDFLAGS="-s -w -X sigs.k8s.io/release-utils/version.gitVersion=v$VERSION -X sigs.k8s.io/release-utils/version.gitTreeState=clean"
peer_go_build_module "$MODULE@v$VERSION" PANTS_KO_COSIGN_VERSION ./cmd/cosign "$STAGE/cosign" "$LDFLAGS"

"$STAGE/cosign" version >&2 || die "the built cosign does not run ($STAGE/cosign version failed)"
cp "$WORK/src/go.mod" "$WORK/src/go.sum" "$STAGE/"   # provenance: exactly what was built

peer_publish "$STAGE"
log "done in $(elapsed): $OUT/cosign"
print_binary
