// Package dkim is sendpool's DKIM (RFC 6376): per-domain keys, RSA-2048 and
// Ed25519 (RFC 8463), made when a domain is added; their lifecycle
// (rotation to a pending pair that signs only once its record is seen in
// DNS, retirement); signing at acceptance; and verification of received
// mail for the inbound side.
//
// Selectors are named sp<yyyymm>r (RSA) and sp<yyyymm>e (Ed25519) after the
// month the key was made, e.g. sp202611r; a second rotation in the same
// month appends a number: sp202611r2, sp202611e2.
package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"sendpool/internal/domain"
)

// RSABits is the modulus size of new RSA keys: 2048 is what receivers
// expect (RFC 8301 §3.2 requires at least 1024, recommends 2048).
const RSABits = 2048

// Generate makes a new key pair of alg named selector, in state st, created
// at now (an active key is activated at now too).
func Generate(alg domain.Algorithm, selector string, st domain.KeyState, now time.Time) (domain.Key, error) {
	var priv crypto.Signer
	var pubBytes []byte
	switch alg {
	case domain.RSA:
		k, err := rsa.GenerateKey(rand.Reader, RSABits)
		if err != nil {
			return domain.Key{}, fmt.Errorf("dkim: generate rsa key: %w", err)
		}
		if pubBytes, err = x509.MarshalPKIXPublicKey(&k.PublicKey); err != nil {
			return domain.Key{}, fmt.Errorf("dkim: marshal rsa public key: %w", err)
		}
		priv = k
	case domain.Ed25519:
		pub, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return domain.Key{}, fmt.Errorf("dkim: generate ed25519 key: %w", err)
		}
		// RFC 8463 §4.2: p= is the bare 32-byte public key.
		pubBytes, priv = pub, k
	default:
		return domain.Key{}, fmt.Errorf("dkim: unknown algorithm %q", alg)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return domain.Key{}, fmt.Errorf("dkim: marshal private key: %w", err)
	}
	k := domain.Key{
		Selector:   selector,
		Algorithm:  alg,
		PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		PublicKey:  base64.StdEncoding.EncodeToString(pubBytes),
		Created:    now,
		State:      st,
	}
	if st == domain.Active {
		k.ActivatedAt = now
	}
	return k, nil
}

// Selector returns the selector for a new key of alg made at now that d
// does not use yet (d may be nil).
func Selector(d *domain.Domain, alg domain.Algorithm, now time.Time) string {
	suffix := "r"
	if alg == domain.Ed25519 {
		suffix = "e"
	}
	base := "sp" + now.UTC().Format("200601") + suffix
	sel := base
	for n := 2; d != nil; n++ {
		if _, taken := d.Key(sel); !taken {
			break
		}
		sel = base + strconv.Itoa(n)
	}
	return sel
}

// RecordName is where a key's record is published (RFC 6376 §3.6.2.1).
func RecordName(selector, domainName string) string {
	return selector + "._domainkey." + domainName
}

// RecordValue is the TXT value of a key's record (RFC 6376 §3.6.1).
func RecordValue(k domain.Key) string {
	return "v=DKIM1; k=" + string(k.Algorithm) + "; p=" + k.PublicKey
}

// Record is a parsed key record.
type Record struct {
	Algorithm domain.Algorithm // k=, "rsa" when absent
	PublicKey string           // p=, whitespace removed; "" is a revoked key
}

// ParseRecord parses a key record's tag list (RFC 6376 §3.6.1, §3.2).
func ParseRecord(txt string) (Record, error) {
	tags := map[string]string{}
	for _, part := range strings.Split(txt, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return Record{}, fmt.Errorf("dkim: tag %q has no value", part)
		}
		name = strings.TrimSpace(name)
		if _, dup := tags[name]; dup {
			// RFC 6376 §3.2: a duplicated tag makes the whole list invalid.
			return Record{}, fmt.Errorf("dkim: tag %s twice", name)
		}
		tags[name] = strings.Join(strings.Fields(value), "")
	}
	if v, ok := tags["v"]; ok && v != "DKIM1" {
		return Record{}, fmt.Errorf("dkim: version %q, want DKIM1", v)
	}
	p, ok := tags["p"]
	if !ok {
		return Record{}, errors.New("dkim: no p= tag")
	}
	alg := domain.Algorithm(strings.ToLower(tags["k"]))
	if alg == "" {
		alg = domain.RSA
	}
	return Record{Algorithm: alg, PublicKey: p}, nil
}

// Matches reports whether txt is the record of k: same algorithm, same
// public key.
func Matches(txt string, k domain.Key) bool {
	r, err := ParseRecord(txt)
	return err == nil && r.Algorithm == k.Algorithm && r.PublicKey == k.PublicKey
}

// ParsePrivateKey parses a key's PKCS #8 PEM.
func ParsePrivateKey(k domain.Key) (crypto.Signer, error) {
	b, _ := pem.Decode([]byte(k.PrivateKey))
	if b == nil {
		return nil, fmt.Errorf("dkim: key %s: no PEM block", k.Selector)
	}
	p, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("dkim: key %s: %w", k.Selector, err)
	}
	s, ok := p.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("dkim: key %s: %T cannot sign", k.Selector, p)
	}
	return s, nil
}
