package script

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/dop251/goja"
	"github.com/evanw/esbuild/pkg/api"

	"github.com/llmbench/llmbench/loadgen/metrics"
	"github.com/llmbench/llmbench/runfmt"
)

// Imports says how a script's remote imports (import ... from
// 'https://...') are found. k6 fetches them when it loads the script
// (https://grafana.com/docs/k6/latest/using-k6/modules/#remote-modules);
// llmbench does too, at bundle time, and keeps each module in a cache on
// disk, so that a run offline works once the module was fetched. The zero
// value fetches over the network into DefaultModuleCache().
//
// Two modules most scripts import have built-in equivalents, written here
// from k6's documentation: jslib's k6-utils
// (https://jslib.k6.io/k6-utils/<version>/index.js) and k6-summary's
// textSummary and jUnit (https://jslib.k6.io/k6-summary/<version>/index.js).
// They answer for those URLs when the module is neither cached nor
// fetchable, and always with Offline.
type Imports struct {
	Cache   string       // folder of fetched modules; "" is DefaultModuleCache()
	Client  *http.Client // nil: one with a 30 s timeout
	Offline bool         // never fetch: the cache, then the built-ins
	Reload  bool         // fetch again even when cached
	Log     io.Writer    // one line per fetch or built-in used; nil: none
}

// maxModule bounds a fetched module's size.
const maxModule = 16 << 20

// remoteNS is the esbuild namespace of remote modules.
const remoteNS = "remote"

// DefaultModuleCache is where fetched modules are kept:
// $LLMBENCH_MODULE_CACHE, else the user's cache folder
// (~/.cache/llmbench/modules on Linux).
func DefaultModuleCache() string {
	if d := os.Getenv("LLMBENCH_MODULE_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "llmbench", "modules")
	}
	return filepath.Join(os.TempDir(), "llmbench-modules")
}

//go:embed jslib/*.js
var jslib embed.FS

// builtinModules maps the URLs that llmbench answers itself, when it
// must, to the file in jslib/.
var builtinModules = []struct {
	url  *regexp.Regexp
	file string
	name string
}{
	{regexp.MustCompile(`^https://jslib\.k6\.io/k6-utils/[0-9][^/]*/index\.js$`), "jslib/k6-utils.js", "k6-utils"},
	{regexp.MustCompile(`^https://jslib\.k6\.io/k6-summary/[0-9][^/]*/index\.js$`), "jslib/k6-summary.js", "k6-summary"},
}

func builtinModule(u string) (src, name string, ok bool) {
	for _, b := range builtinModules {
		if b.url.MatchString(u) {
			data, err := jslib.ReadFile(b.file)
			if err != nil {
				panic(err) // embedded: cannot fail
			}
			return string(data), b.name, true
		}
	}
	return "", "", false
}

// remotePlugin resolves https:// imports, and the imports inside them,
// to the remote namespace and loads them through im.
func (im Imports) remotePlugin() api.Plugin {
	return api.Plugin{Name: "llmbench-remote", Setup: func(b api.PluginBuild) {
		b.OnResolve(api.OnResolveOptions{Filter: `^https?://`}, func(args api.OnResolveArgs) (api.OnResolveResult, error) {
			return api.OnResolveResult{Path: args.Path, Namespace: remoteNS}, nil
		})
		// Inside a remote module: k6's modules stay external, relative and
		// absolute paths resolve against the module's URL.
		b.OnResolve(api.OnResolveOptions{Filter: `.*`, Namespace: remoteNS}, func(args api.OnResolveArgs) (api.OnResolveResult, error) {
			p := args.Path
			if p == builtinPrefix || strings.HasPrefix(p, builtinPrefix+"/") {
				return api.OnResolveResult{Path: p, External: true}, nil
			}
			if strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/") {
				base, err := url.Parse(args.Importer)
				if err != nil {
					return api.OnResolveResult{}, err
				}
				ref, err := url.Parse(p)
				if err != nil {
					return api.OnResolveResult{}, err
				}
				return api.OnResolveResult{Path: base.ResolveReference(ref).String(), Namespace: remoteNS}, nil
			}
			if strings.HasPrefix(p, "https://") || strings.HasPrefix(p, "http://") {
				return api.OnResolveResult{Path: p, Namespace: remoteNS}, nil
			}
			return api.OnResolveResult{}, fmt.Errorf("%s imports %q: a remote module can import k6's modules, URLs and paths relative to itself, not packages", args.Importer, p)
		})
		b.OnLoad(api.OnLoadOptions{Filter: `.*`, Namespace: remoteNS}, func(args api.OnLoadArgs) (api.OnLoadResult, error) {
			src, err := im.load(args.Path)
			if err != nil {
				return api.OnLoadResult{}, err
			}
			return api.OnLoadResult{Contents: &src, Loader: api.LoaderJS}, nil
		})
	}}
}

