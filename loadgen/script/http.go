package script

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dop251/goja"
	"github.com/tidwall/gjson"

	"github.com/llmbench/llmbench/loadgen/executor"
	"github.com/llmbench/llmbench/loadgen/llm"
)

// The http_req_* metrics of k6/http.
const (
	metricHTTPReqs      = "http_reqs"
	metricHTTPDuration  = "http_req_duration"
	metricHTTPBlocked   = "http_req_blocked"
	metricHTTPConnect   = "http_req_connecting"
	metricHTTPTLS       = "http_req_tls_handshaking"
	metricHTTPSending   = "http_req_sending"
	metricHTTPWaiting   = "http_req_waiting"
	metricHTTPReceiving = "http_req_receiving"
	metricHTTPFailed    = "http_req_failed"
	metricDataSent      = "data_sent"
	metricDataReceived  = "data_received"
)

// maxBody bounds a response body kept for the script (bigger ones are
// read and counted, then cut, with an error).
const maxBody = 64 << 20

// httpCall is one request of k6/http, in Go terms, so that batch() can run
// several on other goroutines and convert them to JS afterwards.
type httpCall struct {
	method, url string
	body        []byte
	headers     map[string]string
	tags        map[string]string
	timeout     time.Duration
	discard     bool // responseType "none"
	binary      bool // responseType "binary"
	// expect says which statuses are expected; nil: no response callback
	// (no expected_response tag, no http_req_failed).
	expect *expectedStatuses
	// redirects is how many redirects to follow (params.redirects, else
	// options.maxRedirects, else 10).
	redirects int
	// jar keeps and sends cookies (the VU's, or params.jar); cookies are
	// params.cookies, for this request alone.
	jar     http.CookieJar
	cookies []requestCookie
	// auth is params.auth when it asks for more than basic: "digest".
	auth string
	// base are the tags of the VU's context when the call was made
	// (scenario, group, params.tags): a request that completes later,
	// asynchronously, still carries them.
	base map[string]string
}

type httpResult struct {
	call       *httpCall
	hops       []*httpResult // the redirects followed to get here, in order
	status     int
	statusText string
	proto      string
	headers    http.Header
	body       []byte
	err        error
	errCode    int
	timings    phases
	sent, recv int64
	// remoteIP and remotePort are the server's address; tlsVersion the
	// TLS version ("" without TLS).
	remoteIP   string
	remotePort int
	tlsVersion string
}

// phases are the k6 timings of one HTTP request, in milliseconds.
type phases struct {
	Blocked, Connecting, TLS, Sending, Waiting, Receiving, Duration float64
}

func (vu *VU) httpModule() *goja.Object {
	m := vu.rt.NewObject()
	for _, n := range []string{metricHTTPReqs, metricDataSent, metricDataReceived} {
		vu.declare(n, Counter, false)
	}
	for _, n := range []string{metricHTTPDuration, metricHTTPBlocked, metricHTTPConnect, metricHTTPTLS, metricHTTPSending, metricHTTPWaiting, metricHTTPReceiving} {
		vu.declare(n, Trend, true)
	}
	vu.declare(metricHTTPFailed, Rate, false)
	verb := func(method string, hasBody bool) func(goja.FunctionCall) goja.Value {
		return func(c goja.FunctionCall) goja.Value {
			var body, params goja.Value = goja.Undefined(), c.Argument(1)
			if hasBody {
				body, params = c.Argument(1), c.Argument(2)
			}
			return vu.doHTTP(vu.parseCall(method, c.Argument(0), body, params))
		}
	}
	_ = m.Set("get", verb("GET", false))
	_ = m.Set("head", verb("HEAD", false))
	_ = m.Set("post", verb("POST", true))
	_ = m.Set("put", verb("PUT", true))
	_ = m.Set("patch", verb("PATCH", true))
	_ = m.Set("del", verb("DELETE", true))
	_ = m.Set("options", verb("OPTIONS", true))
	_ = m.Set("request", func(c goja.FunctionCall) goja.Value {
		return vu.doHTTP(vu.parseCall(strings.ToUpper(c.Argument(0).String()), c.Argument(1), c.Argument(2), c.Argument(3)))
	})
	_ = m.Set("batch", vu.batch)
	_ = m.Set("file", vu.file)
	_ = m.Set("url", vu.urlTemplate)
	_ = m.Set("asyncRequest", func(c goja.FunctionCall) goja.Value {
		return vu.asyncHTTP(vu.parseCall(strings.ToUpper(c.Argument(0).String()), c.Argument(1), c.Argument(2), c.Argument(3)))
	})
	_ = m.Set("expectedStatuses", vu.newExpectedStatuses)
	_ = m.Set("cookieJar", func() *goja.Object { return vu.cookieJarObject(jarRef{func() *cookiejar.Jar { return vu.jar }}) })
	_ = m.Set("CookieJar", func(goja.ConstructorCall) *goja.Object {
		j := newJar()
		return vu.cookieJarObject(jarRef{func() *cookiejar.Jar { return j }})
	})
	_ = m.Set("setResponseCallback", func(cb goja.Value) {
		vu.respCallback = vu.responseCallback(cb, "http.setResponseCallback")
	})
	return m
}

