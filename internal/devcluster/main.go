// Command devcluster starts and stops a local Troupe cluster for `make
// cluster` / `make cluster-stop`: a ZooKeeper on 127.0.0.1:2181 and three
// brokers on 127.0.0.1:9092–9094, all in the background, with data, logs
// and pid files under .cluster/ in the repository.
//
//	go run ./internal/devcluster up [-brokers 3] [-dir .cluster] [-bin bin/troupe]
//	go run ./internal/devcluster down [-dir .cluster]
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/troupe-mq/troupe/internal/zktest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: devcluster up|down [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", ".cluster", "where data, logs and pid files go")
	brokers := fs.Int("brokers", 3, "number of brokers")
	bin := fs.String("bin", "bin/troupe", "troupe binary")
	zkPort := fs.Int("zk-port", 2181, "ZooKeeper client port")
	basePort := fs.Int("port", 9092, "Kafka port of broker 1 (broker N uses port+N-1)")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "up":
		err = up(*dir, *bin, *brokers, *zkPort, *basePort)
	case "down":
		err = down(*dir)
	default:
		err = fmt.Errorf("unknown command %q (want up or down)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func up(dir, bin string, brokers, zkPort, basePort int) error {
	if _, err := os.Stat(filepath.Join(dir, "zookeeper.pid")); err == nil {
		return errors.New("a cluster is already running here; run `make cluster-stop` first")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	zkDir, _ := filepath.Abs(filepath.Join(dir, "zookeeper"))
	cmd, err := zktest.Command(zktest.Config{Dir: zkDir, Port: zkPort, TickTime: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	if err := startBackground(cmd, filepath.Join(dir, "zookeeper.log"), filepath.Join(dir, "zookeeper.pid")); err != nil {
		return fmt.Errorf("zookeeper: %w", err)
	}
	zkAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(zkPort))
	if err := zktest.WaitReady(zkAddr, 30*time.Second, nil); err != nil {
		return err
	}
	var bootstrap []string
	for id := 1; id <= brokers; id++ {
		listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(basePort+id-1))
		data, _ := filepath.Abs(filepath.Join(dir, fmt.Sprintf("broker-%d", id)))
		cmd := exec.Command(bin, "serve", "--id", strconv.Itoa(id), "--listen", listen, "--data-dir", data,
			"--zookeeper", zkAddr, "--remote", net.JoinHostPort("127.0.0.1", strconv.Itoa(basePort+id-1+1000)),
			"--override", "default.replication.factor="+strconv.Itoa(min(3, brokers)),
			"--override", "zookeeper.session.timeout.ms=6000", "--log-format", "json")
		if err := startBackground(cmd, filepath.Join(dir, fmt.Sprintf("broker-%d.log", id)), filepath.Join(dir, fmt.Sprintf("broker-%d.pid", id))); err != nil {
			return fmt.Errorf("broker %d: %w", id, err)
		}
		bootstrap = append(bootstrap, listen)
	}
	for _, addr := range bootstrap {
		if err := waitPort(addr, 30*time.Second); err != nil {
			return err
		}
	}
	fmt.Printf("ZooKeeper: %s\nBrokers:   %s\nLogs:      %s/*.log\n\nbootstrap: %s\n", zkAddr, strings.Join(bootstrap, ","), dir, strings.Join(bootstrap, ","))
	return nil
}

func startBackground(cmd *exec.Cmd, logPath, pidPath string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this command
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := os.WriteFile(pidPath, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return err
	}
	return cmd.Process.Release()
}

func waitPort(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not start listening within %v (see its log)", addr, timeout)
		}
		time.Sleep(100 * time.Millisecond) // polling a port; not synchronization between our own goroutines
	}
}

// down stops brokers first (SIGTERM, so they shut down cleanly), then ZooKeeper.
func down(dir string) error {
	pids, _ := filepath.Glob(filepath.Join(dir, "broker-*.pid"))
	pids = append(pids, filepath.Join(dir, "zookeeper.pid"))
	var errs []error
	for _, p := range pids {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if pid > 0 {
			if err := stopProcess(pid, 40*time.Second); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", filepath.Base(p), err))
			}
		}
		_ = os.Remove(p)
	}
	if len(errs) == 0 {
		fmt.Println("cluster stopped")
	}
	return errors.Join(errs...)
}

func stopProcess(pid int, timeout time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		time.Sleep(100 * time.Millisecond) // polling another process's exit
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}
