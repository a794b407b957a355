package deploy_test

import (
	"flag"
	"fmt"
	"maps"
	"math/big"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/llmbench/llmbench/loadgen"
	"github.com/llmbench/llmbench/loadgen/executor"
)

// Names the Kubernetes manifests agree on.
const (
	k8sNamespace  = "llmbench"
	k8sClaim      = "llmbench-runs"
	k8sWorkers    = "llmbench-workers" // the headless service
	k8sLoadJob    = "llmbench-load"
	k8sMergeJob   = "llmbench-merge"
	k8sRunsMount  = "/runs"
	segmentScript = "/usr/local/bin/llmbench-segment" // deploy/k8s/segment.sh in the image
	completionIdx = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
)

// k8sObjects reads the resources of the kustomization in dir (relative to
// the repository root), keyed "Kind/name", and checks the kustomization's
// namespace and images.
func k8sObjects(t *testing.T, dir string) map[string]map[string]any {
	t.Helper()
	root := repoRoot(t)
	docs := parseYAMLFile(t, filepath.Join(root, dir, "kustomization.yaml"))
	if len(docs) != 1 {
		t.Fatalf("%s/kustomization.yaml: got %d documents, want 1", dir, len(docs))
	}
	k := docs[0]
	if got := yamlString(t, k, "kind"); got != "Kustomization" {
		t.Errorf("%s/kustomization.yaml: kind %q", dir, got)
	}
	if got := yamlString(t, k, "namespace"); got != k8sNamespace {
		t.Errorf("%s/kustomization.yaml: namespace %q, want %q", dir, got, k8sNamespace)
	}
	repo, tag, _ := strings.Cut(llmbenchImage, ":")
	img := yamlMap(t, k, "images", 0)
	if img["name"] != repo || img["newName"] != repo || img["newTag"] != tag {
		t.Errorf("%s/kustomization.yaml: images %v, want name and newName %s, newTag %s (the image docker-compose.yml builds)", dir, img, repo, tag)
	}
	objs := map[string]map[string]any{}
	for _, res := range yamlStrings(t, k, "resources") {
		for i, doc := range parseYAMLFile(t, filepath.Join(root, dir, res)) {
			m, ok := doc.(map[string]any)
			if !ok {
				t.Fatalf("%s/%s document %d: got %T, want a mapping", dir, res, i, doc)
			}
			yamlString(t, m, "apiVersion")
			key := yamlString(t, m, "kind") + "/" + yamlString(t, m, "metadata", "name")
			if _, dup := objs[key]; dup {
				t.Errorf("%s: %s twice", dir, key)
			}
			objs[key] = m
		}
	}
	return objs
}

// object returns objs[key] or fails the test.
func object(t *testing.T, objs map[string]map[string]any, key string) map[string]any {
	t.Helper()
	o, ok := objs[key]
	if !ok {
		t.Fatalf("no %s among %v", key, slices.Sorted(maps.Keys(objs)))
	}
	return o
}

// containerEnv is a container's plain env values.
func containerEnv(t *testing.T, c any) map[string]string {
	t.Helper()
	env := map[string]string{}
	for i := range yamlAt(t, c, "env").([]any) {
		e := yamlMap(t, c, "env", i)
		if v, ok := e["value"].(string); ok {
			env[yamlString(t, e, "name")] = v
		}
	}
	return env
}

// expandK8s expands $(VAR) references in s, as the kubelet does in args.
func expandK8s(s string, env map[string]string) string {
	return regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(s, func(ref string) string {
		if v, ok := env[ref[2:len(ref)-1]]; ok {
			return v
		}
		return ref
	})
}

func atoi(t *testing.T, what, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return n
}

