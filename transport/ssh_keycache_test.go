package transport

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func writeEncryptedKey(t *testing.T, path, passphrase string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// A fleet's hosts share one key: it is parsed (and an encrypted one
// decrypted) once per process, parsed again when the file or the
// passphrase changes, and a failure is never kept.
func TestLoadPrivateKeyCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id_ed25519")
	want := writeEncryptedKey(t, path, "s3cret")

	if _, err := loadPrivateKey(path, "wrong"); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("wrong passphrase: got %v", err)
	}
	a, err := loadPrivateKey(path, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadPrivateKey(path, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("the same key file and passphrase were parsed twice")
	}
	if !bytes.Equal(a.PublicKey().Marshal(), want.Marshal()) {
		t.Error("the cached signer is not the file's key")
	}
	if _, err := loadPrivateKey(path, "wrong"); err == nil {
		t.Error("a wrong passphrase was accepted after the right one")
	}

	changed := writeEncryptedKey(t, path, "s3cret")
	c, err := loadPrivateKey(path, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.PublicKey().Marshal(), changed.Marshal()) {
		t.Error("a rewritten key file still gave the old key")
	}
}
