package script

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzScript feeds arbitrary scripts through bundling, the init context and
// one iteration: whatever the input, the result is a script's error or a
// run, never a panic or a hang.
func FuzzScript(f *testing.F) {
	for _, s := range []string{
		"export default function () {}",
		"export const options = { vus: 1 };\nexport default function () { throw new Error('x'); }",
		"import { check, sleep, group } from 'k6';\nexport default function () { group('g', () => check(1, { a: (x) => x === 1 })); sleep(0.001); }",
		"import { Counter } from 'k6/metrics';\nconst c = new Counter('c');\nexport default function () { c.add(1, { t: 'x' }); }",
		"export default function () { while (true) {} }",
		"export default async function () { await Promise.resolve(1); }",
		"export default function () { let = ; }",
		"import x from 'k6/nope';\nexport default function () {}",
		"export function setup() { return { a: [1, 2] }; }\nexport default function (d) { return d.a[0]; }",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		dir := t.TempDir()
		p := filepath.Join(dir, "main.js")
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		prog, err := Load(p)
		if err != nil {
			return
		}
		env := &Env{Program: prog, Recorder: newFakeRecorder()}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		vu, err := NewVU(ctx, env, 1)
		if err != nil {
			return
		}
		if _, err := vu.Options(); err != nil {
			return
		}
		data, err := vu.Setup(ctx)
		if err != nil {
			return
		}
		if vu.Has("default") {
			err := vu.Iterate(ctx, Iteration{Scenario: "fuzz"}, data)
			var se *ScriptError
			var fe *failError
			if err != nil && !errors.As(err, &se) && !errors.Is(err, ErrInterrupted) && !errors.As(err, &fe) {
				t.Logf("iteration: %T %v", err, err)
			}
		}
	})
}