// checkPodSpec checks what every llmbench pod needs: the image, a non-root
// user matching the image's, and the runs volume from the shared claim.
func checkPodSpec(t *testing.T, what string, spec map[string]any) {
	t.Helper()
	if got := yamlString(t, spec, "securityContext", "runAsNonRoot"); got != "true" {
		t.Errorf("%s: runAsNonRoot %s, want true", what, got)
	}
	uid := imageUser(t)
	for _, k := range []string{"runAsUser", "fsGroup"} {
		if got := yamlString(t, spec, "securityContext", k); got != uid {
			t.Errorf("%s: %s %s, want the image's user %s", what, k, got, uid)
		}
	}
	c := yamlAt(t, spec, "containers", 0)
	if got := yamlString(t, c, "image"); got != llmbenchImage {
		t.Errorf("%s: image %q, want %q", what, got, llmbenchImage)
	}
	if got := yamlString(t, c, "securityContext", "allowPrivilegeEscalation"); got != "false" {
		t.Errorf("%s: allowPrivilegeEscalation %s, want false", what, got)
	}
	mount := yamlMap(t, c, "volumeMounts", 0)
	if mount["mountPath"] != k8sRunsMount {
		t.Errorf("%s: mounts %v at %v, want %s", what, mount["name"], mount["mountPath"], k8sRunsMount)
	}
	vol := yamlMap(t, spec, "volumes", 0)
	if vol["name"] != mount["name"] || yamlString(t, vol, "persistentVolumeClaim", "claimName") != k8sClaim {
		t.Errorf("%s: volume %v, want %v from claim %s", what, vol, mount["name"], k8sClaim)
	}
}

// imageUser is the numeric user of Dockerfile.llmbench's final stage.
func imageUser(t *testing.T) string {
	t.Helper()
	d := readDockerfile(t, "Dockerfile.llmbench")
	user := ""
	for _, ins := range d.stages[len(d.stages)-1] {
		if u, ok := strings.CutPrefix(ins, "USER "); ok {
			user, _, _ = strings.Cut(u, ":")
		}
	}
	return user
}

// loadJob returns the load Job's container, its env and N.
func loadJob(t *testing.T, objs map[string]map[string]any) (job map[string]any, c any, env map[string]string, n int) {
	t.Helper()
	job = object(t, objs, "Job/"+k8sLoadJob)
	c = yamlAt(t, job, "spec", "template", "spec", "containers", 0)
	env = containerEnv(t, c)
	return job, c, env, atoi(t, "SEGMENT_COUNT", env["SEGMENT_COUNT"])
}

func TestK8sManifests(t *testing.T) {
	objs := k8sObjects(t, "deploy/k8s")
	want := []string{"Deployment/llmbench-web", "Job/" + k8sLoadJob, "Namespace/" + k8sNamespace,
		"PersistentVolumeClaim/" + k8sClaim, "Service/llmbench-web", "Service/" + k8sWorkers}
	if got := slices.Sorted(maps.Keys(objs)); !slices.Equal(got, want) {
		t.Errorf("deploy/k8s: got %v, want %v", got, want)
	}
	if got := yamlStrings(t, object(t, objs, "PersistentVolumeClaim/"+k8sClaim), "spec", "accessModes"); !slices.Equal(got, []string{"ReadWriteMany"}) {
		t.Errorf("runs claim: access modes %v, want [ReadWriteMany]: every load pod writes to it at once", got)
	}
	merge := k8sObjects(t, "deploy/k8s/merge")
	if got := slices.Sorted(maps.Keys(merge)); !slices.Equal(got, []string{"Job/" + k8sMergeJob}) {
		t.Errorf("deploy/k8s/merge: got %v, want [Job/%s]", got, k8sMergeJob)
	}
	web := object(t, objs, "Deployment/llmbench-web")
	checkPodSpec(t, "web", yamlMap(t, web, "spec", "template", "spec"))
	args := yamlStrings(t, web, "spec", "template", "spec", "containers", 0, "args")
	if len(args) == 0 || args[0] != "web" {
		t.Fatalf("web args %q: want llmbench web ...", args)
	}
	if got, _ := flagValue(args, "runs"); got != k8sRunsMount {
		t.Errorf("web --runs %q, want %s", got, k8sRunsMount)
	}
	checkService(t, objs, "Service/llmbench-web", yamlMap(t, web, "spec", "template"))
}

// checkService checks that a service selects the pod template and targets
// one of its container ports by name.
func checkService(t *testing.T, objs map[string]map[string]any, key string, template map[string]any) {
	t.Helper()
	svc := object(t, objs, key)
	labels := yamlMap(t, template, "metadata", "labels")
	for k, v := range yamlMap(t, svc, "spec", "selector") {
		if labels[k] != v {
			t.Errorf("%s selects %s=%v, the pods have %v", key, k, v, labels[k])
		}
	}
	port := yamlMap(t, svc, "spec", "ports", 0)
	var names []string
	for i := range yamlAt(t, template, "spec", "containers", 0, "ports").([]any) {
		names = append(names, yamlString(t, template, "spec", "containers", 0, "ports", i, "name"))
	}
	if !slices.Contains(names, fmt.Sprint(port["targetPort"])) {
		t.Errorf("%s targets port %v, the pods name %v", key, port["targetPort"], names)
	}
}