func (vu *VU) declare(name, kind string, isTime bool) {
	if err := vu.env.Recorder.Declare(name, kind, isTime); err != nil {
		panic(vu.rt.NewGoError(err))
	}
}

func (vu *VU) parseCall(method string, u, body, params goja.Value) *httpCall {
	rt := vu.rt
	if isNil(u) || u.String() == "" {
		panic(rt.NewTypeError(fmt.Sprintf("http.%s: a URL is required", strings.ToLower(method))))
	}
	target, urlName := u.String(), ""
	if hu, ok := u.Export().(*httpURL); ok {
		target, urlName = hu.URL, hu.Name
	}
	c := &httpCall{method: method, url: target, timeout: 60 * time.Second, expect: vu.respCallback, redirects: vu.env.maxRedirects(), jar: vu.jar,
		discard: vu.env.HTTP.DiscardResponseBodies}
	if !isNil(body) {
		switch b := body.Export().(type) {
		case string:
			c.body = []byte(b)
		case goja.ArrayBuffer:
			c.body = b.Bytes()
		case map[string]any:
			b2, ctype, err := formBody(b)
			if err != nil {
				panic(rt.NewGoError(fmt.Errorf("http.%s: body: %w", strings.ToLower(method), err)))
			}
			c.body = b2
			c.headers = map[string]string{"Content-Type": ctype}
		default:
			c.body = []byte(body.String())
		}
	}
	if !isNil(params) {
		p := params.ToObject(rt)
		if h := p.Get("headers"); !isNil(h) {
			if c.headers == nil {
				c.headers = map[string]string{}
			}
			for k, v := range exportTags(h) {
				c.headers[k] = v
			}
		}
		if t := p.Get("tags"); !isNil(t) {
			c.tags = exportTags(t)
		}
		if t := p.Get("timeout"); !isNil(t) {
			d, err := parseDuration(t.Export())
			if err != nil {
				panic(rt.NewTypeError("params.timeout: " + err.Error()))
			}
			c.timeout = d
		}
		if ck := p.Get("cookies"); !isNil(ck) {
			c.cookies = vu.parseRequestCookies(ck)
		}
		if j := p.Get("jar"); !isNil(j) {
			c.jar = vu.jarOf(j)
		}
		if a := p.Get("auth"); !isNil(a) {
			switch a.String() {
			case "basic": // the URL's user:password@, which Go's client sends as basic auth anyway
			case "digest":
				c.auth = "digest"
			case "ntlm":
				panic(rt.NewTypeError("params.auth 'ntlm' is not supported by llmbench (basic and digest are)"))
			default:
				panic(rt.NewTypeError(fmt.Sprintf("params.auth %q: want basic, digest or ntlm", a.String())))
			}
		}
		if rd := p.Get("redirects"); !isNil(rd) {
			n, ok := asInt(rd.Export())
			if !ok || n < 0 {
				panic(rt.NewTypeError(fmt.Sprintf("params.redirects %v: want a whole number, 0 or more", rd)))
			}
			c.redirects = n
		}
		if p.Get("responseCallback") != nil { // present, null included: null turns it off
			c.expect = vu.responseCallback(p.Get("responseCallback"), "params.responseCallback")
		}
		if rtp := p.Get("responseType"); !isNil(rtp) {
			switch rtp.String() {
			case "none":
				c.discard = true
			case "binary":
				c.binary, c.discard = true, false
			case "text":
				c.discard = false
			default:
				panic(rt.NewTypeError(fmt.Sprintf("params.responseType %q: want text, binary or none", rtp.String())))
			}
		}
	}
	if _, named := c.tags["name"]; urlName != "" && !named {
		c.tags = mergeTags(c.tags, map[string]string{"name": urlName})
	}
	c.base = vu.tags(c.tags)
	return c
}

