// Package deploy_test keeps the deployment files consistent with the code:
// docker-compose.yml and its GPU override, the Dockerfiles, the Kubernetes
// manifests of deploy/k8s and their segment script, against the Makefile,
// deploy/'s configs, the pinned tools and the binaries' flags and default
// ports. It also runs the distributed-load mechanics locally: N load
// generator processes with execution segments, each in its own network
// namespace where the test can make them, merged and compared with one
// process running the whole load.
package deploy_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/web"
)

var update = flag.Bool("update", false, "rewrite deploy/prometheus/compose.yml from the template")

// Images that docker-compose.yml builds and deploy/k8s runs.
const (
	refserverImage = "llmbench/refserver:dev"
	llmbenchImage  = "llmbench/llmbench:dev"
)

// prometheusPort is Prometheus' own default --web.listen-address port;
// nothing in this repository sets it (internal/stack picks free ports).
const prometheusPort = 9090

// repoRoot is the repository root: the tests run in deploy/.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// composeFile parses a compose file of the repository root.
func composeFile(t *testing.T, name string) map[string]any {
	t.Helper()
	docs := parseYAMLFile(t, filepath.Join(repoRoot(t), name))
	if len(docs) != 1 {
		t.Fatalf("%s: got %d YAML documents, want 1", name, len(docs))
	}
	m, ok := docs[0].(map[string]any)
	if !ok {
		t.Fatalf("%s: got %T, want a mapping", name, docs[0])
	}
	return m
}

// service is one service of docker-compose.yml.
func service(t *testing.T, compose map[string]any, name string) map[string]any {
	t.Helper()
	return yamlMap(t, compose, "services", name)
}

// optStrings is a service's list of scalars under key, nil when absent.
func optStrings(t *testing.T, svc map[string]any, key string) []string {
	t.Helper()
	if _, ok := svc[key]; !ok {
		return nil
	}
	return yamlStrings(t, svc, key)
}

// flagValue is the value of --name in args (as "--name v" or "--name=v"),
// and whether it is there.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		a = "-" + strings.TrimLeft(a, "-")
		if a == "-"+name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// parseFlags parses args with the flags that register adds, as the binary
// would, and returns the flag set.
func parseFlags(t *testing.T, what string, args []string, register func(*flag.FlagSet)) *flag.FlagSet {
	t.Helper()
	fs := flag.NewFlagSet(what, flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("%s %q: %v", what, args, err)
	}
	return fs
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return n
}

// refserverFlags registers `refserver serve`'s flags.
func refserverFlags(fs *flag.FlagSet) {
	var cfg refserver.ServeConfig
	cfg.RegisterFlags(fs)
}

// refserverPort is the port of refserver's default --addr.
func refserverPort(t *testing.T) int {
	t.Helper()
	fs := parseFlags(t, "refserver", nil, refserverFlags)
	return portOf(t, fs.Lookup("addr").DefValue)
}

// jaegerPorts reads the default ports of internal/stack/config/jaeger.yaml, e.g.
// JAEGER_OTLP_GRPC_PORT → 4317 from ${env:JAEGER_OTLP_GRPC_PORT:-4317}.
func jaegerPorts(t *testing.T) map[string]int {
	t.Helper()
	src := readFile(t, filepath.Join(repoRoot(t), "internal", "stack", "config", "jaeger.yaml"))
	ports := map[string]int{}
	for _, m := range regexp.MustCompile(`\$\{env:(JAEGER_\w+_PORT):-(\d+)\}`).FindAllStringSubmatch(src, -1) {
		n, _ := strconv.Atoi(m[2])
		ports[m[1]] = n
	}
	for _, k := range []string{"JAEGER_OTLP_GRPC_PORT", "JAEGER_OTLP_HTTP_PORT", "JAEGER_QUERY_GRPC_PORT", "JAEGER_QUERY_HTTP_PORT"} {
		if ports[k] == 0 {
			t.Fatalf("internal/stack/config/jaeger.yaml: no default for %s", k)
		}
	}
	return ports
}

