// Package zktest runs a real, standalone ZooKeeper (Debian's 3.8 package) on
// a free loopback port for tests, and builds the same command line for tools
// (`make cluster`) through Command.
//
// Tests call Start(t): it starts ZooKeeper with a low tickTime in its own
// temporary directory, waits for `ruok` to answer `imok`, captures the
// server's output to a file (its tail is printed when the test fails), and
// stops it at cleanup. A missing JRE or zookeeper.jar fails the test with
// "run `make test-deps`" — it never skips.
package zktest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Default locations of Debian's zookeeper package.
const (
	ZooKeeperJar   = "/usr/share/java/zookeeper.jar"
	SLF4JSimpleJar = "/usr/share/java/slf4j-simple.jar"
	MainClass      = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
)

// ErrMissing: java or the ZooKeeper jar is not installed.
var ErrMissing = errors.New("zktest: ZooKeeper is not installed (Debian package zookeeper and a JRE)")

// Config describes one standalone ZooKeeper server.
type Config struct {
	// Dir holds zoo.cfg and data/; required.
	Dir string
	// Host is the client address to bind; default 127.0.0.1.
	Host string
	// Port is the client port; required (see FreePort).
	Port int
	// TickTime is ZooKeeper's basic time unit; default 200 ms. Session
	// expiry is checked per tick.
	TickTime time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound what clients may ask
	// for; defaults 2×TickTime and 60 s.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// ForceSync: fsync the transaction log on every write. Default false:
	// tests and local clusters don't need it (a killed process loses no
	// written data; only a machine crash would).
	ForceSync bool
	// Java is the java binary; default FindJava().
	Java string
	// ClassPath defaults to ClassPath().
	ClassPath string
	// JVMFlags replace the defaults (small heap, serial GC, quick start).
	JVMFlags []string
}

// Addr is the client address "host:port".
func (c Config) Addr() string { return net.JoinHostPort(c.host(), strconv.Itoa(c.Port)) }

func (c Config) host() string {
	if c.Host == "" {
		return "127.0.0.1"
	}
	return c.Host
}

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("zktest: Config.Dir is required")
	}
	if c.Port <= 0 {
		return c, errors.New("zktest: Config.Port is required")
	}
	if c.TickTime <= 0 {
		c.TickTime = 200 * time.Millisecond
	}
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = 2 * c.TickTime
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = 60 * time.Second
	}
	if c.Java == "" {
		j, err := FindJava()
		if err != nil {
			return c, err
		}
		c.Java = j
	}
	if c.ClassPath == "" {
		cp, err := ClassPath()
		if err != nil {
			return c, err
		}
		c.ClassPath = cp
	}
	if c.JVMFlags == nil {
		c.JVMFlags = []string{
			"-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
			"-Djava.net.preferIPv4Stack=true",
			"-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
			"-Dorg.slf4j.simpleLogger.showDateTime=true",
		}
	}
	return c, nil
}

// FindJava returns the java binary: $JAVA, then java on PATH, then
// /usr/lib/jvm/*/bin/java.
func FindJava() (string, error) {
	if j := os.Getenv("JAVA"); j != "" {
		if _, err := os.Stat(j); err == nil {
			return j, nil
		}
	}
	if j, err := exec.LookPath("java"); err == nil {
		return j, nil
	}
	matches, _ := filepath.Glob("/usr/lib/jvm/*/bin/java")
	if len(matches) > 0 {
		return matches[0], nil
	}
	return "", fmt.Errorf("%w: no java binary on PATH or under /usr/lib/jvm", ErrMissing)
}

// ClassPath returns the class path for Debian's ZooKeeper: zookeeper.jar
// (its manifest lists its dependencies) and slf4j-simple (log lines to
// stderr) when present. $ZOOKEEPER_JAR overrides the jar's location.
func ClassPath() (string, error) {
	jar := ZooKeeperJar
	if j := os.Getenv("ZOOKEEPER_JAR"); j != "" {
		jar = j
	}
	if _, err := os.Stat(jar); err != nil {
		return "", fmt.Errorf("%w: %v", ErrMissing, err)
	}
	cp := jar
	if _, err := os.Stat(SLF4JSimpleJar); err == nil {
		cp += ":" + SLF4JSimpleJar
	}
	return cp, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WriteConfig writes cfg.Dir/zoo.cfg (and creates cfg.Dir/data) and returns
// its path.
func WriteConfig(cfg Config) (string, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return "", err
	}
	data := filepath.Join(cfg.Dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return "", err
	}
	forceSync := "no"
	if cfg.ForceSync {
		forceSync = "yes"
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	lines := []string{
		"# written by troupe internal/zktest",
		"tickTime=" + ms(cfg.TickTime),
		"initLimit=10",
		"syncLimit=5",
		"dataDir=" + data,
		"clientPort=" + strconv.Itoa(cfg.Port),
		"clientPortAddress=" + cfg.host(),
		"minSessionTimeout=" + ms(cfg.MinSessionTimeout),
		"maxSessionTimeout=" + ms(cfg.MaxSessionTimeout),
		"maxClientCnxns=0",
		"admin.enableServer=false",
		"4lw.commands.whitelist=ruok,srvr,stat,mntr,cons,conf,dump,envi",
		"forceSync=" + forceSync,
		"autopurge.purgeInterval=0",
	}
	p := filepath.Join(cfg.Dir, "zoo.cfg")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return "", err
	}
	return p, nil
}

// Command writes the configuration and returns the (not yet started) java
// command that runs the server in the foreground. The caller sets Stdout,
// Stderr and SysProcAttr as it needs.
func Command(cfg Config) (*exec.Cmd, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	conf, err := WriteConfig(cfg)
	if err != nil {
		return nil, err
	}
	args := append([]string{}, cfg.JVMFlags...)
	args = append(args, "-cp", cfg.ClassPath, MainClass, conf)
	cmd := exec.Command(cfg.Java, args...)
	cmd.Dir = cfg.Dir
	return cmd, nil
}

// FourLetter sends a four-letter command ("ruok", "srvr", "mntr", …) and
// returns the answer.
func FourLetter(addr, cmd string, timeout time.Duration) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte(cmd)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(bufio.NewReader(conn))
	return string(b), err
}

// WaitReady polls until the server answers `ruok` with `imok` and `srvr`
// with its mode (ZooKeeper 3.8 says imok a moment before it serves
// requests), or timeout passes. If exited is closed first (the process
// died), it gives up at once.
func WaitReady(addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ans, err := FourLetter(addr, "ruok", 500*time.Millisecond)
		if err == nil && ans == "imok" {
			ans, err = FourLetter(addr, "srvr", 500*time.Millisecond)
			if err == nil && strings.Contains(ans, "Mode: ") {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("srvr answered %q", strings.TrimSpace(ans))
			}
		} else if err == nil {
			err = fmt.Errorf("ruok answered %q", ans)
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("zktest: %s not ready after %v: %v", addr, timeout, last)
		}
		t := time.NewTimer(50 * time.Millisecond) // polling interval
		select {
		case <-exited:
			t.Stop()
			return fmt.Errorf("zktest: server exited before it was ready (last probe: %v)", last)
		case <-t.C:
		}
	}
}
