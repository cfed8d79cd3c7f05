#!/usr/bin/env bash
# Provide aistack's engine (the Pulumi CLI, its Python language host, the Kubernetes provider), Helm,
# the local cluster's tools, the previous Kueue controller (upgrade tests), the CNCF distribution
# registry (image tests) and the workflow linter (actionlint) in a cache the project owns. Skips what is
# already there; prints what it does.
#
#   scripts/tools.sh                        provide everything missing, print the bin directory last
#   scripts/tools.sh --print                print the bin directory only
#   scripts/tools.sh --refresh-sums [TOOL]  re-resolve the wrapper modules' go.mod/go.sum (all, or TOOL)
#
# Where each tool comes from, first that works (the cache is keyed by the binary's existence):
#   1. the cache; 2. the tool on PATH at the pinned version (linked);
#   3. the project's official release archive at the pinned version, verified against the digest pinned
#      in scripts/tool_archives.json (scripts/tool_archives.py; off with AISTACK_TOOLS_DOWNLOAD=0);
#   4. a source build from the Go module proxy through the tool's committed wrapper module
#      (scripts/tools/<tool>/go.mod + go.sum), always with -mod=readonly: a module whose content differs
#      from go.sum, or one go.sum does not list, fails the build instead of being added.
# The Kubernetes provider is always built from source (pinned to an unreleased commit).
#
# Versions: the Pulumi CLI matches the `pulumi` PyPI pin in pyproject.toml (the proxy serves
# github.com/pulumi/pulumi/pkg/v3 sources up to v3.259.0); the Kubernetes provider is built from
# the one provider/v4 source the proxy serves (commit f47bc2d6f199, the day before v4.25.0).
# Known hurdles, each handled in the wrapper modules: replace directives, untagged modules
# (pseudo-versions), generated embed files (the provider's go generate), versions set by -ldflags.
set -euo pipefail

PULUMI_VERSION=3.259.0
K8S_PROVIDER_REF=v4.0.0-20260115033456-f47bc2d6f199
K8S_PROVIDER_SDK=v4.25.0
K8S_PROVIDER_VERSION=4.25.0
KUBE_VERSION=v1.34.4
ETCD_VERSION=v3.6.8
KWOK_VERSION=v0.8.0
KUEUE_VERSION=v0.19.2  # = components/versions.py UPSTREAMS["kueue"]
# The controller for the previous Kueue release (chart 0.18.6 in ../shared/mirror), for the N-1 -> N upgrade
# round. The proxy refuses sigs.k8s.io/kueue@v0.18.6 and @v0.18.5 (403 "not available"); v0.18.4 is the newest
# 0.18 patch it serves, so the local N-1 controller is v0.18.4 running against the 0.18.6 chart's CRDs (the same
# API versions: a patch release changes neither). aistack/local/cluster.py maps the chart to this binary.
KUEUE_PREVIOUS_VERSION=v0.18.4
# = the Helm library inside the Kubernetes provider above (its go.mod), so `helm template` renders charts
# exactly as the provider's Chart resource does (tests/test_chart_render.py).
HELM_VERSION=v3.18.6
ACTIONLINT_VERSION=v1.7.12  # lints .github/workflows (tests/test_workflows.py)
REGISTRY_VERSION=v3.1.2     # CNCF distribution, an OCI registry on loopback for the image tests (tests/registry.py)

ROOT_DIR=${AISTACK_TOOLS_DIR:-$HOME/.cache/aistack/tools}
REPO_DIR=$(cd "$(dirname "$0")/.." && pwd)
WRAPPERS=$REPO_DIR/scripts/tools
ARCHIVES=$REPO_DIR/scripts/tool_archives.py
# Pulumi's Python language host: the proxy does not serve its module (an untagged sub-module of
# pulumi/pulumi), so it is built from a vendored copy of its source when one is present.
LANGUAGE_HOST_SRC=${AISTACK_LANGUAGE_HOST_SRC:-$REPO_DIR/../shared/vendor/pulumi-language-python-v$PULUMI_VERSION}
TOOLS=$ROOT_DIR/pulumi-$PULUMI_VERSION-k8s-$KUBE_VERSION
BIN=$TOOLS/bin
WORK=$TOOLS/src
if [[ "${1:-}" == "--print" ]]; then echo "$BIN"; exit 0; fi

