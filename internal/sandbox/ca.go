package sandbox

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"sync"
	"time"
)

// CA is the loopback world's certificate authority: it issues the sinks'
// certificates for their MX names and the MTA-STS policy hosts'. A node
// trusts it through delivery.tls_ca_file (WriteFile). Its certificates
// run on the real clock: a verifier judges them by it.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte

	mu     sync.Mutex
	issued map[string]tls.Certificate // by the names, for Issue
}

// NewCA makes a CA named name, valid from an hour ago for a year.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"sendpool sandbox"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		issued: map[string]tls.Certificate{}}, nil
}

// Certificate is the CA's own certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// PEM is the CA's certificate in PEM, as delivery.tls_ca_file holds it.
func (ca *CA) PEM() []byte { return ca.pem }

// Pool is a pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// WriteFile writes the CA's certificate to path (mode 0644).
func (ca *CA) WriteFile(path string) error { return os.WriteFile(path, ca.pem, 0o644) }

// Issue returns a server certificate for names (the first is the subject),
// valid from an hour ago for 30 days; the same names get the same one.
func (ca *CA) Issue(names ...string) (tls.Certificate, error) {
	key := fmt.Sprint(names)
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c, ok := ca.issued[key]; ok {
		return c, nil
	}
	now := time.Now()
	c, err := ca.IssueValid(now.Add(-time.Hour), now.AddDate(0, 0, 30), names...)
	if err == nil {
		ca.issued[key] = c
	}
	return c, err
}

// IssueValid returns a new server certificate for names valid from
// notBefore to notAfter (an expired one, say).
func (ca *CA) IssueValid(notBefore, notAfter time.Time, names ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// ServerTLS is a server configuration presenting cert.
func ServerTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}
