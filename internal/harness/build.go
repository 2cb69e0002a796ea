package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// ErrBuild: the troupe binary could not be built.
var ErrBuild = errors.New("harness: building troupe failed")

// RaceEnv names the environment variable that, set to 1, builds the broker
// binary with -race (slower brokers, but data races inside them fail the
// broker and therefore the test).
const RaceEnv = "TROUPE_HARNESS_RACE"

var build struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of a troupe binary built from this checkout, at
// most once per test binary. It lives in the module's bin/ directory
// (git-ignored) as troupe-harness, or troupe-harness-race with RaceEnv.
// The build writes a temporary file and renames it into place, so test
// binaries of several packages building at the same time never see a
// half-written file, and a broker already running keeps its executable.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() { build.path, build.err = buildBinary() })
	if build.err != nil {
		t.Fatalf("%v", build.err)
	}
	return build.path
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// ModuleRoot returns the directory of the go.mod enclosing the working
// directory (a test runs in its package's directory).
func ModuleRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("%w: go env GOMOD: %v", ErrBuild, err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("%w: not inside a Go module", ErrBuild)
	}
	return filepath.Dir(mod), nil
}

func buildBinary() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(root, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBuild, err)
	}
	name := "troupe-harness"
	args := []string{"build"}
	if os.Getenv(RaceEnv) == "1" {
		name += "-race"
		args = append(args, "-race")
	}
	tmp, err := os.CreateTemp(binDir, "."+name+"-*")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBuild, err)
	}
	tmpPath := tmp.Name()
	_ = tmp.Close()
	defer os.Remove(tmpPath) // gone after the rename; cleans up after a failure
	args = append(args, "-o", tmpPath, "./cmd/troupe")
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: go %s: %v\n%s", ErrBuild, strings.Join(args, " "), err, out)
	}
	final := filepath.Join(binDir, name)
	if err := os.Rename(tmpPath, final); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBuild, err)
	}
	return final, nil
}