// parseDuration reads a k6 duration: a number of milliseconds, or a string
// as executor.ParseDuration reads it ("30s", "1m30s", "1d", "1500").
func parseDuration(v any) (time.Duration, error) {
	switch x := v.(type) {
	case int64:
		return time.Duration(x) * time.Millisecond, nil
	case float64:
		return time.Duration(x * float64(time.Millisecond)), nil
	case string:
		d, err := executor.ParseDuration(x) // "30s", "1d", or milliseconds
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (want e.g. \"30s\" or a number of milliseconds)", x)
		}
		return d, nil
	}
	return 0, fmt.Errorf("%v is not a duration", v)
}

func (vu *VU) doHTTP(c *httpCall) goja.Value {
	if vu.init {
		panic(vu.rt.NewGoError(errInit("http." + strings.ToLower(c.method) + "()")))
	}
	r := vu.env.roundTrip(vu.ctx, c)
	vu.recordHTTP(r)
	vu.throwIf(r)
	return vu.response(r)
}

// throwIf throws a failed request's error when options.throw is set
// (https://grafana.com/docs/k6/latest/using-k6/k6-options/reference/#throw):
// an error of the request itself, not an HTTP status.
func (vu *VU) throwIf(r *httpResult) {
	if vu.env.HTTP.Throw && r.err != nil {
		panic(vu.rt.NewGoError(fmt.Errorf("%s %s: %w (error_code %d)", r.call.method, maskURL(r.call.url), r.err, r.errCode)))
	}
}

// asyncHTTP is http.asyncRequest
// (https://grafana.com/docs/k6/latest/javascript-api/k6-http/asyncrequest/):
// the request runs on its own goroutine while the script goes on, and the
// promise resolves with the Response on the VU's event loop. A failed
// request resolves too, with its error and error_code, as a synchronous
// one returns.
func (vu *VU) asyncHTTP(c *httpCall) goja.Value {
	if vu.init {
		panic(vu.rt.NewGoError(errInit("http.asyncRequest()")))
	}
	p, resolve, reject := vu.rt.NewPromise()
	ctx := vu.ctx
	vu.loop.spawn(func() func() error {
		r := vu.env.roundTrip(ctx, c)
		vu.recordHTTP(r)
		return func() error {
			if vu.env.HTTP.Throw && r.err != nil {
				return reject(vu.rt.NewGoError(fmt.Errorf("%s %s: %w (error_code %d)", r.call.method, maskURL(r.call.url), r.err, r.errCode)))
			}
			return resolve(vu.response(r))
		}
	})
	return vu.rt.ToValue(p)
}

// batch runs several requests at once and returns their responses in the
// same shape as its argument (an array, or an object of named requests).
func (vu *VU) batch(arg goja.Value) goja.Value {
	rt := vu.rt
	if vu.init {
		panic(rt.NewGoError(errInit("http.batch()")))
	}
	obj := arg.ToObject(rt)
	isArray := obj.ClassName() == "Array"
	keys := obj.Keys()
	calls := make([]*httpCall, len(keys))
	for i, k := range keys {
		item := obj.Get(k)
		switch x := item.Export().(type) {
		case string:
			calls[i] = vu.parseCall("GET", item, goja.Undefined(), goja.Undefined())
		case []any:
			a := item.ToObject(rt)
			if len(x) < 2 {
				panic(rt.NewTypeError("http.batch(): an array request is [method, url, body, params]"))
			}
			calls[i] = vu.parseCall(strings.ToUpper(a.Get("0").String()), a.Get("1"), a.Get("2"), a.Get("3"))
		default:
			o := item.ToObject(rt)
			method := "GET"
			if m := o.Get("method"); !isNil(m) {
				method = strings.ToUpper(m.String())
			}
			calls[i] = vu.parseCall(method, o.Get("url"), o.Get("body"), o.Get("params"))
		}
	}
	// At most options.batch requests at once, and batchPerHost to one
	// host (k6's defaults: 10 and 6; 0 is no limit).
	results := make([]*httpResult, len(calls))
	all := newLimiter(vu.env.HTTP.batch())
	perHost := map[string]*limiter{}
	var wg sync.WaitGroup
	for i, c := range calls {
		host := c.url
		if u, err := url.Parse(c.url); err == nil {
			host = u.Host
		}
		if perHost[host] == nil {
			perHost[host] = newLimiter(vu.env.HTTP.batchPerHost())
		}
		h := perHost[host]
		wg.Go(func() {
			h.acquire()
			all.acquire()
			defer all.release()
			defer h.release()
			results[i] = vu.env.roundTrip(vu.ctx, c)
		})
	}
	wg.Wait()
	for _, r := range results {
		vu.throwIf(r)
	}
	if isArray {
		vals := make([]any, len(results))
		for i, r := range results {
			vu.recordHTTP(r)
			vals[i] = vu.response(r)
		}
		return rt.NewArray(vals...)
	}
	out := rt.NewObject()
	for i, r := range results {
		vu.recordHTTP(r)
		_ = out.Set(keys[i], vu.response(r))
	}
	return out
}

