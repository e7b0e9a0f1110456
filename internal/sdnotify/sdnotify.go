// Package sdnotify tells systemd how a Type=notify service is doing
// (sd_notify(3)) without cgo or libsystemd: the protocol is one datagram
// of newline-separated VAR=value assignments, sent to the unix datagram
// socket systemd names in $NOTIFY_SOCKET.
package sdnotify

import "net"

// The states sendpool sends.
const (
	Ready    = "READY=1"    // every listener is up: systemd starts what waits on the unit
	Stopping = "STOPPING=1" // shutting down: systemd shows "deactivating" rather than a failure
)

// Send sends state to socket, the value of $NOTIFY_SOCKET. An empty socket
// (not started by systemd, or without Type=notify) sends nothing. A name
// starting with "@" is in the abstract namespace (net makes it so).
func Send(socket, state string) error {
	if socket == "" {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
