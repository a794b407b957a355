package nightly

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadSuiteShipped(t *testing.T) {
	s := shippedSuite(t)
	es := s.Entries()
	var got []string
	for _, e := range es {
		got = append(got, e.Scenario.Name+"×"+e.Target.Name+" "+e.Target.URL+" "+entryEnv(e)["HOLD"])
	}
	// No TARGET_GPU: the optional gpu target is left out.
	want := []string{"smoke×cpu http://127.0.0.1:8000 ", "baseline×cpu http://127.0.0.1:8000 25s"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries: got %q, want %q", got, want)
	}
	if _, err := os.Stat(s.ScriptPath(es[1].Scenario)); err != nil {
		t.Errorf("script path: %v", err)
	}
	d := s.Detector
	if d.Nights != 7 || d.MinEffectPct != 10 || d.Alpha != 0.01 || !reflect.DeepEqual(d.Metrics, DefaultMetrics) {
		t.Errorf("detector: got %+v, want nights 7, min effect 10 %%, alpha 0.01 and the default metrics", d)
	}
	if s.SLOs["ttft_p95_ms"] == 0 {
		t.Errorf("slos: got %v, want a ttft_p95_ms SLO", s.SLOs)
	}

	t.Setenv("TARGET", "http://10.0.0.1:9000")
	t.Setenv("TARGET_GPU", "http://10.0.0.2:9000")
	s, err := LoadSuite("../scenarios/nightly.json")
	if err != nil {
		t.Fatal(err)
	}
	if es := s.Entries(); len(es) != 4 || es[0].Target.URL != "http://10.0.0.1:9000" || es[1].Target.URL != "http://10.0.0.2:9000" {
		t.Errorf("with TARGET and TARGET_GPU set: got %+v, want 4 entries on both targets", es)
	}
}

func TestLoadSuiteErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.js"), []byte("export default function () {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const target = `"targets": [{"name": "cpu", "url": "http://127.0.0.1:8000"}]`
	const scen = `"scenarios": [{"script": "s.js"}]`
	tests := []struct {
		name, json string
		want       []string // in the error
	}{
		{"not json", `{"name": "x",`, []string{"s.json", "the JSON ends early"}},
		{"syntax error position", "{\n  \"name\": \"x\"\n  \"scenarios\": []\n}", []string{"line 3 column 3"}},
		{"unknown field", `{"name": "x", "nigths": 3, ` + scen + `, ` + target + `}`, []string{`unknown field "nigths"`}},
		{"wrong type", `{"name": "x", ` + scen + `, ` + target + `, "detector": {"nights": "seven"}}`, []string{"detector.nights", "int"}},
		{"no name", `{` + scen + `, ` + target + `}`, []string{"name: missing"}},
		{"bad name", `{"name": "my suite", ` + scen + `, ` + target + `}`, []string{`name: "my suite"`}},
		{"dash in name", `{"name": "a-b", ` + scen + `, ` + target + `}`, []string{`name: "a-b"`}},
		{"no scenarios", `{"name": "x", ` + target + `}`, []string{"scenarios: none"}},
		{"no script", `{"name": "x", "scenarios": [{"name": "a"}], ` + target + `}`, []string{"scenarios[0].script: missing"}},
		{"missing script file", `{"name": "x", "scenarios": [{"script": "nope.js"}], ` + target + `}`, []string{"scenarios[0].script", "nope.js"}},
		{"duplicate scenario", `{"name": "x", "scenarios": [{"script": "s.js"}, {"script": "s.js"}], ` + target + `}`, []string{`scenarios[1].name: "s" is scenarios[0]'s name too`}},
		{"no targets", `{"name": "x", ` + scen + `}`, []string{"targets: none"}},
		{"empty url", `{"name": "x", ` + scen + `, "targets": [{"name": "cpu", "url": "${NIGHTLY_TEST_UNSET}"}]}`, []string{"targets[0].url: empty", "optional"}},
		{"bad url", `{"name": "x", ` + scen + `, "targets": [{"name": "cpu", "url": "127.0.0.1:8000"}]}`, []string{"targets[0].url", "not an http"}},
		{"bad protocol", `{"name": "x", ` + scen + `, "targets": [{"name": "cpu", "url": "http://a", "protocol": "grpc"}]}`, []string{"targets[0].protocol", "grpc"}},
		{"bad variable", `{"name": "x", ` + scen + `, "targets": [{"name": "cpu", "url": "${A B}"}]}`, []string{"targets[0].url", "bad variable"}},
		{"unknown slo", `{"name": "x", ` + scen + `, ` + target + `, "slos": {"ttft_p42_ms": 1}}`, []string{"slos.ttft_p42_ms", "unknown metric"}},
		{"unknown scenario slo", `{"name": "x", "scenarios": [{"script": "s.js", "slos": {"latency": 1}}], ` + target + `}`, []string{"scenarios[0].slos.latency"}},
		{"unknown metric", `{"name": "x", ` + scen + `, ` + target + `, "detector": {"metrics": ["ttft_p95_ms", "tokens"]}}`, []string{"detector.metrics[1]", `"tokens"`}},
		{"bad alpha", `{"name": "x", ` + scen + `, ` + target + `, "detector": {"alpha": 1.5}}`, []string{"detector.alpha: 1.5"}},
		{"negative nights", `{"name": "x", ` + scen + `, ` + target + `, "detector": {"nights": -1}}`, []string{"detector.nights: -1"}},
		{"negative effect", `{"name": "x", ` + scen + `, ` + target + `, "detector": {"min_effect_pct": -5}}`, []string{"detector.min_effect_pct: -5"}},
		{"several at once", `{"name": "x", "scenarios": [{"name": "a"}], "targets": [{"name": "", "url": "ftp://x"}]}`, []string{"scenarios[0].script: missing", "targets[0].name: missing", "targets[0].url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "s.json")
			if err := os.WriteFile(p, []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadSuite(p)
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
	if _, err := LoadSuite(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: got %v, want an error naming it", err)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "http://a:1", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct{ in, want string }{
		{"${A}", "http://a:1"},
		{"${A:-http://b}", "http://a:1"},
		{"${B:-http://b:2}", "http://b:2"},
		{"${EMPTY:-http://c}", "http://c"},
		{"${B}", ""},
		{"http://host:${PORT:-8000}/v1", "http://host:8000/v1"},
		{"no variables", "no variables"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expand(tt.in, lookup)
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}