// roundTrip performs one request and measures its phases. It is safe to
// call from any goroutine.
// roundTrip makes the request c and follows its redirects, as k6 does
// (https://grafana.com/docs/k6/latest/using-k6/k6-options/reference/#max-redirects):
// each hop is a request of its own, recorded as one (hops), up to
// c.redirects of them; past that the last redirect is the response. A 301,
// 302 or 303 turns the method into GET without a body (HEAD stays HEAD),
// as browsers and Go's client do; 307 and 308 keep both.
func (e *Env) roundTrip(ctx context.Context, c *httpCall) *httpResult {
	ctx, cancel := withTimeout(ctx, c.timeout)
	defer cancel()
	var hops []*httpResult
	cur := c
	for {
		var r *httpResult
		if cur.auth == "digest" {
			r = e.roundTripDigest(ctx, cur)
		} else {
			r = e.roundTripOnce(ctx, cur)
		}
		loc := r.headers.Get("Location")
		if r.err != nil || loc == "" || !isRedirect(r.status) || len(hops) >= c.redirects {
			if r.err == nil && loc != "" && isRedirect(r.status) && len(hops) >= c.redirects {
				e.logf("WARN stopped after %d redirects and returned the redirection (%s %s)", c.redirects, cur.method, cur.url)
			}
			r.hops = hops
			return r
		}
		next, err := url.Parse(cur.url)
		if err == nil {
			next, err = next.Parse(loc)
		}
		if err != nil {
			r.err, r.errCode = fmt.Errorf("redirect from %s: Location %q: %w", cur.url, loc, err), 1000
			r.hops = hops
			return r
		}
		hops = append(hops, r)
		hop := *cur
		hop.url = next.String()
		if (r.status == 301 || r.status == 302 || r.status == 303) && cur.method != http.MethodHead {
			hop.method, hop.body = http.MethodGet, nil
		}
		cur = &hop
	}
}

func isRedirect(status int) bool {
	switch status {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

// roundTripOnce makes one HTTP request, without following a redirect.
func (e *Env) roundTripOnce(ctx context.Context, c *httpCall) *httpResult {
	r := &httpResult{call: c}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, bytes.NewReader(c.body))
	if err != nil {
		r.err, r.errCode = fmt.Errorf("request %s %s: %w", c.method, c.url, err), 1020 // k6: an invalid URL
		return r
	}
	req.Header.Set("User-Agent", "llmbench")
	if ua := e.HTTP.UserAgent; ua != nil {
		req.Header.Set("User-Agent", *ua) // "" sends none
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	if req.Header.Get("Cookie") == "" { // a Cookie header the script set wins, as in k6
		addCookies(req, c.jar, c.cookies)
	}
	req, pt := llm.TraceRequest(req)
	if e.HTTPDebug != "" {
		if dump, err := httputil.DumpRequestOut(req, e.HTTPDebug == "full"); err == nil {
			e.logf("Request:\n%s\n", dump)
		}
	}
	client := *e.httpClient() // the shared transport; redirects are ours to follow
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		pt.Done()
		r.err, r.errCode = err, errorCode(err)
		r.timings = phasesOf(pt)
		return r
	}
	defer resp.Body.Close()
	if e.HTTPDebug != "" {
		if dump, err := httputil.DumpResponse(resp, e.HTTPDebug == "full"); err == nil {
			e.logf("Response:\n%s\n", dump)
		}
	}
	r.status, r.statusText, r.proto, r.headers = resp.StatusCode, resp.Status, resp.Proto, resp.Header
	if conn := pt.Conn(); conn != nil {
		if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
			r.remoteIP, r.remotePort = a.IP.String(), a.Port
		}
	}
	if resp.TLS != nil {
		r.tlsVersion = tlsVersionName(resp.TLS.Version)
	}
	r.errCode = statusErrorCode(resp.StatusCode)
	if rc := resp.Cookies(); len(rc) > 0 && c.jar != nil {
		c.jar.SetCookies(req.URL, rc)
	}
	var body []byte
	if c.discard {
		n, rerr := io.Copy(io.Discard, resp.Body)
		r.recv, err = n, rerr
	} else {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		r.recv = int64(len(body))
		if len(body) > maxBody {
			body, err = body[:maxBody], fmt.Errorf("response body over %d MiB: cut", maxBody>>20)
		}
	}
	r.body = body
	if err != nil {
		r.err, r.errCode = err, errorCode(err)
	}
	pt.Done()
	r.timings = phasesOf(pt)
	r.sent = int64(len(c.body)) + approxHeaderBytes(req)
	r.recv += approxRespHeaderBytes(resp)
	return r
}

