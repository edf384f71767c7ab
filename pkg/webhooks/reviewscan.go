package webhooks

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	sigsjson "sigs.k8s.io/json"
)

// scanReview is decodeReview's fast way: one pass over the review that
// checks its syntax as it goes, decodes the fields podcontract.Trim keeps of
// its pods straight into corev1 types and skips the rest without reflection
// (the reflective decoder read the whole review once more before decoding,
// only to check its syntax). It decodes as sigs.k8s.io/json's case-sensitive
// Unmarshal would into those fields: a null leaves a string as it was and
// makes a pointer, map or slice nil; of duplicate keys the last wins. It
// reports ok false, and decodeReview decodes the review the slow way, for
// anything it does not decode exactly like that: a syntax error anywhere, a
// value of the wrong type in a field it reads, a repeated object or list
// (which encoding/json merges), and a key of the review or its request that
// differs only in case from one it reads (the slow way matches those).
// FuzzScanReview holds it to the slow way and to the reflective decoder of
// the same fields it replaces.
func scanReview(body []byte) (rv *podReview, hasOld, ok bool) {
	s := scanner{data: body}
	rv = &podReview{}
	var old *corev1.Pod
	ok = s.envelope(rv, &old) && s.end()
	if !ok {
		return nil, false, false
	}
	if rv.HasObject {
		if rv.PodErr = checkPodKind(rv.Pod.APIVersion, rv.Pod.Kind); rv.PodErr != nil {
			rv.Pod = nil
		}
	}
	if old != nil {
		if rv.OldErr = checkPodKind(old.APIVersion, old.Kind); rv.OldErr == nil {
			rv.Old = old
		}
	}
	return rv, old != nil, true
}

// scanner reads JSON from data at off. Its methods report false on input
// they do not take; the scan then stops.
type scanner struct {
	data []byte
	off  int
	// key is the current object member's name, unescaped; it may alias data.
	key []byte
}

// maxSkipDepth bounds the nesting of skipped values (encoding/json allows
// 10000); deeper reviews go the slow way.
const maxSkipDepth = 256

func (s *scanner) ws() {
	for s.off < len(s.data) {
		switch s.data[s.off] {
		case ' ', '\t', '\n', '\r':
			s.off++
		default:
			return
		}
	}
}

// peek is the next byte after white space, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.off < len(s.data) {
		return s.data[s.off]
	}
	return 0
}

// end says only white space is left.
func (s *scanner) end() bool {
	s.ws()
	return s.off == len(s.data)
}

