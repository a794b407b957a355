package refserver

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvName is the environment variable that sets a flag: REFSERVER_ and the
// flag's name in upper case, dashes as underscores (--max-batch is
// $REFSERVER_MAX_BATCH).
func EnvName(flagName string) string {
	return "REFSERVER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// DescribeEnv appends each flag's environment variable to its usage text.
// Call it after every flag is registered and before parsing. Flags whose
// usage already names a variable (the OTEL_* ones) keep their own.
func DescribeEnv(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if !ownEnv(f) {
			f.Usage += fmt.Sprintf(" [$%s]", EnvName(f.Name))
		}
	})
}

func ownEnv(f *flag.Flag) bool {
	return strings.Contains(f.Usage, "[$") && !strings.Contains(f.Usage, "[$"+EnvName(f.Name)+"]")
}

// ApplyEnv sets every flag that the command line left alone from its
// environment variable, if that is set. The command line wins.
func ApplyEnv(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := os.LookupEnv(EnvName(f.Name))
		if set[f.Name] || !ok || err != nil || ownEnv(f) {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("$%s=%q: %w", EnvName(f.Name), v, e)
		}
	})
	return err
}
