package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// relayCert is the certificate of the relay the hosting server's Postfix
// connects to in the postfix-smarthost workload: one self-signed ECDSA
// P-256 certificate made per run and served by whichever relay is
// measured, sendpool or Postfix, so that their TLS handshakes cost the
// same (the hosting server does not verify it: smtp_tls_security_level =
// encrypt).
type relayCert struct {
	CertFile, KeyFile string
}

// makeRelayCert writes a fresh certificate for relay.bench.test and
// 127.0.0.1 and its key, PEM, into dir.
func makeRelayCert(dir string) (relayCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return relayCert{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return relayCert{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "relay.bench.test"},
		DNSNames:     []string{"relay.bench.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return relayCert{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return relayCert{}, err
	}
	c := relayCert{CertFile: filepath.Join(dir, "relay-cert.pem"), KeyFile: filepath.Join(dir, "relay-key.pem")}
	if err := os.WriteFile(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return relayCert{}, err
	}
	if err := os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return relayCert{}, err
	}
	return c, nil
}