// tlsVersionName is k6's name of a TLS version: tls1.2, tls1.3.
func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "tls1.0"
	case tls.VersionTLS11:
		return "tls1.1"
	case tls.VersionTLS12:
		return "tls1.2"
	case tls.VersionTLS13:
		return "tls1.3"
	}
	return ""
}

func approxHeaderBytes(req *http.Request) int64 {
	n := len(req.Method) + len(req.URL.RequestURI()) + 12
	for k, vs := range req.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return int64(n)
}

func approxRespHeaderBytes(resp *http.Response) int64 {
	n := len(resp.Status) + 11
	for k, vs := range resp.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return int64(n)
}

// errorCode is k6's error code of a failed request
// (https://grafana.com/docs/k6/latest/javascript-api/error-codes/): 1020
// an invalid URL, 1050 a timeout, 110x DNS, 120x TCP (1201 broken pipe,
// 1202 another system error, 1211 dial timeout, 1212 refused, 1213 another
// dial error, 1220 reset by peer), 13xx TLS (1310 unknown authority, 1311
// wrong host), 1600 HTTP/2, else 1000. Responses with a 4xx or 5xx status
// get 1400–1599 from statusErrorCode.
func errorCode(err error) int {
	var ue *url.Error
	if errors.As(err, &ue) && (strings.Contains(ue.Err.Error(), "unsupported protocol scheme") || strings.Contains(ue.Err.Error(), "no Host in request URL")) {
		return 1020
	}
	var dns *net.DNSError
	var oe *net.OpError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var ne net.Error
	dial := errors.As(err, &oe) && oe.Op == "dial"
	switch {
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return 1101
		}
		return 1100
	case dial && (errors.Is(err, os.ErrDeadlineExceeded) || oe.Timeout()):
		return 1211
	case dial && errors.Is(err, syscall.ECONNREFUSED):
		return 1212
	case dial:
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return 1213
		}
		return 1210
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return 1050
	case errors.Is(err, syscall.ECONNRESET):
		return 1220
	case errors.Is(err, syscall.EPIPE):
		return 1201
	case errors.As(err, &unknownCA):
		return 1310
	case errors.As(err, &hostErr):
		return 1311
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:"):
		return 1300
	case strings.Contains(err.Error(), "http2:"):
		return 1600
	}
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		return 1202
	case errors.As(err, &oe):
		return 1200
	}
	return 1000
}

// statusErrorCode is k6's error code of a response's status: 1000 + the
// status for 4xx and 5xx, else 0.
func statusErrorCode(status int) int {
	if status >= 400 && status <= 599 {
		return 1000 + status
	}
	return 0
}

