package machineset

import (
	"strconv"
	"strings"
)

// Ids of instances that no Node's providerID names yet. They are unique in a
// pool and never look like a cloud's providerID (their schemes are carve's).
const (
	// MachineIDPrefix starts the id of a Machine that has no providerID
	// yet: carve-machine://<namespace>/<machine>.
	MachineIDPrefix = "carve-machine://"
	// PlaceholderIDPrefix starts the id of a replica no Machine backs yet:
	// carve-placeholder://<namespace>/<set>/<n>, n counting from 1 among
	// the set's replicas (the Machines first, then the placeholders).
	PlaceholderIDPrefix = "carve-placeholder://"
)

// MachineID is the id of Machine namespace/name while it has no providerID.
func MachineID(namespace, name string) string { return MachineIDPrefix + namespace + "/" + name }

// PlaceholderID is the id of replica n of set namespace/name that no Machine
// backs yet.
func PlaceholderID(namespace, set string, n int32) string {
	return PlaceholderIDPrefix + namespace + "/" + set + "/" + strconv.FormatInt(int64(n), 10)
}

// ParseMachineID splits a MachineID.
func ParseMachineID(id string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(id, MachineIDPrefix)
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// ParsePlaceholderID splits a PlaceholderID.
func ParsePlaceholderID(id string) (namespace, set string, n int32, ok bool) {
	rest, found := strings.CutPrefix(id, PlaceholderIDPrefix)
	if !found {
		return "", "", 0, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", "", 0, false
	}
	v, err := strconv.ParseInt(parts[2], 10, 32)
	if err != nil || v < 1 || parts[2] != strconv.FormatInt(v, 10) {
		return "", "", 0, false
	}
	return parts[0], parts[1], int32(v), true
}

// looksLikeProviderID says whether id has the <scheme>://<rest> form every
// Kubernetes providerID has; anything else can never name an instance.
func looksLikeProviderID(id string) bool {
	scheme, rest, found := strings.Cut(id, "://")
	return found && scheme != "" && rest != "" && !strings.ContainsAny(scheme, "/ ")
}