// null consumes a null literal if that is what comes next.
func (s *scanner) null() bool {
	if s.peek() == 'n' && s.literal("null") {
		return true
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if len(s.data)-s.off < len(lit) || string(s.data[s.off:s.off+len(lit)]) != lit {
		return false
	}
	s.off += len(lit)
	return true
}

// members iterates over an object's members: members(i) for i = 0, 1, ...
// consumes the '{' (i == 0) or the ',' before member i and its name and
// colon, leaving the name in s.key, and reports false at the closing '}',
// which it consumes. *bad is set when it stops at anything else.
func (s *scanner) members(i int, bad *bool) bool {
	c := s.peek()
	if i == 0 {
		if c != '{' {
			*bad = true
			return false
		}
		s.off++
		if s.peek() == '}' {
			s.off++
			return false
		}
	} else {
		switch c {
		case '}':
			s.off++
			return false
		case ',':
			s.off++
		default:
			*bad = true
			return false
		}
	}
	if s.peek() != '"' {
		*bad = true
		return false
	}
	raw, plain, ok := s.stringToken()
	if !ok {
		*bad = true
		return false
	}
	if plain {
		s.key = raw[1 : len(raw)-1]
	} else {
		var k string
		if json.Unmarshal(raw, &k) != nil {
			*bad = true
			return false
		}
		s.key = []byte(k)
	}
	if s.peek() != ':' {
		*bad = true
		return false
	}
	s.off++
	return true
}

// elements is members' counterpart for arrays: elements(i) consumes the
// '[' or the ',' before element i and reports false at the closing ']'.
func (s *scanner) elements(i int, bad *bool) bool {
	c := s.peek()
	if i == 0 {
		if c != '[' {
			*bad = true
			return false
		}
		s.off++
		if s.peek() == ']' {
			s.off++
			return false
		}
		return true
	}
	switch c {
	case ']':
		s.off++
		return false
	case ',':
		s.off++
		return true
	}
	*bad = true
	return false
}

// stringToken consumes a string at s.off and returns it with its quotes;
// plain says it has no escapes and is valid UTF-8, so its bytes are its
// value; simple says its only escapes are of one byte (\" \\ \/ \b \f \n
// \r \t) and it is valid UTF-8 otherwise, so unescape can decode it.
func (s *scanner) stringToken() (raw []byte, plain, ok bool) {
	raw, plain, _, ok = s.stringTokenSimple()
	return raw, plain, ok
}

func (s *scanner) stringTokenSimple() (raw []byte, plain, simple, ok bool) {
	start, i := s.off, s.off+1
	plain, simple = true, true
	ascii := true
	for i < len(s.data) {
		c := s.data[i]
		switch {
		case c == '"':
			s.off = i + 1
			raw = s.data[start:s.off]
			if !ascii && (plain || simple) {
				valid := utf8.Valid(raw)
				plain, simple = plain && valid, simple && valid
			}
			return raw, plain, simple, true
		case c == '\\':
			plain = false
			if i+1 >= len(s.data) {
				return nil, false, false, false
			}
			switch s.data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				simple = false
				if i+6 > len(s.data) {
					return nil, false, false, false
				}
				for _, h := range s.data[i+2 : i+6] {
					if !isHex(h) {
						return nil, false, false, false
					}
				}
				i += 6
			default:
				return nil, false, false, false
			}
		case c < 0x20:
			return nil, false, false, false
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
			i++
		}
	}
	return nil, false, false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// numberToken consumes a number at s.off.
func (s *scanner) numberToken() ([]byte, bool) {
	d, i := s.data, s.off
	digits := func() bool {
		j := i
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case !digits():
		return nil, false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if !digits() {
			return nil, false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if !digits() {
			return nil, false
		}
	}
	raw := d[s.off:i]
	s.off = i
	return raw, true
}

// skip consumes one value of any kind, checking its syntax.
func (s *scanner) skip(depth int) bool {
	switch c := s.peek(); {
	case c == '"':
		_, _, ok := s.stringToken()
		return ok
	case c == '{':
		if depth >= maxSkipDepth {
			return false
		}
		bad := false
		for i := 0; s.members(i, &bad); i++ {
			if !s.skip(depth + 1) {
				return false
			}
		}
		return !bad
	case c == '[':
		if depth >= maxSkipDepth {
			return false
		}
		bad := false
		for i := 0; s.elements(i, &bad); i++ {
			if !s.skip(depth + 1) {
				return false
			}
		}
		return !bad
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		_, ok := s.numberToken()
		return ok
	}
	return false
}

// value consumes one value and returns its bytes (for values decoded
// elsewhere).
func (s *scanner) value() ([]byte, bool) {
	s.ws()
	start := s.off
	if !s.skip(0) {
		return nil, false
	}
	return s.data[start:s.off], true
}

// str decodes a string into *dst; null leaves *dst as it is.
func (s *scanner) str(dst *string) bool {
	switch s.peek() {
	case '"':
	case 'n':
		return s.literal("null")
	default:
		return false
	}
	raw, plain, simple, ok := s.stringTokenSimple()
	switch {
	case !ok:
		return false
	case plain:
		*dst = intern(raw[1 : len(raw)-1])
		return true
	case simple:
		*dst = unescape(raw[1 : len(raw)-1])
		return true
	}
	return json.Unmarshal(raw, dst) == nil // \u escapes, invalid UTF-8
}

// unescape decodes a string whose only escapes are of one byte (the
// carve.dev/applied annotation is JSON, its quotes escaped).
func unescape(b []byte) string {
	var out strings.Builder
	out.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\\' {
			i++
			switch c = b[i]; c {
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			}
		}
		out.WriteByte(c)
	}
	return out.String()
}

// strPtr decodes a string into a new *dst; null makes *dst nil.
func strPtr[T ~string](s *scanner, dst **T) bool {
	if s.null() {
		*dst = nil
		return true
	}
	var v string
	if s.peek() != '"' || !s.str(&v) {
		return false
	}
	t := T(v)
	*dst = &t
	return true
}

