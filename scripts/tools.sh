#!/usr/bin/env bash
# Build aistack's engine (the Pulumi CLI, its Python language host, the Kubernetes provider), Helm,
# the local cluster's tools and the workflow linter (actionlint) from the Go module proxy (the only
# source reachable here) into a cache the project owns. Skips what is already built; prints what it does.
#
#   scripts/tools.sh            build everything missing, print the bin directory last
#   scripts/tools.sh --print    print the bin directory only
#
# Versions: the Pulumi CLI matches the `pulumi` PyPI pin in pyproject.toml (the proxy serves
# github.com/pulumi/pulumi/pkg/v3 sources up to v3.259.0); the Kubernetes provider is built from
# the one provider/v4 source the proxy serves (commit f47bc2d6f199, the day before v4.25.0).
# Known hurdles, each handled below: replace directives (wrapper modules), untagged modules
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
# = the Helm library inside the Kubernetes provider above (its go.mod), so `helm template` renders charts
# exactly as the provider's Chart resource does (tests/test_chart_render.py).
HELM_VERSION=v3.18.6
ACTIONLINT_VERSION=v1.7.12  # lints .github/workflows (tests/test_workflows.py)

ROOT_DIR=${AISTACK_TOOLS_DIR:-$HOME/.cache/aistack/tools}
REPO_DIR=$(cd "$(dirname "$0")/.." && pwd)
# Pulumi's Python language host: the proxy does not serve its module (an untagged sub-module of
# pulumi/pulumi), so it is built from a vendored copy of its source when one is present.
LANGUAGE_HOST_SRC=${AISTACK_LANGUAGE_HOST_SRC:-$REPO_DIR/../shared/vendor/pulumi-language-python-v$PULUMI_VERSION}
TOOLS=$ROOT_DIR/pulumi-$PULUMI_VERSION-k8s-$KUBE_VERSION
BIN=$TOOLS/bin
WORK=$TOOLS/src
if [[ "${1:-}" == "--print" ]]; then echo "$BIN"; exit 0; fi

export GOFLAGS=-mod=mod CGO_ENABLED=0
# The checksum database does not know every version this proxy serves; integrity comes from the
# pinned versions and the proxy itself.
export GOSUMDB=off
mkdir -p "$BIN" "$WORK"
say() { printf '==> %s\n' "$*" >&2; }
timed() { local name=$1; shift; local t0=$SECONDS; "$@"; say "$name built in $((SECONDS - t0)) s"; }
have() { [[ -x "$BIN/$1" ]] && { say "$1: cached ($BIN/$1)"; return 0; }; return 1; }

wrapper() {  # wrapper DIR MODULE: an empty module to hold requires and replaces
  rm -rf "$1" && mkdir -p "$1" && (cd "$1" && go mod init "$2" >/dev/null 2>&1)
}

