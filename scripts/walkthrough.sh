#!/usr/bin/env bash
# Runs docs/walkthrough.md for real against the test harness (tests/cluster/up) and prints the
# transcript (each command after "$ ", then its output): the zentoo image built and pushed,
# the chart installed, a site applied, its build pods run, images published, a push rebuilt.
#
# The harness has no kubelet, so two things a cluster does are done here by hand, and said so:
# the controller Deployment's container is run with Podman (the same image, arguments and
# ServiceAccount token), and each build pod the controller creates is run with
# `podman kube play` (host network: the git daemon and the registry listen on loopback; the
# registry is plain HTTP), its result reported the way a kubelet reports a termination message.
# Everything is removed at the end. Usage: scripts/walkthrough.sh [TRANSCRIPT_FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=scripts/setup.sh
. scripts/setup.sh
ensure_helm
ensure_apt jq git skopeo
tests/cluster/up >/dev/null
# shellcheck source=/dev/null
. "${ZENTOO_TEST_CACHE:-$HOME/.cache/zentoo-test}/env"
PATH="$(dirname "$ZENTOO_TEST_KUBECTL"):$(dirname "$HELM"):$PATH"
export PATH
if [ $# -gt 0 ]; then
    exec > >(tee "$1") 2>&1
fi

export GIT_AUTHOR_NAME=walkthrough GIT_AUTHOR_EMAIL=walkthrough@example.com
export GIT_COMMITTER_NAME=walkthrough GIT_COMMITTER_EMAIL=walkthrough@example.com
REGISTRY=$ZENTOO_TEST_REGISTRY
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
ZENTOO_IMAGE=$REGISTRY/zentoo/zentoo:$version
NS=zentoo-builds
work=$(mktemp -d /tmp/zentoo-walk.XXXXXX)
zentoo_bin=$root/target/x86_64-unknown-linux-musl/image/zentoo   # what the image holds
zentoo() { "$zentoo_bin" "$@"; }
git_pid=

cleanup() {
    set +e
    podman rm -f zentoo-controller >/dev/null 2>&1
    for f in "$work"/pods/*.json; do
        [ -e "$f" ] && podman kube down "$f" >/dev/null 2>&1
    done
    podman volume ls -q | grep -E '^demo-(binpkgs|distfiles|repo)$|^demo-.*-(work|target|fetch|scratch)$' |
        xargs -r podman volume rm -f >/dev/null 2>&1
    [ -n "$git_pid" ] && kill "$git_pid" 2>/dev/null
    helm uninstall zentoo -n zentoo-system >/dev/null 2>&1
    kubectl delete namespace "$NS" zentoo-system --wait=false >/dev/null 2>&1
    podman images --format '{{.Repository}}:{{.Tag}}' | grep "^$REGISTRY/" | xargs -r podman rmi -f >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

run() {
    printf '\n$ %s\n' "$1"
    eval "$1"
}
note() { printf '\n# %s\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

note "REGISTRY=$REGISTRY (the harness's plain-HTTP registry)"

# 1. The zentoo image.
run "scripts/build-image.sh --push $ZENTOO_IMAGE -- --insecure-registry $REGISTRY 2>/dev/null"
run "skopeo inspect --tls-verify=false docker://$ZENTOO_IMAGE | jq '{Digest, Architecture, Os, Layers}'"

# 2. Install.
run "kubectl create namespace $NS"
run "helm install zentoo charts/zentoo --namespace zentoo-system --create-namespace \\
    --set watchNamespace=$NS --set image.repository=$REGISTRY/zentoo/zentoo"
run "kubectl get deployment,serviceaccount,role -n zentoo-system"
run "kubectl get serviceaccount,role,rolebinding -n $NS"

note "No kubelet here: run the Deployment's container with Podman, as its ServiceAccount."
mkdir -p "$work/kube"
server=$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' |
    base64 -d >"$work/kube/ca.crt"
token=$(kubectl create token zentoo -n zentoo-system --duration=2h)
kc="$work/kube/config"
kubectl config --kubeconfig="$kc" set-cluster test --server="$server" \
    --certificate-authority="$work/kube/ca.crt" --embed-certs >/dev/null
kubectl config --kubeconfig="$kc" set-credentials zentoo --token="$token" >/dev/null
kubectl config --kubeconfig="$kc" set-context zentoo --cluster=test --user=zentoo >/dev/null
kubectl config --kubeconfig="$kc" use-context zentoo >/dev/null
chmod 0755 "$work/kube"
chmod 0644 "$kc"
rm -f "$work/kube/ca.crt"
metrics=$(free_port)
mapfile -t args < <(kubectl get deployment zentoo -n zentoo-system \
    -o jsonpath='{.spec.template.spec.containers[0].args}' |
    jq -r --arg m "--metrics-addr=127.0.0.1:$metrics" '.[] | if startswith("--metrics-addr=") then $m else . end')
run "podman run -d --tls-verify=false --name zentoo-controller --network host \\
    -v $work/kube:/kube:ro -e KUBECONFIG=/kube/config \\
    -e POD_NAME=zentoo-6d5f8c7b9-x2x7q -e POD_NAMESPACE=zentoo-system \\
    $ZENTOO_IMAGE ${args[*]} --build-pod-label=zentoo.dev/test-kubelet=manual >/dev/null"
for _ in $(seq 1 150); do
    curl -fsS "http://127.0.0.1:$metrics/readyz" >/dev/null 2>&1 && break
    sleep 0.2
done
run "curl -s http://127.0.0.1:$metrics/readyz; echo"
run "kubectl get lease zentoo -n zentoo-system -o jsonpath='{.spec.holderIdentity}{\"\\n\"}'"

# 3. A site repository.
cd "$work"
run "zentoo site init site"
run "cat site/tuples"
run "zentoo plan --site site"
port=$(free_port)
"$(git --exec-path)/git-daemon" --export-all --reuseaddr --base-path="$work" --listen=127.0.0.1 \
    --port="$port" "$work/site" >/dev/null 2>&1 &
git_pid=$!
note "git daemon serves it as git://127.0.0.1:$port/site"
stage3=$(tests/stage3/build-image 2>/dev/null | tail -n 1)

# 4. The GentooSite.
cat >"$work/site.yaml" <<EOF
apiVersion: zentoo.dev/v1alpha1
kind: GentooSite
metadata:
  name: demo
  namespace: $NS
spec:
  source:
    url: git://127.0.0.1:$port/site
    interval: 1m
  imageDefaults:
    registry: $REGISTRY/demo
    stage3:
      amd64: $stage3
EOF
run "cat site.yaml"
run "kubectl apply -f site.yaml"
run "kubectl wait gentoosite/demo -n $NS --for=condition=Ready --timeout=60s"
run "kubectl get gentoosites,gentooimages -n $NS"
for _ in $(seq 1 300); do
    [ "$(kubectl get jobs -n "$NS" -o name | wc -l)" -ge 3 ] && break
    sleep 0.2
done
run "kubectl get jobs,pods -n $NS"
first=$(kubectl get jobs -n "$NS" -l zentoo.dev/image=demo-server-nodocs-web -o name | head -n 1)
run "kubectl get $first -n $NS -o jsonpath='{range .spec.template.spec.initContainers[*]}{.name}{\"\\t\"}{.image}{\"\\n\"}{end}{range .spec.template.spec.containers[*]}{.name}{\"\\t\"}{.image}{\"\\n\"}{end}'"

# 5. The build pods, run for real.
mkdir -p "$work/pods"
play() { # JOB: runs the Job's pod with podman kube play, reports its result as a kubelet would
    local job=$1 pod file result
    file="$work/pods/$job.json"
    kubectl get "job/$job" -n "$NS" -o json | jq --arg reg "$REGISTRY" '{
        apiVersion: "v1", kind: "Pod",
        metadata: (.spec.template.metadata + {name: .metadata.name}),
        spec: (.spec.template.spec + {hostNetwork: true})
      } | (.spec.containers[] | select(.name == "publish") | .command) += ["--insecure-registry", $reg]' >"$file"
    podman kube play "$file" >/dev/null
    [ "$(podman wait "$job-publish")" = 0 ] || { podman logs "$job-publish"; return 1; }
    result=$(podman logs "$job-publish" 2>/dev/null | grep '^{' | tail -n 1)
    pod=$(kubectl get pods -n "$NS" -l "zentoo.dev/build=$job" -o jsonpath='{.items[0].metadata.name}')
    kubectl patch pod "$pod" -n "$NS" --subresource=status --type=merge -p "$(
        kubectl get pod "$pod" -n "$NS" -o json | jq --arg msg "$result" '{status: {
            phase: "Succeeded",
            initContainerStatuses: [.spec.initContainers[] | {name, image, imageID: "", ready: false,
                restartCount: 0, state: {terminated: {exitCode: 0, reason: "Completed"}}}],
            containerStatuses: [.spec.containers[] | {name, image, imageID: "", ready: false,
                restartCount: 0, state: {terminated: {exitCode: 0, reason: "Completed", message: $msg}}}]
        }}')" >/dev/null
}
first=${first#job.batch/}
note "The kubelet's part: podman kube play of the Job's pod (hostNetwork; --insecure-registry)"
run "play $first"
for c in materialize build assemble publish; do
    run "podman logs $first-$c 2>&1 | tail -n 4"
done
for job in $(kubectl get jobs -n "$NS" -o jsonpath='{.items[*].metadata.name}'); do
    [ "$job" = "$first" ] || run "play $job"
done
run "kubectl wait gentooimages --all -n $NS --for=condition=Ready --timeout=90s"
run "kubectl get gentooimages -n $NS"
run "kubectl get gentooimage demo-server-nodocs-web -n $NS -o jsonpath='{.status.lastSuccessfulBuild}' | jq ."
run "kubectl get events -n $NS --field-selector involvedObject.kind=GentooImage --sort-by=.lastTimestamp -o custom-columns=REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.note | head -n 8"
run "skopeo inspect --tls-verify=false docker://$REGISTRY/demo/demo-server-nodocs-web:latest | jq '{Digest, Architecture, Annotations: .Labels}'"
run "podman run --rm --tls-verify=false $REGISTRY/demo/demo-server-nodocs-web:latest /usr/sbin/nginx"

# 6. A push: only the images that consume the change rebuild.
run "echo net-misc/curl >> site/sets/web && git -C site commit -qam 'web: add curl'"
run "kubectl annotate gentoosite demo -n $NS zentoo.dev/reconcile-requested-at=\"\$(date -u +%FT%TZ)\" --overwrite"
for _ in $(seq 1 300); do
    [ "$(kubectl get jobs -n "$NS" -o name | wc -l)" -ge 5 ] && break
    sleep 0.2
done
run "kubectl get gentooimages -n $NS"
for job in $(kubectl get jobs -n "$NS" -o json | jq -r '.items[] | select(.status.succeeded != 1) | .metadata.name'); do
    run "play $job"
done
run "kubectl wait gentooimages --all -n $NS --for=condition=Ready --timeout=90s"
run "kubectl get gentooimages -n $NS -o wide"

# 7. Metrics.
run "curl -s http://127.0.0.1:$metrics/metrics | grep -E '^zentoo_(builds|reconciles)_total'"

# 8. Clean up (also done on exit).
run "helm uninstall zentoo -n zentoo-system"
