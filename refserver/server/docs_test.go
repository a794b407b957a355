package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/llmbench/llmbench/refserver/engine"
)

// openapiDoc is the part of openapi.json the tests read.
type openapiDoc struct {
	OpenAPI string `json:"openapi"`
	Servers []struct {
		URL string `json:"url"`
	} `json:"servers"`
	// Paths maps a path to its path item: operations under method names,
	// and possibly other keys (parameters, summary, ...).
	Paths map[string]map[string]json.RawMessage `json:"paths"`
}

type openapiOperation struct {
	Summary     string `json:"summary"`
	RequestBody *struct {
		Content map[string]openapiMedia `json:"content"`
	} `json:"requestBody"`
	Responses map[string]json.RawMessage `json:"responses"`
}

type openapiMedia struct {
	Example  json.RawMessage `json:"example"`
	Examples map[string]struct {
		Value json.RawMessage `json:"value"`
	} `json:"examples"`
}

var openapiMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func loadOpenAPI(t *testing.T) openapiDoc {
	t.Helper()
	var doc openapiDoc
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

// operation decodes the operation of method (upper case) under path, or
// reports false.
func (d openapiDoc) operation(t *testing.T, method, path string) (openapiOperation, bool) {
	t.Helper()
	var op openapiOperation
	raw, ok := d.Paths[path][strings.ToLower(method)]
	if !ok {
		return op, false
	}
	if err := json.Unmarshal(raw, &op); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return op, true
}

// objectKeys lists the keys of a JSON object in document order.
func objectKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("want a JSON object, got %v %v", tok, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// refs collects every "$ref" under v, keyed by the JSON pointer of the
// object that holds it.
func refs(v any, at string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if s, ok := child.(string); ok && k == "$ref" {
				out[at] = s
				continue
			}
			refs(child, at+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), out)
		}
	case []any:
		for i, child := range v {
			refs(child, at+"/"+strconv.Itoa(i), out)
		}
	}
}

// resolvePointer finds a local reference ("#/components/...") in doc.
func resolvePointer(doc any, ref string) bool {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	cur := doc
	for _, p := range strings.Split(rest, "/") {
		p = strings.NewReplacer("~1", "/", "~0", "~").Replace(p)
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[p]; !ok {
			return false
		}
	}
	return true
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	if doc.OpenAPI != "3.0.3" || len(doc.Servers) != 1 || doc.Servers[0].URL != "/" {
		t.Errorf("openapi %q servers %+v, want 3.0.3 and one server with url /", doc.OpenAPI, doc.Servers)
	}

	for _, rt := range Routes() {
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			op, ok := doc.operation(t, rt.Method, rt.Path)
			if !ok {
				t.Fatalf("openapi.json has no %s under %s", strings.ToLower(rt.Method), rt.Path)
			}
			if op.Summary != rt.Summary {
				t.Errorf("summary %q, want %q as Routes() has it", op.Summary, rt.Summary)
			}
			if len(op.Responses) == 0 {
				t.Errorf("no responses")
			}
			if rt.Method == "POST" && (op.RequestBody == nil || op.RequestBody.Content["application/json"].Examples == nil) {
				t.Errorf("no application/json request body with examples")
			}
		})
	}

	t.Run("no operation Routes() lacks", func(t *testing.T) {
		want := map[string]bool{}
		for _, rt := range Routes() {
			want[strings.ToLower(rt.Method)+" "+rt.Path] = true
		}
		for path, item := range doc.Paths {
			for key := range item {
				if slices.Contains(openapiMethods, key) && !want[key+" "+path] {
					t.Errorf("openapi.json has %s %s, which Routes() lacks", key, path)
				}
			}
		}
	})

	t.Run("paths in the order of Routes()", func(t *testing.T) {
		var top struct {
			Paths json.RawMessage `json:"paths"`
		}
		if err := json.Unmarshal(openapiJSON, &top); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, rt := range Routes() {
			if len(want) == 0 || want[len(want)-1] != rt.Path {
				want = append(want, rt.Path)
			}
		}
		if got := objectKeys(t, top.Paths); !slices.Equal(got, want) {
			t.Errorf("paths in order %q, want %q (/docs shows them in document order)", got, want)
		}
	})

	t.Run("every $ref resolves", func(t *testing.T) {
		var all any
		if err := json.Unmarshal(openapiJSON, &all); err != nil {
			t.Fatal(err)
		}
		found := map[string]string{}
		refs(all, "#", found)
		if len(found) == 0 {
			t.Fatal("no $ref at all: want shared schemas and responses")
		}
		for at, ref := range found {
			if !resolvePointer(all, ref) {
				t.Errorf("%s: $ref %q does not resolve within the document", at, ref)
			}
		}
	})
}

