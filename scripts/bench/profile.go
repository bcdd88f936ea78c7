package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CPUShare is where the CPU went during a stretch of a run: the seconds
// each process spent on a core (user + system, from /proc) beside the wall
// time. The bench process holds the local host and the load client (its
// creates and the webhook sink); the moto processes are the emulators.
// A process near WallS seconds is a saturated core: the bottleneck.
type CPUShare struct {
	WallS         float64 `json:"wall_s"`
	BenchProcessS float64 `json:"bench_process_s"`
	MotoSQSS      float64 `json:"moto_sqs_s"`
	MotoDynamoDBS float64 `json:"moto_dynamodb_s"`
}

// cpuSampler samples the CPU time of this process and of the emulators
// every cpuEvery, so that a stretch known only afterwards (from a task's
// due time to the last arrival) can be priced (between).
type cpuSampler struct {
	sqsPID, ddbPID int
	mu             sync.Mutex
	samples        []cpuSample
	stopc          chan struct{}
	done           chan struct{}
}

type cpuSample struct {
	at             time.Time
	self, sqs, ddb float64
}

const cpuEvery = 100 * time.Millisecond

func startCPU(sqsPID, ddbPID int) *cpuSampler {
	c := &cpuSampler{sqsPID: sqsPID, ddbPID: ddbPID, stopc: make(chan struct{}), done: make(chan struct{})}
	c.sample()
	go func() {
		defer close(c.done)
		t := time.NewTicker(cpuEvery)
		defer t.Stop()
		for {
			select {
			case <-c.stopc:
				return
			case <-t.C:
				c.sample()
			}
		}
	}()
	return c
}

func (c *cpuSampler) sample() {
	s := cpuSample{at: time.Now(), self: procCPU(0), sqs: -1, ddb: -1}
	if c.sqsPID > 0 {
		s.sqs = procCPU(c.sqsPID)
	}
	if c.ddbPID > 0 && c.ddbPID != c.sqsPID {
		s.ddb = procCPU(c.ddbPID)
	}
	c.mu.Lock()
	c.samples = append(c.samples, s)
	c.mu.Unlock()
}

func (c *cpuSampler) stop() {
	close(c.stopc)
	<-c.done
}

// between is the CPU each process spent from the last sample at or before
// from to the first at or after to (-1 where /proc could not say).
func (c *cpuSampler) between(from, to time.Time) CPUShare {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.samples) == 0 {
		return CPUShare{}
	}
	a, b := c.samples[0], c.samples[len(c.samples)-1]
	for _, s := range c.samples {
		if !s.at.After(from) {
			a = s
		}
	}
	for i := len(c.samples) - 1; i >= 0; i-- {
		if !c.samples[i].at.Before(to) {
			b = c.samples[i]
		}
	}
	d := func(before, after float64) float64 {
		if before < 0 || after < 0 {
			return -1
		}
		return round3(after - before)
	}
	return CPUShare{WallS: round3(b.at.Sub(a.at).Seconds()), BenchProcessS: d(a.self, b.self), MotoSQSS: d(a.sqs, b.sqs), MotoDynamoDBS: d(a.ddb, b.ddb)}
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux this runs on.
const clockTicks = 100

// procCPU is the user + system CPU seconds of pid (0: this process), or
// -1 when /proc cannot say (not Linux, or the process is gone).
func procCPU(pid int) float64 {
	p := "/proc/self/stat"
	if pid > 0 {
		p = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(p) //nolint:gosec // a /proc path built from a pid
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces: fields count from after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (ut + st) / clockTicks
}

// motoPID is the pid of the emulator scripts/emulator.sh started on port
// (its pid file), or 0.
func motoPID(root, port string) int {
	b, err := os.ReadFile(filepath.Join(root, ".run", "moto-"+port+".pid")) //nolint:gosec // our own run directory
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

// profiler writes pprof CPU, block and mutex profiles of this process (the
// local host runs in it) for one stretch of a run into dir, named for it.
type profiler struct {
	dir, name string
	cpu       *os.File
}

// startProfile starts profiling; it returns nil (and profiles nothing)
// when dir is empty.
func startProfile(dir, name string) (*profiler, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // profiles are meant to be read
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, name+".cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	// One sample per 100 µs blocked, and every contended mutex event.
	runtime.SetBlockProfileRate(int(100 * time.Microsecond))
	runtime.SetMutexProfileFraction(1)
	return &profiler{dir: dir, name: name, cpu: f}, nil
}

func (p *profiler) stop() {
	if p == nil {
		return
	}
	pprof.StopCPUProfile()
	_ = p.cpu.Close()
	for _, kind := range []string{"block", "mutex"} {
		if f, err := os.Create(filepath.Join(p.dir, p.name+"."+kind+".pprof")); err == nil {
			_ = pprof.Lookup(kind).WriteTo(f, 0)
			_ = f.Close()
		}
	}
	runtime.SetBlockProfileRate(0)
	runtime.SetMutexProfileFraction(0)
	logf("profiles of %s written to %s", p.name, p.dir)
}
