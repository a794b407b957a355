package executor

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "1m30s", want: 90 * time.Second},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "2h", want: 2 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1d", want: 24 * time.Hour},
		{in: "1500", want: 1500 * time.Millisecond},
		{in: "0.5", want: 500 * time.Microsecond},
		{in: "0", want: 0},
		{in: "-10s", want: -10 * time.Second},
		{in: "", wantErr: true},
		{in: "10", want: 10 * time.Millisecond},
		{in: "ten seconds", wantErr: true},
		{in: "d", wantErr: true},
		{in: "1d-2h", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// defaults is a scenario as ParseOptions fills it before the executor's
// own fields.
func defaults(name, executor string) Scenario {
	return Scenario{
		Name: name, Executor: executor, GracefulStop: 30 * time.Second, Exec: "default",
		VUs: 1, Iterations: 1, MaxDuration: 10 * time.Minute,
		StartVUs: 1, GracefulRampDown: 30 * time.Second, TimeUnit: time.Second,
	}
}

func with(s Scenario, f func(*Scenario)) Scenario { f(&s); return s }

func TestParseOptions(t *testing.T) {
	shortcut := Scenario{Name: "default", GracefulStop: 30 * time.Second, Exec: "default", VUs: 1, Iterations: 1, MaxDuration: 10 * time.Minute}
	tests := []struct {
		name string
		opts string
		want []Scenario
	}{
		{
			name: "nothing is one VU doing one iteration",
			opts: `{}`,
			want: []Scenario{with(shortcut, func(s *Scenario) { s.Executor = PerVUIterations })},
		},
		{
			name: "vus alone is one iteration per VU",
			opts: `{"vus": 5, "thresholds": {"llm_ttft": ["p(95)<1000"]}}`,
			want: []Scenario{with(shortcut, func(s *Scenario) { s.Executor = PerVUIterations; s.VUs = 5 })},
		},
		{
			name: "iterations is shared-iterations",
			opts: `{"vus": 2, "iterations": 10}`,
			want: []Scenario{with(shortcut, func(s *Scenario) { s.Executor = SharedIterations; s.VUs = 2; s.Iterations = 10 })},
		},
		{
			name: "iterations with duration bounds them",
			opts: `{"iterations": 10, "duration": "1m"}`,
			want: []Scenario{with(shortcut, func(s *Scenario) {
				s.Executor = SharedIterations
				s.Iterations = 10
				s.MaxDuration = time.Minute
			})},
		},
		{
			name: "duration is constant-vus",
			opts: `{"vus": 10, "duration": "30s"}`,
			want: []Scenario{with(shortcut, func(s *Scenario) { s.Executor = ConstantVUs; s.VUs = 10; s.Duration = 30 * time.Second })},
		},
		{
			name: "stages is ramping-vus",
			opts: `{"vus": 2, "stages": [{"duration": "10s", "target": 20}, {"duration": 5000, "target": 0}]}`,
			want: []Scenario{with(shortcut, func(s *Scenario) {
				s.Executor = RampingVUs
				s.VUs = 0
				s.StartVUs = 2
				s.GracefulRampDown = 30 * time.Second
				s.Stages = []Stage{{10 * time.Second, 20}, {5 * time.Second, 0}}
			})},
		},
		{
			name: "every executor with k6 defaults, sorted by name",
			opts: `{"scenarios": {
				"f_ramp_rate": {"executor": "ramping-arrival-rate", "preAllocatedVUs": 10, "stages": [{"duration": "1m", "target": 100}]},
				"e_rate": {"executor": "constant-arrival-rate", "rate": 30, "duration": "30s", "preAllocatedVUs": 2, "maxVUs": 50, "timeUnit": "1m"},
				"d_ramp": {"executor": "ramping-vus", "stages": [{"duration": "20s", "target": 10}], "gracefulRampDown": "0s"},
				"c_const": {"executor": "constant-vus", "vus": 10, "duration": "30s", "startTime": "10s", "gracefulStop": "5s"},
				"b_pervu": {"executor": "per-vu-iterations", "vus": 10, "iterations": 20, "maxDuration": "30s", "exec": "chat", "env": {"A": "1"}, "tags": {"t": "x"}},
				"a_shared": {"executor": "shared-iterations"}
			}}`,
			want: []Scenario{
				defaults("a_shared", SharedIterations),
				with(defaults("b_pervu", PerVUIterations), func(s *Scenario) {
					s.VUs, s.Iterations, s.MaxDuration, s.Exec = 10, 20, 30*time.Second, "chat"
					s.Env, s.Tags = map[string]string{"A": "1"}, map[string]string{"t": "x"}
				}),
				with(defaults("c_const", ConstantVUs), func(s *Scenario) {
					s.VUs, s.Duration, s.StartTime, s.GracefulStop = 10, 30*time.Second, 10*time.Second, 5*time.Second
				}),
				with(defaults("d_ramp", RampingVUs), func(s *Scenario) {
					s.Stages, s.GracefulRampDown = []Stage{{20 * time.Second, 10}}, 0
				}),
				with(defaults("e_rate", ConstantArrivalRate), func(s *Scenario) {
					s.Rate, s.Duration, s.PreAllocatedVUs, s.MaxVUs, s.TimeUnit = 30, 30*time.Second, 2, 50, time.Minute
				}),
				with(defaults("f_ramp_rate", RampingArrivalRate), func(s *Scenario) {
					s.PreAllocatedVUs, s.MaxVUs, s.Stages = 10, 10, []Stage{{time.Minute, 100}}
				}),
			},
		},
		{
			name: "poisson arrivals with a seed",
			opts: `{"scenarios": {"p": {"executor": "constant-arrival-rate", "rate": 5, "duration": "10s", "preAllocatedVUs": 1, "arrival": "poisson", "seed": 7}}}`,
			want: []Scenario{with(defaults("p", ConstantArrivalRate), func(s *Scenario) {
				s.Rate, s.Duration, s.PreAllocatedVUs, s.MaxVUs, s.Arrival, s.Seed = 5, 10*time.Second, 1, 1, ArrivalPoisson, 7
			})},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOptions([]byte(tt.opts))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseOptionsErrors(t *testing.T) {
	scenario := func(body string) string { return `{"scenarios": {"s1": ` + body + `}}` }
	tests := []struct {
		name string
		opts string
		want []string // substrings of the error
	}{
		{"not JSON", `{`, []string{"parse options"}},
		{"shortcut with scenarios", `{"vus": 2, "scenarios": {"a": {"executor": "constant-vus", "duration": "1s"}}}`, []string{"vus", "together with scenarios"}},
		{"stages with duration", `{"duration": "1m", "stages": [{"duration": "1s", "target": 1}]}`, []string{"stages cannot be used together with duration"}},
		{"no scenarios", `{"scenarios": {}}`, []string{"at least one scenario"}},
		{"unknown executor", scenario(`{"executor": "warp-speed"}`), []string{`scenario "s1"`, "executor", `unknown executor "warp-speed"`}},
		{"no executor", scenario(`{"vus": 1}`), []string{`scenario "s1"`, "executor: required"}},
		{"externally controlled", scenario(`{"executor": "externally-controlled"}`), []string{"not supported"}},
		{"negative vus", scenario(`{"executor": "constant-vus", "vus": -1, "duration": "1s"}`), []string{`scenario "s1"`, "vus: must be greater than 0, got -1"}},
		{"negative startTime", scenario(`{"executor": "constant-vus", "duration": "1s", "startTime": "-5s"}`), []string{"startTime: must not be negative"}},
		{"fractional vus", scenario(`{"executor": "constant-vus", "vus": 1.5, "duration": "1s"}`), []string{"vus: must be an integer"}},
		{"bad duration", scenario(`{"executor": "constant-vus", "duration": "soon"}`), []string{`scenario "s1": duration: bad duration "soon"`}},
		{"constant-vus without duration", scenario(`{"executor": "constant-vus", "vus": 3}`), []string{`scenario "s1": duration: required for constant-vus`}},
		{"rate without duration", scenario(`{"executor": "constant-arrival-rate", "rate": 10, "preAllocatedVUs": 1}`), []string{"duration: required"}},
		{"rate missing", scenario(`{"executor": "constant-arrival-rate", "duration": "1s", "preAllocatedVUs": 1}`), []string{"rate: required"}},
		{"preAllocatedVUs missing", scenario(`{"executor": "ramping-arrival-rate", "stages": [{"duration": "1s", "target": 1}]}`), []string{"preAllocatedVUs: required"}},
		{"maxVUs below preAllocatedVUs", scenario(`{"executor": "constant-arrival-rate", "rate": 1, "duration": "1s", "preAllocatedVUs": 10, "maxVUs": 5}`), []string{`scenario "s1": maxVUs: 5 must not be less than preAllocatedVUs (10)`}},
		{"field of another executor", scenario(`{"executor": "constant-vus", "duration": "1s", "rate": 5}`), []string{`scenario "s1": rate: unknown field for executor constant-vus`}},
		{"iterations below vus", scenario(`{"executor": "shared-iterations", "vus": 10, "iterations": 5}`), []string{"iterations: 5 must not be less than vus (10)"}},
		{"ramping-vus without stages", scenario(`{"executor": "ramping-vus"}`), []string{"stages: required"}},
		{"ramping-vus all zero", scenario(`{"executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "1s", "target": 0}]}`), []string{"startVUs or one of the targets must be greater than 0"}},
		{"negative stage target", scenario(`{"executor": "ramping-vus", "stages": [{"duration": "1s", "target": -3}]}`), []string{"stages[0].target: must not be negative"}},
		{"stage without target", scenario(`{"executor": "ramping-vus", "stages": [{"duration": "1s"}]}`), []string{"stages[0].target: required"}},
		{"unknown arrival", scenario(`{"executor": "constant-arrival-rate", "rate": 1, "duration": "1s", "preAllocatedVUs": 1, "arrival": "bursty"}`), []string{`arrival: unknown arrival process "bursty"`}},
		{"seed without poisson", scenario(`{"executor": "constant-arrival-rate", "rate": 1, "duration": "1s", "preAllocatedVUs": 1, "seed": 3}`), []string{"seed: only used with arrival"}},
		{"bad name", `{"scenarios": {"two words": {"executor": "shared-iterations"}}}`, []string{`scenario "two words": name`}},
		{"zero timeUnit", scenario(`{"executor": "constant-arrival-rate", "rate": 1, "duration": "1s", "preAllocatedVUs": 1, "timeUnit": 0}`), []string{"timeUnit: must be greater than 0"}},
		{"two bad scenarios", `{"scenarios": {"b": {"executor": "nope"}, "a": {"executor": "constant-vus"}}}`, []string{`scenario "a": duration: required`, `scenario "b": executor`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOptions([]byte(tt.opts))
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got error %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestScenarioLength(t *testing.T) {
	tests := []struct {
		s    Scenario
		want time.Duration
	}{
		{Scenario{Executor: SharedIterations, MaxDuration: time.Minute, Duration: time.Hour}, time.Minute},
		{Scenario{Executor: ConstantVUs, Duration: time.Hour}, time.Hour},
		{Scenario{Executor: RampingArrivalRate, Stages: []Stage{{time.Second, 1}, {2 * time.Second, 0}}}, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.s.Executor, func(t *testing.T) {
			if got := tt.s.Length(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func FuzzParseOptions(f *testing.F) {
	f.Add([]byte(`{"vus": 2, "duration": "30s"}`))
	f.Add([]byte(`{"stages": [{"duration": "1m", "target": 3}]}`))
	f.Add([]byte(`{"scenarios": {"a": {"executor": "ramping-arrival-rate", "preAllocatedVUs": 2, "stages": [{"duration": 100, "target": 5}], "arrival": "poisson"}}}`))
	f.Add([]byte(`{"scenarios": {"a": {"executor": "shared-iterations", "vus": "3", "iterations": 1e3}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		scenarios, err := ParseOptions(raw)
		if err != nil {
			return
		}
		for _, s := range scenarios {
			if err := s.Validate(); err != nil {
				t.Fatalf("ParseOptions returned an invalid scenario: %v", err)
			}
		}
	})
}

func ExampleParseOptions() {
	scenarios, err := ParseOptions([]byte(`{
		"scenarios": {
			"chat": {"executor": "constant-arrival-rate", "rate": 20, "timeUnit": "1s",
			         "duration": "5m", "preAllocatedVUs": 10, "maxVUs": 100, "arrival": "poisson", "seed": 1},
			"warmup": {"executor": "per-vu-iterations", "vus": 4, "iterations": 2}
		}
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range scenarios {
		fmt.Printf("%s: %s for %s (gracefulStop %s)\n", s.Name, s.Executor, s.Length(), s.GracefulStop)
	}
	// Output:
	// chat: constant-arrival-rate for 5m0s (gracefulStop 30s)
	// warmup: per-vu-iterations for 10m0s (gracefulStop 30s)
}