build_pulumi() {
  if have pulumi; then return; fi
  local ambient
  ambient=$(command -v pulumi || true)
  if [[ -n "$ambient" ]] && "$ambient" version 2>/dev/null | grep -q "v$PULUMI_VERSION"; then
    say "pulumi: using $ambient (v$PULUMI_VERSION on PATH)"; ln -sf "$ambient" "$BIN/pulumi"; return
  fi
  say "pulumi v$PULUMI_VERSION: CLI from github.com/pulumi/pulumi/pkg/v3 (wrapper module: pkg/go.mod replaces sdk with ../sdk)"
  local w=$WORK/pulumi
  wrapper "$w" aistack.local/tools/pulumi
  (cd "$w" \
    && go get "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" \
    && go mod edit -replace github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e \
    && go build -trimpath -tags osusergo,grpcnotrace \
         -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
         -o "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
}

build_language_python() {
  # Without it `pulumi up` in the project directory cannot run a Python program; with it, it can.
  if have pulumi-language-python && [[ -x "$BIN/pulumi-language-python-exec" ]]; then return; fi
  local ambient
  ambient=$(command -v pulumi-language-python || true)
  if [[ -n "$ambient" && -x "$(dirname "$ambient")/pulumi-language-python-exec" ]]; then
    say "pulumi-language-python: using $ambient (a Pulumi install on PATH)"
    ln -sf "$ambient" "$BIN/pulumi-language-python"
    ln -sf "$(dirname "$ambient")/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
    return
  fi
  if [[ ! -f "$LANGUAGE_HOST_SRC/main.go" ]]; then
    say "pulumi-language-python: no source at $LANGUAGE_HOST_SRC and none on PATH; skipped (make demo then deploys through the Automation API)"
    return
  fi
  say "pulumi-language-python v$PULUMI_VERSION from $LANGUAGE_HOST_SRC (its relative replaces dropped; pkg/sdk at the CLI's version)"
  local w=$WORK/pulumi-language-python
  rm -rf "$w" && mkdir -p "$w" && cp "$LANGUAGE_HOST_SRC"/{go.mod,go.sum,main.go,pulumi-language-python-exec} "$w"/ && chmod -R u+w "$w"
  (cd "$w" \
    && go mod edit -dropreplace=github.com/pulumi/pulumi/pkg/v3 -dropreplace=github.com/pulumi/pulumi/sdk/v3 \
         -require="github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" -require="github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" \
    && go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
         -o "$BIN/pulumi-language-python" .)
  install -m 0755 "$w/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
}

build_helm() {
  if have helm; then return; fi
  say "helm $HELM_VERSION (renders the pinned charts with aistack's values for the strict-validation tests)"
  local w=$WORK/helm
  wrapper "$w" aistack.local/tools/helm
  (cd "$w" && go get -tool "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
    && go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" -o "$BIN/helm" helm.sh/helm/v3/cmd/helm)
}

build_k8s_provider() {
  if have pulumi-resource-kubernetes; then return; fi
  say "pulumi-resource-kubernetes $K8S_PROVIDER_VERSION: provider/v4@$K8S_PROVIDER_REF (copied out of the module cache to run its go generate)"
  local dir
  dir=$(go mod download -json "github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PROVIDER_REF" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  local w=$WORK/pulumi-kubernetes
  rm -rf "$w" && cp -r "$dir" "$w" && chmod -R u+w "$w"
  (cd "$w" \
    && go mod edit -dropreplace=github.com/pulumi/pulumi-kubernetes/sdk/v4 \
         -require="github.com/pulumi/pulumi-kubernetes/sdk/v4@$K8S_PROVIDER_SDK" \
    && (cd cmd/pulumi-resource-kubernetes && VERSION=$K8S_PROVIDER_VERSION go generate ./...) \
    && go build -trimpath \
         -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$K8S_PROVIDER_VERSION" \
         -o "$BIN/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes)
}

build_kube() {
  if have kube-apiserver && have kube-controller-manager && have kube-scheduler && have kubectl; then return; fi
  say "kubernetes $KUBE_VERSION: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (wrapper replacing each staging module with its published v0 version)"
  local gomod minor
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  minor=${KUBE_VERSION#v1.}
  local w=$WORK/kubernetes
  wrapper "$w" aistack.local/tools/kubernetes
  local edits=(-require="k8s.io/kubernetes@$KUBE_VERSION")
  while read -r mod; do edits+=(-replace="$mod=$mod@v0.$minor"); done \
    < <(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod")
  local ver="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1"
  ver+=" -X k8s.io/component-base/version.gitMinor=${minor%%.*} -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
  local cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  # Tool directives keep the requirement (a wrapper imports nothing, so tidy would drop it and a
  # plain build would resolve the newest k8s.io/kubernetes instead).
  (cd "$w" && go mod edit "${edits[@]}" && go get -tool $(printf "k8s.io/kubernetes/cmd/%s@$KUBE_VERSION " "${cmds[@]}"))
  for cmd in "${cmds[@]}"; do
    [[ -x "$BIN/$cmd" ]] && continue
    (cd "$w" && go build -trimpath -ldflags "-s -w $ver" -o "$BIN/$cmd" "k8s.io/kubernetes/cmd/$cmd")
  done
}

build_etcd() {
  if have etcd; then return; fi
  say "etcd $ETCD_VERSION (wrapper: server/go.mod replaces its sibling modules locally)"
  local w=$WORK/etcd
  wrapper "$w" aistack.local/tools/etcd
  (cd "$w" \
    && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "go.etcd.io/etcd/api/v3@$ETCD_VERSION" \
         "go.etcd.io/etcd/client/pkg/v3@$ETCD_VERSION" "go.etcd.io/etcd/client/v3@$ETCD_VERSION" \
         "go.etcd.io/etcd/pkg/v3@$ETCD_VERSION" \
    && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  # KWOK does nothing without stages: take the upstream "fast" node/pod lifecycles and the lease
  # heartbeat from the same module.
  local dir stages=$TOOLS/kwok-stages
  if [[ ! -d "$stages" ]]; then
    dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
    mkdir -p "$stages"
    cp "$dir"/kustomize/stage/node/fast/node-initialize.yaml "$dir"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
       "$dir"/kustomize/stage/pod/fast/pod-*.yaml "$stages"/
    chmod u+w "$stages"/*.yaml
  fi
  if have kwok; then return; fi
  say "kwok $KWOK_VERSION (fake kubelets: nodes advertise nvidia.com/gpu, pods run without containers)"
  GOBIN=$BIN go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}

build_kueue() {
  if have kueue; then return; fi
  say "kueue $KUEUE_VERSION controller (admits Jobs by quota in the local cluster; wrapper: the proxy serves no version list, which go install needs)"
  local w=$WORK/kueue
  wrapper "$w" aistack.local/tools/kueue
  (cd "$w" && go get -tool "sigs.k8s.io/kueue/cmd/kueue@$KUEUE_VERSION" \
    && go build -trimpath -ldflags "-s -w" -o "$BIN/kueue" sigs.k8s.io/kueue/cmd/kueue)
}

build_actionlint() {
  if have actionlint; then return; fi
  say "actionlint $ACTIONLINT_VERSION (GitHub Actions workflow linter; runs shellcheck on run: scripts when it is installed)"
  GOBIN=$BIN go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
}

start=$SECONDS
for step in ${AISTACK_TOOLS:-pulumi language_python k8s_provider etcd kwok kube kueue actionlint helm}; do
  timed "$step" "build_$step"
done
printf '%s\n' "$PULUMI_VERSION $K8S_PROVIDER_VERSION $KUBE_VERSION $ETCD_VERSION $KWOK_VERSION $KUEUE_VERSION $ACTIONLINT_VERSION $HELM_VERSION" > "$TOOLS/VERSIONS"
say "tools ready in $((SECONDS - start)) s: $BIN"
echo "$BIN"
