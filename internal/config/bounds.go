package config

import "time"

// SubmissionBounds bound what one client, or many, can make a node hold
// (issue 13): connections, the time a session that never sends mail may
// last, the commands it may waste, and the size of a header section. They
// are part of [submission].
type SubmissionBounds struct {
	// MaxConnections caps this node's open submission connections; a
	// connection past it gets 421 4.7.0 and is closed at once (SPEC §3).
	MaxConnections int `toml:"max_connections"`
	// MaxConnectionsPerIP caps those from one client IP (an IPv6
	// client's /64), with the same answer.
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
	// MaxHeaderSize caps a message's header section, counted as it
	// arrives: past it, 552 5.3.4 (SPEC §3).
	MaxHeaderSize Size `toml:"max_header_size"`
	// LoginTimeout is how long a session may last before it has
	// authenticated or started a mail transaction (MAIL accepted); then
	// 421 4.4.2 and the connection is closed, however busy it keeps.
	LoginTimeout Duration `toml:"login_timeout"`
	// MaxJunkCommands caps the NOOP, RSET, VRFY and HELP commands since
	// the session's last accepted message: past it, 421 4.7.0 and the
	// connection is closed, as Postfix's smtpd_junk_command_limit does.
	MaxJunkCommands int `toml:"max_junk_commands"`
	// MaxErrors caps the commands refused since the session's last
	// accepted message, likewise (Postfix's smtpd_hard_error_limit).
	MaxErrors int `toml:"max_errors"`
}

// HTTPBounds bound the HTTP listener (API, panel, /metrics): how long a
// request or an idle keep-alive connection may take, the size of a
// request's header, and how many connections are open at once. They are
// part of [http].
type HTTPBounds struct {
	ReadHeaderTimeout Duration `toml:"read_header_timeout"` // the request line and header
	// ReadTimeout is the whole request, body included (POST
	// /api/v1/send's up to twice max_message_size).
	ReadTimeout  Duration `toml:"read_timeout"`
	WriteTimeout Duration `toml:"write_timeout"` // the answer (a pprof profile gets its duration more)
	IdleTimeout  Duration `toml:"idle_timeout"`  // a keep-alive connection between requests
	// MaxHeaderBytes caps the request line and header.
	MaxHeaderBytes Size `toml:"max_header_bytes"`
	// MaxConnections caps open connections; past it new ones wait in the
	// kernel's queue until one closes.
	MaxConnections int `toml:"max_connections"`
}

// StoreBounds keep the embedded store working when its disk fills. Part of
// [store].
type StoreBounds struct {
	// MinFreeSpace: with less free space than this on data_dir's
	// filesystem, new mail is refused (SMTP 452 4.3.1 at MAIL, HTTP 507)
	// while deliveries, DSNs, purges and deletes go on; submission
	// resumes by itself once space is freed. "0": no check. Only with
	// store.backend = "sqlite": MongoDB's disk is its server's.
	MinFreeSpace Size `toml:"min_free_space"`
}

// Constants of the bounds that are not worth a key.
const (
	// SpaceCheckEvery is how long one look at the free disk space
	// (statfs) is reused.
	SpaceCheckEvery = time.Second
	// SpaceReserveMin and SpaceReserveMax bound the reserve file kept in
	// data_dir (a quarter of min_free_space): released when a write of
	// the store finds the disk full, so that the store can still record
	// deliveries and delete messages. SQLite's WAL holds up to 4 MB before a checkpoint
	// copies it into the database file, which may have to grow by as
	// much: on a full 16 MB tmpfs a 6 MB reserve let every write go on
	// (lease, report, delete, then a Put once space was freed), none
	// without one.
	SpaceReserveMin = 8 << 20
	SpaceReserveMax = 32 << 20
	// HealthProbeTimeout bounds each part's probe of /healthz;
	// HealthCacheFor is how long one round of probes answers /healthz.
	HealthProbeTimeout = 2 * time.Second
	HealthCacheFor     = time.Second
	// IntegrityCheckBudget is how long serve waits at start for the
	// embedded store's PRAGMA quick_check (about 1.3 s per GB with the
	// file in the page cache, 15 s per GB from a cold disk); a longer
	// check goes on in the background and a corruption it finds fails
	// /healthz.
	IntegrityCheckBudget = 5 * time.Second
	// QueueCountsEvery is the least time between two counts of the queue
	// for /metrics (a GROUP BY over every delivery): scrapes in between
	// get the last count.
	QueueCountsEvery = 5 * time.Second
)

func defaultSubmissionBounds() SubmissionBounds {
	return SubmissionBounds{
		MaxConnections:      1000,
		MaxConnectionsPerIP: 50,
		MaxHeaderSize:       1 << 20,
		LoginTimeout:        Duration(5 * time.Minute),
		MaxJunkCommands:     100,
		MaxErrors:           20,
	}
}

func defaultHTTPBounds() HTTPBounds {
	return HTTPBounds{
		ReadHeaderTimeout: Duration(10 * time.Second),
		ReadTimeout:       Duration(2 * time.Minute),
		WriteTimeout:      Duration(time.Minute),
		IdleTimeout:       Duration(time.Minute),
		MaxHeaderBytes:    64 << 10,
		MaxConnections:    1000,
	}
}

func defaultStoreBounds() StoreBounds { return StoreBounds{MinFreeSpace: 1 << 30} }

// SpaceReserve is the size of the reserve file kept in data_dir: a quarter
// of min_free_space, within SpaceReserveMin and SpaceReserveMax; 0
// without the check.
func (s StoreBounds) SpaceReserve() int64 {
	if s.MinFreeSpace <= 0 {
		return 0
	}
	return min(max(int64(s.MinFreeSpace)/4, SpaceReserveMin), SpaceReserveMax)
}

// validateBounds checks the bounds of [submission], [http] and [store].
func (c *Config) validateBounds(bad func(key, format string, args ...any)) {
	positive := func(key string, v int64) {
		if v <= 0 {
			bad(key, "must be positive")
		}
	}
	s := c.Submission.SubmissionBounds
	positive("submission.max_connections", int64(s.MaxConnections))
	positive("submission.max_connections_per_ip", int64(s.MaxConnectionsPerIP))
	if s.MaxConnectionsPerIP > s.MaxConnections && s.MaxConnections > 0 {
		bad("submission.max_connections_per_ip", "must not exceed submission.max_connections (%d)", s.MaxConnections)
	}
	// A header limit over max_message_size is no error: the message's
	// limit comes first.
	positive("submission.max_header_size", int64(s.MaxHeaderSize))
	positive("submission.login_timeout", int64(s.LoginTimeout))
	positive("submission.max_junk_commands", int64(s.MaxJunkCommands))
	positive("submission.max_errors", int64(s.MaxErrors))

	h := c.HTTP.HTTPBounds
	positive("http.read_header_timeout", int64(h.ReadHeaderTimeout))
	positive("http.read_timeout", int64(h.ReadTimeout))
	positive("http.write_timeout", int64(h.WriteTimeout))
	positive("http.idle_timeout", int64(h.IdleTimeout))
	positive("http.max_header_bytes", int64(h.MaxHeaderBytes))
	positive("http.max_connections", int64(h.MaxConnections))

	if c.Store.MinFreeSpace < 0 {
		bad("store.min_free_space", "must not be negative (\"0\" turns the check off)")
	}
}
