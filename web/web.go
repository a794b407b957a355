// Package web is `llmbench web`: a browser for a runs folder. It lists the
// runs (sortable, filtered by scenario, target and device, broken folders
// shown with their error), shows a run's report, builds the comparison of
// any two runs, and charts the nightly suites' key metrics night by night
// with the regressions the nightly job flagged.
//
// The list comes from the SQLite run index (package web/index), synced
// with the folders on every page. Reports are made by package reportgen;
// a run folder that holds report.html already gets that file served.
//
// The server is read-only with respect to run data: it writes nothing but
// the index database in the runs folder's root. A run ID from a request
// names a direct sub-folder of the runs folder that the index lists, and
// nothing else: "..", absolute paths, encoded slashes and symbolic links
// that lead out of the folder all give 404. Pages load nothing from
// outside the server: the CSS and ECharts are inline, and a Content
// Security Policy forbids every other request.
package web

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/llmbench/llmbench/internal/connguard"
	"github.com/llmbench/llmbench/reportgen"
	"github.com/llmbench/llmbench/runfmt/index"
)

// DefaultAddr is where the server listens when Config.Addr is empty: the
// loopback interface only.
const DefaultAddr = "127.0.0.1:8080"

// Config is `llmbench web`'s configuration. Runs is required; the zero
// value of the other fields means the default.
type Config struct {
	Runs     string // the runs folder, e.g. runs
	Addr     string // the address to listen on (default 127.0.0.1:8080; port 0 picks a free one)
	JaegerUI string // the Jaeger UI's base URL for the reports' trace links, e.g. http://127.0.0.1:16686 (default: no links)
	// AllowedHosts are Host names the server answers besides loopback ones
	// (a guard against DNS rebinding; a listener beyond loopback answers
	// any name unless these are given).
	AllowedHosts []string
}

// RegisterFlags adds the web command's flags to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Runs, "runs", "runs", "the runs `folder` to browse")
	fs.StringVar(&c.Addr, "addr", DefaultAddr, "the `host:port` to listen on; anything but loopback shows the runs to the network")
	fs.StringVar(&c.JaegerUI, "jaeger-ui", "", "the Jaeger UI's base `URL`, to link each trace in the reports (e.g. http://127.0.0.1:16686)")
	fs.Func("allowed-hosts", "comma-separated Host `names` to answer besides loopback ones (a guard against DNS rebinding)", func(v string) error {
		c.AllowedHosts = append(c.AllowedHosts, strings.Split(v, ",")...)
		return nil
	})
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Runs == "" {
		return errors.New("no runs folder: give --runs DIR")
	}
	fi, err := os.Stat(c.Runs)
	if err != nil {
		return fmt.Errorf("runs folder: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("runs folder %s: not a directory", c.Runs)
	}
	if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			return fmt.Errorf("addr %q: %w", c.Addr, err)
		}
	}
	return c.reportOptions().Validate()
}

func (c Config) addr() string {
	if c.Addr == "" {
		return DefaultAddr
	}
	return c.Addr
}

func (c Config) reportOptions() reportgen.Options {
	return reportgen.Options{JaegerUI: c.JaegerUI}
}

// Serve opens the index of cfg.Runs and serves the web UI until ctx is
// done; then it shuts down, giving requests in flight a few seconds, and
// returns nil. ready, when not nil, is called with the address it listens
// on (useful with port 0) once it accepts connections. It logs to log.
func Serve(ctx context.Context, cfg Config, log io.Writer, ready func(addr string)) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("web: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(log, nil))
	ix, err := index.Open(ctx, cfg.Runs)
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	defer ix.Close()
	if why := ix.Rebuilt(); why != "" {
		logger.Info("run index rebuilt from the run folders", "why", why)
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.addr())
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	addr := ln.Addr().String()
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		logger.Warn("listening beyond loopback: anyone who reaches this address can read the runs", "addr", addr)
	}
	// Read and idle timeouts, and a cap on open connections that answers
	// 503 at once: the browser holds a few, an attacker or a leaky client
	// must not hold them all.
	ln = connguard.New(ln, 0)
	srv := &http.Server{
		Handler:           Handler(ix, cfg, logger),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("llmbench web listening", "url", "http://"+addr+"/", "runs", ix.Dir())
	if ready != nil {
		ready(addr)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("web: %w", err)
	}
	return nil
}
