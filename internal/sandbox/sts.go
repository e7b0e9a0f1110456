package sandbox

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// STSServer serves MTA-STS policies over HTTPS (RFC 8461 §3.3) for the
// loopback world's domains: one listener answers as mta-sts.DOMAIN for
// every domain it holds a policy for, with a certificate from the world's
// CA for that name, and can be scripted to misbehave.
type STSServer struct {
	ca  *CA
	ln  net.Listener
	srv *http.Server

	mu       sync.Mutex
	policies map[string]string           // domain → policy text
	handlers map[string]http.Handler     // domain → scripted answer
	certs    map[string]*tls.Certificate // domain → certificate instead of the CA's
	requests map[string]int
}

// NewSTSServer listens on addr (e.g. "127.0.0.10:0") and serves until
// Close.
func NewSTSServer(addr string, ca *CA) (*STSServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &STSServer{ca: ca, ln: ln, policies: map[string]string{}, handlers: map[string]http.Handler{},
		certs: map[string]*tls.Certificate{}, requests: map[string]int{}}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serve),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{GetCertificate: s.certificate, MinVersion: tls.VersionTLS12},
		// A client refusing a scripted certificate is the point of a test.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go s.srv.ServeTLS(ln, "", "")
	return s, nil
}

// Addr is the host:port the server answers on.
func (s *STSServer) Addr() string { return s.ln.Addr().String() }

// Port is the port it answers on (delivery.mta_sts_port).
func (s *STSServer) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// SetPolicy serves text as domain's policy (text/plain, 200); "" stops
// serving one (404).
func (s *STSServer) SetPolicy(domain, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	domain = strings.ToLower(domain)
	if text == "" {
		delete(s.policies, domain)
		return
	}
	s.policies[domain] = text
}

// SetHandler answers domain's requests with h instead (a redirect, an
// error, a wrong type or a policy too large); nil goes back to the policy.
func (s *STSServer) SetHandler(domain string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h == nil {
		delete(s.handlers, strings.ToLower(domain))
		return
	}
	s.handlers[strings.ToLower(domain)] = h
}

// SetCertificate presents cert as mta-sts.DOMAIN instead of the CA's
// certificate for that name; nil goes back to it.
func (s *STSServer) SetCertificate(domain string, cert *tls.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cert == nil {
		delete(s.certs, strings.ToLower(domain))
		return
	}
	s.certs[strings.ToLower(domain)] = cert
}

// Requests is how many requests came for domain's policy.
func (s *STSServer) Requests(domain string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[strings.ToLower(domain)]
}

// Close stops the server.
func (s *STSServer) Close() error {
	err := s.srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *STSServer) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(hello.ServerName)
	domain, ok := strings.CutPrefix(name, "mta-sts.")
	if !ok {
		return nil, fmt.Errorf("sandbox sts: no certificate for %q", hello.ServerName)
	}
	s.mu.Lock()
	c := s.certs[domain]
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	cert, err := s.ca.Issue(name)
	return &cert, err
}

func (s *STSServer) serve(w http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	domain := strings.TrimPrefix(host, "mta-sts.")
	s.mu.Lock()
	s.requests[domain]++
	h, text := s.handlers[domain], s.policies[domain]
	s.mu.Unlock()
	switch {
	case h != nil:
		h.ServeHTTP(w, r)
	case r.URL.Path != "/.well-known/mta-sts.txt" || text == "":
		http.NotFound(w, r)
	default:
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, text)
	}
}