# -mod=readonly: go.sum in each wrapper is the integrity check. The checksum database is not needed
# for a build (every sum is already in go.sum); it is only consulted by --refresh-sums (see there).
export GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
say() { printf '==> %s\n' "$*" >&2; }
timed() { local name=$1; shift; local t0=$SECONDS; "$@"; say "$name built in $((SECONDS - t0)) s"; }
have() { [[ -x "$BIN/$1" ]] && { say "$1: cached ($BIN/$1)"; return 0; }; return 1; }

from_path() {  # from_path NAME VERSION ARGS...: link NAME from PATH when `NAME ARGS` prints exactly VERSION
  local name=$1 version=$2; shift 2
  local ambient out
  ambient=$(command -v "$name" || true)
  [[ -n "$ambient" && "$(readlink -f "$ambient")" != "$(readlink -f "$BIN/$name" 2>/dev/null || true)" ]] || return 1
  out=$("$ambient" "$@" 2>/dev/null || true)
  # The version as a whole word: v1.34.4 must not match v1.34.40.
  local word="(^|[^0-9.])${version//./\.}($|[^0-9.])"
  [[ $out =~ $word ]] || return 1
  say "$name: using $ambient ($version on PATH)"; ln -sf "$ambient" "$BIN/$name"
}

from_archive() {  # from_archive ENTRY: the verified official archive (the table: AISTACK_TOOL_ARCHIVES)
  [[ "${AISTACK_TOOLS_DOWNLOAD:-1}" != 0 ]] && command -v python3 >/dev/null || return 1
  python3 "$ARCHIVES" --table "${AISTACK_TOOL_ARCHIVES:-$REPO_DIR/scripts/tool_archives.json}" install "$1" --bin "$BIN"
}

go_build() {  # go_build WRAPPER OUT PKG [LDFLAGS [TAGS]]: build PKG inside the committed wrapper module
  (cd "$WRAPPERS/$1" && go build -mod=readonly -trimpath -tags "${5:-}" -ldflags "-s -w ${4:-}" -o "$BIN/$2" "$3")
}

