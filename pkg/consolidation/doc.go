// Package consolidation empties nodes that a pool's work no longer needs:
// it chooses nodes to retire, taints them so that new workspace pods start
// elsewhere, moves what may move and lets sessions finish on them. The
// decision is PlanPool, a pure function of one pool's nodes and pods.
package consolidation
