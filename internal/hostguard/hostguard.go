// Package hostguard refuses the requests a web page in the user's browser
// could make to a server on their machine: a Host that is not the
// server's (DNS rebinding: evil.example resolving to 127.0.0.1), and a
// state-changing request from another origin (a page posting a prompt so
// that the local server generates for it). Tools that are not browsers
// send neither a foreign Host nor an Origin, so they are not affected. It
// imports nothing else from the repository.
package hostguard

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Guard decides which Host names a server answers to. Build it with New;
// it is safe for concurrent use.
type Guard struct {
	anyHost bool
	allowed map[string]bool
}

// New returns the guard of a server listening on listenAddr (host:port).
// A loopback listener answers loopback names and addresses (localhost,
// 127.0.0.0/8, ::1) and the names in extra; a listener beyond loopback was
// exposed on purpose and answers any Host, unless extra lists the names
// it may be reached by.
func New(listenAddr string, extra []string) *Guard {
	g := &Guard{allowed: map[string]bool{}}
	for _, h := range extra {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			g.allowed[h] = true
		}
	}
	host, _, err := net.SplitHostPort(listenAddr)
	if err != nil {
		host = listenAddr
	}
	if ip := net.ParseIP(host); (ip == nil && host != "localhost") || (ip != nil && !ip.IsLoopback()) {
		g.anyHost = len(g.allowed) == 0
	}
	return g
}

// Allowed reports whether a request's Host (with or without a port) names
// this server.
func (g *Guard) Allowed(hostport string) bool {
	if g.anyHost {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if g.allowed[host] || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Check returns why r must be refused, or "" when it may go on.
func (g *Guard) Check(r *http.Request) string {
	if !g.Allowed(r.Host) {
		return fmt.Sprintf("Host %q does not name this server (a guard against DNS rebinding); start it with --allowed-hosts to add a name", r.Host)
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
		return ""
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	u, err := url.Parse(origin)
	if err == nil && u.Host != "" && (strings.EqualFold(u.Host, r.Host) || g.Allowed(u.Host) && !g.anyHost) {
		return ""
	}
	return fmt.Sprintf("a %s from the web page at %s is refused: another origin may not make this server work for it", r.Method, origin)
}

// Wrap refuses the requests Check refuses, with refuse (status 403 and
// the reason), and passes the others to next.
func (g *Guard) Wrap(next http.Handler, refuse func(w http.ResponseWriter, r *http.Request, status int, msg string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if why := g.Check(r); why != "" {
			refuse(w, r, http.StatusForbidden, why)
			return
		}
		next.ServeHTTP(w, r)
	})
}
