package script

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/dop251/goja"
)

// fileData is what http.file(data, filename, contentType) returns
// (https://grafana.com/docs/k6/latest/javascript-api/k6-http/file/): a
// body object holding one is sent as multipart/form-data.
type fileData struct {
	Data        goja.Value `js:"data"`
	Filename    string     `js:"filename"`
	ContentType string     `js:"content_type"`
	bytes       []byte
}

// file is http.file(data, [filename], [contentType]); the content type
// defaults to application/octet-stream, as in k6.
func (vu *VU) file(c goja.FunctionCall) goja.Value {
	d := c.Argument(0)
	f := &fileData{Data: d, ContentType: "application/octet-stream"}
	switch x := d.Export().(type) {
	case goja.ArrayBuffer:
		f.bytes = append([]byte(nil), x.Bytes()...)
	case []byte:
		f.bytes = append([]byte(nil), x...)
	default:
		if isNil(d) {
			panic(vu.rt.NewTypeError("http.file(): data is required (a string or an ArrayBuffer)"))
		}
		f.bytes = []byte(d.String())
	}
	if a := c.Argument(1); !isNil(a) {
		f.Filename = a.String()
	}
	if a := c.Argument(2); !isNil(a) {
		f.ContentType = a.String()
	}
	return vu.rt.ToValue(f)
}