func TestComposeServices(t *testing.T) {
	compose := composeFile(t, "docker-compose.yml")
	var got []string
	for name := range yamlMap(t, compose, "services") {
		got = append(got, name)
	}
	slices.Sort(got)
	if want := []string{"jaeger", "loadgen", "prometheus", "refserver", "web"}; !slices.Equal(got, want) {
		t.Errorf("services: got %v, want %v", got, want)
	}
	for _, name := range got {
		profiles := optStrings(t, service(t, compose, name), "profiles")
		if name == "loadgen" && len(profiles) == 0 {
			t.Errorf("loadgen has no profile, so `docker compose up` would start a load test")
		}
		if name != "loadgen" && len(profiles) != 0 {
			t.Errorf("%s has profiles %v, so `docker compose up` would not start it", name, profiles)
		}
	}
}

func TestComposePorts(t *testing.T) {
	compose := composeFile(t, "docker-compose.yml")
	jp := jaegerPorts(t)
	tests := []struct {
		service string
		want    []int // container ports, each published on the same host port
	}{
		{"refserver", []int{refserverPort(t)}},
		{"jaeger", []int{jp["JAEGER_OTLP_GRPC_PORT"], jp["JAEGER_OTLP_HTTP_PORT"], jp["JAEGER_QUERY_GRPC_PORT"], jp["JAEGER_QUERY_HTTP_PORT"]}},
		{"prometheus", []int{prometheusPort}},
		{"web", []int{portOf(t, web.DefaultAddr)}},
		{"loadgen", nil},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			var got []int
			for _, p := range optStrings(t, service(t, compose, tt.service), "ports") {
				parts := strings.Split(p, ":")
				if len(parts) != 3 || parts[0] != "127.0.0.1" || parts[1] != parts[2] {
					t.Errorf("port %q: want 127.0.0.1:PORT:PORT (loopback only, same port)", p)
					continue
				}
				n, err := strconv.Atoi(parts[2])
				if err != nil {
					t.Errorf("port %q: %v", p, err)
				}
				got = append(got, n)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("published ports: got %v, want %v", got, want)
			}
		})
	}
}

// TestComposeListen checks that each server listens, inside its container,
// on every interface and on the port the code defaults to, and that the
// flags it is given exist.
func TestComposeListen(t *testing.T) {
	compose := composeFile(t, "docker-compose.yml")
	t.Run("refserver", func(t *testing.T) {
		args := yamlStrings(t, service(t, compose, "refserver"), "command")
		fs := parseFlags(t, "refserver", args, refserverFlags)
		if got, want := fs.Lookup("addr").Value.String(), fmt.Sprintf("0.0.0.0:%d", refserverPort(t)); got != want {
			t.Errorf("--addr: got %q, want %q", got, want)
		}
	})
	t.Run("web", func(t *testing.T) {
		args := yamlStrings(t, service(t, compose, "web"), "command")
		if len(args) == 0 || args[0] != "web" {
			t.Fatalf("command: got %q, want llmbench web ...", args)
		}
		fs := parseFlags(t, "llmbench web", args[1:], func(fs *flag.FlagSet) { new(web.Config).RegisterFlags(fs) })
		if got, want := fs.Lookup("addr").Value.String(), fmt.Sprintf("0.0.0.0:%d", portOf(t, web.DefaultAddr)); got != want {
			t.Errorf("--addr: got %q, want %q", got, want)
		}
		ui := fs.Lookup("jaeger-ui").Value.String()
		if want := fmt.Sprintf("http://127.0.0.1:%d", jaegerPorts(t)["JAEGER_QUERY_HTTP_PORT"]); ui != want {
			t.Errorf("--jaeger-ui: got %q, want the published Jaeger UI %q", ui, want)
		}
	})
	t.Run("prometheus", func(t *testing.T) {
		args := yamlStrings(t, service(t, compose, "prometheus"), "command")
		if got, _ := flagValue(args, "web.listen-address"); got != fmt.Sprintf("0.0.0.0:%d", prometheusPort) {
			t.Errorf("--web.listen-address: got %q, want 0.0.0.0:%d", got, prometheusPort)
		}
	})
	t.Run("jaeger", func(t *testing.T) {
		env := yamlMap(t, service(t, compose, "jaeger"), "environment")
		if env["JAEGER_LISTEN_HOST"] != "0.0.0.0" {
			t.Errorf("JAEGER_LISTEN_HOST: got %v, want 0.0.0.0 (internal/stack/config/jaeger.yaml defaults to loopback)", env["JAEGER_LISTEN_HOST"])
		}
	})
}

