package kubectlcarve

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// maxSinceDays bounds --since Nd before any date arithmetic: far more than
// any history, small enough that N days is a valid time.
const maxSinceDays = 99999

// parseSince reads --since: "Nd", the UTC day N days before now's (0d is
// today), or a UTC date, "2026-11-01". It is when that day starts, never
// after now.
func parseSince(s string, now time.Time) (time.Time, error) {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if digits, ok := strings.CutSuffix(s, "d"); ok && digits != "" && strings.Trim(digits, "0123456789") == "" {
		n, err := strconv.Atoi(digits)
		if err != nil || n > maxSinceDays {
			return time.Time{}, fmt.Errorf("--since %s: at most %dd", s, maxSinceDays)
		}
		return today.AddDate(0, 0, -n), nil
	}
	day, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: give a number of days, e.g. 7d (the last 7 days and today), or a UTC date, e.g. %s", s, today.AddDate(0, 0, 1-today.Day()).Format(time.DateOnly))
	}
	if day.After(today) {
		return time.Time{}, fmt.Errorf("--since %s is after today (%s, UTC)", s, today.Format(time.DateOnly))
	}
	return day, nil
}

// History a --since sums: of status.spend.days, or of whole months.
const (
	sinceDays   = "days"
	sinceMonths = "months"
)

// sinceHistory is which history of the status holds the spend from since
// (a UTC day's start) to now: the days, when since is within them; else the
// months, when since starts a month within them; else an error naming what
// is kept and what to ask instead.
func sinceHistory(since, now time.Time) (string, error) {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	firstDay := today.AddDate(0, 0, -carvev1.SpendHistoryDays)
	thisMonth := today.AddDate(0, 0, 1-today.Day())
	firstMonth := thisMonth.AddDate(0, -carvev1.SpendHistoryMonths, 0)
	if !since.Before(firstDay) {
		return sinceDays, nil
	}
	if since.Day() == 1 && !since.Before(firstMonth) {
		return sinceMonths, nil
	}
	kept := fmt.Sprintf("--since %s: the Workspaces keep daily totals for today and the %d days before it (since %s, --since %dd), and monthly totals for the %d months before this one (since %s)",
		since.Format(time.DateOnly), carvev1.SpendHistoryDays, firstDay.Format(time.DateOnly), carvev1.SpendHistoryDays, carvev1.SpendHistoryMonths, firstMonth.Format(time.DateOnly))
	if since.Before(firstMonth) {
		return "", fmt.Errorf("%s; nothing older is kept: carve-scheduler's Prometheus metrics (carve_workspace_cost_total) keep what your Prometheus retains", kept)
	}
	month := since.AddDate(0, 0, 1-since.Day())
	return "", fmt.Errorf("%s; before %s use whole months: --since %s or --since %s", kept, firstDay.Format(time.DateOnly), month.Format(time.DateOnly), month.AddDate(0, 1, 0).Format(time.DateOnly))
}