// integer decodes an integer of bits bits (encoding/json refuses
// fractions and exponents for integer fields).
func (s *scanner) integer(bits int) (int64, bool) {
	if c := s.peek(); c != '-' && (c < '0' || c > '9') {
		return 0, false
	}
	raw, ok := s.numberToken()
	if !ok {
		return 0, false
	}
	neg := raw[0] == '-'
	if neg {
		raw = raw[1:]
	}
	if len(raw) > 19 { // beyond int64, and n below could overflow
		return 0, false
	}
	limit := uint64(1) << (bits - 1) // the magnitude of the smallest value
	var n uint64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > limit {
			return 0, false
		}
	}
	if !neg && n == limit {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

func intPtr[T int32 | int64](s *scanner, dst **T, bits int) bool {
	if s.null() {
		*dst = nil
		return true
	}
	n, ok := s.integer(bits)
	if !ok {
		return false
	}
	v := T(n)
	*dst = &v
	return true
}

func (s *scanner) boolPtr(dst **bool) bool {
	var v bool
	switch s.peek() {
	case 'n':
		*dst = nil
		return s.literal("null")
	case 't':
		v = true
		if !s.literal("true") {
			return false
		}
	case 'f':
		if !s.literal("false") {
			return false
		}
	default:
		return false
	}
	*dst = &v
	return true
}

// once marks bit in seen, reporting false when it was marked already: a
// repeated object or list, which encoding/json would merge.
func once(seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// foldsTo says key may be one of names to encoding/json's case-insensitive
// match without being it: the slow way decodes such keys into the field.
func foldsTo(key []byte, names ...string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return true // Unicode folding: leave it to encoding/json
		}
	}
	for _, n := range names {
		if len(n) == len(key) && asciiEqualFold(key, n) {
			return true
		}
	}
	return false
}

