# The test cluster's real node `real-1`: a kubelet (built by ./build) with Debian's containerd,
# runc and CNI plugins, its state under $NODE_DIR. Sourced by ./up (start_node) and ./down
# (stop_node), after lib.sh; ./up's kube and registry groups must run first.
# shellcheck shell=bash
# Variables here are used by the scripts that source this file.
# shellcheck disable=SC2034

NODE_NAME=real-1
NODE_DIR=$RUN/node
NODE_TAINT=zentoo.dev/real-node
CONTAINERD_SOCK=$NODE_DIR/containerd.sock
NODE_BRIDGE=zentoo0
NODE_SUBNET=10.90.0.0/24
# The bridge's address, which stands for this machine's loopback: a TCP connection to it, from a
# pod on the bridge or from this machine, reaches the server listening on 127.0.0.1 at that port
# (the API server, the registries, the tests' git daemons).
NODE_HOST=10.90.0.1
PAUSE_IMAGE=localhost/zentoo-test/pause:1

ctr_node() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# The Node's InternalIP (the kubelet refuses a loopback one): the host's address on its
# default route, else its first global IPv4 address.
node_ip() {
	local ip
	ip=$(ip -4 -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
	[ -n "$ip" ] || ip=$(ip -4 -o addr show scope global 2>/dev/null | sed -n '1s/.* inet \([0-9.]*\)\/.*/\1/p')
	echo "$ip"
}

# The kubelet listens on 127.0.0.1 only; the API server dials the Node's InternalIP, so one
# rule in the host's own OUTPUT chain turns that address and port into loopback (packets from
# elsewhere never match it).
node_dnat() { # -A|-C|-D
	iptables -w -t nat "$1" OUTPUT -d "$NODE_IP/32" -p tcp --dport "$KUBELET_PORT" \
		-m comment --comment "zentoo-test $NODE_NAME" -j DNAT --to-destination "127.0.0.1:$KUBELET_PORT"
}

# NODE_HOST as this machine's loopback: DNAT of TCP to it, from the bridge (PREROUTING, with
# route_localnet on the bridge so that 127.0.0.1 may be routed there) and from this machine
# (OUTPUT). Nothing from outside can match: neither the bridge nor the address is reachable
# from another host.
host_dnat() { # -A|-C|-D
	iptables -w -t nat "$1" PREROUTING -i "$NODE_BRIDGE" -d "$NODE_HOST/32" -p tcp \
		-m comment --comment "zentoo-test $NODE_NAME host" -j DNAT --to-destination 127.0.0.1 &&
		iptables -w -t nat "$1" OUTPUT -d "$NODE_HOST/32" -p tcp \
			-m comment --comment "zentoo-test $NODE_NAME host" -j DNAT --to-destination 127.0.0.1
}

# The pods' bridge, made before the CNI plugin would make it, so that it can be set up first.
node_bridge() {
	if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
		ip link add "$NODE_BRIDGE" type bridge
		ip addr add "$NODE_HOST/${NODE_SUBNET#*/}" dev "$NODE_BRIDGE"
	fi
	ip link set "$NODE_BRIDGE" up
	sysctl -qw "net.ipv4.conf.$NODE_BRIDGE.route_localnet=1"
	host_dnat -C 2>/dev/null || host_dnat -A
}

node_pki() {
	cert "node-$NODE_NAME" ca "/O=system:nodes/CN=system:node:$NODE_NAME"
	cert "kubelet-serving-$NODE_IP" ca "/CN=$NODE_NAME" "IP:$NODE_IP,IP:127.0.0.1,DNS:$NODE_NAME"
	chmod 600 "$PKI"/*.key
}

containerd_config() {
	local reg
	mkdir -p "$NODE_DIR/cni/net.d"
	# Pulls from the harness's plain-HTTP registry, by either name.
	for reg in "127.0.0.1:$REG_PLAIN_PORT" "$NODE_HOST:$REG_PLAIN_PORT"; do
		mkdir -p "$NODE_DIR/containerd/certs.d/$reg"
		cat >"$NODE_DIR/containerd/certs.d/$reg/hosts.toml" <<EOF
server = "http://$reg"
[host."http://$reg"]
  capabilities = ["pull", "resolve"]
EOF
	done
	cat >"$NODE_DIR/containerd/config.toml" <<EOF
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # No CAP_SYS_RESOURCE here: without this every sandbox fails to start.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$NODE_DIR/containerd/certs.d"
EOF
	cat >"$NODE_DIR/cni/net.d/10-zentoo-test.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "zentoo-test",
  "plugins": [
    {
      "type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local", "ranges": [[{"subnet": "$NODE_SUBNET"}]],
        "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$NODE_DIR/cni/ipam"
      }
    }
  ]
}
EOF
}

containerd_health() { ctr --address "$CONTAINERD_SOCK" version; }
containerd_start() {
	containerd_config
	start_bg containerd "$(command -v containerd)" --config "$NODE_DIR/containerd/config.toml"
}

# The pause image, made here (nothing can be pulled): the static binary alone.
node_pause_image() {
	ctr_node images check "name==$PAUSE_IMAGE" | grep -q . && return 0
	local dir
	dir=$(mktemp -d)
	cp "$BIN_PAUSE/pause" "$dir/pause"
	tar -C "$dir" --owner 0 --group 0 -cf "$dir/rootfs.tar" pause
	podman import -q --change 'ENTRYPOINT ["/pause"]' "$dir/rootfs.tar" "$PAUSE_IMAGE" >/dev/null
	podman save -q --format docker-archive -o "$dir/pause.tar" "$PAUSE_IMAGE"
	ctr_node images import "$dir/pause.tar" >/dev/null
	rm -rf "$dir"
	log "pause image $PAUSE_IMAGE imported"
}

kubelet_config() {
	cat >"$NODE_DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: zentoo-test
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $NODE_NAME
  user:
    client-certificate: $PKI/node-$NODE_NAME.crt
    client-key: $PKI/node-$NODE_NAME.key
contexts:
- name: node
  context: {cluster: zentoo-test, user: $NODE_NAME}
current-context: node
EOF
	cat >"$NODE_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-serving-$NODE_IP.crt
tlsPrivateKeyFile: $PKI/kubelet-serving-$NODE_IP.key
authentication:
  anonymous: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
  webhook: {enabled: true}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
# This machine: cgroup v1 (hybrid), swap, no systemd.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
podLogsDir: $NODE_DIR/logs
registerWithTaints:
- {key: $NODE_TAINT, value: "true", effect: NoSchedule}
# A shared disk: evict only when it is really full, keep images.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
maxPods: 30
serializeImagePulls: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
EOF
}

kubelet_health() { curl -fsS "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz" | grep -qx ok; }
kubelet_start() {
	KUBELET_PORT=$(pick_port kubelet)
	KUBELET_HEALTHZ_PORT=$(pick_port kubelet-healthz)
	kubelet_config
	node_dnat -C 2>/dev/null || node_dnat -A
	start_bg kubelet "$BIN_K8S/kubelet" --config "$NODE_DIR/kubelet.yaml" \
		--kubeconfig "$NODE_DIR/kubeconfig" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
		--root-dir "$NODE_DIR/kubelet" \
		--node-labels "type=real,zentoo.dev/test-pool=real" --v 1
}

# start_node RESTART: RESTART=1 restarts a running kubelet (the API server moved).
start_node() {
	NODE_IP=$(node_ip)
	[ -n "$NODE_IP" ] || die "the real node needs a global IPv4 address on this host (its InternalIP; the kubelet refuses loopback)"
	mkdir -p "$NODE_DIR"
	node_pki
	node_bridge
	ensure containerd "$(command -v containerd)" containerd_health containerd_start 60
	node_pause_image
	KUBELET_PORT=$(cat "$RUN/ports/kubelet" 2>/dev/null || echo 0)
	KUBELET_HEALTHZ_PORT=$(cat "$RUN/ports/kubelet-healthz" 2>/dev/null || echo 0)
	[ "${1:-0}" -eq 1 ] && stop_pid kubelet "$BIN_K8S/kubelet"
	ensure kubelet "$BIN_K8S/kubelet" kubelet_health kubelet_start 60
	wait_for 60 "node $NODE_NAME Ready" kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s ||
		die "node $NODE_NAME did not become Ready (log: $LOGS/kubelet.log)"
	log "node $NODE_NAME: Ready ($NODE_IP, kubelet 127.0.0.1:$KUBELET_PORT)"
}

# stop_node: the node's pods, containers, kubelet and containerd, then what they leave on the
# host: mounts under $NODE_DIR, the pods' network namespaces, the bridge, the DNAT rule,
# cgroups. Only what this harness made: its own containerd namespace, bridge and paths.
stop_node() {
	local containerd_bin ids id m
	containerd_bin=$(command -v containerd || echo /usr/bin/containerd)
	stop_pid kubelet "$BIN_K8S/kubelet"
	if pid_alive containerd "$containerd_bin"; then
		# Tasks first (their shims exit with them), then the containers.
		ids=$(ctr_node tasks ls -q 2>/dev/null || true)
		for id in $ids; do ctr_node tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
		for id in $ids; do
			wait_for 10 "task $id" ctr_node tasks delete "$id" || ctr_node tasks delete -f "$id" >/dev/null 2>&1 || true
		done
		ids=$(ctr_node containers ls -q 2>/dev/null || true)
		for id in $ids; do ctr_node containers delete "$id" >/dev/null 2>&1 || true; done
	fi
	stop_pid containerd "$containerd_bin"
	# Deepest first.
	if [ -d "$NODE_DIR" ]; then
		findmnt -rn -o TARGET | grep "^$NODE_DIR/" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	fi
	# The sandboxes' network namespaces (containerd names them cni-*) whose veth is on our bridge.
	for id in /run/netns/cni-*; do
		[ -e "$id" ] || continue
		if ip -n "$(basename "$id")" -4 -o addr 2>/dev/null | grep -q " ${NODE_SUBNET%.*}\."; then
			ip netns delete "$(basename "$id")" 2>/dev/null || true
		fi
	done
	ip link delete "$NODE_BRIDGE" 2>/dev/null || true
	while host_dnat -C 2>/dev/null; do host_dnat -D; done
	if [ -s "$RUN/ports/kubelet" ]; then
		KUBELET_PORT=$(cat "$RUN/ports/kubelet")
		NODE_IP=$(node_ip)
		while node_dnat -C 2>/dev/null; do node_dnat -D; done
	fi
	for m in /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/*/kubepods; do
		[ -d "$m" ] && find "$m" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done
	rm -rf "$NODE_DIR/cni/ipam"
}
