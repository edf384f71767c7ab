// Package jsonwrite writes the JSON that carve's hot paths (the pod
// webhook's patch and response, the carve.dev/applied record) write by hand
// instead of through encoding/json, byte for byte as encoding/json would.
package jsonwrite

import "encoding/json"

// AppendString appends s as encoding/json writes it. Strings of plain
// printable ASCII, with quotes and backslashes escaped, are written here;
// anything else (control characters, <, >, &, non-ASCII) goes through
// encoding/json, whose escaping of those is not repeated here.
func AppendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			raw, _ := json.Marshal(s) // a string always encodes
			return append(b, raw...)
		}
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}
