package diskspace

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"sendpool/internal/testenv"
)

// TestGuard on a real small disk: low under the minimum, the reserve made
// while there is room and kept while the disk fills (whatever fills it
// would take the room too), released only when the store asks, made again
// once space is freed, and not low any more.
func TestGuard(t *testing.T) {
	dir := testenv.Tmpfs(t, 32<<20)
	g := New(Config{Dir: dir, MinFree: 12 << 20, Reserve: 8 << 20})
	defer g.Close()
	reserve := filepath.Join(dir, ReserveFile)
	waitReserve := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; {
			g.Low()
			g.mu.Lock()
			got := g.reserved && !g.filling
			g.mu.Unlock()
			if got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("reserve held = %v, want %v", got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
		_, err := os.Stat(reserve)
		if (err == nil) != want {
			t.Fatalf("reserve file there = %v, want %v", err == nil, want)
		}
	}
	waitReserve(true)
	if g.Low() {
		t.Fatal("low on a disk with 24 MB free")
	}

	// 24 MB free with the reserve: fill 14 MB, 10 MB stay: low.
	fill(t, filepath.Join(dir, "filler1"), 14<<20)
	if !g.Low() {
		free, _, _, _ := g.Status()
		t.Fatalf("not low with %d bytes free", free)
	}
	// Fill to 4 MB free, under the reserve's size: it is still held, and
	// the filler cannot have its room either.
	fill(t, filepath.Join(dir, "filler2"), 6<<20)
	g.Low()
	waitReserve(true)
	if err := os.WriteFile(filepath.Join(dir, "filler3"), make([]byte, 6<<20), 0o600); err == nil {
		t.Fatal("6 MB more written on a disk with 4 MB free and the reserve held")
	}
	os.Remove(filepath.Join(dir, "filler3"))
	// A write of the store failed: released once.
	if !g.Release() || g.Release() {
		t.Error("Release: want true once, then false")
	}
	waitReserve(false)

	// Freed: not low, and the reserve comes back.
	os.Remove(filepath.Join(dir, "filler1"))
	os.Remove(filepath.Join(dir, "filler2"))
	if g.Low() {
		t.Fatal("still low after the space was freed")
	}
	waitReserve(true)
	var nilGuard *Guard
	if nilGuard.Low() || nilGuard.Release() {
		t.Error("a nil Guard must be no check")
	}
}

func fill(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.WriteFile(path, make([]byte, n), 0o600); err != nil {
		t.Fatal(err)
	}
}
