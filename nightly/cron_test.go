package nightly

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the DST cases need zone data on any machine
)

func TestParseCronErrors(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"0 2 * *", "want 5 fields"},
		{"0 2 * * * *", "want 5 fields"},
		{"60 * * * *", "minute: 60 is out of range 0-59"},
		{"* 24 * * *", "hour: 24 is out of range 0-23"},
		{"* * 0 * *", "day of month: 0 is out of range 1-31"},
		{"* * * 13 *", "month: 13 is out of range 1-12"},
		{"* * * * 8", "day of week: 8 is out of range 0-7"},
		{"*/0 * * * *", `minute: "*/0": step "0" is not a positive number`},
		{"5-1 * * * *", "range 5-1 runs backwards"},
		{"a * * * *", `minute: "a" is not a number`},
		{"1,,2 * * * *", "empty list item"},
		{"* * * foo *", `month: "foo" is not a number`},
		{"0 0 30 2 *", "matches no date"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := ParseCron(tt.expr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestCronNext(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	at := func(loc *time.Location, s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	utc := func(s string) time.Time { return at(time.UTC, s) }
	tests := []struct {
		name, expr string
		from       time.Time
		want       []time.Time // the next times, one after another
	}{
		{"nightly at 2", "0 2 * * *", utc("2026-01-01 01:59"), []time.Time{utc("2026-01-01 02:00"), utc("2026-01-02 02:00")}},
		{"strictly after", "0 2 * * *", utc("2026-01-01 02:00"), []time.Time{utc("2026-01-02 02:00")}},
		{"seconds are dropped", "0 2 * * *", utc("2026-01-01 01:59").Add(59*time.Second + 1), []time.Time{utc("2026-01-01 02:00")}},
		{"every 15 minutes", "*/15 * * * *", utc("2026-01-01 10:07"), []time.Time{utc("2026-01-01 10:15"), utc("2026-01-01 10:30"), utc("2026-01-01 10:45"), utc("2026-01-01 11:00")}},
		{"range with step", "5-10/2 * * * *", utc("2026-01-01 00:00"), []time.Time{utc("2026-01-01 00:05"), utc("2026-01-01 00:07"), utc("2026-01-01 00:09"), utc("2026-01-01 01:05")}},
		{"start with step", "50/5 * * * *", utc("2026-01-01 00:00"), []time.Time{utc("2026-01-01 00:50"), utc("2026-01-01 00:55"), utc("2026-01-01 01:50")}},
		{"list and range", "0 8,12-13 * * *", utc("2026-01-01 09:00"), []time.Time{utc("2026-01-01 12:00"), utc("2026-01-01 13:00"), utc("2026-01-02 08:00")}},
		{"month boundary", "0 0 1 * *", utc("2026-01-31 12:00"), []time.Time{utc("2026-02-01 00:00"), utc("2026-03-01 00:00")}},
		{"year boundary", "0 0 1 1 *", utc("2026-06-01 00:00"), []time.Time{utc("2027-01-01 00:00")}},
		{"weekdays", "0 9 * * 1-5", utc("2026-01-02 10:00"), []time.Time{utc("2026-01-05 09:00"), utc("2026-01-06 09:00")}}, // Fri → Mon
		{"sunday is 7", "0 0 * * 7", utc("2026-01-01 00:00"), []time.Time{utc("2026-01-04 00:00"), utc("2026-01-11 00:00")}},
		{"names", "30 4 * jan,JUL sun", utc("2026-01-30 00:00"), []time.Time{utc("2026-07-05 04:30")}},
		{"day of month or of week", "0 0 13 * 5", utc("2026-01-01 00:00"), []time.Time{utc("2026-01-02 00:00"), utc("2026-01-09 00:00"), utc("2026-01-13 00:00"), utc("2026-01-16 00:00")}},
		{"day of month and every day of week", "0 0 13 * *", utc("2026-01-01 00:00"), []time.Time{utc("2026-01-13 00:00"), utc("2026-02-13 00:00")}},
		{"day of month and stepped day of week", "0 0 13 * */1", utc("2026-01-01 00:00"), []time.Time{utc("2026-01-13 00:00")}},
		{"leap day", "0 0 29 2 *", utc("2026-03-01 00:00"), []time.Time{utc("2028-02-29 00:00")}},
		{"31st skips short months", "0 0 31 * *", utc("2026-01-31 12:00"), []time.Time{utc("2026-03-31 00:00")}},
		{"in the time's zone", "0 2 * * *", at(ny, "2026-01-01 03:00"), []time.Time{at(ny, "2026-01-02 02:00")}},
		{"half-hour zone", "0 2 * * *", at(kolkata, "2026-01-01 01:10"), []time.Time{at(kolkata, "2026-01-01 02:00")}},
		// 2026-03-08 02:30 does not exist in New York: that night is skipped.
		{"spring forward", "30 2 * * *", at(ny, "2026-03-07 03:00"), []time.Time{at(ny, "2026-03-09 02:30")}},
		{"spring forward, hourly", "0 * * * *", at(ny, "2026-03-08 01:30"), []time.Time{at(ny, "2026-03-08 03:00"), at(ny, "2026-03-08 04:00")}},
		// 2026-11-01 01:30 happens twice in New York: it runs twice.
		{"fall back", "30 1 * * *", at(ny, "2026-11-01 00:00"), []time.Time{
			time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC), time.Date(2026, 11, 2, 6, 30, 0, 0, time.UTC),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCron(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			from := tt.from
			for i, want := range tt.want {
				got := c.Next(from)
				if !got.Equal(want) {
					t.Fatalf("Next #%d after %s: got %s, want %s", i+1, from, got, want)
				}
				if got.Location() != from.Location() {
					t.Errorf("Next #%d: got location %s, want %s", i+1, got.Location(), from.Location())
				}
				from = got
			}
		})
	}
}

func TestCronString(t *testing.T) {
	c, err := ParseCron("  0   2 * *   * ")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String(); got != "0 2 * * *" {
		t.Errorf("got %q, want %q", got, "0 2 * * *")
	}
}