// externalResource matches a src or href attribute, a CSS url() or an
// @import that points off the server.
var externalResource = regexp.MustCompile(`(?i)(\b(src|href|action)\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)\s*(https?:)?//`)

func TestDocsServed(t *testing.T) {
	f := start(t, engine.Config{}, true)
	tests := []struct {
		path, contentType string
		check             func(t *testing.T, body []byte)
	}{
		{"/docs", "text/html", func(t *testing.T, body []byte) {
			if m := externalResource.Find(body); m != nil {
				t.Errorf("the page loads %q from elsewhere; it must work offline", m)
			}
			if !bytes.Contains(body, []byte("openapi.json")) {
				t.Errorf("the page does not read openapi.json")
			}
			if len(body) > 32<<10 {
				t.Errorf("the page is %d bytes, want at most 32 KiB", len(body))
			}
		}},
		{"/openapi.json", "application/json", func(t *testing.T, body []byte) {
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Errorf("body does not parse: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(f.http.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, tc.contentType) {
				t.Fatalf("got %d %q, want 200 %s", resp.StatusCode, ct, tc.contentType)
			}
			tc.check(t, body)
		})
	}
}

// TestOpenAPIExamplesAccepted sends every request example in the document
// to the server, with max_tokens cut to 2, and wants it served: the
// examples stay honest as the API changes.
func TestOpenAPIExamplesAccepted(t *testing.T) {
	f := start(t, engine.Config{}, true)
	doc := loadOpenAPI(t)
	type example struct {
		name, path string
		body       json.RawMessage
	}
	var examples []example
	for _, rt := range Routes() {
		if rt.Method != "POST" {
			continue
		}
		op, _ := doc.operation(t, rt.Method, rt.Path)
		if op.RequestBody == nil {
			continue // TestOpenAPIMatchesRoutes reports it
		}
		media := op.RequestBody.Content["application/json"]
		if media.Example != nil {
			examples = append(examples, example{"example", rt.Path, media.Example})
		}
		for name, ex := range media.Examples {
			examples = append(examples, example{name, rt.Path, ex.Value})
		}
	}
	if len(examples) == 0 {
		t.Fatal("openapi.json has no request examples")
	}
	for _, ex := range examples {
		t.Run(ex.path+"/"+ex.name, func(t *testing.T) {
			var req map[string]any
			if err := json.Unmarshal(ex.body, &req); err != nil {
				t.Fatalf("example is not a JSON object: %v", err)
			}
			// The test model's context is 128 tokens: keep generations short.
			req["max_tokens"] = 2
			if _, ok := req["max_completion_tokens"]; ok {
				req["max_completion_tokens"] = 2
			}
			stream := ex.path == "/generate/stream" || req["stream"] == true
			b, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Post(f.http.URL+ex.path, "application/json", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			ct := resp.Header.Get("Content-Type")
			if !stream {
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || ct != "application/json" {
					t.Errorf("got %d %q %s, want 200 application/json", resp.StatusCode, ct, body)
				}
				return
			}
			if resp.StatusCode != 200 || ct != "text/event-stream" {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("got %d %q %s, want 200 text/event-stream", resp.StatusCode, ct, body)
			}
			evs := events(t, resp.Body)
			if len(evs) < 2 || evs[len(evs)-1] != "[DONE]" {
				t.Errorf("events %q, want some and then [DONE]", evs)
			}
			for _, e := range evs {
				if strings.HasPrefix(e, `{"error"`) {
					t.Errorf("error event %s", e)
				}
			}
		})
	}
}
