package sqlite

import "fmt"

// ownedBytes is a blob scanned without a second copy. Scanning into a
// *[]byte makes database/sql clone the driver's value, so a message body
// read for delivery was copied twice (SQLite's page → the driver's slice →
// database/sql's). modernc.org/sqlite makes a new slice for every blob it
// returns (rows.Next → conn.columnBlob: make, then copy), which nothing
// else then holds, so the scanner keeps that slice as it is.
// database/sql allows a driver to reuse its buffers; TestOwnedBytesNotReused
// fails if this driver starts to, and Scan must then copy.
type ownedBytes []byte

// Scan implements sql.Scanner. NULL scans as nil.
func (o *ownedBytes) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*o = nil
	case []byte:
		*o = v
	case string: // a TEXT value: converting copies it once
		*o = []byte(v)
	default:
		return fmt.Errorf("sqlite: scan %T into bytes", src)
	}
	return nil
}