// TestComposeWiring checks the addresses the services give each other.
func TestComposeWiring(t *testing.T) {
	compose := composeFile(t, "docker-compose.yml")
	otlp := fmt.Sprintf("http://jaeger:%d", jaegerPorts(t)["JAEGER_OTLP_GRPC_PORT"])
	args := yamlStrings(t, service(t, compose, "refserver"), "command")
	// A bare jaeger:4317 would be TLS (not a loopback host): http:// says plaintext.
	if got, _ := flagValue(args, "otlp-endpoint"); got != otlp {
		t.Errorf("refserver --otlp-endpoint: got %q, want %q", got, otlp)
	}
	env := yamlMap(t, service(t, compose, "loadgen"), "environment")
	if got := env["OTEL_EXPORTER_OTLP_ENDPOINT"]; got != otlp {
		t.Errorf("loadgen OTEL_EXPORTER_OTLP_ENDPOINT: got %v, want %q", got, otlp)
	}
	if got, want := env["TARGET"], fmt.Sprintf("http://refserver:%d", refserverPort(t)); got != want {
		t.Errorf("loadgen TARGET (the scenarios' target): got %v, want %q", got, want)
	}

	// llmbench runs in the image's working directory: its default runs
	// folder and the scenarios must be where the volumes are mounted.
	workdir := dockerfileWorkdir(t, "Dockerfile.llmbench")
	fs := parseFlags(t, "llmbench run", nil, func(fs *flag.FlagSet) { new(loadgen.Config).RegisterFlags(fs) })
	runsDir := path.Join(workdir, fs.Lookup("runs").DefValue)
	mounts := map[string]string{}
	for _, v := range optStrings(t, service(t, compose, "loadgen"), "volumes") {
		src, dst, _ := strings.Cut(v, ":")
		dst, _, _ = strings.Cut(dst, ":")
		mounts[dst] = src
	}
	if mounts[runsDir] != "runs" {
		t.Errorf("loadgen: the runs volume is not mounted at %s, llmbench run's default runs folder (mounts %v)", runsDir, mounts)
	}
	if mounts[path.Join(workdir, "scenarios")] != "./scenarios" {
		t.Errorf("loadgen: ./scenarios is not mounted at %s (mounts %v)", path.Join(workdir, "scenarios"), mounts)
	}
	webArgs := yamlStrings(t, service(t, compose, "web"), "command")
	if got, _ := flagValue(webArgs, "runs"); !slices.Contains(optStrings(t, service(t, compose, "web"), "volumes"), "runs:"+got) {
		t.Errorf("web --runs %s: the runs volume is not mounted there", got)
	}
}

func TestComposeImages(t *testing.T) {
	root := repoRoot(t)
	compose := composeFile(t, "docker-compose.yml")
	tests := []struct {
		service, image, dockerfile string
	}{
		{"refserver", refserverImage, "deploy/docker/Dockerfile.refserver"},
		{"web", llmbenchImage, "deploy/docker/Dockerfile.llmbench"},
		{"loadgen", llmbenchImage, "deploy/docker/Dockerfile.llmbench"},
		{"jaeger", "jaegertracing/jaeger:" + jaegerImageTag(t, root), ""},
		{"prometheus", "prom/prometheus:" + prometheusImageTag(t, root), ""},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			svc := service(t, compose, tt.service)
			if got := yamlString(t, svc, "image"); got != tt.image {
				t.Errorf("image: got %q, want %q", got, tt.image)
			}
			if tt.dockerfile == "" {
				if _, ok := svc["build"]; ok {
					t.Errorf("build: got one, want the pinned upstream image")
				}
				return
			}
			if got := yamlString(t, svc, "build", "context"); got != "." {
				t.Errorf("build context: got %q, want . (the repository root)", got)
			}
			if got := yamlString(t, svc, "build", "dockerfile"); got != tt.dockerfile {
				t.Errorf("build dockerfile: got %q, want %q", got, tt.dockerfile)
			}
		})
	}
}