// phasesOf converts the timer's phases to k6's milliseconds.
func phasesOf(pt *llm.PhaseTimer) phases {
	p := pt.Phases()
	return phases{
		Blocked: ms(p.Blocked), Connecting: ms(p.Connecting), TLS: ms(p.TLS), Sending: ms(p.Sending),
		Waiting: ms(p.Waiting), Receiving: ms(p.Receiving), Duration: ms(p.Duration()),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// recordHTTP records a request's samples, with the tags it had when it
// was made. It is safe to call from any goroutine.
func (vu *VU) recordHTTP(r *httpResult) {
	for _, h := range r.hops {
		vu.recordHTTP(h)
	}
	now := time.Now()
	name := maskURL(r.call.url)
	if n, ok := r.call.tags["name"]; ok {
		name = n
	}
	t := mergeTags(r.call.base)
	t["method"], t["url"], t["name"] = r.call.method, maskURL(r.call.url), name
	t["status"] = strconv.Itoa(r.status)
	exp := r.call.expect
	failed := r.err != nil || r.status == 0 || (exp != nil && !exp.expected(r.status))
	if exp != nil {
		t["expected_response"] = strconv.FormatBool(!failed)
	}
	if r.errCode != 0 {
		t["error_code"] = strconv.Itoa(r.errCode)
	}
	rec := vu.env.Recorder
	rec.Add(metricHTTPReqs, now, 1, t)
	rec.Add(metricHTTPBlocked, now, r.timings.Blocked, t)
	rec.Add(metricHTTPConnect, now, r.timings.Connecting, t)
	rec.Add(metricHTTPTLS, now, r.timings.TLS, t)
	rec.Add(metricHTTPSending, now, r.timings.Sending, t)
	rec.Add(metricHTTPWaiting, now, r.timings.Waiting, t)
	rec.Add(metricHTTPReceiving, now, r.timings.Receiving, t)
	rec.Add(metricHTTPDuration, now, r.timings.Duration, t)
	if exp != nil {
		f := 0.0
		if failed {
			f = 1
		}
		rec.Add(metricHTTPFailed, now, f, t)
	}
	rec.Add(metricDataSent, now, float64(r.sent), t)
	rec.Add(metricDataReceived, now, float64(r.recv), t)
}

// response builds the JS Response object.
func (vu *VU) response(r *httpResult) goja.Value {
	rt := vu.rt
	o := rt.NewObject()
	_ = o.Set("status", r.status)
	_ = o.Set("status_text", r.statusText)
	_ = o.Set("proto", r.proto)
	_ = o.Set("url", r.call.url)
	_ = o.Set("cookies", responseCookies(r.headers))
	hdr := rt.NewObject()
	keys := make([]string, 0, len(r.headers))
	for k := range r.headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		_ = hdr.Set(k, strings.Join(r.headers[k], ", "))
	}
	_ = o.Set("headers", hdr)
	switch {
	case r.call.discard:
		_ = o.Set("body", goja.Null())
	case r.call.binary:
		_ = o.Set("body", rt.NewArrayBuffer(r.body))
	default:
		_ = o.Set("body", string(r.body))
	}
	_ = o.Set("timings", map[string]any{
		"blocked": r.timings.Blocked, "connecting": r.timings.Connecting, "tls_handshaking": r.timings.TLS,
		"sending": r.timings.Sending, "waiting": r.timings.Waiting, "receiving": r.timings.Receiving,
		"duration": r.timings.Duration,
	})
	errText := ""
	if r.err != nil {
		errText = r.err.Error()
	}
	_ = o.Set("error", errText)
	_ = o.Set("error_code", r.errCode)
	_ = o.Set("remote_ip", r.remoteIP)
	_ = o.Set("remote_port", r.remotePort)
	_ = o.Set("tls_version", r.tlsVersion)
	_ = o.Set("request", map[string]any{"method": r.call.method, "url": r.call.url, "headers": r.call.headers, "body": string(r.call.body)})
	body := r.body
	var parsed goja.Value // res.json()'s value, parsed once (k6 caches it)
	_ = o.Set("json", func(c goja.FunctionCall) goja.Value {
		// https://grafana.com/docs/k6/latest/javascript-api/k6-http/response/response-json/:
		// the selector is GJSON's syntax (items.#, items.#.id,
		// items.#(id==2).name); one that matches nothing gives undefined.
		if sel := c.Argument(0); !goja.IsUndefined(sel) && !goja.IsNull(sel) {
			if !gjson.ValidBytes(body) {
				panic(rt.NewGoError(fmt.Errorf("response.json(%q): the body is not JSON", sel.String())))
			}
			res := gjson.GetBytes(body, sel.String())
			if !res.Exists() {
				return goja.Undefined()
			}
			return rt.ToValue(res.Value())
		}
		if parsed == nil {
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				panic(rt.NewGoError(fmt.Errorf("response.json(): the body is not JSON: %w", err)))
			}
			parsed = rt.ToValue(v)
		}
		return parsed
	})
	return o
}
