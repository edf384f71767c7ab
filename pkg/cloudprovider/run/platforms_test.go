package run

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

func TestParsePlatforms(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []carvev1.PlatformType
		wantErr bool
	}{
		{in: "", want: AllPlatforms},
		{in: "  ", want: AllPlatforms},
		{in: "kwok", want: []carvev1.PlatformType{carvev1.PlatformKwok}},
		{in: "EKS, Kwok ,eks", want: []carvev1.PlatformType{carvev1.PlatformEKS, carvev1.PlatformKwok}},
		{in: "Kwok,GCE", wantErr: true},
		{in: "Kwok,", wantErr: true},
	} {
		got, err := ParsePlatforms(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParsePlatforms(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); !tc.wantErr && diff != "" {
			t.Errorf("ParsePlatforms(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}