// jaegerImageTag is the Jaeger v2 image tag of the Jaeger Go module that
// tools/jaeger/go.mod pins. Since v2.0.0 Jaeger releases v1.x and v2.x
// together, v1.63+k ↔ v2.k (its CHANGELOG heads each release
// "v1.76.0 / v2.13.0"); the v2 binary (cmd/jaeger) is what tools/ builds.
func jaegerImageTag(t *testing.T, root string) string {
	t.Helper()
	v := requiredVersion(t, filepath.Join(root, "tools", "jaeger", "go.mod"), "github.com/jaegertracing/jaeger")
	var major, minor, patch int
	if n, _ := fmt.Sscanf(v, "v%d.%d.%d", &major, &minor, &patch); n != 3 || major != 1 || minor < 63 {
		t.Fatalf("tools/jaeger pins %s: want v1.63.0 or later (the Jaeger v2 releases)", v)
	}
	tag := fmt.Sprintf("%d.%d.%d", 2, minor-63, patch)
	// Where the module is in the cache, its CHANGELOG confirms the pairing.
	if log, err := os.ReadFile(filepath.Join(modCache(t), "github.com", "jaegertracing", "jaeger@"+v, "CHANGELOG.md")); err == nil {
		if !strings.Contains(string(log), v+" / v"+tag) {
			t.Errorf("jaeger %s CHANGELOG has no %q heading", v, v+" / v"+tag)
		}
	}
	return tag
}

// prometheusImageTag is the Prometheus image tag of the Prometheus Go module
// that tools/prometheus/go.mod pins: Prometheus 3.x.y is tagged v0.30x.y as
// a Go module (v0.316.0 is v3.16.0).
func prometheusImageTag(t *testing.T, root string) string {
	t.Helper()
	v := requiredVersion(t, filepath.Join(root, "tools", "prometheus", "go.mod"), "github.com/prometheus/prometheus")
	var minor, patch int
	if n, _ := fmt.Sscanf(v, "v0.%d.%d", &minor, &patch); n != 2 || minor < 300 || minor >= 400 {
		t.Fatalf("tools/prometheus pins %s: want v0.3xx.y (Prometheus 3)", v)
	}
	tag := fmt.Sprintf("v3.%d.%d", minor-300, patch)
	if b, err := os.ReadFile(filepath.Join(modCache(t), "github.com", "prometheus", "prometheus@"+v, "VERSION")); err == nil {
		if got := strings.TrimSpace(string(b)); "v"+got != tag {
			t.Errorf("prometheus %s VERSION is %s, want %s", v, got, tag)
		}
	}
	return tag
}

// requiredVersion is the version of module mod that the go.mod at path requires.
func requiredVersion(t *testing.T, path, mod string) string {
	t.Helper()
	for line := range strings.SplitSeq(readFile(t, path), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == mod {
			return f[1]
		}
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "require" && f[1] == mod {
			return f[2]
		}
	}
	t.Fatalf("%s: does not require %s", path, mod)
	return ""
}

// modCache is GOMODCACHE, "" when go cannot say.
func modCache(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Logf("go env GOMODCACHE: %v (the image tags are not cross-checked)", err)
		return ""
	}
	return strings.TrimSpace(string(out))
}

