package kubectlcarve

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		in, want string // want: the day, or the error's start
	}{
		{"7d", "2026-11-27"},
		{"0d", "2026-12-04"},
		{"35d", "2026-10-30"},
		{"400d", "2025-10-30"},
		{"2026-11-01", "2026-11-01"},
		{"2026-12-04", "2026-12-04"},
		{"2026-12-05", "error: --since 2026-12-05 is after today (2026-12-04, UTC)"},
		{"", `error: --since "": give a number of days, e.g. 7d`},
		{"d", `error: --since "d": give a number of days`},
		{"7", `error: --since "7": give`},
		{"-7d", `error: --since "-7d": give`},
		{"+7d", `error: --since "+7d": give`},
		{"7D", `error: --since "7D": give`},
		{"7 d", `error: --since "7 d": give`},
		{"1.5d", `error: --since "1.5d": give`},
		{"1w", `error: --since "1w": give`},
		{"2026-13-01", `error: --since "2026-13-01": give`},
		{"2026-11-1", `error: --since "2026-11-1": give`},
		{"2026-11-01T00:00:00Z", `error: --since "2026-11-01T00:00:00Z": give`},
		{"100000d", "error: --since 100000d: at most 99999d"},
		{"99999999999999999999d", "error: --since 99999999999999999999d: at most 99999d"},
	} {
		got, err := parseSince(tc.in, now)
		if err != nil {
			if !strings.HasPrefix("error: "+err.Error(), tc.want) {
				t.Errorf("--since %q: %v, want %s", tc.in, err, tc.want)
			}
			continue
		}
		if got.Format(time.DateOnly) != tc.want || !got.Equal(time.Date(got.Year(), got.Month(), got.Day(), 0, 0, 0, 0, time.UTC)) {
			t.Errorf("--since %q: %v, want %s 00:00 UTC", tc.in, got, tc.want)
		}
	}
}

func TestSinceHistory(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		since, want string
	}{
		{"2026-12-04", sinceDays},
		{"2026-10-30", sinceDays}, // 35d
		{"2026-11-01", sinceDays}, // a month's first day within the days
		{"2026-10-01", sinceMonths},
		{"2025-12-01", sinceMonths}, // 12 months before this one
		{"2026-10-29", "error: --since 2026-10-29: the Workspaces keep daily totals for today and the 35 days before it (since 2026-10-30, --since 35d), and monthly totals for the 12 months before this one (since 2025-12-01); before 2026-10-30 use whole months: --since 2026-10-01 or --since 2026-11-01"},
		{"2026-03-15", "error: --since 2026-03-15: the Workspaces keep daily totals for today and the 35 days before it (since 2026-10-30, --since 35d), and monthly totals for the 12 months before this one (since 2025-12-01); before 2026-10-30 use whole months: --since 2026-03-01 or --since 2026-04-01"},
		{"2025-11-01", "error: --since 2025-11-01: the Workspaces keep daily totals for today and the 35 days before it (since 2026-10-30, --since 35d), and monthly totals for the 12 months before this one (since 2025-12-01); nothing older is kept: carve-scheduler's Prometheus metrics (carve_workspace_cost_total) keep what your Prometheus retains"},
	} {
		since, _ := time.Parse(time.DateOnly, tc.since)
		got, err := sinceHistory(since, now)
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != tc.want {
			t.Errorf("--since %s:\n got %s\nwant %s", tc.since, got, tc.want)
		}
	}
}

// FuzzParseSince: whatever --since is given, a start it accepts is a UTC
// day's start, never after now; it reads back the same from its date and
// from its number of days; Nd is N days before today.
func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"7d", "0d", "30d", "35d", "99999d", "2026-11-01", "2026-12-04", "2026-12-05", "d", "-1d", "0x7d", "٣d", "2026-02-29", "2024-02-29", "0001-01-01"} {
		f.Add(s, int64(1796380200)) // 2026-12-04 10:30 UTC
	}
	f.Fuzz(func(t *testing.T, s string, unix int64) {
		// Now between 1970 and 9000 AD.
		const most = 221845392000
		if unix < 0 {
			unix = -unix
		}
		now := time.Unix(unix%most, 0).UTC()
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		got, err := parseSince(s, now)
		if err != nil {
			if err.Error() == "" || !strings.Contains(err.Error(), "--since") {
				t.Fatalf("--since %q: error %q does not name the flag", s, err)
			}
			return
		}
		if got.After(now) || got.Location() != time.UTC || !got.Equal(time.Date(got.Year(), got.Month(), got.Day(), 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("--since %q at %v: %v, want a UTC day's start not after now", s, now, got)
		}
		if back, err := parseSince(got.Format(time.DateOnly), now); err != nil || !back.Equal(got) {
			t.Fatalf("--since %q gives %v; its date %s gives %v, %v", s, got, got.Format(time.DateOnly), back, err)
		}
		days := int(today.Sub(got).Hours() / 24)
		if back, err := parseSince(fmt.Sprintf("%dd", days), now); days <= maxSinceDays && (err != nil || !back.Equal(got)) {
			t.Fatalf("--since %q gives %v, %d days before today; --since %dd gives %v, %v", s, got, days, days, back, err)
		}
		if n, ok := strings.CutSuffix(s, "d"); ok {
			var want int
			if _, err := fmt.Sscanf(n, "%d", &want); err == nil && days != want {
				t.Fatalf("--since %q gives %v, %d days before today", s, got, days)
			}
		}
	})
}