mod_dir() {  # mod_dir WRAPPER MODULE@VERSION: the module's source directory, verified against WRAPPER's go.sum
  (cd "$WRAPPERS/$1" && go mod download -json "$2" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
}

build_pulumi() {
  have pulumi || from_path pulumi "v$PULUMI_VERSION" version || from_archive pulumi && return
  say "pulumi v$PULUMI_VERSION: CLI from github.com/pulumi/pulumi/pkg/v3 (wrapper: pkg/go.mod replaces sdk with ../sdk)"
  go_build pulumi pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" osusergo,grpcnotrace
}

build_language_python() {
  # Without it `pulumi up` in the project directory cannot run a Python program; with it, it can.
  if have pulumi-language-python && [[ -x "$BIN/pulumi-language-python-exec" ]]; then return; fi
  local ambient
  ambient=$(command -v pulumi-language-python || true)
  if [[ -n "$ambient" && -x "$(dirname "$ambient")/pulumi-language-python-exec" && "$ambient" != "$BIN/"* ]]; then
    say "pulumi-language-python: using $ambient (a Pulumi install on PATH)"
    ln -sf "$ambient" "$BIN/pulumi-language-python"
    ln -sf "$(dirname "$ambient")/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
    return
  fi
  if from_archive pulumi; then return; fi
  if [[ ! -f "$LANGUAGE_HOST_SRC/main.go" ]]; then
    say "pulumi-language-python: no source at $LANGUAGE_HOST_SRC and none on PATH; skipped (make demo then deploys through the Automation API)"
    return
  fi
  say "pulumi-language-python v$PULUMI_VERSION from $LANGUAGE_HOST_SRC (wrapper: its go.mod without the relative replaces)"
  local w=$WORK/pulumi-language-python
  rm -rf "$w" && mkdir -p "$w" && cp "$LANGUAGE_HOST_SRC"/{main.go,pulumi-language-python-exec} "$w"/ \
    && cp "$WRAPPERS"/pulumi-language-python/{go.mod,go.sum} "$w"/ && chmod -R u+w "$w"
  (cd "$w" && go build -mod=readonly -trimpath \
     -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
     -o "$BIN/pulumi-language-python" .)
  install -m 0755 "$w/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
}

build_helm() {
  have helm || from_path helm "$HELM_VERSION" version --template '{{.Version}}' || from_archive helm && return
  say "helm $HELM_VERSION (renders the pinned charts with aistack's values for the strict-validation tests)"
  go_build helm helm helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
}

# aistack's patches to the provider (scripts/tools/pulumi-kubernetes/patches, each says why): a binary built
# with other patches, or none, is rebuilt.
K8S_PROVIDER_PATCHES=$WRAPPERS/pulumi-kubernetes/patches
k8s_provider_patches_sum() { cat "$K8S_PROVIDER_PATCHES"/*.patch | sha256sum | cut -d' ' -f1; }

build_k8s_provider() {
  local stamp=$BIN/.pulumi-resource-kubernetes.patches
  if [[ "$(cat "$stamp" 2>/dev/null)" == "$(k8s_provider_patches_sum)" ]] && have pulumi-resource-kubernetes; then return; fi
  say "pulumi-resource-kubernetes $K8S_PROVIDER_VERSION: provider/v4@$K8S_PROVIDER_REF (copied out of the module cache to run its go generate), with aistack's patches"
  local dir w=$WORK/pulumi-kubernetes patch
  dir=$(mod_dir pulumi-kubernetes/source "github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PROVIDER_REF")
  rm -rf "$w" && cp -r "$dir" "$w" && chmod -R u+w "$w"
  # The committed go.mod is upstream's with its sdk/v4 replace (a relative path) swapped for sdk $K8S_PROVIDER_SDK.
  cp "$WRAPPERS"/pulumi-kubernetes/{go.mod,go.sum} "$w"/
  for patch in "$K8S_PROVIDER_PATCHES"/*.patch; do
    # Outside any repository (a tools dir inside a checkout would make git apply patch relative to it).
    GIT_CEILING_DIRECTORIES=$(dirname "$w") git -C "$w" apply "$patch" || { say "$patch does not apply to provider/v4@$K8S_PROVIDER_REF"; return 1; }
  done
  (cd "$w" \
    && (cd cmd/pulumi-resource-kubernetes && VERSION=$K8S_PROVIDER_VERSION go generate ./...) \
    && go build -mod=readonly -trimpath \
         -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$K8S_PROVIDER_VERSION" \
         -o "$BIN/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes) \
    && k8s_provider_patches_sum > "$stamp"
}

KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
build_kube() {
  local cmd missing=()
  for cmd in "${KUBE_CMDS[@]}"; do
    if [[ $cmd == kubectl ]]; then set -- version --client; else set -- --version; fi
    have "$cmd" || from_path "$cmd" "$KUBE_VERSION" "$@" || missing+=("$cmd")
  done
  [[ ${#missing[@]} == 0 ]] && return
  if from_archive kubernetes-server; then return; fi
  say "kubernetes $KUBE_VERSION: ${missing[*]} (wrapper replacing each staging module with its published v0 version)"
  local minor=${KUBE_VERSION#v1.}
  local ver="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1"
  ver+=" -X k8s.io/component-base/version.gitMinor=${minor%%.*} -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
  for cmd in "${missing[@]}"; do go_build kubernetes "$cmd" "k8s.io/kubernetes/cmd/$cmd" "$ver"; done
}

build_etcd() {
  have etcd || from_path etcd "etcd Version: ${ETCD_VERSION#v}" --version || from_archive etcd && return
  say "etcd $ETCD_VERSION (wrapper: server/go.mod replaces its sibling modules locally)"
  go_build etcd etcd go.etcd.io/etcd/server/v3
}

build_kwok() {
  # KWOK does nothing without stages: take the upstream "fast" node/pod lifecycles and the lease
  # heartbeat from the same module (verified against the kwok wrapper's go.sum).
  local dir stages=$TOOLS/kwok-stages
  if [[ ! -d "$stages" ]]; then
    dir=$(mod_dir kwok "sigs.k8s.io/kwok@$KWOK_VERSION")
    mkdir -p "$stages"
    cp "$dir"/kustomize/stage/node/fast/node-initialize.yaml "$dir"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
       "$dir"/kustomize/stage/pod/fast/pod-*.yaml "$stages"/
    chmod u+w "$stages"/*.yaml
  fi
  have kwok || from_path kwok "$KWOK_VERSION" --version || from_archive kwok && return
  say "kwok $KWOK_VERSION (fake kubelets: nodes advertise nvidia.com/gpu, pods run without containers)"
  go_build kwok kwok sigs.k8s.io/kwok/cmd/kwok
}

build_kueue() {
  # Callers pick a controller by version: kueue-v<version> (aistack/local/cluster.py); `kueue` is the current one.
  if ! { have kueue || from_archive kueue; }; then
    say "kueue $KUEUE_VERSION controller (admits Jobs by quota in the local cluster)"
    go_build kueue kueue sigs.k8s.io/kueue/cmd/kueue
  fi
  ln -sfn kueue "$BIN/kueue-$KUEUE_VERSION"
}

build_kueue_previous() {
  local name=kueue-$KUEUE_PREVIOUS_VERSION
  have "$name" && return
  say "$name controller (the previous release's, for the upgrade round: tests/test_e2e_local.py)"
  go_build kueue-previous "$name" sigs.k8s.io/kueue/cmd/kueue "-X sigs.k8s.io/kueue/pkg/version.GitVersion=$KUEUE_PREVIOUS_VERSION"
}

build_actionlint() {
  have actionlint || from_path actionlint "${ACTIONLINT_VERSION#v}" --version || from_archive actionlint && return
  say "actionlint $ACTIONLINT_VERSION (GitHub Actions workflow linter; runs shellcheck on run: scripts when it is installed)"
  go_build actionlint actionlint github.com/rhysd/actionlint/cmd/actionlint
}

build_registry() {
  have registry || from_path registry "$REGISTRY_VERSION" --version || from_archive registry && return
  say "registry $REGISTRY_VERSION (github.com/distribution/distribution/v3/cmd/registry: an OCI registry for the image tests)"
  local pkg=github.com/distribution/distribution/v3
  go_build registry registry "$pkg/cmd/registry" "-X $pkg/version.version=$REGISTRY_VERSION -X $pkg/version.mainpkg=$pkg"
}

# ------------------------------------------------------------------------------ --refresh-sums
# Re-resolves each wrapper from the pinned versions above (the only place they are written) and
# rewrites its go.mod/go.sum; review the diff before committing it. Run it after changing a version.
# The checksum database is off by default because this environment cannot reach it; on a machine that
# can, AISTACK_GOSUMDB=sum.golang.org checks every new sum against it.
fresh() {  # fresh DIR: an empty wrapper module named after DIR
  rm -rf "$1" && mkdir -p "$1" && (cd "$1" && go mod init "aistack.local/tools/$(basename "$1")" >/dev/null 2>&1)
}
fill() { go list -mod=mod -deps -test=false "$@" >/dev/null; }  # add every sum a build of "$@" needs

refresh_pulumi() {
  fresh "$1" && cd "$1"
  go get "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION"
  go mod edit -replace github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e \
    -tool=github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  fill github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
}
refresh_pulumi_language_python() {
  [[ -f "$LANGUAGE_HOST_SRC/main.go" ]] || { say "no $LANGUAGE_HOST_SRC"; return 1; }
  rm -rf "$1" && mkdir -p "$1" && cp "$LANGUAGE_HOST_SRC"/{go.mod,go.sum,main.go} "$1"/ && chmod -R u+w "$1" && cd "$1"
  go mod edit -dropreplace=github.com/pulumi/pulumi/pkg/v3 -dropreplace=github.com/pulumi/pulumi/sdk/v3 \
    -require="github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" -require="github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION"
  fill . && rm main.go
}
refresh_pulumi_kubernetes() {
  fresh "$1/source" && (cd "$1/source" && go mod edit -require="github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PROVIDER_REF" \
    && go mod download "github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PROVIDER_REF")
  local dir src
  dir=$(cd "$1/source" && go mod download -json "github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PROVIDER_REF" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  src=$(mktemp -d) && cp -r "$dir"/. "$src"/ && chmod -R u+w "$src" && cd "$src"
  go mod edit -dropreplace=github.com/pulumi/pulumi-kubernetes/sdk/v4 -require="github.com/pulumi/pulumi-kubernetes/sdk/v4@$K8S_PROVIDER_SDK"
  (cd cmd/pulumi-resource-kubernetes && GOFLAGS=-mod=mod VERSION=$K8S_PROVIDER_VERSION go generate ./...)
  fill ./cmd/pulumi-resource-kubernetes && cp go.mod go.sum "$1"/ && rm -rf "$src"
}
refresh_kubernetes() {
  fresh "$1" && cd "$1"
  local gomod mod edits=(-require="k8s.io/kubernetes@$KUBE_VERSION")
  go mod edit "${edits[@]}" && go mod download "k8s.io/kubernetes@$KUBE_VERSION"
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  while read -r mod; do edits+=(-replace="$mod=$mod@v0.${KUBE_VERSION#v1.}"); done \
    < <(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod")
  # Tool directives keep the requirement (a wrapper imports nothing, so tidy would drop it).
  local pkgs=("${KUBE_CMDS[@]/#/k8s.io/kubernetes/cmd/}")
  go mod edit "${edits[@]}" && go get -tool "${pkgs[@]/%/@$KUBE_VERSION}" && fill "${pkgs[@]}"
}
refresh_etcd() {
  fresh "$1" && cd "$1"
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "go.etcd.io/etcd/api/v3@$ETCD_VERSION" \
    "go.etcd.io/etcd/client/pkg/v3@$ETCD_VERSION" "go.etcd.io/etcd/client/v3@$ETCD_VERSION" "go.etcd.io/etcd/pkg/v3@$ETCD_VERSION"
  go mod edit -tool=go.etcd.io/etcd/server/v3 && fill go.etcd.io/etcd/server/v3
}
refresh_tool() {  # refresh_tool DIR PKG@VERSION: a wrapper whose only content is one tool directive
  fresh "$1" && cd "$1" && go get -tool "$2" && fill "${2%@*}"
}
refresh_helm() { refresh_tool "$1" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"; }
refresh_kwok() { refresh_tool "$1" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"; }
refresh_kueue() { refresh_tool "$1" "sigs.k8s.io/kueue/cmd/kueue@$KUEUE_VERSION"; }
refresh_actionlint() { refresh_tool "$1" "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"; }
refresh_registry() { refresh_tool "$1" "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION"; }
refresh_kueue_previous() { refresh_tool "$1" "sigs.k8s.io/kueue/cmd/kueue@$KUEUE_PREVIOUS_VERSION"; }

refresh_sums() {
  local tool fn tmp
  local all=(pulumi pulumi-language-python pulumi-kubernetes kubernetes etcd kwok kueue kueue-previous actionlint helm registry)
  export GOFLAGS=-mod=mod GOSUMDB=${AISTACK_GOSUMDB:-off}
  for tool in "${@:-${all[@]}}"; do
    say "refreshing scripts/tools/$tool"
    fn=refresh_${tool//-/_}
    tmp=$(mktemp -d)
    ( "$fn" "$tmp/$tool" )
    mkdir -p "$WRAPPERS/$tool" && cp -r "$tmp/$tool"/. "$WRAPPERS/$tool"/ && rm -rf "$tmp"
  done
}

if [[ "${1:-}" == "--refresh-sums" ]]; then shift; refresh_sums "$@"; exit 0; fi

mkdir -p "$BIN" "$WORK"
start=$SECONDS
for step in ${AISTACK_TOOLS:-pulumi language_python k8s_provider etcd kwok kube kueue kueue_previous actionlint helm registry}; do
  timed "$step" "build_$step"
done
printf '%s\n' "$PULUMI_VERSION $K8S_PROVIDER_VERSION $KUBE_VERSION $ETCD_VERSION $KWOK_VERSION $KUEUE_VERSION $KUEUE_PREVIOUS_VERSION $ACTIONLINT_VERSION $HELM_VERSION $REGISTRY_VERSION" > "$TOOLS/VERSIONS"
say "tools ready in $((SECONDS - start)) s: $BIN"
echo "$BIN"