func TestK8sLoadJob(t *testing.T) {
	objs := k8sObjects(t, "deploy/k8s")
	job, c, env, n := loadJob(t, objs)
	spec := yamlMap(t, job, "spec")
	if got := yamlString(t, spec, "completionMode"); got != "Indexed" {
		t.Errorf("completionMode %q, want Indexed", got)
	}
	completions := atoi(t, "completions", yamlString(t, spec, "completions"))
	parallelism := atoi(t, "parallelism", yamlString(t, spec, "parallelism"))
	if completions != n || parallelism != n {
		t.Errorf("completions %d, parallelism %d, SEGMENT_COUNT %d: want all equal (every part runs, all at once)", completions, parallelism, n)
	}
	if n < 2 {
		t.Errorf("SEGMENT_COUNT %d: llmbench merge needs at least two parts", n)
	}
	if got := yamlString(t, spec, "backoffLimit"); got != "0" {
		t.Errorf("backoffLimit %s, want 0: a part rerun later would not add up with the others", got)
	}
	pod := yamlMap(t, spec, "template", "spec")
	if got := yamlString(t, pod, "restartPolicy"); got != "Never" {
		t.Errorf("restartPolicy %q, want Never", got)
	}
	if got := yamlString(t, pod, "subdomain"); got != k8sWorkers {
		t.Errorf("subdomain %q, want the headless service %q", got, k8sWorkers)
	}
	if got := yamlString(t, object(t, objs, "Service/"+k8sWorkers), "spec", "clusterIP"); got != "None" {
		t.Errorf("service %s: clusterIP %q, want None (headless)", k8sWorkers, got)
	}
	checkService(t, objs, "Service/"+k8sWorkers, yamlMap(t, spec, "template"))
	checkPodSpec(t, "load", pod)

	if got := yamlStrings(t, c, "command"); !slices.Equal(got, []string{segmentScript}) {
		t.Errorf("command %q, want [%s]", got, segmentScript)
	}
	var copied bool
	d := readDockerfile(t, "Dockerfile.llmbench")
	for _, ins := range d.stages[len(d.stages)-1] {
		copied = copied || (strings.HasPrefix(ins, "COPY ") && strings.HasSuffix(ins, " deploy/k8s/segment.sh "+segmentScript))
	}
	if !copied {
		t.Errorf("Dockerfile.llmbench does not copy deploy/k8s/segment.sh to %s", segmentScript)
	}
	var index string
	for i := range yamlAt(t, c, "env").([]any) {
		if e := yamlMap(t, c, "env", i); e["name"] == "SEGMENT_INDEX" {
			index = yamlString(t, e, "valueFrom", "fieldRef", "fieldPath")
		}
	}
	if index != completionIdx {
		t.Errorf("SEGMENT_INDEX comes from %q, want the completion index %q", index, completionIdx)
	}

	// The arguments are `llmbench run`'s, after the kubelet expands them.
	args := yamlStrings(t, c, "args")
	if len(args) == 0 || args[0] != "run" {
		t.Fatalf("args %q: want run [flags] script", args)
	}
	env["SEGMENT_INDEX"] = "0"
	for i := range args {
		args[i] = expandK8s(args[i], env)
	}
	fs := parseFlags(t, "llmbench run", args[1:], func(fs *flag.FlagSet) { new(loadgen.Config).RegisterFlags(fs) })
	if fs.NArg() != 1 {
		t.Fatalf("args %q: want one script", args)
	}
	script := fs.Arg(0)
	if rel, ok := strings.CutPrefix(script, "/scenarios/"); !ok {
		t.Errorf("script %s: want one of the image's /scenarios", script)
	} else if _, err := os.Stat(filepath.Join(repoRoot(t), "scenarios", rel)); err != nil {
		t.Errorf("script %s: %v", script, err)
	}
	out := fs.Lookup("run-dir").Value.String()
	if path.Dir(out) != k8sRunsMount || strings.Contains(out, "$(") {
		t.Errorf("--run-dir %q: want a folder at the top of %s (llmbench web lists those)", out, k8sRunsMount)
	}
	metrics := fs.Lookup("metrics-addr").Value.String()
	svcPort := yamlString(t, object(t, objs, "Service/"+k8sWorkers), "spec", "ports", 0, "port")
	if p := strconv.Itoa(portOf(t, metrics)); p != svcPort || yamlString(t, c, "ports", 0, "containerPort") != p {
		t.Errorf("--metrics-addr %s, container port %s, service port %s: want one port", metrics, yamlString(t, c, "ports", 0, "containerPort"), svcPort)
	}
}

