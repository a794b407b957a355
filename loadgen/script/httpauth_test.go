package script

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAuthAndMultipart follows k6/http's Params.auth and http.file():
//   - https://grafana.com/docs/k6/latest/javascript-api/k6-http/params/: credentials
//     in the URL (http://user:pass@host/) are sent as basic auth, and with
//     auth: 'digest' as HTTP digest authentication; ntlm is refused here;
//   - https://grafana.com/docs/k6/latest/javascript-api/k6-http/file/ and
//     https://grafana.com/docs/k6/latest/examples/data-uploads/: a body
//     object holding an http.file() is sent as multipart/form-data;
//   - the url tag hides the credentials (http://****:****@host/).
func TestAuthAndMultipart(t *testing.T) {
	const nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093"
	md5hex := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/basic":
			if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "pass" {
				http.Error(w, "no basic auth", http.StatusUnauthorized)
				return
			}
		case "/digest":
			h := r.Header.Get("Authorization")
			if h == "" {
				w.Header().Set("WWW-Authenticate", `Digest realm="test@llmbench", qop="auth,auth-int", nonce="`+nonce+`", opaque="5ccc069c403ebaf9f0171e9517f40e41"`)
				http.Error(w, "challenge", http.StatusUnauthorized)
				return
			}
			ch := parseChallenge(h)
			p := map[string]string{}
			for _, kv := range strings.Split(strings.TrimPrefix(h, "Digest "), ", ") {
				k, v, _ := strings.Cut(kv, "=")
				p[k] = strings.Trim(v, `"`)
			}
			want := md5hex(md5hex("user:test@llmbench:pass") + ":" + nonce + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + md5hex("GET:/digest?x=1"))
			if ch == nil || p["username"] != "user" || p["uri"] != "/digest?x=1" || p["response"] != want || p["opaque"] != "5ccc069c403ebaf9f0171e9517f40e41" {
				http.Error(w, "bad digest: "+h, http.StatusForbidden)
				return
			}
		case "/upload":
			if err := r.ParseMultipartForm(1 << 20); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			out := map[string]string{"name": r.FormValue("name")}
			for field, fhs := range r.MultipartForm.File {
				f, _ := fhs[0].Open()
				b, _ := io.ReadAll(f)
				out[field] = fmt.Sprintf("%s|%s|%s", fhs[0].Filename, fhs[0].Header.Get("Content-Type"), b)
			}
			_ = json.NewEncoder(w).Encode(out)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	dir := writeScripts(t, map[string]string{"main.js": `
import http from 'k6/http';
export default function () {
  const creds = 'http://user:pass@' + __ENV.HOST;
  const b = http.get(creds + '/basic');
  if (b.status !== 200) throw new Error('basic: ' + b.status + ' ' + b.body);
  const nob = http.get('http://' + __ENV.HOST + '/basic');
  if (nob.status !== 401) throw new Error('no credentials: ' + nob.status);
  const d = http.get(creds + '/digest?x=1', { auth: 'digest' });
  if (d.status !== 200) throw new Error('digest: ' + d.status + ' ' + d.body);
  const bin = new Uint8Array([104, 105]).buffer;
  const up = http.post('http://' + __ENV.HOST + '/upload', {
    name: 'llmbench',
    file: http.file('hello', 'a.txt', 'text/plain'),
    blob: http.file(bin),
  });
  const j = up.json();
  if (up.status !== 200 || j.name !== 'llmbench' || j.file !== 'a.txt|text/plain|hello' || j.blob !== 'blob|application/octet-stream|hi') throw new Error('upload: ' + up.status + ' ' + up.body);
  const f = http.file('x', 'x.csv');
  if (f.filename !== 'x.csv' || f.content_type !== 'application/octet-stream' || f.data !== 'x') throw new Error('file(): ' + JSON.stringify(f));
}
export function ntlm() { http.get('http://' + __ENV.HOST + '/basic', { auth: 'ntlm' }); }
`})
	vu, rec := iterate(t, dir, map[string]string{"HOST": host})
	reqs := rec.of("http_reqs")
	if len(reqs) != 4 {
		t.Errorf("http_reqs: %d samples, want 4 (the digest exchange is one request, as in k6)", len(reqs))
	}
	for _, s := range reqs {
		if strings.Contains(s.tags["url"], "pass") || strings.Contains(s.tags["name"], "pass") {
			t.Errorf("a tag shows the password: url %q name %q", s.tags["url"], s.tags["name"])
		}
	}
	if reqs[0].tags["url"] != "http://****:****@"+host+"/basic" {
		t.Errorf("url tag %q, want the credentials masked", reqs[0].tags["url"])
	}
	err := vu.Iterate(t.Context(), Iteration{Scenario: "s", Exec: "ntlm"}, "")
	if err == nil || !strings.Contains(err.Error(), "ntlm") {
		t.Errorf("auth ntlm: got %v, want an error naming it", err)
	}
}

