//go:build !unix

package sqlite

// sameOwner does nothing where files have no Unix owner.
func sameOwner(ref string, files ...string) {}
