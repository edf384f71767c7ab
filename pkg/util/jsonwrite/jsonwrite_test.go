package jsonwrite

import (
	"encoding/json"
	"testing"
)

// FuzzAppendString holds AppendString to json.Marshal, byte for byte.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", `{"a":"b\\c"}`, "<&>", "\x7f\x1f", "é\u2028\u2029\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("AppendString(%q) = %s, json.Marshal gives %s", s, got[1:], want)
		}
	})
}
