// Package framework starts a real, local Kubernetes control plane — etcd,
// kube-apiserver and, on request, kube-controller-manager, kube-scheduler and
// kwok — as child processes on loopback ports, for carve's integration and
// end-to-end tests and for hack/local-cluster.sh.
//
// It owns everything about those processes: the binaries (BinDir), free ports,
// the certificates and service-account keys, the admin kubeconfig, waiting
// until each component is usable, and stopping them in an order that does not
// hang. It also creates kwok-simulated Nodes (AddNode) so that pods can be
// scheduled and run without a kubelet.
//
// The binaries come from hack/control-plane-tools.sh; nothing here downloads
// or builds anything else.
package framework
