//go:build tools

// The node-side Kubernetes binaries (kubelet, kubeadm, kube-proxy) are built from this module,
// a copy of lab/controlplane/k8s's pins, so adding them leaves the local lab's build unchanged.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
