"""lab-cni: the pod network of the offline kind node image, in place of kindnetd.

kindnetd (kind's default CNI) is only published as an image and its source is not on the Go
module proxy, so the built node image cannot carry it. lab-cni does the part of kindnetd the
lab needs, the same way: a DaemonSet on the host network of every node that

* writes ``/etc/cni/net.d/10-lab-ptp.conflist`` for its own node: ``ptp`` + ``host-local`` on the
  node's ``spec.podCIDR`` (allocated by kube-controller-manager) + ``portmap`` — plugins from
  Debian's containernetworking-plugins in the node image;
* routes every other node's podCIDR via that node's InternalIP (all kind nodes share one L2
  Docker network, so no encapsulation is needed).

It is a busybox script plus kubectl (in-cluster credentials of its ServiceAccount, which may only
list nodes). It ships as the image's ``/kind/manifests/default-cni.yaml``, so kind applies it
itself and the kind config needs no change between the pinned and the built node image.
"""
from __future__ import annotations

from lab.images.kindimage.versions import LAB_CNI_IMAGE

SCRIPT = r"""#!/bin/sh
# lab-cni (lab/images/kindimage/cni.py): kindnetd's routing, for the offline kind node image.
set -u
dir=${CNI_CONF_DIR:-/etc/cni/net.d}
conf=$dir/10-lab-ptp.conflist
jp='{range .items[*]}{.metadata.name}{" "}{.spec.podCIDR}{" "}{.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}'
while :; do
  if kubectl get nodes -o jsonpath="$jp" > /tmp/nodes; then
    while read -r name cidr ip; do
      [ -n "$cidr" ] && [ -n "$ip" ] || continue
      if [ "$name" = "$NODE_NAME" ]; then
        want=$(printf '{"cniVersion":"0.3.1","name":"lab-cni","plugins":[{"type":"ptp","ipMasq":false,"mtu":1500,"ipam":{"type":"host-local","dataDir":"/run/cni-ipam-state","routes":[{"dst":"0.0.0.0/0"}],"ranges":[[{"subnet":"%s"}]]}},{"type":"portmap","capabilities":{"portMappings":true}}]}' "$cidr")
        if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
          printf '%s\n' "$want" > "$dir/.lab-cni.tmp" && mv "$dir/.lab-cni.tmp" "$conf"
          echo "lab-cni: $NODE_NAME pods on $cidr"
        fi
      else
        ip route replace "$cidr" via "$ip" || echo "lab-cni: route $cidr via $ip failed"
      fi
    done < /tmp/nodes
  fi
  # A resync interval, as kindnetd's: new nodes get their routes within 10s.
  sleep 10
done
"""

MANIFEST = f"""# lab-cni (scheduler-lab): replaces kindnetd in the offline-built node image; see lab/images/kindimage/cni.py
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: lab-cni
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: lab-cni
rules:
  - apiGroups: [""]
    resources: [nodes]
    verbs: [list, get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: lab-cni
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: lab-cni
subjects:
  - kind: ServiceAccount
    name: lab-cni
    namespace: kube-system
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: lab-cni
  namespace: kube-system
  labels: {{app: lab-cni, k8s-app: lab-cni}}
spec:
  selector:
    matchLabels: {{app: lab-cni}}
  template:
    metadata:
      labels: {{app: lab-cni, k8s-app: lab-cni}}
    spec:
      hostNetwork: true
      priorityClassName: system-node-critical
      serviceAccountName: lab-cni
      tolerations:
        - operator: Exists
      containers:
        - name: lab-cni
          image: {LAB_CNI_IMAGE}
          imagePullPolicy: IfNotPresent
          command: ["/bin/sh", "/lab-cni.sh"]
          env:
            - name: NODE_NAME
              valueFrom:
                fieldRef: {{fieldPath: spec.nodeName}}
          resources:
            requests: {{cpu: 10m, memory: 30Mi}}
          securityContext:
            privileged: false
            capabilities:
              add: [NET_ADMIN, NET_RAW]
          volumeMounts:
            - name: cni-cfg
              mountPath: /etc/cni/net.d
      volumes:
        - name: cni-cfg
          hostPath:
            path: /etc/cni/net.d
            type: DirectoryOrCreate
"""