// TestK8sMergeJob runs the merge Job's shell command against the folders
// the load Job's parts write, with llmbench replaced by a stub that prints
// its arguments: the glob must find every part, and only the parts.
func TestK8sMergeJob(t *testing.T) {
	sh := lookSh(t)
	objs := k8sObjects(t, "deploy/k8s")
	_, lc, loadEnv, n := loadJob(t, objs)
	job := object(t, k8sObjects(t, "deploy/k8s/merge"), "Job/"+k8sMergeJob)
	pod := yamlMap(t, job, "spec", "template", "spec")
	checkPodSpec(t, "merge", pod)
	if got := yamlString(t, job, "spec", "backoffLimit"); got != "0" {
		t.Errorf("backoffLimit %s, want 0", got)
	}
	c := yamlAt(t, pod, "containers", 0)
	env := containerEnv(t, c)
	if env["RUN_ID"] != loadEnv["RUN_ID"] {
		t.Errorf("RUN_ID %q, the load Job's is %q", env["RUN_ID"], loadEnv["RUN_ID"])
	}
	command := append(yamlStrings(t, c, "command"), yamlStrings(t, c, "args")...)
	if len(command) != 3 || command[0] != "/bin/sh" || command[1] != "-c" || !strings.Contains(command[2], "llmbench merge -out ") {
		t.Fatalf("command %q: want /bin/sh -c '... llmbench merge -out ...'", command)
	}

	// The runs volume, in a temporary folder: the parts the load Job writes,
	// another run's part, and the stub.
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	outArg := slices.Index(yamlStrings(t, lc, "args"), "--run-dir")
	var want []string
	for i := range n {
		loadEnv["SEGMENT_INDEX"] = strconv.Itoa(i)
		part := expandK8s(yamlStrings(t, lc, "args")[outArg+1], loadEnv)
		want = append(want, runs+strings.TrimPrefix(part, k8sRunsMount))
	}
	for _, d := range append(slices.Clone(want), filepath.Join(runs, "other-part-0"), filepath.Join(runs, "other")) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "llmbench"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), sh, "-c", strings.ReplaceAll(command[2], k8sRunsMount+"/", runs+"/"))
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "RUN_ID="+env["RUN_ID"])
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("merge command: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	wantArgs := append([]string{"merge", "-out", filepath.Join(runs, env["RUN_ID"])}, want...)
	if !slices.Equal(got, wantArgs) {
		t.Errorf("llmbench got %q, want %q", got, wantArgs)
	}
}

func lookSh(t *testing.T) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	return sh
}

// runSegmentScript runs deploy/k8s/segment.sh with env and args, llmbench
// being a stub that prints its arguments one per line.
func runSegmentScript(t *testing.T, env []string, args ...string) (stdout []string, stderr string, code int) {
	t.Helper()
	sh := lookSh(t)
	stub := filepath.Join(t.TempDir(), "llmbench")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), sh, append([]string{filepath.Join(repoRoot(t), "deploy", "k8s", "segment.sh")}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "LLMBENCH=" + stub}, env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(out.String()), errb.String(), code
}

