// Package certificate signs and verifies the tokens behind the QR codes on the
// portal's e-certificates (电子证照: residence permit, move-in permit), masks
// the personal data those tokens carry, and renders the QR codes.
//
// A printed certificate carries a QR code for <public base>/verify/<token>.
// Anyone may open that page without logging in and sees only what the token
// carries: kind, number, masked holder, masked ID and issue date. The token is
// signed with Ed25519 so that a verifier can also check it offline against the
// key published at GET /api/v1/verify/key.
//
// Token format, version 1 (at most 512 bytes, base64url alphabet and dots only,
// so it is safe in a URL path):
//
//	v1.<kid>.<payload>.<sig>
//
// kid is the hex of the first 8 bytes of SHA-256 of the 32-byte public key.
// payload is base64url without padding of the claims as compact JSON with the
// keys in the order k, n, h, i, t (kind, number, masked holder, masked ID,
// issue date YYYY-MM-DD). sig is base64url without padding of the 64-byte
// Ed25519 signature over the ASCII bytes "v1.<kid>.<payload>". To verify: split
// on "." into exactly 4 parts, require "v1" and the key's kid, decode, check the
// signature, then decode the JSON refusing unknown fields and require every
// claim to be non-empty.
package certificate

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalid is returned by Verify and VerifyWith for any token that does not
// check out: malformed, truncated, too long, of another version or key,
// tampered with or forged. Callers treat it as "no such certificate" (404) and
// need not tell the cases apart; the wrapped reason is for logs only.
var ErrInvalid = errors.New("certificate: invalid token")

// MaxTokenLen is the longest token Verify looks at. A token is a URL path
// segment printed as a QR code; anything longer is refused before any work so
// that an anonymous request cannot make the portal decode or hash much.
const MaxTokenLen = 512

// keyInfo is the HKDF info string that separates the certificate signing key
// from every other key derived from the portal secret. Changing it changes the
// key and invalidates every certificate already printed.
const keyInfo = "tzportal certificate signing key v1"

// version1 is the first part of every token; a later format gets a new prefix
// so that old printed certificates stay verifiable.
const version1 = "v1"

// secretSize is the length of the portal secret (PORTAL_SECRET) and of an
// explicit Ed25519 seed (PORTAL_CERT_KEY).
const secretSize = 32

// kidSize is how many bytes of SHA-256(public key) make the key id: enough to
// tell keys apart across rotations, short enough to keep the QR code small.
const kidSize = 8

// b64 returns the encoding of token parts: base64url without padding. Strict
// refuses non-zero padding bits so that every part has exactly one accepted
// spelling: otherwise a verifier would accept several distinct strings for one
// signed token. It is a function, not a variable, to keep the package free of
// mutable state.
func b64() *base64.Encoding {
	return base64.RawURLEncoding.Strict()
}

// Claims is what a token carries and the signature covers. Holder and
// IDNumber are already masked (see MaskHolder and MaskID): the token is public
// and must never carry a full name or ID number.
type Claims struct {
	Kind     string `json:"k"` // certificate kind, e.g. "residence-permit"
	Number   string `json:"n"` // certificate number, e.g. "TZJZ2026000123"
	Holder   string `json:"h"` // masked holder name, e.g. "张*"
	IDNumber string `json:"i"` // masked ID, e.g. "3212**********0017"
	IssuedAt string `json:"t"` // issue date YYYY-MM-DD
}

// validate reports the first claim that is empty, not UTF-8 or, for IssuedAt,
// not a YYYY-MM-DD date. Invalid UTF-8 is refused because encoding/json would
// silently replace it, so the signed payload would not say what was asked.
func (c Claims) validate() error {
	fields := []struct{ name, v string }{
		{"kind", c.Kind},
		{"number", c.Number},
		{"holder", c.Holder},
		{"id number", c.IDNumber},
		{"issued at", c.IssuedAt},
	}
	for _, f := range fields {
		if f.v == "" {
			return fmt.Errorf("%s is empty", f.name)
		}
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("%s is not UTF-8", f.name)
		}
	}
	if _, err := time.Parse(time.DateOnly, c.IssuedAt); err != nil {
		return errors.New("issued at is not a YYYY-MM-DD date")
	}
	return nil
}

// Signer signs certificate tokens with one Ed25519 key and verifies them. It
// is immutable once made by NewSigner and so safe for concurrent use.
type Signer struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	kid  string
}

// NewSigner derives the signing key from the portal's 32-byte secret with
// HKDF-SHA256 (info "tzportal certificate signing key v1"), or uses seed when
// non-nil (32 bytes: PORTAL_CERT_KEY, base64 of a 32-byte Ed25519 seed,
// decoded by the caller). Deriving from the secret means a portal needs no
// extra key to run; an explicit seed lets the signing key be rotated or kept
// apart from the secret that encrypts ID numbers.
func NewSigner(secret, seed []byte) (*Signer, error) {
	if seed == nil {
		if len(secret) != secretSize {
			return nil, fmt.Errorf("certificate: new signer: secret is %d bytes, want %d", len(secret), secretSize)
		}
		var err error
		seed, err = hkdf.Key(sha256.New, secret, nil, keyInfo, ed25519.SeedSize)
		if err != nil {
			return nil, fmt.Errorf("certificate: new signer: deriving key: %w", err)
		}
	} else if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("certificate: new signer: seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	return &Signer{priv: priv, pub: pub, kid: keyID(pub)}, nil
}

// keyID is the hex of the first kidSize bytes of SHA-256 of the public key.
func keyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:kidSize])
}

