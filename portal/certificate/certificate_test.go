package certificate_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tzportal/portal/certificate"
)

// sampleClaims is a typical residence permit as the portal signs it.
var sampleClaims = certificate.Claims{
	Kind:     "residence-permit",
	Number:   "TZJZ2026000123",
	Holder:   "张*",
	IDNumber: "3212**********0017",
	IssuedAt: "2026-03-01",
}

// testSecret returns a fixed 32-byte secret filled with b.
func testSecret(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// mustSigner returns a signer derived from a fixed test secret.
func mustSigner(tb testing.TB, secret byte) *certificate.Signer {
	tb.Helper()
	s, err := certificate.NewSigner(testSecret(secret), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// mustSign signs c or fails the test.
func mustSign(tb testing.TB, s *certificate.Signer, c certificate.Claims) string {
	tb.Helper()
	tok, err := s.Sign(c)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func TestRoundTrip(t *testing.T) {
	s := mustSigner(t, 1)
	tok := mustSign(t, s, sampleClaims)
	if len(tok) > certificate.MaxTokenLen {
		t.Errorf("token is %d bytes, more than %d", len(tok), certificate.MaxTokenLen)
	}
	for _, r := range tok {
		if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", r) {
			t.Fatalf("token %q has %q, not URL-path safe", tok, r)
		}
	}
	if !strings.HasPrefix(tok, "v1."+s.KeyID()+".") {
		t.Errorf("token %q does not start with v1.<kid>.", tok)
	}
	got, err := s.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if diff := cmp.Diff(sampleClaims, got); diff != "" {
		t.Errorf("Verify claims (-want +got):\n%s", diff)
	}
	got, err = certificate.VerifyWith(s.PublicKey(), tok)
	if err != nil {
		t.Fatalf("VerifyWith: %v", err)
	}
	if diff := cmp.Diff(sampleClaims, got); diff != "" {
		t.Errorf("VerifyWith claims (-want +got):\n%s", diff)
	}
}

// TestGolden pins the key derivation and the token bytes: every printed
// certificate carries a token, so a change here breaks them all.
func TestGolden(t *testing.T) {
	s := mustSigner(t, 1)
	const (
		wantKid   = "b6381de052f358d6"
		wantToken = "v1.b6381de052f358d6.eyJrIjoicmVzaWRlbmNlLXBlcm1pdCIsIm4iOiJUWkpaMjAyNjAwMDEyMyIsImgiOiLlvKAqIiwiaSI6IjMyMTIqKioqKioqKioqMDAxNyIsInQiOiIyMDI2LTAzLTAxIn0." +
			"Dm-Sady3qqfGoPgZ5S1nJQawxmLsZPMH1zdX7OevEqV-p8dA6M46n-6FctCl-XQydp2MMn5oJEQdyNYJ0fWOCg"
	)
	if got := s.KeyID(); got != wantKid {
		t.Errorf("KeyID = %q, want %q", got, wantKid)
	}
	if got := mustSign(t, s, sampleClaims); got != wantToken {
		t.Errorf("Sign = %q, want %q", got, wantToken)
	}
}

func TestNewSignerDerivation(t *testing.T) {
	a1, a2, b := mustSigner(t, 1), mustSigner(t, 1), mustSigner(t, 2)
	if !a1.PublicKey().Equal(a2.PublicKey()) || a1.KeyID() != a2.KeyID() {
		t.Error("the same secret gave different keys")
	}
	if a1.PublicKey().Equal(b.PublicKey()) || a1.KeyID() == b.KeyID() {
		t.Error("different secrets gave the same key")
	}
	// The key is what the documentation says: HKDF-SHA256 of the secret with
	// the documented info string, used as an Ed25519 seed.
	seed, err := hkdf.Key(sha256.New, testSecret(1), nil, "tzportal certificate signing key v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	want := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	if !a1.PublicKey().Equal(want) {
		t.Error("derived key differs from HKDF-SHA256(secret, info) as an Ed25519 seed")
	}
	sum := sha256.Sum256(want)
	if got := a1.KeyID(); got != hex.EncodeToString(sum[:8]) || len(got) != 16 {
		t.Errorf("KeyID = %q, want hex of sha256(public key)[:8]", got)
	}
}

func TestNewSignerSeedOverridesSecret(t *testing.T) {
	seed := bytes.Repeat([]byte{0x42}, 32)
	s1, err := certificate.NewSigner(testSecret(1), seed)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := certificate.NewSigner(testSecret(2), seed)
	if err != nil {
		t.Fatal(err)
	}
	s3, err := certificate.NewSigner(nil, seed)
	if err != nil {
		t.Fatal(err)
	}
	want := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	for i, s := range []*certificate.Signer{s1, s2, s3} {
		if !s.PublicKey().Equal(want) {
			t.Errorf("signer %d: key is not the seed's", i+1)
		}
	}
	if s1.PublicKey().Equal(mustSigner(t, 1).PublicKey()) {
		t.Error("seed did not override the secret")
	}
}

func TestNewSignerErrors(t *testing.T) {
	tests := []struct {
		name         string
		secret, seed []byte
	}{
		{"nil secret", nil, nil},
		{"short secret", make([]byte, 31), nil},
		{"long secret", make([]byte, 33), nil},
		{"empty seed", testSecret(1), []byte{}},
		{"short seed", testSecret(1), make([]byte, 31)},
		{"long seed", testSecret(1), make([]byte, 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := certificate.NewSigner(tt.secret, tt.seed); err == nil {
				t.Error("NewSigner succeeded, want an error")
			}
		})
	}
}

func TestPublicKeyIsACopy(t *testing.T) {
	s := mustSigner(t, 1)
	tok := mustSign(t, s, sampleClaims)
	pub := s.PublicKey()
	pub[0] ^= 0xff
	if _, err := s.Verify(tok); err != nil {
		t.Errorf("changing the returned key changed the signer: %v", err)
	}
}

func TestSignRefuses(t *testing.T) {
	s := mustSigner(t, 1)
	tests := []struct {
		name string
		edit func(*certificate.Claims)
	}{
		{"empty kind", func(c *certificate.Claims) { c.Kind = "" }},
		{"empty number", func(c *certificate.Claims) { c.Number = "" }},
		{"empty holder", func(c *certificate.Claims) { c.Holder = "" }},
		{"empty id", func(c *certificate.Claims) { c.IDNumber = "" }},
		{"empty date", func(c *certificate.Claims) { c.IssuedAt = "" }},
		{"bad date", func(c *certificate.Claims) { c.IssuedAt = "2026-3-1" }},
		{"not utf-8", func(c *certificate.Claims) { c.Holder = "\xff*" }},
		{"too long", func(c *certificate.Claims) { c.Number = strings.Repeat("9", 400) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sampleClaims
			tt.edit(&c)
			if tok, err := s.Sign(c); err == nil {
				t.Errorf("Sign = %q, want an error", tok)
			}
		})
	}
}

// b64 is base64url without padding, the encoding of every token part.
var b64 = base64.RawURLEncoding

// signRaw builds a token over any payload bytes with the key of seed, to reach
// the checks that come after the signature.
func signRaw(seed []byte, kid string, payload []byte) string {
	return signText(seed, "v1."+kid+"."+b64.EncodeToString(payload))
}

// signText appends a valid signature with the key of seed to any text.
func signText(seed []byte, signed string) string {
	return signed + "." + b64.EncodeToString(ed25519.Sign(ed25519.NewKeyFromSeed(seed), []byte(signed)))
}

func TestVerifyInvalid(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 32)
	s, err := certificate.NewSigner(nil, seed)
	if err != nil {
		t.Fatal(err)
	}
	other := mustSigner(t, 9)
	tok := mustSign(t, s, sampleClaims)
	parts := strings.Split(tok, ".")
	join := func(p ...string) string { return strings.Join(p, ".") }

	otherClaims := sampleClaims
	otherClaims.Holder = "李*"
	forged := mustSign(t, s, otherClaims)
	forgedPayload := strings.Split(forged, ".")[2]

	otherParts := strings.Split(mustSign(t, other, sampleClaims), ".")

	// paddingBit sets another of the unused low bits of a 64-byte value's
	// last base64url character: the same bytes, spelled differently.
	paddingBit := func(s string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(alphabet, s[len(s)-1])
		return s[:len(s)-1] + string(alphabet[i^1])
	}

	// flip changes one character of a base64url string to another valid one.
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}

	tests := []struct {
		name, token string
	}{
		{"empty", ""},
		{"tampered payload", join(parts[0], parts[1], forgedPayload, parts[3])},
		{"payload bit flipped", join(parts[0], parts[1], flip(parts[2], 3), parts[3])},
		{"tampered signature", join(parts[0], parts[1], parts[2], flip(parts[3], 10))},
		{"signature padding bits", join(parts[0], parts[1], parts[2], paddingBit(parts[3]))},
		{"short signature", join(parts[0], parts[1], parts[2], parts[3][:len(parts[3])-4])},
		{"other key", mustSign(t, other, sampleClaims)},
		{"other key, our kid", join(parts[0], parts[1], otherParts[2], otherParts[3])},
		{"wrong kid", join(parts[0], other.KeyID(), parts[2], parts[3])},
		{"wrong version", join("v2", parts[1], parts[2], parts[3])},
		{"upper-case version", join("V1", parts[1], parts[2], parts[3])},
		{"3 parts", join(parts[0], parts[1], parts[2])},
		{"5 parts", join(parts[0], parts[1], parts[2], parts[3], parts[3])},
		{"trailing dot", tok + "."},
		{"non-base64 payload", join(parts[0], parts[1], "!!!!", parts[3])},
		{"signed non-base64 payload", signText(seed, "v1."+s.KeyID()+".A")},
		{"padded signature", tok + "=="},
		{"standard base64", join(parts[0], parts[1], strings.ReplaceAll(parts[2], "_", "/")+"+", parts[3])},
		{"newline inside", join(parts[0], parts[1], parts[2][:4]+"\n"+parts[2][4:], parts[3])},
		{"too long", tok + strings.Repeat("A", certificate.MaxTokenLen)},
		{"empty claims", signRaw(seed, s.KeyID(), []byte(`{}`))},
		{"one empty claim", signRaw(seed, s.KeyID(), []byte(`{"k":"residence-permit","n":"","h":"张*","i":"3212**********0017","t":"2026-03-01"}`))},
		{"unknown field", signRaw(seed, s.KeyID(), []byte(`{"k":"residence-permit","n":"TZJZ2026000123","h":"张*","i":"3212**********0017","t":"2026-03-01","x":"1"}`))},
		{"trailing data", signRaw(seed, s.KeyID(), []byte(`{"k":"residence-permit","n":"TZJZ2026000123","h":"张*","i":"3212**********0017","t":"2026-03-01"}{}`))},
		{"not json", signRaw(seed, s.KeyID(), []byte(`residence-permit`))},
		{"json array", signRaw(seed, s.KeyID(), []byte(`["residence-permit"]`))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.token == tok {
				t.Fatal("test token is the valid one")
			}
			c, err := s.Verify(tt.token)
			t.Log(err) // the reason, to see in -v that the intended check refused it
			if !errors.Is(err, certificate.ErrInvalid) {
				t.Errorf("Verify = %+v, %v; want ErrInvalid", c, err)
			}
			if c, err := certificate.VerifyWith(s.PublicKey(), tt.token); !errors.Is(err, certificate.ErrInvalid) {
				t.Errorf("VerifyWith = %+v, %v; want ErrInvalid", c, err)
			}
		})
	}
}