// TestSegmentScript checks the segment math of llmbench-segment for N = 1
// to 8: every part's flags parse, the parts tile [0, 1] in order with one
// shared sequence, and their shares of any number of VUs or iterations add
// up to that number.
func TestSegmentScript(t *testing.T) {
	for n := 1; n <= 8; n++ {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			var segs []executor.Segment
			var sequence string
			prevTo := "0"
			for i := range n {
				env := []string{"SEGMENT_INDEX=" + strconv.Itoa(i), "SEGMENT_COUNT=" + strconv.Itoa(n)}
				if i == n-1 { // the Job controller's variable, when SEGMENT_INDEX is not set
					env = []string{"JOB_COMPLETION_INDEX=" + strconv.Itoa(i), "SEGMENT_COUNT=" + strconv.Itoa(n)}
				}
				got, stderr, code := runSegmentScript(t, env, "run", "--quiet", "script.js")
				if code != 0 || len(got) != 7 || got[0] != "run" || got[1] != "--execution-segment" || got[3] != "--execution-segment-sequence" || !slices.Equal(got[5:], []string{"--quiet", "script.js"}) {
					t.Fatalf("part %d: exit %d, llmbench got %q\n%s", i, code, got, stderr)
				}
				if i == 0 {
					sequence = got[4]
				} else if got[4] != sequence {
					t.Errorf("part %d: sequence %q, part 0 has %q", i, got[4], sequence)
				}
				seg, err := executor.ParseSegment(got[2], got[4])
				if err != nil {
					t.Fatalf("part %d: %v", i, err)
				}
				from, to, _ := strings.Cut(seg.String(), ":")
				if from != prevTo {
					t.Errorf("part %d starts at %s, part %d ended at %s", i, from, i-1, prevTo)
				}
				want := new(big.Rat).SetFrac64(int64(i+1), int64(n)).RatString()
				if to != want {
					t.Errorf("part %d ends at %s, want %s", i, to, want)
				}
				prevTo = to
				segs = append(segs, seg)
			}
			for _, things := range append(slices.Collect(func(yield func(int64) bool) {
				for k := int64(0); k <= int64(3*n+5); k++ {
					if !yield(k) {
						return
					}
				}
			}), 1000, 12345) {
				var sum int64
				for _, s := range segs {
					sum += s.Scale(things)
				}
				if sum != things {
					t.Errorf("the parts' shares of %d add up to %d", things, sum)
				}
			}
		})
	}
}

func TestSegmentScriptRejects(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		args []string
		msg  string
	}{
		{"index at count", []string{"SEGMENT_INDEX=3", "SEGMENT_COUNT=3"}, []string{"run", "x.js"}, "not below SEGMENT_COUNT"},
		{"no index", []string{"SEGMENT_COUNT=3"}, []string{"run", "x.js"}, "SEGMENT_INDEX"},
		{"negative index", []string{"SEGMENT_INDEX=-1", "SEGMENT_COUNT=3"}, []string{"run", "x.js"}, "whole number"},
		{"zero count", []string{"SEGMENT_INDEX=0", "SEGMENT_COUNT=0"}, []string{"run", "x.js"}, "at least 1"},
		{"count not a number", []string{"SEGMENT_INDEX=0", "SEGMENT_COUNT=three"}, []string{"run", "x.js"}, "whole number"},
		{"not run", []string{"SEGMENT_INDEX=0", "SEGMENT_COUNT=2"}, []string{"merge", "x"}, "usage"},
		{"bad START_AT", []string{"SEGMENT_INDEX=0", "SEGMENT_COUNT=2", "START_AT=soon"}, []string{"run", "x.js"}, "START_AT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, stderr, code := runSegmentScript(t, tt.env, tt.args...)
			if code != loadgen.ExitInvalidConfig || len(got) != 0 || !strings.Contains(stderr, tt.msg) {
				t.Errorf("exit %d, llmbench got %q, stderr %q; want exit %d, no llmbench, a message with %q", code, got, stderr, loadgen.ExitInvalidConfig, tt.msg)
			}
		})
	}
	t.Run("leading zeros", func(t *testing.T) {
		got, stderr, code := runSegmentScript(t, []string{"SEGMENT_INDEX=08", "SEGMENT_COUNT=09"}, "run", "x.js")
		if code != 0 || len(got) < 3 || got[2] != "8/9:1" {
			t.Errorf("exit %d, llmbench got %q (%s); want --execution-segment 8/9:1", code, got, stderr)
		}
	})
	t.Run("START_AT past", func(t *testing.T) {
		if _, stderr, code := runSegmentScript(t, []string{"SEGMENT_INDEX=0", "SEGMENT_COUNT=2", "START_AT=1"}, "run", "x.js"); code != 0 || strings.Contains(stderr, "waits") {
			t.Errorf("exit %d, stderr %q; want to start at once", code, stderr)
		}
	})
}
