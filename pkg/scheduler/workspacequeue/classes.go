package workspacequeue

import (
	"container/heap"
)

// A workspace's waiting pods are kept in classes: the pods of one project
// that request the same amounts. Every pod of a class gets the same quota
// decision (project and team are the same, and so is the request), and
// within a class the queue order is priority, then age (team and project
// shares are the same for all of them). So the first pod in queue order
// that fits is always the head of some class: an admission looks at one
// pod per class, not at every waiting pod, and takes it off its heap in
// O(log n).

// class identifies the pods that always get the same decision.
type class struct {
	project string
	req     amounts
}

// classHeap is one class's waiting pods, the first in queue order on top.
type classHeap []*entry

func (h classHeap) Len() int { return len(h) }
func (h classHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	return olderThan(a.created, b.created, a.project+"/"+a.pod.Name, b.project+"/"+b.pod.Name)
}
func (h classHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *classHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *classHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// wait puts e in w's queue.
func (w *wsState) wait(e *entry) {
	if _, ok := w.waiting[e.uid]; ok {
		return
	}
	w.waiting[e.uid] = e
	c := class{project: e.project, req: e.req}
	e.class = c
	h := w.classes[c]
	if h == nil {
		h = &classHeap{}
		w.classes[c] = h
	}
	heap.Push(h, e)
}

// unwait takes e out of w's queue; it reports whether e was waiting.
func (w *wsState) unwait(e *entry) bool {
	if _, ok := w.waiting[e.uid]; !ok {
		return false
	}
	delete(w.waiting, e.uid)
	h := w.classes[e.class]
	heap.Remove(h, e.index)
	if h.Len() == 0 {
		delete(w.classes, e.class)
	}
	return true
}
