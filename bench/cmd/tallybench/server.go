package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a Tally server running as a separate process.
type process struct {
	cmd      *exec.Cmd
	url      string
	orgToken string
	userKey  string
	dbPath   string // SQLite file, "" on PostgreSQL
	done     chan error
}

// buildTally builds ./cmd/tally into dir unless a binary was given.
func buildTally(ctx context.Context, dir, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	bin := filepath.Join(dir, "tally")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/tally")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/tally (run tallybench from the repository root): %w", err)
	}
	return bin, nil
}

var listenRE = regexp.MustCompile(`listening on (http://\S+)`)

// startTally runs `tally serve` on db with its working directory in dir,
// waits for it to listen, and reads the bootstrap credentials.
func startTally(ctx context.Context, bin, dir, db string, logw io.Writer) (*process, error) {
	p := &process{done: make(chan error, 1)}
	if db == "" {
		p.dbPath = filepath.Join(dir, "tally-data", "tally.db")
		db = p.dbPath
	}
	p.cmd = exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", db, "--log-level", "warn")
	p.cmd.Dir = dir
	p.cmd.Stderr = logw
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start tally: %w", err)
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start tally: %w", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	select {
	case p.url = <-urlc:
	case err := <-p.done:
		return nil, fmt.Errorf("tally exited before listening: %v", err)
	case <-time.After(60 * time.Second):
		p.stop()
		return nil, fmt.Errorf("tally did not start within 60s")
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
	raw, err := os.ReadFile(filepath.Join(dir, "tally-data", "bootstrap.json"))
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("read bootstrap credentials (the database must be empty): %w", err)
	}
	var creds struct{ OrgToken, UserKey string }
	if err := json.Unmarshal(raw, &creds); err != nil {
		p.stop()
		return nil, fmt.Errorf("parse bootstrap.json: %w", err)
	}
	p.orgToken, p.userKey = creds.OrgToken, creds.UserKey
	return p, nil
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// peakRSS is the server's peak resident set size in bytes (VmHWM).
func (p *process) peakRSS() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read process status: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmHWM: %w", err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in process status")
}

// dbSize is the size on disk of a SQLite database with its WAL.
func dbSize(path string) (int64, error) {
	var total int64
	for _, suffix := range []string{"", "-wal", "-shm"} {
		st, err := os.Stat(path + suffix)
		if err == nil {
			total += st.Size()
		} else if !os.IsNotExist(err) {
			return 0, fmt.Errorf("stat %s: %w", path+suffix, err)
		}
	}
	return total, nil
}
