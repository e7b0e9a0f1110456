package dns

import (
	"errors"
	"net"
)

// NetError returns err in the form libraries written against net.Resolver
// understand (blitiri.com.ar/go/spf, go-msgauth's dkim and dmarc): a
// *net.DNSError with IsNotFound for NXDOMAIN and NODATA, IsTemporary for a
// failure to find out, neither for other permanent failures. nil stays nil.
func NetError(err error) error {
	if err == nil {
		return nil
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de
	}
	e := &net.DNSError{Err: err.Error()}
	var our *Error
	if errors.As(err, &our) {
		e.Name = our.Name
		e.Err = our.Msg
		e.IsNotFound = our.NotFound
		e.IsTemporary = !our.Permanent
	} else if !errors.Is(err, ErrNullMX) {
		e.IsTemporary = true // unknown means temporary
	}
	return e
}