// formBody encodes a body object: multipart/form-data when a value is an
// http.file(), else application/x-www-form-urlencoded (k6's rule,
// https://grafana.com/docs/k6/latest/examples/data-uploads/). It returns
// the body and its Content-Type.
func formBody(m map[string]any) ([]byte, string, error) {
	keys := make([]string, 0, len(m))
	multi := false
	for k, v := range m {
		keys = append(keys, k)
		if _, ok := v.(*fileData); ok {
			multi = true
		}
	}
	sort.Strings(keys)
	if !multi {
		form := url.Values{}
		for _, k := range keys {
			form.Set(k, stringOf(m[k]))
		}
		return []byte(form.Encode()), "application/x-www-form-urlencoded", nil
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, k := range keys {
		f, ok := m[k].(*fileData)
		if !ok {
			if err := w.WriteField(k, stringOf(m[k])); err != nil {
				return nil, "", err
			}
			continue
		}
		name := f.Filename
		if name == "" {
			name = k // k6 names an unnamed file part after its field
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, quoteEscaper.Replace(k), quoteEscaper.Replace(name)))
		h.Set("Content-Type", f.ContentType)
		part, err := w.CreatePart(h)
		if err != nil {
			return nil, "", err
		}
		if _, err := part.Write(f.bytes); err != nil {
			return nil, "", err
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

// httpURL is what http.url`...` returns
// (https://grafana.com/docs/k6/latest/javascript-api/k6-http/url/): the URL,
// and a name tag with each ${} placeholder kept as "${}", so that URLs
// with ids in them group under one name.
type httpURL struct {
	URL  string `js:"url"`
	Name string `js:"name"`
}

// String is the URL, as the object reads in a string context.
func (u *httpURL) String() string { return u.URL }

func (vu *VU) urlTemplate(c goja.FunctionCall) goja.Value {
	parts := c.Argument(0).ToObject(vu.rt)
	n := int(parts.Get("length").ToInteger())
	var url, name strings.Builder
	for i := 0; i < n; i++ {
		s := parts.Get(strconv.Itoa(i)).String()
		url.WriteString(s)
		name.WriteString(s)
		if i+1 < n {
			url.WriteString(c.Argument(i + 1).String())
			name.WriteString("${}")
		}
	}
	o := vu.rt.ToValue(&httpURL{URL: url.String(), Name: name.String()}).ToObject(vu.rt)
	_ = o.Set("toString", func() string { return url.String() })
	return o
}

// maskURL hides a URL's credentials, as k6 does in the url tag and
// res.url's logs: http://****:****@host/.
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	mask := "****@"
	if _, hasPass := u.User.Password(); hasPass {
		mask = "****:****@"
	}
	u.User = nil
	scheme, rest, _ := strings.Cut(u.String(), "://")
	return scheme + "://" + mask + rest
}

// roundTripDigest makes a request with HTTP digest authentication
// (params.auth 'digest', the credentials in the URL, as k6 takes them): a
// first request without them draws the server's 401 challenge, and the
// second answers it (RFC 7616: MD5 or SHA-256, qop auth or none). What
// the script sees, and what is recorded, is the second.
func (e *Env) roundTripDigest(ctx context.Context, c *httpCall) *httpResult {
	u, err := url.Parse(c.url)
	if err != nil || u.User == nil {
		r := e.roundTripOnce(ctx, c)
		if err == nil && r.err == nil {
			e.logf("WARN params.auth 'digest' for %s: the URL has no user:password@, so no credentials were sent\n", maskURL(c.url))
		}
		return r
	}
	user := u.User.Username()
	pass, _ := u.User.Password()
	u.User = nil
	first := *c
	first.url = u.String()
	r := e.roundTripOnce(ctx, &first)
	if r.err != nil || r.status != 401 {
		return r
	}
	ch := parseChallenge(r.headers.Get("WWW-Authenticate"))
	if ch == nil {
		return r
	}
	second := first
	second.headers = mergeTags(first.headers, map[string]string{"Authorization": ch.answer(c.method, u.RequestURI(), user, pass)})
	r2 := e.roundTripOnce(ctx, &second)
	r2.call = c
	return r2
}

// challenge is a Digest WWW-Authenticate challenge.
type challenge struct {
	realm, nonce, opaque, algorithm, qop string
}

func parseChallenge(h string) *challenge {
	rest, ok := strings.CutPrefix(strings.TrimSpace(h), "Digest ")
	if !ok {
		return nil
	}
	p := map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		k, v, found := strings.Cut(rest, "=")
		if !found {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if strings.HasPrefix(v, `"`) {
			end := strings.Index(v[1:], `"`)
			if end < 0 {
				return nil
			}
			p[k], rest = v[1:1+end], v[2+end:]
		} else {
			val, tail, _ := strings.Cut(v, ",")
			p[k], rest = strings.TrimSpace(val), tail
		}
	}
	c := &challenge{realm: p["realm"], nonce: p["nonce"], opaque: p["opaque"], algorithm: p["algorithm"]}
	for _, q := range strings.Split(p["qop"], ",") {
		if strings.TrimSpace(q) == "auth" {
			c.qop = "auth"
		}
	}
	if c.nonce == "" {
		return nil
	}
	return c
}

// answer is the Authorization header that answers the challenge.
func (c *challenge) answer(method, uri, user, pass string) string {
	var newHash func() hash.Hash = md5.New
	if strings.EqualFold(c.algorithm, "SHA-256") {
		newHash = sha256.New
	}
	h := func(s string) string {
		x := newHash()
		x.Write([]byte(s))
		return hex.EncodeToString(x.Sum(nil))
	}
	ha1 := h(user + ":" + c.realm + ":" + pass)
	ha2 := h(method + ":" + uri)
	var cnonce, response string
	const nc = "00000001"
	if c.qop == "auth" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		cnonce = hex.EncodeToString(b)
		response = h(ha1 + ":" + c.nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
	} else {
		response = h(ha1 + ":" + c.nonce + ":" + ha2)
	}
	parts := []string{
		fmt.Sprintf(`username="%s"`, user), fmt.Sprintf(`realm="%s"`, c.realm), fmt.Sprintf(`nonce="%s"`, c.nonce),
		fmt.Sprintf(`uri="%s"`, uri), fmt.Sprintf(`response="%s"`, response),
	}
	if c.algorithm != "" {
		parts = append(parts, "algorithm="+c.algorithm)
	}
	if c.qop == "auth" {
		parts = append(parts, "qop=auth", "nc="+nc, fmt.Sprintf(`cnonce="%s"`, cnonce))
	}
	if c.opaque != "" {
		parts = append(parts, fmt.Sprintf(`opaque="%s"`, c.opaque))
	}
	return "Digest " + strings.Join(parts, ", ")
}
