# Shared by the scripts that build a test peer from the Go module proxy once into the peer cache
# (tests/peers/build_*.sh). Source it, then:
#
#   peer_init <script name> <output folder name>   # sets CACHE_ROOT, OUT, log, die
#   peer_fast_path <have-fn> <print-fn>            # already built: print the result and exit 0
#   peer_require go flock ...                      # one clear line when a tool is missing
#   peer_lock <have-fn> <print-fn> <max wait s>    # one build at a time; the waiter takes the fast path
#   peer_go_env                                    # our own GOPATH/GOCACHE under the cache root
#   peer_workdir                                   # WORK: a temp folder removed on exit
#   peer_begin_build <have-fn> <print-fn> <max s>  # the four above, for a Go build
#   peer_module_download <module@version> <var>    # go mod download -json; MODULE_DIR/MODULE_GOMOD/MODULE_TIME
#   peer_check_go_version <go.mod> <var>           # the Go on PATH is new enough for that go.mod
#   peer_go_build_module <mod@v> <var> <pkg> <out> <ldflags>  # a released module's command, built
#   peer_publish <stage folder>                    # atomic rename into OUT
#
# The caller keeps the parts that differ between peers (what is built, how it is checked).
# Not executable: `source "$HERE/peer_build.sh"`.

PEER_CACHE_ROOT_DEFAULT="${XDG_CACHE_HOME:-$HOME/.cache}/pants-backend-ko/peers"

# peer_init SCRIPT NAME: CACHE_ROOT (the peers cache, outside the repository), OUT (this build's
# folder), START (for elapsed), log and die prefixed with the script's name.
peer_init() {
  PEER_SCRIPT="$1"
  PEER_NAME="$2"
  CACHE_ROOT="${PANTS_KO_PEERS_CACHE:-$PEER_CACHE_ROOT_DEFAULT}"
  OUT="$CACHE_ROOT/$PEER_NAME"
  START=$(date +%s)
}

log() { echo "$PEER_SCRIPT: $*" >&2; }
die() { echo "$PEER_SCRIPT: error: $*" >&2; exit 1; }
elapsed() { echo "$(( $(date +%s) - START ))s"; }

# peer_fast_path HAVE PRINT: when HAVE succeeds the peer is built; PRINT writes the one stdout line.
peer_fast_path() {
  if "$1"; then
    "$2"
    exit 0
  fi
}

# peer_require TOOL...: each must be on PATH.
peer_require() {
  local tool
  for tool in "$@"; do
    case "$tool" in
      go) command -v go >/dev/null 2>&1 || die "'go' is not on PATH; install Go >= 1.24 and retry" ;;
      flock) command -v flock >/dev/null 2>&1 || die "'flock' (util-linux) is not on PATH; install util-linux and retry" ;;
      *) command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not on PATH; install it and retry" ;;
    esac
  done
}

# peer_lock HAVE PRINT MAX_WAIT: serialise concurrent builds (two pytest runs, two worktrees): the
# second one waits, bounded, then takes the fast path. The lock is held until the script exits.
peer_lock() {
  mkdir -p "$CACHE_ROOT" || die "cannot create cache folder $CACHE_ROOT; set PANTS_KO_PEERS_CACHE to a writable folder"
  local lock="$CACHE_ROOT/$PEER_NAME.lock"
  exec 9>"$lock"
  if ! flock -n 9; then
    log "another build of $PEER_NAME is running; waiting for it (up to $(( $3 / 60 )) min)"
    flock -w "$3" 9 || die "timed out waiting for the lock $lock; check for a stuck build"
  fi
  peer_fast_path "$1" "$2"
}