func TestVerifyWithBadKey(t *testing.T) {
	tok := mustSign(t, mustSigner(t, 1), sampleClaims)
	for _, pub := range []ed25519.PublicKey{nil, make(ed25519.PublicKey, 31)} {
		_, err := certificate.VerifyWith(pub, tok)
		if err == nil || errors.Is(err, certificate.ErrInvalid) {
			t.Errorf("VerifyWith(%d-byte key) err = %v, want a key error", len(pub), err)
		}
	}
}

func TestKeyDocument(t *testing.T) {
	s := mustSigner(t, 1)
	doc := s.KeyDocument()
	if doc["alg"] != "Ed25519" || doc["kid"] != s.KeyID() || doc["format"] == "" {
		t.Errorf("KeyDocument = %v", doc)
	}
	if strings.Contains(doc["format"], "\n") {
		t.Errorf("format %q is not one line", doc["format"])
	}
	pub, err := base64.RawURLEncoding.DecodeString(doc["public_key"])
	if err != nil || !s.PublicKey().Equal(ed25519.PublicKey(pub)) {
		t.Errorf("public_key %q does not decode to the signer's key (%v)", doc["public_key"], err)
	}
	doc["kid"] = "changed"
	if s.KeyDocument()["kid"] != s.KeyID() {
		t.Error("changing the returned document changed the signer's")
	}
}