// TestComposePaths checks that what the compose files mount and build
// exists, and that the configs are mounted where the commands read them.
func TestComposePaths(t *testing.T) {
	root := repoRoot(t)
	for _, file := range []string{"docker-compose.yml", "docker-compose.gpu.yml"} {
		compose := composeFile(t, file)
		for name := range yamlMap(t, compose, "services") {
			svc := service(t, compose, name)
			for _, v := range optStrings(t, svc, "volumes") {
				src, _, _ := strings.Cut(v, ":")
				if strings.HasPrefix(src, ".") {
					if _, err := os.Stat(filepath.Join(root, src)); err != nil {
						t.Errorf("%s: %s mounts %s: %v", file, name, src, err)
					}
				}
			}
			if _, ok := svc["build"]; ok {
				df := yamlString(t, svc, "build", "dockerfile")
				if _, err := os.Stat(filepath.Join(root, df)); err != nil {
					t.Errorf("%s: %s builds %s: %v", file, name, df, err)
				}
			}
		}
	}
	compose := composeFile(t, "docker-compose.yml")
	tests := []struct {
		service, flag, source string
	}{
		{"jaeger", "config", "./internal/stack/config/jaeger.yaml"},
		{"prometheus", "config.file", "./deploy/prometheus/compose.yml"},
	}
	for _, tt := range tests {
		svc := service(t, compose, tt.service)
		target, ok := flagValue(yamlStrings(t, svc, "command"), tt.flag)
		if !ok {
			t.Errorf("%s: no --%s", tt.service, tt.flag)
			continue
		}
		if want := tt.source + ":" + target + ":ro"; !slices.Contains(optStrings(t, svc, "volumes"), want) {
			t.Errorf("%s: --%s %s, but no volume %q", tt.service, tt.flag, target, want)
		}
	}
}

// composeScrapeTargets are the scrape jobs of deploy/prometheus/compose.yml:
// refserver by its compose service name (the analyzer's queries read its
// llm_* series).
func composeScrapeTargets(t *testing.T) []struct{ Job, Addr string } {
	return []struct{ Job, Addr string }{{"refserver", fmt.Sprintf("refserver:%d", refserverPort(t))}}
}

const composePrometheusHeader = `# Prometheus for docker-compose.yml: internal/stack/config/prometheus.yml (the
# template that internal/stack renders for tests and the demo) rendered with
# the compose services as targets, by
#
#   go test ./e2e/deploy -run TestComposePrometheusConfig -update
#
# Do not edit: edit the template, or the targets in deploy/compose_test.go.
# Scrapes every second: a 2-minute load test then has 120 points per series.
`