# peer_go_env: our own Go state under the cache folder (shared by every peer: one module and build
# cache), so builds neither depend on nor pollute the user's GOPATH/GOCACHE. GOPROXY/GOSUMDB stay
# as the user configured them (the proxy is the only reachable network).
peer_go_env() {
  export GOPATH="$CACHE_ROOT/go"
  export GOMODCACHE="$GOPATH/pkg/mod"
  export GOCACHE="$CACHE_ROOT/go-build"
  export GOTOOLCHAIN=local           # never download a toolchain: fail clearly instead
  export GOFLAGS="-buildvcs=false"   # ignore user GOFLAGS such as -mod=vendor
  export CGO_ENABLED=0
  export GOWORK=off
}

# peer_workdir: WORK, a temp folder beside the output (same file system: the final mv is atomic).
# The module cache is read-only by design; only this folder is removed.
peer_workdir() {
  WORK="$(mktemp -d "$CACHE_ROOT/.$PEER_NAME.build.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
}

# peer_begin_build HAVE PRINT MAX_WAIT: go and flock on PATH, the lock (or the fast path once the
# other build is done), our Go environment and a work folder.
peer_begin_build() {
  peer_require go flock
  peer_lock "$1" "$2" "$3"
  peer_go_env
  peer_workdir
}

# peer_module_download MODULE@VERSION VERSION_VAR: fetch one module from the proxy; sets
# MODULE_DIR (its source), MODULE_GOMOD (its go.mod) and MODULE_TIME (its release time).
# VERSION_VAR names the variable that picks the version, for the error line.
peer_module_download() {
  local info="$WORK/module-download.json"
  # go mod download -json reports failures in the JSON's "Error" field (stdout).
  _peer_json_field() { sed -n "s/^[[:space:]]*\"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" "$info" | head -n1; }
  if ! (cd "$WORK" && go mod download -json "$1") >"$info" 2>&1; then
    local reason
    reason="$(_peer_json_field Error | sed 's/\\[nt]/ /g')"
    die "cannot download $1 from the Go module proxy (${reason:-the go command gave no reason}); check GOPROXY and $2"
  fi
  MODULE_DIR="$(_peer_json_field Dir)"
  MODULE_GOMOD="$(_peer_json_field GoMod)"
  MODULE_TIME="$(_peer_json_field Time)"
  [[ -f "$MODULE_GOMOD" ]] || die "go mod download gave no go.mod for $1 (see $info)"
}

# peer_check_go_version GOMOD VERSION_VAR: with GOTOOLCHAIN=local a too-old Go fails late with a
# long error; say it in one line up front.
peer_check_go_version() {
  local want have
  want="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$1")"
  have="$(go env GOVERSION | sed 's/^go//; s/[^0-9.].*$//')"
  if [[ -n "$want" && "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" != "$want" ]]; then
    die "$PEER_NAME needs Go >= $want but 'go' is $have; put a newer Go on PATH or pick an older $2"
  fi
}

# peer_go_build_module MODULE@VERSION VERSION_VAR PACKAGE OUTPUT LDFLAGS: build PACKAGE (relative to
# the module root, e.g. ./cmd/cosign) of a released module as its own main module, so its
# go.mod/go.sum (and replace directives) decide every dependency and every sum is known (no
# checksum-database look-ups). Not `go install pkg@version`: that also asks the proxy for the
# module's version list, which some Go module proxies refuse.
peer_go_build_module() {
  peer_module_download "$1" "$2"
  peer_check_go_version "$MODULE_GOMOD" "$2"
  rm -rf "$WORK/src"
  cp -R "$MODULE_DIR" "$WORK/src" && chmod -R u+w "$WORK/src" || die "cannot copy $MODULE_DIR into $WORK/src"
  mkdir -p "$(dirname "$4")"
  (cd "$WORK/src" && go build -mod=mod -trimpath -ldflags="$5" -o "$4" "$3") >&2 \
    || die "go build of $3 in $1 failed (compiler output above); check GOPROXY reachability or pick another $2"
  [[ -x "$4" ]] || die "go build of $3 in $1 produced no binary at $4"
}

# peer_publish STAGE: a half-built folder is never visible under the final name.
peer_publish() {
  rm -rf "$OUT"
  mv -T "$1" "$OUT" || die "cannot move the build into $OUT"
}
