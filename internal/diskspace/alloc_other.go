//go:build !linux

package diskspace

import (
	"errors"
	"os"
)

// allocate is Linux's fallocate; elsewhere the reserve is written.
func allocate(*os.File, int64) error { return errors.ErrUnsupported }