// TestURLTemplateAndRandomSeed follows http.url
// (https://grafana.com/docs/k6/latest/javascript-api/k6-http/url/: the name
// tag keeps "${}" for each placeholder, so URLs with ids group under one
// name; params.tags.name still wins) and k6's randomSeed
// (https://grafana.com/docs/k6/latest/javascript-api/k6/randomseed/: the
// same seed gives the same Math.random sequence).
func TestURLTemplateAndRandomSeed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.URL.String()) }))
	defer srv.Close()
	dir := writeScripts(t, map[string]string{"main.js": `
import http from 'k6/http';
import { randomSeed } from 'k6';
export default function () {
  for (let id = 1; id <= 3; id++) {
    const r = http.get(http.url` + "`${__ENV.URL}/posts/${id}?x=${id * 2}`" + `);
    if (r.body !== '/posts/' + id + '?x=' + (id * 2)) throw new Error('body ' + r.body);
  }
  http.get(http.url` + "`${__ENV.URL}/posts/${9}`" + `, { tags: { name: 'mine' } });
  const u = http.url` + "`http://a/${1}`" + `;
  if (u.url !== 'http://a/1' || u.name !== 'http://a/${}' || String(u) !== 'http://a/1') throw new Error(JSON.stringify(u));
  randomSeed(42); const a = [Math.random(), Math.random()];
  randomSeed(42); const b = [Math.random(), Math.random()];
  randomSeed(7); const c = Math.random();
  if (a[0] !== b[0] || a[1] !== b[1] || a[0] === a[1] || c === a[0]) throw new Error('randomSeed: ' + a + ' ' + b + ' ' + c);
}
`})
	_, rec := iterate(t, dir, map[string]string{"URL": srv.URL})
	names := map[string]int{}
	for _, s := range rec.of("http_reqs") {
		names[s.tags["name"]]++
	}
	want := "${}/posts/${}?x=${}"
	if names[want] != 3 || names["mine"] != 1 {
		t.Errorf("name tags %v, want 3 × %q and 1 × mine", names, want)
	}
}

// TestChatMessages: client.generate({messages: [{role, content}]}), as
// docs/LOADGEN.md shows it, sends each message's role and content. (They
// were sent with an empty role: the runtime maps fields by js tags, and
// llm.Message had only JSON ones.)
func TestChatMessages(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" hi\"}}]}\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	dir := writeScripts(t, map[string]string{"main.js": `
import llm from 'k6/x/llm';
const c = new llm.Client({ baseURL: __ENV.URL, protocol: llm.OPENAI_CHAT, model: 'm' });
export default function () {
  const r = c.generate({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], max_tokens: 2 });
  if (!r.ok) throw new Error(r.error);
}
export function noRole() { c.generate({ messages: [{ content: 'Hi' }] }); }
`})
	vu, _ := iterate(t, dir, map[string]string{"URL": srv.URL})
	var body struct {
		Messages []struct{ Role, Content string } `json:"messages"`
	}
	if err := json.Unmarshal([]byte(<-got), &body); err != nil || len(body.Messages) != 2 ||
		body.Messages[0].Role != "system" || body.Messages[0].Content != "Be brief." || body.Messages[1].Role != "user" || body.Messages[1].Content != "Hi" {
		t.Errorf("messages sent: %+v (%v)", body.Messages, err)
	}
	if err := vu.Iterate(t.Context(), Iteration{Scenario: "s", Exec: "noRole"}, ""); err == nil || !strings.Contains(err.Error(), "messages[0] has no role") {
		t.Errorf("a message without a role: got %v", err)
	}
}