// TestOfflineVerifier checks a token the way an outsider would: with only the
// published key document, crypto/ed25519 and the documented format.
func TestOfflineVerifier(t *testing.T) {
	s := mustSigner(t, 1)
	tok := mustSign(t, s, sampleClaims)
	doc := s.KeyDocument()

	// From here on nothing of the package is used.
	raw, err := base64.RawURLEncoding.DecodeString(doc["public_key"])
	if err != nil || len(raw) != ed25519.PublicKeySize {
		t.Fatalf("public_key: %d bytes, %v", len(raw), err)
	}
	pub := ed25519.PublicKey(raw)
	sum := sha256.Sum256(pub)
	kid := hex.EncodeToString(sum[:8])
	if kid != doc["kid"] {
		t.Fatalf("kid %q, document says %q", kid, doc["kid"])
	}

	parts := strings.Split(tok, ".")
	if len(parts) != 4 || parts[0] != "v1" || parts[1] != kid {
		t.Fatalf("token %q is not v1.<kid>.<payload>.<sig>", tok)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil {
		t.Fatalf("sig: %v", err)
	}
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]+"."+parts[2]), sig) {
		t.Fatal("signature does not verify")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	const wantJSON = `{"k":"residence-permit","n":"TZJZ2026000123","h":"张*","i":"3212**********0017","t":"2026-03-01"}`
	if string(payload) != wantJSON {
		t.Errorf("payload = %s, want %s", payload, wantJSON)
	}
	var claims map[string]string
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"k": "residence-permit", "n": "TZJZ2026000123", "h": "张*", "i": "3212**********0017", "t": "2026-03-01"}
	if diff := cmp.Diff(want, claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}

	// The package's own offline path agrees with the outsider.
	got, err := certificate.VerifyWith(pub, tok)
	if err != nil || got != sampleClaims {
		t.Errorf("VerifyWith = %+v, %v", got, err)
	}
}

// FuzzVerify checks that Verify never panics and accepts only what the signer
// signed. Signing is deterministic (Ed25519 and encoding/json both are), so a
// token the signer signed is exactly Sign(its claims): any other accepted
// string would be a forgery or a second spelling of a signed token.
func FuzzVerify(f *testing.F) {
	s := mustSigner(f, 1)
	tok := mustSign(f, s, sampleClaims)
	f.Add(tok)
	f.Add("")
	f.Add("v1...")
	f.Add("v1." + s.KeyID() + ".e30.")
	f.Add(tok + ".")
	f.Add(tok[:len(tok)-1])
	f.Fuzz(func(t *testing.T, token string) {
		c, err := s.Verify(token)
		if err != nil {
			if !errors.Is(err, certificate.ErrInvalid) {
				t.Fatalf("Verify error %v is not ErrInvalid", err)
			}
			return
		}
		resigned, err := s.Sign(c)
		if err != nil {
			t.Fatalf("accepted %q with claims %+v the signer refuses: %v", token, c, err)
		}
		if resigned != token {
			t.Fatalf("accepted %q, but the signer signs those claims as %q", token, resigned)
		}
	})
}
