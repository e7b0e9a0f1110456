// Package spool keeps a message body out of memory once it is large
// (issue 13): a submission is written to memory up to a threshold and to a
// file under the data directory past it, and the checks, the DKIM signer
// and the store then read it from there. Four 24 MB submissions held whole,
// several times over, had taken RSS from 144 MB to 712 MB.
package spool

import (
	"fmt"
	"os"
	"path/filepath"
)

// Threshold is the size past which a body goes to a file: small mail (the
// bulk of it) stays in memory, where it is fastest, and a large message
// costs at most this much memory while it arrives.
const Threshold = 1 << 20

// Dir makes spool files in one directory. Every file in it belongs to a
// submission under way, so Open removes what a crash left behind.
type Dir struct {
	path      string
	threshold int
}

// Open returns the spool in path (server.data_dir/spool), created if
// missing, after removing the files a crash left there. threshold 0 takes
// Threshold.
func Open(path string, threshold int) (*Dir, error) {
	if threshold <= 0 {
		threshold = Threshold
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	left, err := filepath.Glob(filepath.Join(path, "*"+suffix))
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, f := range left {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("spool: remove %s left by a crash: %w", f, err)
		}
	}
	return &Dir{path: path, threshold: threshold}, nil
}

// suffix names spool files, so that Open removes nothing else.
const suffix = ".spool"

// create makes a new spool file. It is unlinked at once where the system
// allows (not on Windows): the open descriptor keeps it readable, and no
// failure, crash included, can leave it behind.
func (d *Dir) create() (*os.File, error) {
	f, err := os.CreateTemp(d.path, "body-*"+suffix)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	// A file that cannot be unlinked now is removed by Body.Close, or by
	// Open after a crash.
	_ = os.Remove(f.Name())
	return f, nil
}
