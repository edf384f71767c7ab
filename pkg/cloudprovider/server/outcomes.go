package server

import "sync"

// ScaleOutcomes remembers, per pool, whether the latest size change the
// autoscaler asked for (IncreaseSize, DeleteNodes, DecreaseTargetSize) was
// refused by a guard, and tells the status writer when that changes, so that
// the ScaleRefused condition is written from the status writer alone. It
// lives in memory: after a restart a pool's outcome is unknown until the next
// request. A nil *ScaleOutcomes records nothing.
type ScaleOutcomes struct {
	mu       sync.Mutex
	last     map[string]*Refusal // nil value: accepted
	onChange func(pool string)
}

// NewScaleOutcomes returns an empty ScaleOutcomes.
func NewScaleOutcomes() *ScaleOutcomes {
	return &ScaleOutcomes{last: map[string]*Refusal{}}
}

// Record stores r (nil: accepted) as pool's latest outcome and calls the
// change callback when it differs from the one before. Refusals with the same
// reason and note count as the same, so an autoscaler retrying a refused
// request every loop changes nothing.
func (o *ScaleOutcomes) Record(pool string, r *Refusal) {
	if o == nil {
		return
	}
	o.mu.Lock()
	prev, known := o.last[pool]
	o.last[pool] = r
	changed := !known || !sameRefusal(prev, r)
	notify := o.onChange
	o.mu.Unlock()
	if changed && notify != nil {
		notify(pool)
	}
}

func sameRefusal(a, b *Refusal) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Reason == b.Reason && a.Note() == b.Note()
}

// Last returns pool's latest outcome: known is false when nothing was asked
// since the start; r is nil when it was carried out.
func (o *ScaleOutcomes) Last(pool string) (r *Refusal, known bool) {
	if o == nil {
		return nil, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	r, known = o.last[pool]
	return r, known
}

// Forget drops a pool that no longer exists.
func (o *ScaleOutcomes) Forget(pool string) {
	if o == nil {
		return
	}
	o.mu.Lock()
	delete(o.last, pool)
	o.mu.Unlock()
}

// Notify makes f be called with a pool's name whenever its outcome changes,
// and at once for every pool already known.
func (o *ScaleOutcomes) Notify(f func(pool string)) {
	if o == nil {
		return
	}
	o.mu.Lock()
	o.onChange = f
	pools := make([]string, 0, len(o.last))
	for p := range o.last {
		pools = append(pools, p)
	}
	o.mu.Unlock()
	for _, p := range pools {
		f(p)
	}
}
