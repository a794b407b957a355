// Package hostcpu tells what this process may use of the host's CPUs (its
// affinity) and how much CPU time it has used. The engine times each step's
// CPU beside its wall time with it, so that a server whose busy engine got
// less CPU than it asked for (a contended host) can be told from a slow
// model. It imports nothing else from the repository.
package hostcpu

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Allowed describes the cores this process may run on.
type Allowed struct {
	// Cores are the CPU numbers of the process's affinity mask, in order;
	// nil when the OS does not say (then Count is runtime.NumCPU()).
	Cores []int
	Count int
}

// String lists the cores as ranges, e.g. "0-3,6"; "" when unknown.
func (a Allowed) String() string { return Ranges(a.Cores) }

// Ranges writes a sorted list of CPU numbers as ranges, e.g. "0-3,6".
func Ranges(cores []int) string {
	cores = slices.Clone(cores)
	slices.Sort(cores)
	var parts []string
	for i := 0; i < len(cores); {
		j := i
		for j+1 < len(cores) && cores[j+1] == cores[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprint(cores[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cores[i], cores[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// Affinity returns the cores the calling thread, and so (unless someone
// set the threads apart) the process, may run on.
func Affinity() Allowed {
	if cores := affinity(); len(cores) > 0 {
		return Allowed{Cores: cores, Count: len(cores)}
	}
	return Allowed{Count: runtime.NumCPU()}
}

// ProcessCPU returns the CPU time (user and system) this process has used
// so far, and false where the OS does not say.
func ProcessCPU() (time.Duration, bool) { return processCPU() }
