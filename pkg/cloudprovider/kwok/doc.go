// Package kwok is carve's kwok platform: a real backend whose machines are
// Node objects that kwok (https://kwok.sigs.k8s.io) simulates. It creates
// Nodes from a pool's template, deletes the ones it is told to, and lists
// them; it is what `make run` and the integration tests scale, and a way to
// try carve's autoscaling on any cluster without a cloud.
//
// A node it creates is named <pool>-<random>, has spec.providerID
// kwok://<pool>/<node> (so the id names its pool), the labels, taints and
// resources of cloudprovider.NodeFromTemplate, and kwok's annotation
// kwok.x-k8s.io/node=fake plus the label type=kwok, which make kwok (started
// with --manage-nodes-with-annotation-selector) adopt it.
package kwok
