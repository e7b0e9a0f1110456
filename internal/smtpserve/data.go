package smtpserve

import (
	"io"
	"net"
	"time"
)

// DataReader wraps the reader go-smtp gives a session's Data: each read
// extends conn's read deadline by timeout (go-smtp sets it once per
// command, so a large DATA on a slow link would otherwise have to fit in
// one timeout), and with maxHeader > 0 a header section past maxHeader
// bytes fails with ErrHeaderTooBig as it arrives.
func DataReader(r io.Reader, conn net.Conn, timeout time.Duration, maxHeader int64) io.Reader {
	var out io.Reader = &deadlineReader{r: r, conn: conn, timeout: timeout}
	if maxHeader > 0 {
		out = &headerLimit{r: out, limit: maxHeader}
	}
	return out
}

// deadlineReader extends the read deadline as the message arrives.
type deadlineReader struct {
	r       io.Reader
	conn    net.Conn
	timeout time.Duration
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	// go-smtp's reader fills p before returning: keep each read small so
	// that the deadline moves along with the data.
	if len(p) > 32<<10 {
		p = p[:32<<10]
	}
	d.conn.SetReadDeadline(time.Now().Add(d.timeout))
	return d.r.Read(p)
}