// load returns a remote module's source: from the cache, else fetched
// (and cached), else built in.
func (im Imports) load(u string) (string, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("import %q: %w", u, err)
	}
	if pu.Scheme == "http" && !isLoopback(pu.Hostname()) {
		return "", fmt.Errorf("import %q: remote modules are fetched over https (http only from this machine: 127.0.0.1, ::1, localhost)", u)
	}
	cache := im.Cache
	if cache == "" {
		cache = DefaultModuleCache()
	}
	path := filepath.Join(cache, cacheName(u))
	if !im.Reload {
		if b, err := os.ReadFile(path); err == nil {
			return string(b), nil
		}
	}
	var fetchErr error
	if im.Offline {
		fetchErr = errors.New("offline (--offline)")
	} else {
		src, err := im.fetch(u)
		if err == nil {
			if err := writeCached(cache, path, u, src); err != nil {
				im.logf("llmbench: fetched %s, but could not cache it: %v\n", u, err)
			} else {
				im.logf("llmbench: fetched %s (%d bytes) into %s\n", u, len(src), cache)
			}
			return string(src), nil
		}
		fetchErr = err
	}
	if src, name, ok := builtinModule(u); ok {
		im.logf("llmbench: %s: %v; using llmbench's built-in %s\n", u, fetchErr, name)
		return src, nil
	}
	if b, err := os.ReadFile(path); err == nil { // --reload, but the fetch failed
		im.logf("llmbench: %s: %v; using the cached copy\n", u, fetchErr)
		return string(b), nil
	}
	return "", fmt.Errorf("import %q: cannot fetch it (%v), and the module cache (%s) has no copy: run once with network access to cache it, or save the file beside the script and import it by a relative path", u, fetchErr, cache)
}

func (im Imports) fetch(u string) ([]byte, error) {
	c := im.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "llmbench")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxModule+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(b) > maxModule {
		return nil, fmt.Errorf("GET %s: the module is over %d MiB", u, maxModule>>20)
	}
	return b, nil
}

// cacheName is a module's file in the cache: a hash of its URL, with the
// URL's last element kept for people looking at the folder.
func cacheName(u string) string {
	h := sha256.Sum256([]byte(u))
	base := regexp.MustCompile(`[^A-Za-z0-9._-]`).ReplaceAllString(filepath.Base(u), "_")
	return hex.EncodeToString(h[:12]) + "-" + base
}

// writeCached writes a fetched module atomically, with a .url file
// naming where it came from.
func writeCached(dir, path, u string, src []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(src); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return os.WriteFile(path+".url", []byte(u+"\n"), 0o644)
}

func (im Imports) logf(format string, args ...any) {
	if im.Log != nil {
		fmt.Fprintf(im.Log, format, args...)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// summaryModule is k6/x/summary, what the built-in k6-summary's
// textSummary calls: text(dataJSON, indent, colors) renders
// handleSummary's data as the end-of-test summary.
func (vu *VU) summaryModule() *goja.Object {
	m := vu.rt.NewObject()
	_ = m.Set("text", func(data, indent string, colors bool) string {
		var s runfmt.Summary
		if err := json.Unmarshal([]byte(data), &s); err != nil {
			panic(vu.rt.NewGoError(fmt.Errorf("textSummary(data): %w", err)))
		}
		var b strings.Builder
		if err := metrics.WriteText(&b, &s, metrics.TextOptions{Color: colors}); err != nil {
			panic(vu.rt.NewGoError(err))
		}
		metrics.WriteLLMText(&b, s.LLM)
		const margin = "     " // WriteText's
		lines := strings.Split(b.String(), "\n")
		for i, l := range lines {
			if rest, ok := strings.CutPrefix(l, margin); ok {
				lines[i] = indent + "    " + rest
			}
		}
		return strings.Join(lines, "\n")
	})
	return m
}