// PublicKey returns the signer's public key. It is a copy, so a caller cannot
// change the key the signer verifies with.
func (s *Signer) PublicKey() ed25519.PublicKey {
	return bytes.Clone(s.pub)
}

// KeyID returns the key id that every token of this signer carries: the hex of
// the first 8 bytes of SHA-256 of the public key (16 characters).
func (s *Signer) KeyID() string {
	return s.kid
}

// KeyDocument returns the public key as published at GET /api/v1/verify/key:
// the algorithm, the key id, the raw 32-byte key in base64url without padding,
// and one line describing the token format. It returns a new map each call.
func (s *Signer) KeyDocument() map[string]string {
	return map[string]string{
		"alg":        "Ed25519",
		"kid":        s.kid,
		"public_key": base64.RawURLEncoding.EncodeToString(s.pub),
		"format": `v1.<kid>.<payload>.<sig>; payload = base64url (no padding) of the claims as compact JSON ` +
			`{"k":kind,"n":number,"h":masked holder,"i":masked ID,"t":issue date YYYY-MM-DD}; ` +
			`sig = base64url (no padding) of the Ed25519 signature over the ASCII bytes "v1.<kid>.<payload>"; ` +
			`kid = hex of the first 8 bytes of SHA-256 of the public key`,
	}
}

// Sign returns the token for c. Every claim must be non-empty and IssuedAt a
// YYYY-MM-DD date, because Verify refuses anything else; the token must also
// fit in MaxTokenLen, or it could never be verified.
func (s *Signer) Sign(c Claims) (string, error) {
	if err := c.validate(); err != nil {
		return "", fmt.Errorf("certificate: sign: %w", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("certificate: sign: %w", err)
	}
	signed := version1 + "." + s.kid + "." + b64().EncodeToString(payload)
	token := signed + "." + b64().EncodeToString(ed25519.Sign(s.priv, []byte(signed)))
	if len(token) > MaxTokenLen {
		return "", fmt.Errorf("certificate: sign: token is %d bytes, more than %d", len(token), MaxTokenLen)
	}
	return token, nil
}

// Verify checks a token's format, key id and signature with the signer's key
// and returns its claims; any failure is ErrInvalid (a forged, truncated or
// foreign token is simply "unknown", 404 to the caller).
func (s *Signer) Verify(token string) (Claims, error) {
	return verify(s.pub, s.kid, token)
}

// VerifyWith does the same as Signer.Verify with only a public key: what an
// offline verifier does. A key that is not 32 bytes long is a configuration
// error, not an invalid token, so it is reported as such and not as
// ErrInvalid.
func VerifyWith(pub ed25519.PublicKey, token string) (Claims, error) {
	if len(pub) != ed25519.PublicKeySize {
		// ed25519.Verify would panic on such a key.
		return Claims{}, fmt.Errorf("certificate: verify: public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	return verify(pub, keyID(pub), token)
}

// invalid wraps ErrInvalid with a fixed reason for logs. The token itself is
// never part of the message: it comes from anyone on the internet.
func invalid(reason string) error {
	return fmt.Errorf("certificate: verify: %s: %w", reason, ErrInvalid)
}

// verify is Verify for the key pub with id kid.
func verify(pub ed25519.PublicKey, kid, token string) (Claims, error) {
	// Length first: nothing else is done for an oversized token.
	if len(token) > MaxTokenLen {
		return Claims{}, invalid("too long")
	}
	// base64 decoders skip '\r' and '\n'; refusing every byte outside the
	// token alphabet keeps one accepted spelling per token.
	for i := 0; i < len(token); i++ {
		if !tokenByte(token[i]) {
			return Claims{}, invalid("character outside the token alphabet")
		}
	}
	parts := strings.Split(token, ".")
	if len(parts) != 4 {
		return Claims{}, invalid("not 4 parts")
	}
	if parts[0] != version1 {
		return Claims{}, invalid("unknown version")
	}
	if parts[1] != kid {
		return Claims{}, invalid("unknown key id")
	}
	sig, err := b64().DecodeString(parts[3])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Claims{}, invalid("malformed signature")
	}
	signed := token[:len(token)-len(parts[3])-1]
	if !ed25519.Verify(pub, []byte(signed), sig) {
		return Claims{}, invalid("bad signature")
	}
	payload, err := b64().DecodeString(parts[2])
	if err != nil {
		return Claims{}, invalid("malformed payload")
	}
	// Signed by us, the payload should always decode; staying strict anyway
	// means a token signed by a buggy or foreign tool with our key is not
	// half-understood.
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var c Claims
	if err := dec.Decode(&c); err != nil {
		return Claims{}, invalid("malformed claims")
	}
	if _, err := dec.Token(); err != io.EOF {
		return Claims{}, invalid("data after claims")
	}
	if err := c.validate(); err != nil {
		return Claims{}, invalid("bad claims")
	}
	return c, nil
}

// tokenByte reports whether b may appear in a token: the base64url alphabet
// and the dot.
func tokenByte(b byte) bool {
	return 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9' ||
		b == '-' || b == '_' || b == '.'
}
