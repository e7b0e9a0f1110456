// Package diskspace keeps the embedded store's disk from filling up under
// it (store.min_free_space, issue 13). Below the minimum, new mail is
// refused (intake asks Low) while what is queued is delivered, completed,
// bounced, purged and deleted, which is what frees space; submission
// resumes by itself once there is room again.
//
// Refusing new mail is not enough when something else fills the disk
// (logs, another program): SQLite then needs a little room to record a
// delivery or a deletion (its WAL grows before a checkpoint can write the
// pages back). So the Guard keeps a reserve file in the data directory,
// released only when one of the store's writes fails for lack of space
// (Release), and made again once there is room. It is not given up early,
// when the disk is merely about to fill: whatever is filling the disk
// would take that room too, and the store's next write would find none.
package diskspace

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ReserveFile is the reserve's name in the directory.
const ReserveFile = "space.reserve"

// Config is what a Guard needs.
type Config struct {
	Dir     string // the data directory
	MinFree int64  // under it Low is true; 0: never
	// Reserve is the size of the reserve file; 0: none.
	Reserve int64
	// Every is how long one look at the filesystem (statfs) is reused:
	// Low is asked at every MAIL.
	Every  time.Duration
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
}

// Guard watches one directory's filesystem. Safe for concurrent use. A nil
// *Guard is no check: never low, nothing to release.
type Guard struct {
	cfg  Config
	log  *slog.Logger
	path string // the reserve file

	mu       sync.Mutex
	at       time.Time // of the last look
	free     int64
	err      error
	low      bool
	reserved bool // the reserve file is there, whole
	filling  bool // a goroutine is making it
	fillDone chan struct{}
}

// New returns a Guard and makes the reserve file if there is room for it.
// An old reserve file (from a previous run) is counted as held.
func New(cfg Config) *Guard {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Guard{cfg: cfg, log: cfg.Logger, path: filepath.Join(cfg.Dir, ReserveFile)}
	if fi, err := os.Stat(g.path); err == nil && fi.Size() >= cfg.Reserve {
		g.reserved = true
	}
	g.mu.Lock()
	g.refreshLocked()
	g.mu.Unlock()
	return g
}

// Low reports whether the free space is under the minimum, looking again
// at most once per Config.Every. An unknown free space is not low: a
// failing statfs must not stop the mail (it is logged).
func (g *Guard) Low() bool {
	if g == nil || g.cfg.MinFree <= 0 {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cfg.Now().Sub(g.at) >= g.cfg.Every {
		g.refreshLocked()
	}
	return g.low
}

// Status returns the free space of the last look and whether it is low.
func (g *Guard) Status() (free, minFree int64, low bool, err error) {
	if g == nil {
		return 0, 0, false, nil
	}
	low = g.Low()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.free, g.cfg.MinFree, low, g.err
}

// Release deletes the reserve file, if it is there, and reports whether it
// was: the store calls it when a write failed for lack of space, then
// tries again.
func (g *Guard) Release() bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.at = time.Time{} // look again at the next Low
	if !g.reserved {
		return false
	}
	if err := os.Remove(g.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		g.log.Error("disk space: cannot delete the reserve file", "file", g.path, "err", err)
		return false
	}
	g.reserved = false
	g.log.Warn("disk space: reserve released: a write of the store failed for lack of space",
		"file", g.path, "bytes", g.cfg.Reserve)
	return true
}

// Close waits for a reserve being made.
func (g *Guard) Close() error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	done := g.fillDone
	g.mu.Unlock()
	if done != nil {
		<-done
	}
	return nil
}

func (g *Guard) refreshLocked() {
	g.at = g.cfg.Now()
	free, err := available(g.cfg.Dir)
	if err != nil {
		if g.err == nil || g.err.Error() != err.Error() {
			g.log.Warn("disk space: cannot read the free space; store.min_free_space is not enforced",
				"dir", g.cfg.Dir, "err", err)
		}
		g.err, g.low = err, false
		return
	}
	g.err, g.free = nil, free
	low := g.cfg.MinFree > 0 && free < g.cfg.MinFree
	if low != g.low {
		if low {
			g.log.Warn("disk space low: new mail refused (452 4.3.1) until space is freed; queued mail still goes out",
				"dir", g.cfg.Dir, "free", free, "min_free_space", g.cfg.MinFree)
		} else {
			g.log.Info("disk space back over store.min_free_space: new mail accepted again",
				"dir", g.cfg.Dir, "free", free, "min_free_space", g.cfg.MinFree)
		}
		g.low = low
	}
	if !g.reserved && !g.filling && g.cfg.Reserve > 0 && free >= g.cfg.MinFree+g.cfg.Reserve {
		// Room for the reserve without going under the minimum.
		g.filling = true
		g.fillDone = make(chan struct{})
		go g.fill(g.fillDone)
	}
}

// fill makes the reserve file with its blocks really taken: allocated
// (fallocate) where the filesystem can, else written (random bytes: a
// compressing filesystem would keep zeros for free, and a sparse file
// holds nothing), synced, then renamed into place.
func (g *Guard) fill(done chan struct{}) {
	defer close(done)
	err := g.write()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.filling = false
	if err != nil {
		g.log.Warn("disk space: cannot make the reserve file", "file", g.path, "err", err)
		return
	}
	g.reserved = true
}

func (g *Guard) write() error {
	tmp := g.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err = allocate(f, g.cfg.Reserve); err != nil {
		var seed [32]byte
		src := rand.NewChaCha8(seed) // content never matters, only that it does not compress
		chunk := make([]byte, 1<<20)
		err = nil
		for left := g.cfg.Reserve; left > 0 && err == nil; left -= int64(len(chunk)) {
			src.Read(chunk)
			_, err = f.Write(chunk[:min(int64(len(chunk)), left)])
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, g.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%d bytes: %w", g.cfg.Reserve, err)
	}
	return nil
}
