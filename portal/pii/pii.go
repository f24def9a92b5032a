// Package pii keeps personal data (resident ID numbers) safe at rest: it seals
// them with AES-256-GCM, derives a blind index to look them up without
// decrypting, and masks them for display (PIPL: encrypt at rest, mask on
// display).
package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrIntegrity is returned by Open for any ciphertext that does not
// authenticate: tampered, truncated, of an unknown version, or moved to a row
// with another index.
var ErrIntegrity = errors.New("pii: integrity check failed")

// KeySize is the length in bytes of both keys a Sealer needs.
const KeySize = 32

// version1 marks the layout version1 | nonce | AES-256-GCM ciphertext+tag. A
// version byte lets a later key or algorithm coexist with old rows during a
// rotation.
const version1 byte = 0x01

const (
	nonceSize = 12
	tagSize   = 16
	// overhead is what Seal adds to the plaintext.
	overhead = 1 + nonceSize + tagSize
)

// Sealer encrypts and indexes resident ID numbers. It is safe for concurrent
// use.
type Sealer struct {
	aead     cipher.AEAD
	indexKey []byte
}

// NewSealer returns a Sealer. encKey encrypts, indexKey keys the blind index;
// each must be exactly 32 bytes, and they must differ so that leaking the
// index key (needed by every lookup) does not leak the encryption key.
func NewSealer(encKey, indexKey []byte) (*Sealer, error) {
	if len(encKey) != KeySize {
		return nil, fmt.Errorf("pii.NewSealer: encryption key is %d bytes, want %d", len(encKey), KeySize)
	}
	if len(indexKey) != KeySize {
		return nil, fmt.Errorf("pii.NewSealer: index key is %d bytes, want %d", len(indexKey), KeySize)
	}
	if hmac.Equal(encKey, indexKey) {
		return nil, errors.New("pii.NewSealer: encryption and index keys must differ")
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("pii.NewSealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("pii.NewSealer: %w", err)
	}
	// Copy the key so a caller that later zeroes or reuses its slice does not
	// change the index.
	return &Sealer{aead: aead, indexKey: append([]byte(nil), indexKey...)}, nil
}

// normalize makes the forms of one ID number that people type equal: stray
// spaces around it and a lowercase check character x.
func normalize(id string) string {
	id = strings.TrimSpace(id)
	if strings.HasSuffix(id, "x") {
		id = id[:len(id)-1] + "X"
	}
	return id
}

// Index returns the blind index of id: the hex HMAC-SHA256 of the normalized
// number under the index key. Equal numbers give equal indexes, so the store
// can look a person up without decrypting every row.
func (s *Sealer) Index(id string) string {
	m := hmac.New(sha256.New, s.indexKey)
	m.Write([]byte(normalize(id)))
	return hex.EncodeToString(m.Sum(nil))
}

// Seal encrypts the normalized id and returns the ciphertext and the blind
// index to store beside it. The index is the additional data of the
// encryption, so a ciphertext copied to another row fails to open.
func (s *Sealer) Seal(id string) (cipher []byte, index string, err error) {
	id = normalize(id)
	if id == "" {
		return nil, "", errors.New("pii.Seal: empty id")
	}
	index = s.Index(id)
	out := make([]byte, 1+nonceSize, overhead+len(id))
	out[0] = version1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, "", fmt.Errorf("pii.Seal: nonce: %w", err)
	}
	out = s.aead.Seal(out, out[1:1+nonceSize], []byte(id), []byte(index))
	return out, index, nil
}

// Open decrypts a ciphertext made by Seal for the row whose blind index is
// index. Any failure is ErrIntegrity; Open never panics, whatever it is given.
func (s *Sealer) Open(cipher []byte, index string) (string, error) {
	if len(cipher) < overhead || cipher[0] != version1 {
		return "", fmt.Errorf("pii.Open: %w", ErrIntegrity)
	}
	nonce, sealed := cipher[1:1+nonceSize], cipher[1+nonceSize:]
	plain, err := s.aead.Open(nil, nonce, sealed, []byte(index))
	if err != nil {
		return "", fmt.Errorf("pii.Open: %w", ErrIntegrity)
	}
	return string(plain), nil
}

// MaskID hides the middle of a resident ID number for display:
// 321202199001010017 becomes 321202********0017 (the region stays, the birth
// date and sequence go). Other lengths keep only the first and last
// character; strings of one or two characters are masked entirely.
func MaskID(id string) string {
	r := []rune(id)
	if len(r) == 18 {
		return string(r[:6]) + "********" + string(r[14:])
	}
	return maskMiddle(r)
}

// MaskMobile hides the middle of a mobile number for display: 13812345678
// becomes 138****1234. Other lengths keep only the first and last character.
func MaskMobile(m string) string {
	r := []rune(m)
	if len(r) == 11 {
		return string(r[:3]) + "****" + string(r[7:])
	}
	return maskMiddle(r)
}

// maskMiddle keeps the first and last rune; with two or fewer runes those would
// be the whole value, so it masks everything.
func maskMiddle(r []rune) string {
	if len(r) <= 2 {
		return strings.Repeat("*", len(r))
	}
	return string(r[0]) + strings.Repeat("*", len(r)-2) + string(r[len(r)-1])
}

// SealText seals an ID number for a stored form: the ciphertext as
// base64 text, and the blind index.
func (s *Sealer) SealText(id string) (sealed, index string, err error) {
	c, index, err := s.Seal(id)
	if err != nil {
		return "", "", err
	}
	return base64.StdEncoding.EncodeToString(c), index, nil
}

// OpenText opens what SealText sealed. Anything that does not open is
// ErrIntegrity: never a wrong number.
func (s *Sealer) OpenText(sealed, index string) (string, error) {
	c, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrIntegrity, err)
	}
	return s.Open(c, index)
}

// SealedID is an ID number of another person kept in a stored form (a
// family member's): in clear only while a form is being read or checked,
// sealed with its blind index when stored. Embed it in the person's struct.
type SealedID struct {
	IDNumber string `json:"id_number,omitempty"`
	IDSealed string `json:"id_sealed,omitempty"`
	IDIndex  string `json:"id_index,omitempty"`
}

// SealID replaces x's ID number by its sealed form and index.
func (s *Sealer) SealID(x *SealedID) error {
	if x.IDNumber == "" {
		return nil
	}
	sealed, index, err := s.SealText(x.IDNumber)
	if err != nil {
		return err
	}
	x.IDSealed, x.IDIndex, x.IDNumber = sealed, index, ""
	return nil
}

// OpenID puts x's ID number back in clear; anything that does not open is
// ErrIntegrity.
func (s *Sealer) OpenID(x *SealedID) error {
	if x.IDSealed == "" {
		return nil
	}
	id, err := s.OpenText(x.IDSealed, x.IDIndex)
	if err != nil {
		return err
	}
	x.IDNumber, x.IDSealed, x.IDIndex = id, "", ""
	return nil
}