func asciiEqualFold(b []byte, s string) bool {
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// The AdmissionReview envelope and its request are decoded the slow way
// case-insensitively, so keys that only fold to a name read here go there.

func (s *scanner) envelope(rv *podReview, old **corev1.Pod) bool {
	bad, seen := false, uint32(0)
	for i := 0; s.members(i, &bad); i++ {
		ok := true
		switch string(s.key) {
		case "apiVersion":
			ok = s.str(&rv.APIVersion)
		case "kind":
			ok = s.str(&rv.Kind)
		case "request":
			ok = once(&seen, 1) && s.request(rv, old)
		default:
			ok = !foldsTo(s.key, "apiVersion", "kind", "request") && s.skip(0)
		}
		if !ok {
			return false
		}
	}
	return !bad
}

func (s *scanner) request(rv *podReview, old **corev1.Pod) bool {
	if s.null() {
		return true
	}
	req := &requestHeader{}
	rv.Request = req
	bad, seen := false, uint32(0)
	for i := 0; s.members(i, &bad); i++ {
		ok := true
		switch string(s.key) {
		case "uid":
			ok = strAs(s, &req.UID)
		case "kind":
			ok = once(&seen, 1) && s.gvk(&req.Kind)
		case "namespace":
			ok = s.str(&req.Namespace)
		case "name":
			ok = s.str(&req.Name)
		case "operation":
			ok = strAs(s, &req.Operation)
		case "subResource":
			ok = s.str(&req.SubResource)
		case "resource":
			ok = once(&seen, 2) && s.gvr(&req.Resource)
		case "object":
			ok = once(&seen, 4) && s.pod(&rv.Pod)
			rv.HasObject = rv.Pod != nil
		case "oldObject":
			ok = once(&seen, 8) && s.pod(old)
		default:
			ok = !foldsTo(s.key, "uid", "kind", "namespace", "name", "operation", "subResource", "resource", "object", "oldObject") && s.skip(0)
		}
		if !ok {
			return false
		}
	}
	return !bad
}

// strAs decodes a string into a string type; null leaves *dst as it is.
func strAs[T ~string](s *scanner, dst *T) bool {
	v := string(*dst)
	if !s.str(&v) {
		return false
	}
	*dst = T(v)
	return true
}

func (s *scanner) gvk(dst *metav1.GroupVersionKind) bool {
	if s.null() {
		return true
	}
	bad := false
	for i := 0; s.members(i, &bad); i++ {
		ok := true
		switch string(s.key) {
		case "group":
			ok = s.str(&dst.Group)
		case "version":
			ok = s.str(&dst.Version)
		case "kind":
			ok = s.str(&dst.Kind)
		default:
			ok = !foldsTo(s.key, "group", "version", "kind") && s.skip(0)
		}
		if !ok {
			return false
		}
	}
	return !bad
}

func (s *scanner) gvr(dst *metav1.GroupVersionResource) bool {
	if s.null() {
		return true
	}
	bad := false
	for i := 0; s.members(i, &bad); i++ {
		ok := true
		switch string(s.key) {
		case "group":
			ok = s.str(&dst.Group)
		case "version":
			ok = s.str(&dst.Version)
		case "resource":
			ok = s.str(&dst.Resource)
		default:
			ok = !foldsTo(s.key, "group", "version", "resource") && s.skip(0)
		}
		if !ok {
			return false
		}
	}
	return !bad
}

// From here on, pods: decoded case-sensitively both ways, into what
// podcontract.Trim keeps of them.

func (s *scanner) pod(dst **corev1.Pod) bool {
	if s.null() {
		*dst = nil
		return true
	}
	pod := &corev1.Pod{}
	*dst = pod
	bad, seen := false, uint32(0)
	for i := 0; s.members(i, &bad); i++ {
		ok := true
		switch string(s.key) {
		case "apiVersion":
			ok = s.str(&pod.APIVersion)
		case "kind":
			ok = s.str(&pod.Kind)
		case "metadata":
			ok = once(&seen, 1) && s.objectMeta(&pod.ObjectMeta)
		case "spec":
			ok = once(&seen, 2) && s.podSpec(&pod.Spec)
		default:
			ok = s.skip(0)
		}
		if !ok {
			return false
		}
	}
	return !bad
}

func (s *scanner) objectMeta(m *metav1.ObjectMeta) bool {
	if s.null() {
		return true
	}
	bad, seen := false, uint32(0)
	for i := 0; s.members(i, &bad); i++ {
		ok := true
		switch string(s.key) {
		case "namespace":
			ok = s.str(&m.Namespace)
		case "labels":
			ok = once(&seen, 1) && s.stringMap(&m.Labels)
		case "annotations":
			ok = once(&seen, 2) && s.stringMap(&m.Annotations)
		case "ownerReferences":
			ok = once(&seen, 4) && s.ownerReferences(&m.OwnerReferences)
		default:
			ok = s.skip(0)
		}
		if !ok {
			return false
		}
	}
	return !bad
}

func (s *scanner) stringMap(dst *map[string]string) bool {
	if s.null() {
		*dst = nil
		return true
	}
	if s.peek() != '{' {
		return false
	}
	m := map[string]string{}
	bad := false
	for i := 0; s.members(i, &bad); i++ {
		k := intern(s.key)
		var v string // null: the zero value, as encoding/json stores it
		if !s.str(&v) {
			return false
		}
		m[k] = v
	}
	*dst = m
	return !bad
}

func (s *scanner) ownerReferences(dst *[]metav1.OwnerReference) bool {
	return array(s, dst, 1, s.ownerReference)
}

func (s *scanner) ownerReference(o *metav1.OwnerReference) bool {
	if s.null() {
		return true
	}
	bad := false
	for i := 0; s.members(i, &bad); i++ {
		ok := true
		switch string(s.key) {
		case "apiVersion":
			ok = s.str(&o.APIVersion)
		case "kind":
			ok = s.str(&o.Kind)
		case "name":
			ok = s.str(&o.Name)
		case "uid":
			ok = strAs[types.UID](s, &o.UID)
		case "controller":
			ok = s.boolPtr(&o.Controller)
		case "blockOwnerDeletion":
			ok = s.boolPtr(&o.BlockOwnerDeletion)
		default:
			ok = s.skip(0)
		}
		if !ok {
			return false
		}
	}
	return !bad
}

func (s *scanner) podSpec(spec *corev1.PodSpec) bool {
	if s.null() {
		return true
	}
	bad, seen := false, uint32(0)
	for i := 0; s.members(i, &bad); i++ {
		ok := true
		switch string(s.key) {
		case "initContainers":
			ok = once(&seen, 1) && s.containers(&spec.InitContainers)
		case "containers":
			ok = once(&seen, 2) && s.containers(&spec.Containers)
		case "ephemeralContainers":
			var cs []corev1.Container
			if ok = once(&seen, 4) && s.containers(&cs); ok && cs != nil {
				spec.EphemeralContainers = make([]corev1.EphemeralContainer, len(cs))
				for j := range cs {
					spec.EphemeralContainers[j].Name, spec.EphemeralContainers[j].Resources = cs[j].Name, cs[j].Resources
				}
			}
		case "nodeSelector":
			ok = once(&seen, 8) && s.stringMap(&spec.NodeSelector)
		case "nodeName":
			ok = s.str(&spec.NodeName)
		case "affinity":
			ok = once(&seen, 16) && s.affinity(&spec.Affinity)
		case "schedulerName":
			ok = s.str(&spec.SchedulerName)
		case "tolerations":
			ok = once(&seen, 32) && s.tolerations(&spec.Tolerations)
		case "priorityClassName":
			ok = s.str(&spec.PriorityClassName)
		case "priority":
			ok = intPtr(s, &spec.Priority, 32)
		case "preemptionPolicy":
			ok = strPtr(s, &spec.PreemptionPolicy)
		case "overhead":
			ok = once(&seen, 64) && s.resourceList(&spec.Overhead)
		case "resources":
			if ok = once(&seen, 128); !ok {
				break
			}
			if s.null() {
				spec.Resources = nil
				break
			}
			spec.Resources = &corev1.ResourceRequirements{}
			ok = s.resources(spec.Resources)
		default:
			ok = s.skip(0)
		}
		if !ok {
			return false
		}
	}
	return !bad
}

// affinity is rare in the pods carve sees, and big: encoding/json decodes
// it from the bytes the scan found.
func (s *scanner) affinity(dst **corev1.Affinity) bool {
	if s.null() {
		*dst = nil
		return true
	}
	if s.peek() != '{' {
		return false
	}
	raw, ok := s.value()
	if !ok {
		return false
	}
	a := &corev1.Affinity{}
	if sigsjson.UnmarshalCaseSensitivePreserveInts(raw, a) != nil {
		return false
	}
	*dst = a
	return true
}

func (s *scanner) containers(dst *[]corev1.Container) bool {
	return array(s, dst, 2, s.container)
}

func (s *scanner) container(c *corev1.Container) bool {
	if s.null() {
		return true
	}
	bad, seen := false, uint32(0)
	for i := 0; s.members(i, &bad); i++ {
		ok := true
		switch string(s.key) {
		case "name":
			ok = s.str(&c.Name)
		case "resources":
			ok = once(&seen, 1) && s.resources(&c.Resources)
		case "restartPolicy":
			ok = strPtr(s, &c.RestartPolicy)
		default:
			ok = s.skip(0)
		}
		if !ok {
			return false
		}
	}
	return !bad
}

func (s *scanner) resources(r *corev1.ResourceRequirements) bool {
	if s.null() {
		return true
	}
	bad, seen := false, uint32(0)
	for i := 0; s.members(i, &bad); i++ {
		ok := true
		switch string(s.key) {
		case "limits":
			ok = once(&seen, 1) && s.resourceList(&r.Limits)
		case "requests":
			ok = once(&seen, 2) && s.resourceList(&r.Requests)
		case "claims":
			ok = once(&seen, 4) && s.claims(&r.Claims)
		default:
			ok = s.skip(0)
		}
		if !ok {
			return false
		}
	}
	return !bad
}

func (s *scanner) claims(dst *[]corev1.ResourceClaim) bool {
	return array(s, dst, 0, s.claim)
}

func (s *scanner) claim(c *corev1.ResourceClaim) bool {
	if s.null() {
		return true
	}
	bad := false
	for i := 0; s.members(i, &bad); i++ {
		ok := true
		switch string(s.key) {
		case "name":
			ok = s.str(&c.Name)
		case "request":
			ok = s.str(&c.Request)
		default:
			ok = s.skip(0)
		}
		if !ok {
			return false
		}
	}
	return !bad
}

// resourceList decodes quantities with resource.Quantity's own UnmarshalJSON,
// from the same bytes encoding/json would give it.
func (s *scanner) resourceList(dst *corev1.ResourceList) bool {
	if s.null() {
		*dst = nil
		return true
	}
	if s.peek() != '{' {
		return false
	}
	rl := make(corev1.ResourceList, 2)
	bad := false
	for i := 0; s.members(i, &bad); i++ {
		name := corev1.ResourceName(intern(s.key))
		var q resource.Quantity
		switch c := s.peek(); {
		case c == '"':
			raw, _, ok := s.stringToken()
			if !ok || q.UnmarshalJSON(raw) != nil {
				return false
			}
		case c == '-' || '0' <= c && c <= '9':
			raw, ok := s.numberToken()
			if !ok || q.UnmarshalJSON(raw) != nil {
				return false
			}
		case c == 'n':
			if !s.literal("null") {
				return false
			}
		default:
			return false // an object, list or bool is not a quantity
		}
		rl[name] = q
	}
	*dst = rl
	return !bad
}

func (s *scanner) tolerations(dst *[]corev1.Toleration) bool {
	return array(s, dst, 2, s.toleration)
}

func (s *scanner) toleration(t *corev1.Toleration) bool {
	if s.null() {
		return true
	}
	bad := false
	for i := 0; s.members(i, &bad); i++ {
		ok := true
		switch string(s.key) {
		case "key":
			ok = s.str(&t.Key)
		case "operator":
			ok = strAs(s, &t.Operator)
		case "value":
			ok = s.str(&t.Value)
		case "effect":
			ok = strAs(s, &t.Effect)
		case "tolerationSeconds":
			ok = intPtr(s, &t.TolerationSeconds, 64)
		default:
			ok = s.skip(0)
		}
		if !ok {
			return false
		}
	}
	return !bad
}

// intern returns b as a string, without allocating for the names and
// values every pod review carries.
func intern(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "v1":
		return "v1"
	case "Pod":
		return "Pod"
	case "pods":
		return "pods"
	case "CREATE":
		return "CREATE"
	case "UPDATE":
		return "UPDATE"
	case "AdmissionReview":
		return "AdmissionReview"
	case "admission.k8s.io/v1":
		return "admission.k8s.io/v1"
	case "cpu":
		return "cpu"
	case "memory":
		return "memory"
	case "nvidia.com/gpu":
		return "nvidia.com/gpu"
	case "ephemeral-storage":
		return "ephemeral-storage"
	case "Always":
		return "Always"
	case "Exists":
		return "Exists"
	case "Equal":
		return "Equal"
	case "NoSchedule":
		return "NoSchedule"
	case "NoExecute":
		return "NoExecute"
	case "node.kubernetes.io/not-ready":
		return "node.kubernetes.io/not-ready"
	case "node.kubernetes.io/unreachable":
		return "node.kubernetes.io/unreachable"
	case "carve-scheduler":
		return "carve-scheduler"
	case "default-scheduler":
		return "default-scheduler"
	case "carve.dev/workspace":
		return "carve.dev/workspace"
	case "carve.dev/profile":
		return "carve.dev/profile"
	case "carve.dev/workload":
		return "carve.dev/workload"
	case "carve.dev/team":
		return "carve.dev/team"
	case "carve.dev/applied":
		return "carve.dev/applied"
	case "carve.dev/node-pool":
		return "carve.dev/node-pool"
	}
	return string(b)
}

// array scans a JSON array (or null, which sets dst to nil) into dst, one
// element at a time with elem, which is given a zero element to fill (and
// handles a null element itself). size is the capacity to start with.
func array[T any](s *scanner, dst *[]T, size int, elem func(*T) bool) bool {
	if s.null() {
		*dst = nil
		return true
	}
	if s.peek() != '[' {
		return false
	}
	out := make([]T, 0, size)
	bad := false
	for i := 0; s.elements(i, &bad); i++ {
		var zero T
		out = append(out, zero)
		if !elem(&out[i]) {
			return false
		}
	}
	*dst = out
	return !bad
}