// TestComposePrometheusConfig checks that compose.yml is the scrape config
// of internal/stack/config/prometheus.yml for the compose services.
func TestComposePrometheusConfig(t *testing.T) {
	root := repoRoot(t)
	tmpl, err := template.ParseFiles(filepath.Join(root, "internal", "stack", "config", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rendered bytes.Buffer
	if err := tmpl.Execute(&rendered, struct{ Targets []struct{ Job, Addr string } }{composeScrapeTargets(t)}); err != nil {
		t.Fatal(err)
	}
	// The template's own leading comment is about templating: replace it.
	body := rendered.String()
	for strings.HasPrefix(body, "#") {
		_, body, _ = strings.Cut(body, "\n")
	}
	var buf bytes.Buffer
	buf.WriteString(composePrometheusHeader + body)
	dst := filepath.Join(root, "deploy", "prometheus", "compose.yml")
	if *update {
		if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := readFile(t, dst); got != buf.String() {
		t.Errorf("deploy/prometheus/compose.yml is not the rendered template; run go test ./e2e/deploy -run TestComposePrometheusConfig -update\ngot:\n%s\nwant:\n%s", got, buf.String())
	}
	// Each target is a compose service on the port it listens on.
	compose := composeFile(t, "docker-compose.yml")
	docs := parseYAMLFile(t, dst)
	for _, job := range yamlAt(t, docs[0], "scrape_configs").([]any) {
		for _, target := range yamlStrings(t, job, "static_configs", 0, "targets") {
			host, port, _ := strings.Cut(target, ":")
			svc := service(t, compose, host)
			var listens bool
			for _, p := range optStrings(t, svc, "ports") {
				listens = listens || strings.HasSuffix(p, ":"+port)
			}
			if !listens {
				t.Errorf("scrape target %s: service %s does not serve port %s", target, host, port)
			}
		}
	}
}

// TestComposeGPU checks the GPU override: the base refserver command with
// --device cuda, and one NVIDIA GPU reserved.
func TestComposeGPU(t *testing.T) {
	base := yamlStrings(t, service(t, composeFile(t, "docker-compose.yml"), "refserver"), "command")
	gpu := composeFile(t, "docker-compose.gpu.yml")
	svc := service(t, gpu, "refserver")
	got := yamlStrings(t, svc, "command")
	if want := append(slices.Clone(base), "--device", "cuda"); !slices.Equal(got, want) {
		t.Errorf("command: got %q, want %q", got, want)
	}
	dev := yamlMap(t, svc, "deploy", "resources", "reservations", "devices", 0)
	if dev["driver"] != "nvidia" || dev["count"] != "1" || !slices.Equal(yamlStrings(t, dev, "capabilities"), []string{"gpu"}) {
		t.Errorf("device reservation: got %v, want {driver: nvidia, count: 1, capabilities: [gpu]}", dev)
	}
	if len(yamlMap(t, gpu, "services")) != 1 {
		t.Errorf("the override changes services other than refserver")
	}
	fs := flag.NewFlagSet("refserver", flag.ContinueOnError)
	refserverFlags(fs)
	if fs.Lookup("device") == nil {
		t.Skip("refserver has no --device flag yet (no CUDA backend): docker-compose.gpu.yml cannot start it until one lands")
	}
	parseFlags(t, "refserver", got, refserverFlags)
}

// dockerfile is a Dockerfile's instructions, continuation lines joined.
type dockerfile struct {
	stages [][]string // each FROM's instructions, FROM first
}

func readDockerfile(t *testing.T, name string) dockerfile {
	t.Helper()
	src := readFile(t, filepath.Join(repoRoot(t), "deploy", "docker", name))
	var d dockerfile
	var cur strings.Builder
	for line := range strings.SplitSeq(src, "\n") {
		line = strings.TrimSpace(line)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		ins := strings.Join(strings.Fields(cur.String()), " ")
		cur.Reset()
		if strings.HasPrefix(strings.ToUpper(ins), "FROM ") {
			d.stages = append(d.stages, nil)
		}
		if len(d.stages) == 0 {
			t.Fatalf("%s: %q before the first FROM", name, ins)
		}
		d.stages[len(d.stages)-1] = append(d.stages[len(d.stages)-1], ins)
	}
	return d
}

// dockerfileWorkdir is the last WORKDIR of the final stage.
func dockerfileWorkdir(t *testing.T, name string) string {
	t.Helper()
	d := readDockerfile(t, name)
	dir := "/"
	for _, ins := range d.stages[len(d.stages)-1] {
		if w, ok := strings.CutPrefix(ins, "WORKDIR "); ok {
			dir = path.Join(dir, w)
		}
	}
	return dir
}

// goBuilds returns the `go build` commands in text (a Makefile recipe or
// Dockerfile RUN lines), each as its arguments with the -o value reduced to
// its base name, so that `$(GO) build -o $(BIN)/refserver ./cmd/refserver`
// and `go build -o /out/refserver ./cmd/refserver` compare equal.
func goBuilds(text string) [][]string {
	var out [][]string
	for line := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if (f[i] == "go" || f[i] == "$(GO)") && f[i+1] == "build" {
				args := slices.Clone(f[i+2:])
				if j := slices.IndexFunc(args, func(a string) bool { return a == "&&" || a == ";" }); j >= 0 {
					args = args[:j]
				}
				for k := range args {
					if k > 0 && args[k-1] == "-o" {
						args[k] = path.Base(args[k])
					}
				}
				out = append(out, args)
				break
			}
		}
	}
	return out
}

// makeRecipe is the recipe of target in the Makefile.
func makeRecipe(t *testing.T, target string) string {
	t.Helper()
	var b strings.Builder
	in := false
	for line := range strings.SplitSeq(readFile(t, filepath.Join(repoRoot(t), "Makefile")), "\n") {
		switch {
		case strings.HasPrefix(line, target+":"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			b.WriteString(line + "\n")
		case in:
			return b.String()
		}
	}
	if !in {
		t.Fatalf("Makefile: no %s target", target)
	}
	return b.String()
}

func TestDockerfiles(t *testing.T) {
	makeBuilds := goBuilds(makeRecipe(t, "build"))
	goVersion := ""
	for line := range strings.SplitSeq(readFile(t, filepath.Join(repoRoot(t), "go.mod")), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			parts := strings.Split(strings.TrimSpace(v), ".")
			goVersion = parts[0] + "." + parts[1]
		}
	}
	tests := []struct {
		file, binary string
		makeTargets  []string // Makefile targets the build stage runs
	}{
		{"Dockerfile.refserver", "refserver", nil},
		{"Dockerfile.llmbench", "llmbench", []string{"assets"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d := readDockerfile(t, tt.file)
			if len(d.stages) < 2 {
				t.Fatalf("got %d stages, want a multi-stage build", len(d.stages))
			}
			build, final := d.stages[0], d.stages[len(d.stages)-1]
			if want := "FROM golang:" + goVersion + " AS build"; build[0] != want {
				t.Errorf("build stage: got %q, want %q (go.mod's go %s)", build[0], want, goVersion)
			}
			var want []string
			for _, b := range makeBuilds {
				if i := slices.Index(b, "-o"); i >= 0 && i+1 < len(b) && b[i+1] == tt.binary {
					want = b
				}
			}
			if want == nil {
				t.Fatalf("the Makefile's build target does not build %s", tt.binary)
			}
			var builds [][]string
			var static bool
			var makes []string
			for _, ins := range build {
				if !strings.HasPrefix(ins, "RUN ") {
					continue
				}
				if b := goBuilds(ins); len(b) > 0 {
					builds = append(builds, b...)
					static = strings.Contains(ins, "CGO_ENABLED=0 go build")
				}
				if m, ok := strings.CutPrefix(ins, "RUN make "); ok {
					makes = append(makes, strings.Fields(m)...)
				}
			}
			if len(builds) != 1 || !slices.Equal(builds[0], want) {
				t.Errorf("go build: got %q, want the Makefile's %q", builds, want)
			}
			if !static {
				t.Errorf("go build without CGO_ENABLED=0: the binary would not be static")
			}
			if !slices.Equal(makes, tt.makeTargets) {
				t.Errorf("make targets: got %q, want %q", makes, tt.makeTargets)
			}
			for _, target := range makes {
				makeRecipe(t, target) // fails when the Makefile has no such target
			}
			var user, entry string
			var copied bool
			for _, ins := range final {
				switch {
				case strings.HasPrefix(ins, "USER "):
					user = strings.TrimPrefix(ins, "USER ")
				case strings.HasPrefix(ins, "ENTRYPOINT "):
					entry = strings.TrimPrefix(ins, "ENTRYPOINT ")
				case strings.HasPrefix(ins, "COPY --from=build /out/"+tt.binary+" "):
					copied = true
				}
			}
			if name, _, _ := strings.Cut(user, ":"); user == "" || name == "root" || name == "0" {
				t.Errorf("final stage runs as %q, want a non-root user", user)
			}
			if !copied {
				t.Errorf("final stage does not copy /out/%s from the build stage", tt.binary)
			}
			if want := fmt.Sprintf(`["/usr/local/bin/%s"]`, tt.binary); entry != want {
				t.Errorf("ENTRYPOINT: got %s, want %s", entry, want)
			}
		})
	}
}

// TestDockerComposeConfig asks docker compose itself whether the files
// parse, where the client is installed.
func TestDockerComposeConfig(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker client on PATH: `docker compose config` not checked (the other tests read the files)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, docker, "compose", "version").CombinedOutput(); err != nil {
		t.Skipf("docker compose is not available: %v\n%s", err, out)
	}
	for _, files := range [][]string{{"docker-compose.yml"}, {"docker-compose.yml", "docker-compose.gpu.yml"}} {
		args := []string{"compose"}
		for _, f := range files {
			args = append(args, "-f", f)
		}
		cmd := exec.CommandContext(ctx, docker, append(args, "--profile", "loadgen", "config", "--quiet")...)
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("docker %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
		}
	}
}
