package script

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/dop251/goja"
	"golang.org/x/net/publicsuffix"
)

// Cookies follow k6's (https://grafana.com/docs/k6/latest/using-k6/cookies/):
// each VU has a cookie jar that keeps what servers set (redirect hops
// included) and sends it back, emptied at the start of each iteration
// (k6's noCookiesReset is false by default); params.cookies adds cookies
// to one request, replacing the jar's of the same name when they say
// replace; params.jar sends one request with another jar (new
// http.CookieJar()); res.cookies is what the response set.

// newJar is an empty cookie jar with the public suffix list, as browsers
// keep cookies.
func newJar() *cookiejar.Jar {
	j, _ := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	return j
}

// requestCookie is one of params.cookies.
type requestCookie struct {
	name, value string
	replace     bool
}

// parseRequestCookies reads params.cookies: {name: "value"} or
// {name: {value, replace}}.
func (vu *VU) parseRequestCookies(v goja.Value) []requestCookie {
	var out []requestCookie
	o := v.ToObject(vu.rt)
	for _, name := range o.Keys() {
		c := requestCookie{name: name}
		switch x := o.Get(name).Export().(type) {
		case map[string]any:
			c.value = stringOf(x["value"])
			c.replace, _ = x["replace"].(bool)
		default:
			c.value = stringOf(x)
		}
		out = append(out, c)
	}
	return out
}

// addCookies puts the jar's cookies for req's URL and the request's own
// into req's Cookie header.
func addCookies(req *http.Request, jar http.CookieJar, own []requestCookie) {
	replaced := map[string]bool{}
	for _, c := range own {
		if c.replace {
			replaced[c.name] = true
		}
	}
	if jar != nil {
		for _, c := range jar.Cookies(req.URL) {
			if !replaced[c.Name] {
				req.AddCookie(c)
			}
		}
	}
	for _, c := range own {
		req.AddCookie(&http.Cookie{Name: c.name, Value: c.value})
	}
}

// cookieJarObject is the JS face of a jar: cookiesForURL, set, clear and
// delete (https://grafana.com/docs/k6/latest/javascript-api/k6-http/cookiejar/).
// jarRef finds a JS jar object's jar when it is used: the VU's jar is
// a new one at each iteration, and http.cookieJar() may be called once, in
// the init code.
type jarRef struct{ get func() *cookiejar.Jar }

func (vu *VU) cookieJarObject(ref jarRef) *goja.Object {
	rt := vu.rt
	o := rt.NewObject()
	parse := func(what, raw string) *url.URL {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			panic(rt.NewTypeError(fmt.Sprintf("CookieJar.%s: %q is not an absolute URL", what, raw)))
		}
		return u
	}
	_ = o.Set("cookiesForURL", func(raw string) map[string]any {
		out := map[string]any{}
		for _, c := range ref.get().Cookies(parse("cookiesForURL", raw)) {
			vals, _ := out[c.Name].([]any)
			out[c.Name] = append(vals, c.Value)
		}
		return out
	})
	_ = o.Set("set", func(raw, name, value string, opts goja.Value) {
		u := parse("set", raw)
		c := &http.Cookie{Name: name, Value: value}
		if !isNil(opts) {
			m, _ := opts.Export().(map[string]any)
			c.Domain, c.Path = stringOf(m["domain"]), stringOf(m["path"])
			c.Secure, _ = m["secure"].(bool)
			c.HttpOnly, _ = m["http_only"].(bool)
			if n, ok := asInt(m["max_age"]); ok {
				c.MaxAge = n
			}
			if e := stringOf(m["expires"]); e != "" {
				t, err := time.Parse(time.RFC1123, e)
				if err != nil {
					panic(rt.NewTypeError(fmt.Sprintf("CookieJar.set: expires %q: want RFC 1123, e.g. Mon, 02 Jan 2006 15:04:05 MST", e)))
				}
				c.Expires = t
			}
		}
		ref.get().SetCookies(u, []*http.Cookie{c})
	})
	// The standard jar cannot list a cookie's path, so clear and delete
	// expire the name at the site's root and at the URL's own path.
	expire := func(u *url.URL, names []string) {
		var dead []*http.Cookie
		for _, n := range names {
			for _, p := range []string{"/", u.Path, strings.TrimSuffix(u.Path[:strings.LastIndex(u.Path+"/", "/")], "/")} {
				if p != "" {
					dead = append(dead, &http.Cookie{Name: n, Path: p, MaxAge: -1})
				}
			}
		}
		ref.get().SetCookies(u, dead)
	}
	_ = o.Set("clear", func(raw string) {
		u := parse("clear", raw)
		var names []string
		for _, c := range ref.get().Cookies(u) {
			names = append(names, c.Name)
		}
		expire(u, names)
	})
	_ = o.Set("delete", func(raw, name string) {
		expire(parse("delete", raw), []string{name})
	})
	_ = o.Set("__jar", ref) // params.jar finds the Go jar here
	return o
}

// jarOf finds the jar of a CookieJar object (params.jar).
func (vu *VU) jarOf(v goja.Value) http.CookieJar {
	if ref, ok := v.ToObject(vu.rt).Get("__jar").Export().(jarRef); ok {
		return ref.get()
	}
	panic(vu.rt.NewTypeError("params.jar: want a CookieJar (http.cookieJar() or new http.CookieJar())"))
}

// responseCookies is res.cookies: name → the cookies of that name the
// response set, with their attributes.
func responseCookies(h http.Header) map[string]any {
	out := map[string]any{}
	for _, c := range (&http.Response{Header: h}).Cookies() {
		rc := map[string]any{
			"name": c.Name, "value": c.Value, "domain": c.Domain, "path": c.Path,
			"expires": "", "max_age": c.MaxAge, "secure": c.Secure, "http_only": c.HttpOnly,
		}
		if !c.Expires.IsZero() {
			rc["expires"] = c.Expires.UTC().Format(time.RFC1123)
		}
		list, _ := out[c.Name].([]any)
		out[c.Name] = append(list, rc)
	}
	return out
}
