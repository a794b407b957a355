package script

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
	"github.com/evanw/esbuild/pkg/api"
)

// builtinPrefix marks the modules the runner provides: k6, k6/http,
// k6/metrics, k6/data, k6/x/llm. esbuild leaves them as require() calls.
const builtinPrefix = "k6"

// Program is a script bundled with its local imports and compiled once; it
// is run in every VU's runtime. Safe for concurrent use.
type Program struct {
	Path string // the entry script, absolute
	Dir  string // its folder: open() and imports resolve against it
	prg  *goja.Program
	// Source is the bundled CommonJS code (for debugging).
	Source string
}

// ScriptError is an error in the script itself: a syntax error, a failed
// import, or an exception. Its message starts with file:line:column.
type ScriptError struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *ScriptError) Error() string {
	if e.File == "" {
		return e.Msg
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Load bundles the script at path with esbuild (ES modules, local imports,
// JSON imports, remote https imports as Imports' zero value finds them)
// into one CommonJS program with an inline source map, and compiles it.
// Errors name the file, line and column.
func Load(path string) (*Program, error) { return LoadWith(path, Imports{}) }

// LoadWith is Load with remote imports found as im says.
func LoadWith(path string, im Imports) (*Program, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load script %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("load script: %w", err)
	}
	res := api.Build(api.BuildOptions{
		EntryPoints:    []string{abs},
		Bundle:         true,
		Write:          false,
		Format:         api.FormatCommonJS,
		Platform:       api.PlatformNeutral,
		Target:         api.ES2017,
		Sourcemap:      api.SourceMapInline,
		SourcesContent: api.SourcesContentExclude,
		External:       []string{builtinPrefix, builtinPrefix + "/*"},
		Loader:         map[string]api.Loader{".js": api.LoaderJS, ".mjs": api.LoaderJS, ".json": api.LoaderJSON, ".ts": api.LoaderTS},
		LogLevel:       api.LogLevelSilent,
		Outfile:        abs + ".bundle.js",
		AbsWorkingDir:  filepath.Dir(abs),
		MainFields:     []string{"module", "main"},
		Supported:      map[string]bool{"dynamic-import": false},
		Plugins:        []api.Plugin{im.remotePlugin()},
	})
	if len(res.Errors) > 0 {
		return nil, buildError(res.Errors)
	}
	var code string
	for _, f := range res.OutputFiles {
		if strings.HasSuffix(f.Path, ".js") {
			code = string(f.Contents)
		}
	}
	if code == "" {
		return nil, fmt.Errorf("load script %s: esbuild produced no output", path)
	}
	// Wrap as a function of the CommonJS variables. Keep the wrapper on the
	// first line so the source map's line numbers stay right.
	wrapped := "(function (module, exports, require) {" + code + "\n})"
	ast, err := goja.Parse(abs, wrapped, parser.WithSourceMapLoader(func(string) ([]byte, error) {
		return nil, errors.New("external source maps are not loaded")
	}))
	if err != nil {
		return nil, fmt.Errorf("compile script %s: %w", path, err)
	}
	prg, err := goja.CompileAST(ast, false)
	if err != nil {
		return nil, fmt.Errorf("compile script %s: %w", path, err)
	}
	return &Program{Path: abs, Dir: filepath.Dir(abs), prg: prg, Source: code}, nil
}

func buildError(msgs []api.Message) error {
	var parts []string
	var first *ScriptError
	for _, m := range msgs {
		e := &ScriptError{Msg: m.Text}
		if m.Location != nil {
			e.File, e.Line, e.Column = m.Location.File, m.Location.Line, m.Location.Column+1
			if m.Location.LineText != "" {
				e.Msg += "\n    " + m.Location.LineText
			}
		}
		if first == nil {
			first = e
		}
		parts = append(parts, e.Error())
	}
	if len(parts) == 1 {
		return first
	}
	first = &ScriptError{File: first.File, Line: first.Line, Column: first.Column, Msg: strings.Join(parts, "\n")}
	first.File = "" // the joined message already carries every location
	return first
}
