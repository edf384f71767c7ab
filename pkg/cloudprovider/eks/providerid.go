package eks

import (
	"strconv"
	"strings"
)

const (
	// providerIDPrefix starts every provider id the AWS cloud controller
	// gives an EC2 node: aws:///<availability-zone>/<instance-id>.
	providerIDPrefix = "aws:///"
	// placeholderZone stands where a zone would be in the id of capacity
	// asked for but not yet launched. No availability zone has that name,
	// so a placeholder can never be taken for an instance, and the id still
	// has the shape aws:///<zone>/<name> the autoscaler expects.
	placeholderZone = "placeholder"
)

// ProviderID is the provider id of an EC2 instance.
func ProviderID(zone, instanceID string) string { return providerIDPrefix + zone + "/" + instanceID }

// placeholderID is the id of the n-th unlaunched slot of a group:
// aws:///placeholder/<group>-<n>.
func placeholderID(group string, n int) string {
	return providerIDPrefix + placeholderZone + "/" + group + "-" + strconv.Itoa(n)
}

// parsedID is a provider id read back.
type parsedID struct {
	// instance is the EC2 instance id; empty for a placeholder.
	instance string
	// placeholderGroup is the group a placeholder belongs to.
	placeholderGroup string
}

// parseProviderID reads an id Instances gave out. ok is false for anything
// that is neither aws:///<zone>/i-<hex> nor a placeholder of some group.
func parseProviderID(id string) (p parsedID, ok bool) {
	rest, found := strings.CutPrefix(id, providerIDPrefix)
	if !found {
		return parsedID{}, false
	}
	zone, name, found := strings.Cut(rest, "/")
	if !found || zone == "" || name == "" {
		return parsedID{}, false
	}
	if zone == placeholderZone {
		i := strings.LastIndexByte(name, '-')
		if i <= 0 || i == len(name)-1 {
			return parsedID{}, false
		}
		if _, err := strconv.Atoi(name[i+1:]); err != nil {
			return parsedID{}, false
		}
		return parsedID{placeholderGroup: name[:i]}, true
	}
	if strings.Contains(name, "/") || !validInstanceID(name) {
		return parsedID{}, false
	}
	return parsedID{instance: name}, true
}

// validInstanceID: i- and 8 or 17 lowercase hex digits.
func validInstanceID(s string) bool {
	hex, ok := strings.CutPrefix(s, "i-")
	if !ok || (len(hex) != 8 && len(hex) != 17) {
		return false
	}
	for _, c := range hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
